"""Ceiling of threshold rules on the shared labelled pairs: ORACLES that see the labels.

Usage::

    .venv/bin/python benchmarks/ceiling.py            # about 1 min; per-pair arrays are
                                                      # cached in /tmp/campwatch-ceiling-cache
    .venv/bin/python benchmarks/ceiling.py --fresh    # recompute the cache

Pairs, loaders and the TUNE / TEST split are those of ``benchmarks/accuracy.py`` (read in
place from ``../shared/data``; nothing is copied). Scores are pooled-pixel F1 of the change
class per data set and their macro mean, as accuracy.py prints them.

The rows marked ``ORACLE`` are upper bounds, not methods: they choose a threshold by looking
at the labels of the very pairs they are scored on.

- ``oracle/pair``: every pair gets its own best threshold (including "flag nothing"), chosen
  jointly so that the data set's pooled F1 is highest (Dinkelbach's iteration on
  2 TP - F (TP + FP + P), which separates over pairs; exact on the histogram bins).
- ``oracle/set``: one threshold per data set (and split), the best for its pooled F1.
- ``TUNE-fixed``: NOT an oracle on TEST: one threshold for all data sets, the best for TUNE's
  macro-F1, applied unchanged to TEST (a shippable absolute rule).

Statistics (larger = more change):

- ``cva raw``: the baseline's statistic (Euclidean norm of the raw difference);
- ``cva z``: per band and date standardised (z-scores over the pair's valid pixels), then the
  Euclidean norm of the difference ("plain CVA" of issue #11);
- ``cva default``: the default method's smoothed CVA (co-registered, normalised, in
  BEFORE's standard deviations);
- ``envelope``: its envelope excess (misregistration- and blur-tolerant);
- ``structural``: its structural statistic (1 - SSIM contrast-structure);
- ``struct in gates``: the structural statistic where the default's CVA gate and envelope
  floor are open, -inf elsewhere: the default's decision with only its structural threshold
  free (no gap fill);
- ``default score``: the default's 0..1 score with its gap fill (0.5 = its own decision);
- ``default 2-D``: the default's decision with both its structural threshold and its CVA gate
  level free (64 x 64 quantile levels; envelope floor as shipped; no gap fill).

``logistic on same``: an L2 logistic regression of eight per-pixel statistics (the above,
log-scaled) fitted per data set and split on the very pairs scored, then its best threshold:
an oracle of a linear combination (class-balanced, so not F1-optimal). ``TUNE-fit logistic``
fits one on all TUNE pairs and applies it with TUNE's threshold to TEST: a diagnostic only,
since these labels are research-only and nothing trained on them may ship.

``default + morph`` is the shipped mask followed by the best of a few morphological steps per
data set (closing 3-15 px, dilation 1-4 px, opening 3 px, hole filling): also an oracle.

Measured (one run, 29 Nov 2026; TUNE: OSCD bercy, LEVIR-CD train_36_0512_0512, xBD tiles
00000000 and 00000001, OMBRIA 2021_ALBANIA; everything else TEST)::

    TUNE | TEST (F1)            |  oscd levir   xbd ombri  macro|  oscd levir   xbd ombri  macro
    --------------------------------------------------------------------------------------------
    cva+otsu (raw; accuracy.py) | 0.026 0.085 0.151 0.535  0.200| 0.282 0.059 0.161 0.432  0.233
    cva z + otsu                | 0.061 0.180 0.172 0.279  0.173| 0.349 0.088 0.175 0.349  0.241
    default (shipped)           | 0.309 0.366 0.204 0.531  0.352| 0.461 0.136 0.124 0.384  0.276
    ORACLE/pair cva raw         | 0.184 0.297 0.358 0.790  0.407| 0.355 0.216 0.257 0.714  0.385
    ORACLE/set  cva raw         | 0.184 0.297 0.188 0.743  0.353| 0.355 0.216 0.175 0.451  0.299
    ORACLE/pair cva z           | 0.241 0.298 0.360 0.640  0.385| 0.371 0.218 0.266 0.688  0.386
    ORACLE/set  cva z           | 0.241 0.298 0.193 0.383  0.279| 0.371 0.218 0.186 0.379  0.288
    TUNE-fixed  cva z > 1.51    | 0.033 0.230 0.185 0.380  0.207| 0.231 0.126 0.171 0.379  0.227
    ORACLE/pair cva default     | 0.326 0.333 0.388 0.687  0.433| 0.422 0.216 0.278 0.712  0.407
    ORACLE/set  cva default     | 0.326 0.333 0.204 0.487  0.337| 0.422 0.216 0.196 0.429  0.316
    ORACLE/pair envelope        | 0.194 0.367 0.362 0.662  0.396| 0.265 0.227 0.263 0.721  0.369
    ORACLE/set  envelope        | 0.194 0.367 0.165 0.455  0.295| 0.265 0.227 0.160 0.454  0.277
    ORACLE/pair structural      | 0.168 0.344 0.357 0.671  0.385| 0.468 0.228 0.244 0.670  0.403
    ORACLE/set  structural      | 0.168 0.344 0.161 0.503  0.294| 0.468 0.228 0.137 0.382  0.304
    ORACLE/pair struct in gates | 0.323 0.368 0.349 0.666  0.426| 0.494 0.143 0.260 0.605  0.375
    ORACLE/set  struct in gates | 0.323 0.368 0.174 0.516  0.345| 0.494 0.143 0.161 0.419  0.304
    ORACLE/pair default score   | 0.309 0.368 0.357 0.702  0.434| 0.494 0.228 0.244 0.672  0.410
    ORACLE/set  default score   | 0.309 0.368 0.245 0.532  0.363| 0.494 0.228 0.137 0.384  0.311
    ORACLE/pair default 2-D     | 0.321 0.368 0.357 0.712  0.439| 0.510 0.142 0.276 0.647  0.394
    ORACLE/set  default 2-D     | 0.321 0.368 0.199 0.559  0.362| 0.510 0.142 0.194 0.435  0.320
    ORACLE/pair best of above   | 0.326 0.368 0.389 0.805  0.472| 0.510 0.228 0.282 0.743  0.441
    ORACLE/set  logistic on same| 0.282 0.471 0.393 0.600  0.437| 0.513 0.334 0.242 0.474  0.391
    TUNE-fit logistic (diag.)   | 0.257 0.285 0.219 0.581  0.336| 0.495 0.092 0.151 0.367  0.276
    ORACLE/set  default + morph | 0.317 0.375 0.210 0.540  0.361| 0.469 0.171 0.140 0.389  0.292

Reading. Every per-data-set threshold oracle stays at or below 0.320 macro on TEST (0.363 on
TUNE), and even a threshold chosen per PAIR by looking at its labels reaches at most 0.410 on
TEST (the default's own score; 0.407 with its smoothed CVA); choosing the best statistic AND
threshold for every pair gives 0.441 (TUNE 0.472), and a logistic combination of all eight
per-pixel statistics fitted on the very labels it is scored on gives 0.391 (TUNE 0.437; a
class-balanced fit, not F1-optimal). So the 0.50 macro-F1 of issue #11 item 2 is out of
reach of ANY threshold rule on these statistics, unsupervised or not: the statistics of
labelled change and of unchanged ground overlap too much, most of all on xBD (at most 0.28
per pair: damaged roofs vs undamaged roofs under a view-angle change) and LEVIR-CD (0.23 on
TEST). Where threshold choice matters is OMBRIA: a per-pair threshold (0.71-0.74) against a
per-set one (0.43-0.45) and the default's 0.384: flood extent varies from 0 to 94 % per pair.
On OSCD the default is already near its oracle (0.461 against 0.494-0.510). Reaching 0.50
needs new evidence per pixel (a learned spatial-context model, e.g. a Siamese CNN trained on
allowed data, or temporal evidence from more dates), not a better threshold. The default's
best morphological post-step, chosen per data set with the labels, adds 0.016 on TEST.
"""

from __future__ import annotations

import argparse
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

from accuracy import Pair, baseline, load_all, split  # noqa: E402

from pipeline.change import detectors, filters  # noqa: E402
from pipeline.change.calibration import block_statistics, prepare, thresholds  # noqa: E402
from pipeline.change.detect import ChangeParams, decide  # noqa: E402
from pipeline.change.envelope import gate_level  # noqa: E402
from pipeline.change.estimate import calibrate  # noqa: E402

CACHE = Path("/tmp/campwatch-ceiling-cache")
BINS = 4096
"""Quantile bins of a statistic (edges from all pairs of all data sets together)."""
BINS_2D = 64
"""Quantile levels per axis of the 2-D oracle."""
PARTS = ("TUNE", "TEST")

FEATURES = ("cva raw", "cva z", "cva default", "envelope", "structural", "struct in gates",
            "default score")


def z_cva(before: np.ndarray, after: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Plain CVA on per-band, per-date z-scores over the valid pixels (float32 (H, W))."""
    out = np.zeros(ok.shape, np.float32)
    for b, a in zip(before, after, strict=True):
        zb = (b - b[ok].mean()) / max(float(b[ok].std()), 1e-6)
        za = (a - a[ok].mean()) / max(float(a[ok].std()), 1e-6)
        out += ((za - zb) ** 2).astype(np.float32)
    return np.sqrt(out)


def pair_arrays(pair: Pair) -> dict[str, np.ndarray]:
    """Every statistic and mask of one pair (flattened over its valid pixels)."""
    params = ChangeParams(pixel_size_m=pair.pixel_size_m, bands=pair.bands)
    b, a, ok = prepare(pair.before, pair.after, None)
    cal = calibrate(b, a, ok, params, with_thresholds=False)
    st, ok2 = block_statistics(b, a, ok, cal, params)  # thresholds unknown: envelope everywhere
    thr = thresholds(st, ok2, params, b.shape[0])
    mask, score = decide(st, ok2, thr, params)
    gate = gate_level(thr["cva"], params.gate)
    open_ = (st["cva"] > gate) if gate is not None else np.zeros(ok2.shape, bool)
    open_ &= st["envelope"] > thr["envelope"]
    raw_ok = np.isfinite(pair.before).all(0) & np.isfinite(pair.after).all(0)
    base = baseline("cva")(pair)
    return {
        "ok": ok2, "truth": pair.truth, "shipped": mask == 1, "cva+otsu": base & raw_ok,
        "cva raw": detectors.cva_magnitude(np.nan_to_num(pair.before),
                                           np.nan_to_num(pair.after)),
        "cva z": z_cva(b, a, ok2),
        "cva default": st["cva"], "envelope": st["envelope"],
        "structural": st["structural"],
        "struct in gates": np.where(open_, st["structural"], -np.inf).astype(np.float32),
        "default score": np.nan_to_num(score, nan=-1.0),
        "env_open": st["envelope"] > thr["envelope"],
        "thr": np.array([thr["structural"], thr["cva"], thr["envelope"]]),
    }


@dataclass
class Item:
    """One pair's cached arrays."""

    part: str
    dataset: str
    name: str
    arrays: dict[str, np.ndarray]


def load(fresh: bool = False) -> list[Item]:
    """Every pair's arrays, from the cache when present."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tune, test = split(load_all())
    items = []
    for part, data in zip(PARTS, (tune, test), strict=True):
        for dataset, pairs in data.items():
            for pair in pairs:
                path = CACHE / f"{dataset}__{pair.name}.npz"
                if fresh or not path.exists():
                    np.savez(path, **pair_arrays(pair))  # type: ignore[arg-type]
                with np.load(path) as z:
                    items.append(Item(part, dataset, pair.name, {k: z[k] for k in z.files}))
    return items


def f1(tp: float, fp: float, p: float) -> float:
    """F1 of the change class from true positives, false positives and positives."""
    return 2 * tp / (2 * tp + fp + (p - tp)) if p + fp > 0 else 0.0


def curves(values: np.ndarray, truth: np.ndarray, edges: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(tp, fp) of "value >= edges[k-1]" for k = 1..len(edges)+1 (the last: nothing)."""
    idx = np.searchsorted(edges, values, side="right")
    n = len(edges) + 1
    pos = np.bincount(idx[truth], minlength=n)
    neg = np.bincount(idx[~truth], minlength=n)
    tp = np.concatenate([np.cumsum(pos[::-1])[::-1][1:], [0]])
    fp = np.concatenate([np.cumsum(neg[::-1])[::-1][1:], [0]])
    return tp.astype(np.float64), fp.astype(np.float64)


def oracle_pairs(per_pair: list[tuple[np.ndarray, np.ndarray, float]]) -> float:
    """Best pooled F1 when every pair picks its own option (Dinkelbach's iteration)."""
    lam = 0.0
    for _ in range(100):
        tp_all = fp_all = p_all = 0.0
        for tp, fp, p in per_pair:
            j = int(np.argmax(2 * tp - lam * (tp + fp)))
            tp_all += tp[j]
            fp_all += fp[j]
            p_all += p
        f = f1(tp_all, fp_all, p_all)
        if abs(f - lam) < 1e-12:
            break
        lam = f
    return lam


def oracle_set(per_pair: list[tuple[np.ndarray, np.ndarray, float]]) -> tuple[float, int]:
    """Best pooled F1 of one option common to every pair, and that option."""
    tp = sum(c[0] for c in per_pair)
    fp = sum(c[1] for c in per_pair)
    p = sum(c[2] for c in per_pair)
    f = 2 * tp / np.maximum(2 * tp + fp + (p - tp), 1e-12)
    j = int(np.argmax(f))
    return float(f[j]), j


def quantile_edges(items: list[Item], key: str, bins: int) -> np.ndarray:
    """Edges at ``bins`` quantiles of the finite valid values of every pair."""
    rng = np.random.default_rng(0)
    vals = []
    for it in items:
        v = it.arrays[key][it.arrays["ok"]]
        v = v[np.isfinite(v)]
        vals.append(rng.choice(v, min(v.size, 20000), replace=False) if v.size else v)
    allv = np.concatenate(vals)
    return np.unique(np.quantile(allv, np.linspace(0, 1, bins + 1)[:-1]))


def pooled(items: list[Item], mask_of: Callable[[Item], np.ndarray]) -> float:
    """Pooled F1 of a mask rule over some pairs (labelled change on invalid pixels counts as
    missed, as in accuracy.py)."""
    tp = fp = p = 0.0
    for it in items:
        truth = it.arrays["truth"]
        pred = mask_of(it)
        tp += float((pred & truth).sum())
        fp += float((pred & ~truth).sum())
        p += float(truth.sum())
    return f1(tp, fp, p)


def morph_step(name: str, mask: np.ndarray) -> np.ndarray:
    """One of :data:`MORPH` applied to a bool mask."""
    kind, _, arg = name.partition(" ")
    if kind == "close":
        return filters.close_mask(mask, int(arg))
    if kind == "dilate":
        return np.asarray(ndimage.binary_dilation(mask, iterations=int(arg)))
    if kind == "open":
        return np.asarray(ndimage.binary_opening(mask, np.ones((int(arg),) * 2, bool)))
    if kind == "fill":
        return np.asarray(ndimage.binary_fill_holes(mask))
    return mask


MORPH = ("none", "close 3", "close 5", "close 9", "close 15", "dilate 1", "dilate 2",
         "dilate 4", "open 3", "fill holes")
"""Morphological post-steps of the ``default + morph`` oracle."""


class Table:
    """Rows of F1 per (part, data set) and the macro mean, printed side by side."""

    def __init__(self, datasets: list[str]) -> None:
        self.datasets = datasets
        self.lines: list[str] = []
        head = f"{' | '.join(PARTS) + ' (F1)':<28}" + "".join(
            "|" + "".join(f"{d[:5]:>6}" for d in datasets) + "  macro" for _ in PARTS)
        self.lines += [head, "-" * len(head)]

    def row(self, name: str, values: dict[str, list[float]], note: str = "") -> None:
        """One row: ``values[part]`` holds one F1 per data set."""
        line = f"{name:<28}"
        for p in PARTS:
            v = values[p]
            line += "|" + "".join(f"{x:6.3f}" for x in v) + f" {np.mean(v):6.3f}"
        self.lines.append(line + note)
        print(self.lines[-1], flush=True)


def main(argv: list[str] | None = None) -> None:
    """Print the ceiling table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="recompute the cached arrays")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="rasterio")
    items = load(args.fresh)
    datasets = sorted({it.dataset for it in items}, key=["oscd", "levir_cd", "xbd",
                                                         "ombria"].index)
    groups = {(p, d): [it for it in items if it.part == p and it.dataset == d]
              for p in PARTS for d in datasets}
    for p in PARTS:
        print(f"{p}: " + "; ".join(f"{d} {len(groups[(p, d)])} pairs" for d in datasets))
    table = Table(datasets)
    table.row("cva+otsu (raw; accuracy.py)", {
        p: [pooled(groups[(p, d)], lambda it: it.arrays["cva+otsu"]) for d in datasets]
        for p in PARTS})
    table.row("cva z + otsu", {
        p: [pooled(groups[(p, d)], lambda it: it.arrays["ok"] & (
            it.arrays["cva z"] > detectors.otsu_threshold(it.arrays["cva z"], it.arrays["ok"])))
            for d in datasets] for p in PARTS})
    table.row("default (shipped)", {
        p: [pooled(groups[(p, d)], lambda it: it.arrays["shipped"]) for d in datasets]
        for p in PARTS})
    options: dict[tuple[str, ...], dict] = {}
    for key in FEATURES:
        edges = quantile_edges(items, key, BINS)
        cur = {(p, d): [(*curves(it.arrays[key][it.arrays["ok"]],
                                 it.arrays["truth"][it.arrays["ok"]], edges),
                         float(it.arrays["truth"].sum()))
                        for it in groups[(p, d)]] for p in PARTS for d in datasets}
        options[(key,)] = cur
        table.row(f"ORACLE/pair {key}",
                  {p: [oracle_pairs(cur[(p, d)]) for d in datasets] for p in PARTS})
        table.row(f"ORACLE/set  {key}",
                  {p: [oracle_set(cur[(p, d)])[0] for d in datasets] for p in PARTS})
        if key == "cva z":
            # one threshold for all data sets, chosen on TUNE's macro-F1, applied to TEST
            def macro_curve(p: str, c: dict = cur) -> np.ndarray:
                out = []
                for d in datasets:
                    tp = sum(x[0] for x in c[(p, d)])
                    fp = sum(x[1] for x in c[(p, d)])
                    pos = sum(x[2] for x in c[(p, d)])
                    out.append(2 * tp / np.maximum(2 * tp + fp + (pos - tp), 1e-12))
                return np.array(out)
            j = int(np.argmax(macro_curve("TUNE").mean(axis=0)))
            level = edges[j] if j < len(edges) else float("inf")
            table.row(f"TUNE-fixed  {key} > {level:.2f}",
                      {p: [float(x) for x in macro_curve(p)[:, j]] for p in PARTS})
    options[("2-D",)] = two_d(items, groups, datasets, table)
    table.row("ORACLE/pair best of above", {p: [oracle_pairs([
        (np.concatenate([options[k][(p, d)][i][0] for k in options]),
         np.concatenate([options[k][(p, d)][i][1] for k in options]),
         options[("2-D",)][(p, d)][i][2]) for i in range(len(groups[(p, d)]))])
        for d in datasets] for p in PARTS})
    logistic_rows(groups, datasets, table)
    morph: dict[str, list[float]] = {}
    for p in PARTS:
        morph[p] = []
        for d in datasets:
            f1s = {k: pooled(groups[(p, d)], lambda it, k=k: morph_step(  # type: ignore[misc]
                k, it.arrays["shipped"]) & it.arrays["ok"]) for k in MORPH}
            best = max(f1s, key=f1s.__getitem__)
            morph[p].append(f1s[best])
            print(f"  best morph step {p} {d}: {best}")
    table.row("ORACLE/set  default + morph", morph)
    print("\n" + "\n".join(table.lines))


def two_d(items: list[Item], groups: dict[tuple[str, str], list[Item]], datasets: list[str],
          table: Table) -> dict:
    """Oracle of the default's two thresholds (structural, CVA gate) with the envelope floor
    as shipped and no gap fill."""
    es = quantile_edges(items, "structural", BINS_2D)
    ec = quantile_edges(items, "cva default", BINS_2D)
    cur = {}
    for p in PARTS:
        for d in datasets:
            lst = []
            for it in groups[(p, d)]:
                ok = it.arrays["ok"] & it.arrays["env_open"]
                truth = it.arrays["truth"][ok]
                i = np.searchsorted(es, it.arrays["structural"][ok], side="right")
                j = np.searchsorted(ec, it.arrays["cva default"][ok], side="right")
                n, m = len(es) + 1, len(ec) + 1
                cnt = []
                for sel in (truth, ~truth):
                    h = np.bincount(i[sel] * m + j[sel], minlength=n * m).reshape(n, m)
                    c = h[::-1, ::-1].cumsum(0).cumsum(1)[::-1, ::-1]  # >= (i, j)
                    c = np.pad(c[1:, 1:], ((0, 1), (0, 1)))  # options k >= 1, plus nothing
                    cnt.append(c.ravel().astype(np.float64))
                lst.append((cnt[0], cnt[1], float(it.arrays["truth"].sum())))
            cur[(p, d)] = lst
    table.row("ORACLE/pair default 2-D", {p: [oracle_pairs(cur[(p, d)]) for d in datasets]
                                           for p in PARTS})
    table.row("ORACLE/set  default 2-D", {p: [oracle_set(cur[(p, d)])[0] for d in datasets]
                                           for p in PARTS})
    return cur


def design(it: Item) -> np.ndarray:
    """Per-pixel features of the logistic rows, (valid pixels, 8)."""
    a, ok = it.arrays, it.arrays["ok"]
    raw = a["cva raw"][ok]
    gates = np.isfinite(a["struct in gates"][ok])
    return np.column_stack([
        np.log1p(a["cva z"][ok]), np.log1p(a["cva default"][ok]),
        np.log1p(a["envelope"][ok]), a["structural"][ok],
        gates.astype(np.float32), np.clip(a["default score"][ok], 0, 1),
        np.log((raw + 1e-3) / (np.median(raw) + 1e-3)), np.ones(raw.size, np.float32),
    ]).astype(np.float64)


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 25) -> np.ndarray:
    """Weights of an L2-regularised logistic regression (Newton's method; last column of
    ``x`` is the intercept); classes weighted to equal total weight."""
    w = np.zeros(x.shape[1])
    cw = np.where(y, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    for _ in range(steps):
        prob = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        g = x.T @ (cw * (prob - y)) / len(y) + 1e-4 * w
        h = (x * (cw * prob * (1 - prob))[:, None]).T @ x / len(y) + 1e-4 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def logistic_rows(groups: dict[tuple[str, str], list[Item]], datasets: list[str],
                  table: Table) -> None:
    """A linear combination of all the statistics above, fitted by logistic regression:
    on the very pairs scored (an oracle of the combination) and on TUNE only (TEST unseen;
    a diagnostic: the labels are research-only, nothing trained on them may ship)."""
    rng = np.random.default_rng(0)

    def sample(its: list[Item]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for it in its:
            x = design(it)
            y = it.arrays["truth"][it.arrays["ok"]]
            keep = rng.random(len(y)) < min(1.0, 40000 / len(y))
            xs.append(x[keep])
            ys.append(y[keep])
        return np.concatenate(xs), np.concatenate(ys).astype(np.float64)

    edges = np.linspace(-12, 12, BINS)

    def cur(its: list[Item], w: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
        return [(*curves(design(it) @ w, it.arrays["truth"][it.arrays["ok"]], edges),
                 float(it.arrays["truth"].sum())) for it in its]

    own: dict[str, list[float]] = {p: [] for p in PARTS}
    for p in PARTS:
        for d in datasets:
            w = fit_logistic(*sample(groups[(p, d)]))
            own[p].append(oracle_set(cur(groups[(p, d)], w))[0])
    table.row("ORACLE/set  logistic on same", own)
    w = fit_logistic(*sample([it for d in datasets for it in groups[("TUNE", d)]]))
    curves_by = {p: [cur(groups[(p, d)], w) for d in datasets] for p in PARTS}
    macro = np.mean([oracle_curve(c) for c in curves_by["TUNE"]], axis=0)
    j = int(np.argmax(macro))
    table.row("TUNE-fit logistic (diag.)", {
        p: [float(oracle_curve(c)[j]) for c in curves_by[p]] for p in PARTS})


def oracle_curve(per_pair: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """Pooled F1 of every option common to the pairs."""
    tp = sum(c[0] for c in per_pair)
    fp = sum(c[1] for c in per_pair)
    p = sum(c[2] for c in per_pair)
    return 2 * tp / np.maximum(2 * tp + fp + (p - tp), 1e-12)


if __name__ == "__main__":
    main()
