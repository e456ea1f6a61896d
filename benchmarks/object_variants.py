"""Object-based change decisions (OBCD) against the per-pixel default, on TUNE, TEST and null pairs.

Usage::

    nice -n 10 .venv/bin/python benchmarks/object_variants.py          # statistics cached in /tmp
    nice -n 10 .venv/bin/python benchmarks/object_variants.py --fresh  # recompute them
    nice -n 10 .venv/bin/python benchmarks/object_variants.py --speed  # segmentation CPU/Mpx

For every shared labelled pair (the pairs and the TUNE / TEST split of
``benchmarks/accuracy.py``; read in place, nothing copied) and every null pair of
``benchmarks/null_pairs.py`` it computes, once, the default method's statistics (structural,
smoothed CVA, envelope excess on the whole pair), its thresholds and mask, and the pair's
standardised images (BEFORE's band statistics, AFTER normalised and shifted as the detector
does). The pair is segmented (Felzenszwalb-Huttenlocher on the stacked BEFORE+AFTER, or on
AFTER only; SLIC on the stack, at full resolution or on 4x4 block means; square 8 and 16 px
cells as the image-blind reference), and each segment aggregates the evidence: the share of its
pixels the default flags, its mean smoothed CVA and envelope excess relative to the pair's
noise level (the median smoothed CVA), its size. Each rule below decides per segment; the
table gives pooled-pixel F1 per data set and the macro mean on TUNE and TEST beside CVA+Otsu
(on raw values, as accuracy.py) and the default, and on the null pairs the median and 95th
percentile of the flagged fraction and change objects (after the 100 m² unit) per km².

Choose on TUNE (and null pairs); TEST is printed so that what carries over can be seen.

Measured (one run, 2026-11-29; pooled-pixel F1; TEST per data set oscd levir_cd xbd ombria)::

                               TUNE  | TEST oscd levir  xbd   ombria macro | NULL p95% obj/km²
    cva+otsu (raw)             0.200 |      0.283 0.059 0.161 0.431  0.233 |     97.53 25.882
    default                    0.352 |      0.461 0.136 0.124 0.384  0.276 |      0.00  0.003
    felz-stack-s50 maj>0.3     0.376 |      0.418 0.152 0.137 0.391  0.274 |      0.00  0.003
    slic-stack-200 maj>0.5     0.367 |      0.454 0.141 0.128 0.388  0.278 |      0.00  0.003
    slic coarse4 maj>0.3       0.368 |      0.401 0.139 0.138 0.391  0.267 |      0.00  0.003
    grid8 maj>0.3              0.361 |      0.410 0.159 0.134 0.386  0.272 |      0.00  0.003
    felz maj>0.5|cva>8,env>3   0.357 |      0.457 0.131 0.127 0.386  0.275 |      0.52  0.031
    felz default|seg-otsu      0.339 |      0.244 0.138 0.157 0.421  0.240 |      1.63  0.054

The best TUNE rule (Felzenszwalb on the stack, a segment is change when the default flags more
than 30 % of it) gains +0.024 on TUNE, all from the one OSCD TUNE city, and loses 0.002 on
TEST; segmentation costs 7-170x CVA+Otsu per Mpx (``--speed``). Not adopted (DESIGN.md).
"""

from __future__ import annotations

import argparse
import functools
import pickle
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.segmentation import felzenszwalb, slic

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from accuracy import Pair as LabelledPair  # noqa: E402
from accuracy import baseline, load_all, scores, split  # noqa: E402
from null_pairs import eolearn_pairs, events, images, nuisances  # noqa: E402

from pipeline.change import detectors  # noqa: E402
from pipeline.change.calibration import (  # noqa: E402
    _standardised,
    apply_shift,
    block_statistics,
    prepare,
    thresholds,
)
from pipeline.change.detect import ChangeParams, decide  # noqa: E402
from pipeline.change.estimate import calibrate  # noqa: E402

CACHE = Path("/tmp/obj8-object-variants")


@dataclass
class Stats:
    """One pair's statistics, standardised images and truth."""

    name: str
    """Pair name."""
    st: dict[str, np.ndarray]
    """Default method's statistics over the whole pair (envelope everywhere)."""
    ok: np.ndarray
    """bool (H, W) valid after the shift."""
    thr: dict[str, float]
    """Thresholds of the default method."""
    truth: np.ndarray
    """bool (H, W) labelled change (all False on null pairs)."""
    shipped: np.ndarray
    """bool (H, W) the default method's mask."""
    noise: float
    """Median smoothed CVA magnitude (the pair's noise level)."""
    bs: np.ndarray
    """float32 (bands, H, W) BEFORE standardised."""
    as_: np.ndarray
    """float32 (bands, H, W) AFTER normalised, shifted and standardised."""
    cva_otsu: np.ndarray
    """bool (H, W) CVA+Otsu on raw values (the baseline)."""
    pixel_size_m: float | None
    """Ground pixel size when known."""


def pair_stats(name: str, before: np.ndarray, after: np.ndarray, truth: np.ndarray,
               pixel_size_m: float | None, bands: tuple[str, ...] | None) -> Stats:
    """The default method's statistics of one pair, whole-image (single block) path."""
    params = ChangeParams(pixel_size_m=pixel_size_m, bands=bands)
    b, a, ok = prepare(before, after, None)
    cal = calibrate(b, a, ok, params, with_thresholds=False)
    st, ok2 = block_statistics(b.copy(), a.copy(), ok, cal, params)
    thr = thresholds(st, ok2, params, b.shape[0])
    shipped = decide(st, ok2, thr, params)[0] == 1
    a2 = a
    if cal.shift_px is not None:
        a2 = apply_shift(a, cal.shift_px)
        a2[:, ~ok2] = 0.0
    bs, as_ = _standardised(b, a2, cal)
    bs[:, ~ok2] = 0.0
    as_[:, ~ok2] = 0.0
    noise = float(np.median(st["cva"][ok2]))
    lp = LabelledPair(name, before, after, truth, pixel_size_m, bands)
    return Stats(name, st, ok2, thr, truth, shipped, noise, bs, as_, baseline("cva")(lp),
                 pixel_size_m)


def load(fresh: bool) -> dict[tuple[str, str], list[Stats]]:
    """(part, data set) -> statistics of every pair; part is TUNE, TEST or NULL."""
    path = CACHE / "stats.pkl"
    if path.exists() and not fresh:
        with open(path, "rb") as fh:
            raw = pickle.load(fh)
        return {k: [Stats(**f) for f in v] for k, v in raw.items()}
    tune, test = split(load_all())
    out: dict[tuple[str, str], list[Stats]] = {}
    for part, data in (("TUNE", tune), ("TEST", test)):
        for dname, pairs in data.items():
            for p in pairs:
                out.setdefault((part, dname), []).append(
                    pair_stats(p.name, p.before, p.after, p.truth, p.pixel_size_m, p.bands))
    nulls = [p for img in images() for p in nuisances(img)] + eolearn_pairs()
    for n in nulls:
        out.setdefault(("NULL", "null"), []).append(pair_stats(
            n.name, n.before, n.after, np.zeros(n.before.shape[1:], bool), n.pixel_size_m,
            None))
    names = [x.name for v in out.values() for x in v]
    if len(set(names)) != len(names):  # segmentations are cached by pair name
        raise SystemExit(f"pair names are not unique: {sorted(names)}")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump({k: [vars(x) for x in v] for k, v in out.items()}, fh)
    return out


# ---- segmentations --------------------------------------------------------------------------

Segmenter = Callable[[Stats], np.ndarray]


def _channels(s: Stats, which: str) -> np.ndarray:
    x = s.as_ if which == "after" else np.concatenate([s.bs, s.as_])
    x = np.clip(x, -4, 4)
    return np.moveaxis(x, 0, -1).astype(np.float64)


def felz(scale: float, min_size: int, which: str = "stack") -> Segmenter:
    """Felzenszwalb-Huttenlocher graph segmentation of the standardised images."""
    def seg(s: Stats) -> np.ndarray:
        return felzenszwalb(_channels(s, which), scale=scale, sigma=0.8, min_size=min_size,
                            channel_axis=-1).astype(np.int32)
    return seg


def slic_seg(px_per_segment: int, compactness: float, coarse: int = 1) -> Segmenter:
    """SLIC superpixels of the stacked standardised images (on ``coarse`` x ``coarse`` block
    means when ``coarse`` > 1, labels repeated back to pixels: the affordable form)."""
    def seg(s: Stats) -> np.ndarray:
        x = _channels(s, "stack")
        h, w = x.shape[:2]
        if coarse > 1:
            hc, wc = -(-h // coarse), -(-w // coarse)
            pad = np.pad(x, ((0, hc * coarse - h), (0, wc * coarse - w), (0, 0)), mode="edge")
            x = pad.reshape(hc, coarse, wc, coarse, -1).mean(axis=(1, 3))
        n = max(4, x.shape[0] * x.shape[1] * coarse * coarse // px_per_segment)
        lab = slic(x, n_segments=n, compactness=compactness, channel_axis=-1, start_label=0,
                   enforce_connectivity=True).astype(np.int32)
        if coarse > 1:
            lab = np.repeat(np.repeat(lab, coarse, 0), coarse, 1)[:h, :w]
        return np.ascontiguousarray(lab)
    return seg


def grid(cell: int) -> Segmenter:
    """Square cells of ``cell`` px: the local, image-blind reference."""
    def seg(s: Stats) -> np.ndarray:
        h, w = s.ok.shape
        r, c = np.arange(h) // cell, np.arange(w) // cell
        return (r[:, None] * (-(-w // cell)) + c[None, :]).astype(np.int32)
    return seg


SEGMENTERS: dict[str, Segmenter] = {
    "felz-stack-s50": felz(50, 20),
    "felz-stack-s200": felz(200, 40),
    "felz-after-s100": felz(100, 30, "after"),
    "slic-stack-200": slic_seg(200, 0.3),
    "slic-stack-200-coarse4": slic_seg(200, 0.3, 4),
    "grid8": grid(8),
    "grid16": grid(16),
}


def segmentation(data: dict[tuple[str, str], list[Stats]], key: str, fresh: bool
                 ) -> dict[str, np.ndarray]:
    """Pair name -> segment labels for segmenter ``key`` (cached)."""
    path = CACHE / f"seg-{key}.pkl"
    if path.exists() and not fresh:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    out = {}
    t0 = time.process_time()
    mpx = 0.0
    for pairs in data.values():
        for s in pairs:
            out[s.name] = SEGMENTERS[key](s)
            mpx += s.ok.size / 1e6
    print(f"segmentation {key}: {(time.process_time() - t0) / mpx:.2f} s CPU / Mpx", flush=True)
    with open(path, "wb") as fh:
        pickle.dump(out, fh)
    return out


# ---- per-segment rules ------------------------------------------------------------------------


@dataclass
class Seg:
    """Per-segment aggregates of one pair."""

    lab: np.ndarray
    """int (H, W) segment id."""
    size: np.ndarray
    """Valid pixels per segment."""
    share: np.ndarray
    """Share of the segment's valid pixels the default flags."""
    cva: np.ndarray
    """Mean smoothed CVA over the segment / the pair's noise level."""
    env: np.ndarray
    """Mean envelope excess over the segment / the pair's noise level."""
    structural: np.ndarray
    """Mean structural statistic / its threshold."""


def aggregate(s: Stats, lab: np.ndarray) -> Seg:
    """Segment aggregates by ``np.bincount``."""
    n = int(lab.max()) + 1
    ok = s.ok.ravel()
    flat = lab.ravel()[ok]
    size = np.bincount(flat, minlength=n).astype(np.float64)
    den = np.maximum(size, 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=x.ravel()[ok], minlength=n) / den

    noise = max(s.noise, 1e-6)
    return Seg(lab, size, mean(s.shipped.astype(np.float64)), mean(s.st["cva"]) / noise,
               mean(s.st["envelope"]) / noise, mean(s.st["structural"]) / s.thr["structural"])


Rule = Callable[[Stats, Seg], np.ndarray]


def majority(share: float, keep: bool = True) -> Rule:
    """Segments the default flags more than ``share`` of, whole; plus (``keep``) the default's
    own pixels elsewhere."""
    def rule(s: Stats, g: Seg) -> np.ndarray:
        out = (g.share > share)[g.lab]
        return out | s.shipped if keep else out
    return rule


def spectral(k: float, e: float, min_px: int, share: float = 0.5, keep: bool = True) -> Rule:
    """Majority rule OR segments whose mean CVA exceeds ``k`` x noise and mean envelope
    ``e`` x noise, of at least ``min_px`` pixels (fills flat change the structural statistic
    cannot see)."""
    def rule(s: Stats, g: Seg) -> np.ndarray:
        seg = (g.share > share) | ((g.cva > k) & (g.env > e) & (g.size >= min_px))
        out = seg[g.lab]
        return out | s.shipped if keep else out
    return rule


def small(share: float, max_px: int) -> Rule:
    """Majority rule for segments of at most ``max_px`` pixels only (building-sized objects
    are filled, large areas are not)."""
    def rule(s: Stats, g: Seg) -> np.ndarray:
        return s.shipped | ((g.share > share) & (g.size <= max_px))[g.lab]
    return rule


def structural(t: float, k: float, e: float) -> Rule:
    """The default OR segments whose mean structural statistic exceeds ``t`` x its threshold,
    mean CVA ``k`` x noise and mean envelope ``e`` x noise."""
    def rule(s: Stats, g: Seg) -> np.ndarray:
        return s.shipped | ((g.structural > t) & (g.cva > k) & (g.env > e))[g.lab]
    return rule


def supported(k: float, share: float) -> Rule:
    """Only segments whose mean CVA exceeds ``k`` x noise keep detections: whole when the
    default flags more than ``share`` of them, else its own pixels (removes structural
    detections without spectral support at segment level)."""
    def rule(s: Stats, g: Seg) -> np.ndarray:
        strong = g.cva > k
        return ((g.share > share) & strong)[g.lab] | (s.shipped & strong[g.lab])
    return rule


def segment_otsu(e: float, keep: bool) -> Rule:
    """Object CVA+Otsu: segments whose mean CVA exceeds the Otsu split of segment means
    (pixel-weighted) and whose mean envelope exceeds ``e`` x noise; OR the default (``keep``)."""
    def rule(s: Stats, g: Seg) -> np.ndarray:
        vals = np.repeat(g.cva, g.size.astype(np.int64)).astype(np.float32)[np.newaxis]
        t = detectors.otsu_threshold(vals, np.ones(vals.shape, bool)) if vals.size else np.inf
        out = ((g.cva > t) & (g.env > e))[g.lab]
        return out | s.shipped if keep else out
    return rule


RULES: dict[str, Rule] = {
    "maj>0.5": majority(0.5),
    "maj>0.3": majority(0.3),
    "maj>0.5 only": majority(0.5, keep=False),
    "maj>0.3, <= 100 px": small(0.3, 100),
    "maj>0.3, <= 400 px": small(0.3, 400),
    "| struct>1.3,cva>1,env>0.4": structural(1.3, 1.0, 0.4),
    "| struct>0.8,cva>2,env>0.4": structural(0.8, 2.0, 0.4),
    "maj>0.5 | cva>4,env>1.5": spectral(4, 1.5, 50),
    "maj>0.5 | cva>8,env>3": spectral(8, 3, 50),
    "cva>1.5 supported, maj>0.5": supported(1.5, 0.5),
    "seg-otsu env>1 only": segment_otsu(1.0, keep=False),
    "default | seg-otsu env>1": segment_otsu(1.0, keep=True),
}


def f1_table(data: dict[tuple[str, str], list[Stats]], part: str,
             pred: Callable[[Stats], np.ndarray]) -> list[float]:
    """Pooled-pixel F1 of every data set of ``part``."""
    f1s = []
    for (p, _), pairs in data.items():
        if p != part:
            continue
        tp = fp = fn = 0
        for s in pairs:
            m = pred(s) & s.ok
            tp += int((m & s.truth).sum())
            fp += int((m & ~s.truth).sum())
            fn += int((~m & s.truth).sum())
        f1s.append(scores(tp, fp, fn)[2])
    return f1s


def null_line(data: dict[tuple[str, str], list[Stats]], pred: Callable[[Stats], np.ndarray]
              ) -> str:
    """Median and p95 flagged fraction and objects per km² over the null pairs."""
    fr, n_obj, km2 = [], 0, 0.0
    for s in data[("NULL", "null")]:
        m = pred(s) & s.ok
        fr.append(m.sum() / max(int(s.ok.sum()), 1))
        mask = np.where(s.ok, m.astype(np.uint8), np.uint8(255))
        n_obj += events(mask, s.pixel_size_m or 1.0)
        km2 += float(s.ok.sum()) * (s.pixel_size_m or 1.0) ** 2 / 1e6
    a = 100 * np.array(fr)
    return f"{np.median(a):5.2f} {np.percentile(a, 95):5.2f} {n_obj / km2:6.3f}"


def _apply(rule: Rule, get: Callable[[Stats], Seg], s: Stats) -> np.ndarray:
    return rule(s, get(s))


def speed(keys: list[str], size: int = 2048) -> None:
    """CPU seconds per Mpx of each segmentation and of CVA+Otsu and the default (one thread)
    on the synthetic 4-band uint16 pair of ``accuracy.py --speed``, one run each."""
    from accuracy import _synthetic_pair

    b, a = _synthetic_pair(size)
    lp = LabelledPair("speed", b, a, b[0] > 0, 10.0, None)
    mpx = size * size / 1e6
    s = pair_stats("speed", b, a, b[0] > 0, 10.0, None)

    def cpu(fn: Callable[[], object]) -> float:
        c0 = time.process_time()
        fn()
        return (time.process_time() - c0) / mpx

    base = min(cpu(lambda: baseline("cva")(lp)) for _ in range(3))  # best of 3: it is short
    print(f"cva+otsu {base:.3f} s CPU/Mpx (best of 3)", flush=True)
    for key in keys:
        segment = SEGMENTERS[key]
        t = cpu(functools.partial(segment, s))
        print(f"segmentation {key}: {t:.3f} s CPU/Mpx = {t / base:.1f}x cva+otsu, on top of "
              "the default (about 3x at 8192², accuracy.py --speed; budget 4x)", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="recompute the cached statistics")
    parser.add_argument("--segmenters", default=",".join(SEGMENTERS))
    parser.add_argument("--speed", action="store_true",
                        help="only time each segmentation against CVA+Otsu (2048² 4-band)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="rasterio")
    warnings.filterwarnings("ignore", message="Got image with third dimension")
    if args.speed:
        speed(args.segmenters.split(","))
        return
    data = load(args.fresh)
    names = [d for (p, d) in data if p == "TUNE"]
    head = " ".join(f"{d:>8}" for d in names)
    print(f"{'':<46}TUNE {head}  macro | TEST {head}  macro | NULL med%  p95% obj/km²")

    def row(label: str, pred: Callable[[Stats], np.ndarray]) -> None:
        cells = []
        for part in ("TUNE", "TEST"):
            f = f1_table(data, part, pred)
            cells.append(" ".join(f"{x:8.3f}" for x in f) + f"  {np.mean(f):.3f}")
        print(f"{label:<46}     " + " |      ".join(cells) + " |      " + null_line(data, pred),
              flush=True)

    row("cva+otsu (raw)", lambda s: s.cva_otsu)
    row("default", lambda s: s.shipped)
    for key in args.segmenters.split(","):
        segs = segmentation(data, key, args.fresh)
        agg: dict[str, Seg] = {}

        def get(s: Stats, segs: dict[str, np.ndarray] = segs,
                agg: dict[str, Seg] = agg) -> Seg:
            if s.name not in agg:
                agg[s.name] = aggregate(s, segs[s.name])
            return agg[s.name]

        for rname, rule in RULES.items():
            row(f"{key} {rname}", functools.partial(_apply, rule, get))


if __name__ == "__main__":
    main()
