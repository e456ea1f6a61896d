"""Variants of the learned change classifier, on TUNE and TEST: the record of what was tried.

Usage::

    .venv/bin/python benchmarks/learned_variants.py                      # about 8 min
    .venv/bin/python benchmarks/learned_variants.py --cache /tmp/px.npz  # keep the pixels

The learned counterpart of ``benchmarks/detector_variants.py``. Builds the training pixels of
``benchmarks/train_change_model.py`` (licence-clean data only: the simulator and eo-learn with
synthetic changes; seed 0), then trains each variant below on a 400,000-pixel subsample
(10 epochs; the shipped model uses every pixel and 25) and prints pooled-pixel F1 per data
set and the macro mean on the shared labelled pairs (the TUNE / TEST split of
``benchmarks/accuracy.py``; read in place, nothing copied) at probability thresholds 0.3 and
0.5. The labelled pairs are measurement only: nothing is trained on them. Choose on TUNE.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import train_change_model as tcm  # noqa: E402
from accuracy import load_all, scores, split  # noqa: E402

from pipeline.change.calibration import prepare  # noqa: E402
from pipeline.change.estimate import calibrate  # noqa: E402
from pipeline.change.learned import FEATURES, features, reference, standardised  # noqa: E402
from pipeline.change.records import ChangeParams  # noqa: E402

ABSOLUTE = ("cva", "cva_s2", "cva_s4", "envelope", "structural_s2", "structural_s4",
            "brightness_s2")
RELATIVE = ("cva_rel", "envelope_rel", "cva_contrast", "cva_split", "structural_split")
TEXTURE = ("texture_before", "texture_after")
VARIANTS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "all, MLP 32-16 (shipped design)": (FEATURES, (32, 16)),
    "all, logistic": (FEATURES, ()),
    "no texture, MLP 32-16": (ABSOLUTE + RELATIVE, (32, 16)),
    "no texture, logistic": (ABSOLUTE + RELATIVE, ()),
    "absolute only, MLP 16": (ABSOLUTE, (16,)),
    "relative + structural, MLP 16": ((*RELATIVE, "structural_s2", "structural_s4"), (16,)),
}
"""Name -> (features used, hidden layer widths)."""
THRESHOLDS = (0.3, 0.5)


def labelled_features() -> dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """(part, data set) -> (features float16, truth, valid) of every labelled pair."""
    tune, test = split(load_all())
    out: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for part, data in (("TUNE", tune), ("TEST", test)):
        for name, pairs in data.items():
            for p in pairs:
                params = ChangeParams(method="learned", pixel_size_m=p.pixel_size_m,
                                      bands=p.bands)
                cal = calibrate(p.before, p.after, None, params, with_thresholds=False)
                b, a, ok = prepare(p.before, p.after, None)
                bs, as_, ok = standardised(b, a, ok, cal)
                f = features(bs, as_, reference(bs, as_, ok)).astype(np.float16)
                out.setdefault((part, name), []).append((f, p.truth, ok))
    return out


def forward(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The MLP of :func:`train_change_model.train` in numpy."""
    mu, sd, *layers = weights
    h = (x - mu) / sd
    for k in range(0, len(layers) - 2, 2):
        h = np.maximum(h @ layers[k] + layers[k + 1], 0)
    z = (h @ layers[-2] + layers[-1])[:, 0]
    return 1 / (1 + np.exp(-np.clip(z, -30, 30)))


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the training pixels in this .npz (built once, then reused)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="rasterio")
    if args.cache is not None and args.cache.exists():
        z = np.load(args.cache)
        x, y = z["x"], z["y"]
    else:
        x, y, names = tcm.build_dataset(np.random.default_rng(0))
        if args.cache is not None:
            np.savez(args.cache, x=x, y=y, names=np.array(names))
    pick = np.random.default_rng(0).choice(len(y), min(len(y), 400_000), replace=False)
    data = labelled_features()
    parts = ("TUNE", "TEST")
    sets = {part: [d for (p, d) in data if p == part] for part in parts}
    print("\n" + " " * 34 + "   ".join(
        f"{part} " + " ".join(f"{d[:8]:>8}" for d in sets[part]) + "    macro"
        for part in parts))
    for vname, (used, hidden) in VARIANTS.items():
        cols = [FEATURES.index(c) for c in used]
        tcm.HIDDEN = hidden
        weights = tcm.train(x[pick][:, cols], y[pick], seed=0, epochs=10)
        for thr in THRESHOLDS:
            line = f"{vname:<30} {thr:.1f}"
            for part in parts:
                f1s = []
                for d in sets[part]:
                    tp = fp = fn = 0
                    for f, truth, ok in data[(part, d)]:
                        flat = f[cols].reshape(len(cols), -1).T.astype(np.float32)
                        pred = (forward(weights, flat) > thr).reshape(truth.shape) & ok
                        tp += int((pred & truth).sum())
                        fp += int((pred & ~truth).sum())
                        fn += int((~pred & truth).sum())
                    f1s.append(scores(tp, fp, fn)[2])
                line += f"   {part} " + " ".join(f"{v:8.3f}" for v in f1s) + \
                    f"   {np.mean(f1s):.3f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
