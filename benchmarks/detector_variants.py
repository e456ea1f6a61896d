"""Variants of the default detector's decision, on TUNE and TEST, from one set of statistics.

Usage::

    .venv/bin/python benchmarks/detector_variants.py     # about 2 min on a loaded machine

Computes the default method's statistics (structural, smoothed CVA, envelope excess) and
thresholds once per shared labelled pair (the pairs and the TUNE / TEST split of
``benchmarks/accuracy.py``; read in place, nothing copied), then applies each decision rule
below and prints pooled-pixel F1 per data set and the macro mean, as accuracy.py does. The
shipped rule is ``default`` (gap fill 5 px, gate 0.1); the others are the alternatives that
were tried on TUNE and rejected (DESIGN.md, "No change is claimed that noise explains").
Choose on TUNE; TEST is printed so that the cost of that discipline can be seen.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from accuracy import load_all, scores, split  # noqa: E402

from pipeline.change import detectors, filters  # noqa: E402
from pipeline.change.calibration import block_statistics, prepare, thresholds  # noqa: E402
from pipeline.change.detect import ChangeParams, confidence, decide  # noqa: E402
from pipeline.change.estimate import calibrate  # noqa: E402


@dataclass
class Stats:
    """One pair's statistics and what the rules derive from them."""

    st: dict[str, np.ndarray]
    """Detector statistics of the default method (single pass)."""
    ok: np.ndarray
    """bool (H, W) valid."""
    thr: dict[str, float]
    """Thresholds of the default method."""
    truth: np.ndarray
    """bool (H, W) labelled change."""
    shipped: np.ndarray
    """bool (H, W) the default method's mask (with its gap fill)."""
    unfilled: np.ndarray
    """bool (H, W) the same without the gap fill."""
    noise: float
    """Median smoothed CVA magnitude (the noise level)."""


Rule = Callable[[Stats], np.ndarray]


def statistics() -> dict[tuple[str, str], list[Stats]]:
    """(part, data set) -> statistics of every pair."""
    tune, test = split(load_all())
    out: dict[tuple[str, str], list[Stats]] = {}
    for part, data in (("TUNE", tune), ("TEST", test)):
        for name, pairs in data.items():
            for p in pairs:
                params = ChangeParams(pixel_size_m=p.pixel_size_m, bands=p.bands)
                b, a, ok = prepare(p.before, p.after, None)
                cal = calibrate(b, a, ok, params, with_thresholds=False)
                st, ok2 = block_statistics(b, a, ok, cal, params)
                thr = thresholds(st, ok2, params, b.shape[0])
                shipped = decide(st, ok2, thr, params)[0] == 1
                unfilled = decide(st, ok2, thr, ChangeParams(fill_px=1))[0] == 1
                noise = float(np.median(st["cva"][ok2]))
                out.setdefault((part, name), []).append(
                    Stats(st, ok2, thr, p.truth, shipped, unfilled, noise)
                )
    return out


def _cva_conf(s: Stats) -> np.ndarray:
    return confidence(s.st["cva"], s.thr["cva"])


def _env(s: Stats, k: float) -> np.ndarray:
    return s.st["envelope"] > k * s.noise


def union_otsu(k: float) -> Rule:
    """Unfilled default OR smoothed CVA above max(Otsu, k x noise), envelope-gated."""
    def rule(s: Stats) -> np.ndarray:
        t = max(k * s.noise, s.thr["cva"])
        return s.unfilled | ((s.st["cva"] > t) & _env(s, 0.4))
    return rule


def union_absolute(level: float) -> Rule:
    """Default OR smoothed CVA above an absolute ``level`` (BEFORE standard deviations)."""
    return lambda s: s.shipped | ((s.st["cva"] > level) & _env(s, 0.4))


def soft(w: float) -> Rule:
    """Weighted mean of the structural and CVA confidences above 0.5, envelope-gated."""
    def rule(s: Stats) -> np.ndarray:
        c = (1 - w) * confidence(s.st["structural"], s.thr["structural"]) + w * _cva_conf(s)
        return (c > 0.5) & _env(s, 0.4)
    return rule


def grow(radius: int) -> Rule:
    """Unfilled default grown by up to ``radius`` px into CVA-supported pixels."""
    def rule(s: Stats) -> np.ndarray:
        cand = (_cva_conf(s) > 0.3) & _env(s, 0.4) & s.ok
        return ndimage.binary_dilation(s.unfilled, iterations=radius, mask=cand | s.unfilled)
    return rule


def segments(share: float) -> Rule:
    """Connected CVA-supported segments kept whole when ``share`` of them is structural."""
    def rule(s: Stats) -> np.ndarray:
        cand = ((_cva_conf(s) > 0.4) & _env(s, 0.4) & s.ok) | s.unfilled
        lab, n = ndimage.label(cand)
        if n == 0:
            return cand
        frac = ndimage.mean(s.unfilled.astype(np.float32), lab, np.arange(1, n + 1))
        return np.concatenate([[False], np.asarray(frac) >= share])[lab]
    return rule


def wide_close(size: int, gate: float) -> Rule:
    """The default plus a second, wider closing where the CVA confidence exceeds ``gate``."""
    def rule(s: Stats) -> np.ndarray:
        c = filters.close_mask(s.shipped, size)
        return s.shipped | (c & (_cva_conf(s) > gate) & _env(s, 0.4))
    return rule


RULES: dict[str, Rule] = {
    "default (fill 5, 0.1)": lambda s: s.shipped,
    "no fill": lambda s: s.unfilled,
    "| cva>max(otsu,2 noise)": union_otsu(2.0),
    "| cva>2.5 sd": union_absolute(2.5),
    "| cva>4.5 sd": union_absolute(4.5),
    "soft w0.3": soft(0.3),
    "soft w0.5": soft(0.5),
    "grow 8 px": grow(8),
    "segments >= 0.7": segments(0.7),
    "+ close 15, 0.5": wide_close(15, 0.5),
    "cva+otsu (smoothed)": lambda s: s.st["cva"] > detectors.otsu_threshold(s.st["cva"], s.ok),
}


def main() -> None:
    """Print the table."""
    warnings.filterwarnings("ignore", module="rasterio")
    data = statistics()
    for part in ("TUNE", "TEST"):
        names = [d for (p, d) in data if p == part]
        print(f"\n== {part}   " + " ".join(f"{d:>8}" for d in names) + "    macro")
        for rname, rule in RULES.items():
            f1s = []
            for d in names:
                tp = fp = fn = 0
                for s in data[(part, d)]:
                    pred = rule(s) & s.ok
                    tp += int((pred & s.truth).sum())
                    fp += int((pred & ~s.truth).sum())
                    fn += int((~pred & s.truth).sum())
                f1s.append(scores(tp, fp, fn)[2])
            print(f"{rname:<26}" + " ".join(f"{x:8.3f}" for x in f1s)
                  + f"   {np.mean(f1s):.3f}", flush=True)


if __name__ == "__main__":
    main()
