"""Train the learned change model (``pipeline/change/models/learned_change.onnx``), reproducibly.

Usage::

    .venv/bin/python benchmarks/train_change_model.py            # writes the shipped model
    .venv/bin/python benchmarks/train_change_model.py --out /tmp/m.onnx --seed 1

Needs the ``train`` extra (``pip install -e .[train]``: the ``onnx`` package, to write the
graph). The network is trained with plain numpy (no torch), single-threaded, seeded: the same
command gives the same weights.

Training data, only what the licences allow (nothing from LEVIR-CD, xBD, OSCD, OMBRIA or
SpaceNet, which are measurement only):

- the simulator's own scenes (``imagery/simulate``, this project's code, MIT), rendered in
  memory at 0.5 m, with truth from its events, at several ground sample distances (block
  means), band sets (4-band, RGB, false colour) and with nuisances on AFTER; seeds
  :data:`SIM_SEEDS` (never the events benchmark's 4, 7, 11, 13, 21);
- the eo-learn TestEOPatch Sentinel-2 scenes (``../shared/data/eolearn_testeopatch``, MIT,
  Copernicus data): every pair of its five real dates (seasonal difference, no labelled
  change) with synthetic inserted changes (pasted patches, roofs, clearings, water,
  debris texture; soft edges) and without;
- nuisance-only pairs of both (sub-pixel shift, blur, gamma, gain with colour cast, noise,
  haze, 8-bit quantisation) as negatives.

Features come from :func:`pipeline.change.learned.features` after the same calibration as at
inference, so training and inference cannot drift apart.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from facilities.load import load_facility_by_id  # noqa: E402
from imagery.simulate.records import SimulationParams  # noqa: E402
from imagery.simulate.render import (  # noqa: E402
    MARGIN_PX,
    labels_for,
    prepare_rasters,
    render_reflectance,
)
from imagery.simulate.scene import plan_scene  # noqa: E402
from imagery.simulate.schedule import date_events, plan_captures  # noqa: E402
from pipeline.change.calibration import prepare  # noqa: E402
from pipeline.change.coregister import apply_shift  # noqa: E402
from pipeline.change.estimate import calibrate  # noqa: E402
from pipeline.change.learned import FEATURES, features, reference, standardised  # noqa: E402
from pipeline.change.records import ChangeParams  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
EOLEARN = SHARED / "eolearn_testeopatch" / "REFERENCE_SCENES.npy"
OUT = REPO / "pipeline" / "change" / "models" / "learned_change.onnx"
SIM_SEEDS = (101, 102, 103, 104, 105, 106)
"""Simulator seeds (the events benchmark uses 4, 7, 11, 13, 21: never these)."""
SIM_FACILITY = "kangdong-kyohwaso-4"
"""The facility the simulator lays scenes out on (the only one with zones); each seed lays out
different ground."""
HIDDEN = (32, 16)
"""Hidden layer widths."""
PER_PAIR = 6000
"""Pixels sampled per training pair."""

Pair = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(before, after, truth): float32 (bands, H, W) twice and bool (H, W)."""


# ----------------------------------------------------------------------------- nuisances
def nuisance(x: np.ndarray, rng: np.random.Generator, kind: str) -> np.ndarray:
    """One nuisance applied to a (bands, H, W) stack (returns a new array)."""
    lo, hi = float(np.percentile(x, 1)), float(np.percentile(x, 99))
    span = max(hi - lo, 1e-6)
    if kind == "shift":
        d = rng.uniform(-1.5, 1.5, 2)
        out = apply_shift(x.copy(), (float(d[0]), float(d[1])))
        return np.where(np.isfinite(out), out, x).astype(np.float32)
    if kind == "blur":
        s = rng.uniform(0.5, 1.5)
        return ndimage.gaussian_filter(x, (0, s, s)).astype(np.float32)
    if kind == "gamma":
        g = rng.uniform(0.7, 1.4)
        z = np.clip((x - lo) / span, 0, None)
        return (lo + span * z**g).astype(np.float32)
    if kind == "gain":
        gains = rng.uniform(0.7, 1.3) * rng.uniform(0.9, 1.1, x.shape[0])
        offs = rng.uniform(-0.1, 0.1, x.shape[0]) * span
        return (x * gains[:, None, None] + offs[:, None, None]).astype(np.float32)
    if kind == "noise":
        s = rng.uniform(0.005, 0.03) * span
        return (x + rng.normal(0, s, x.shape)).astype(np.float32)
    if kind == "haze":
        h, w = x.shape[1:]
        ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :] * rng.uniform(0, 1)
        ramp = ramp + np.linspace(0, 1, h, dtype=np.float32)[:, None] * rng.uniform(0, 1)
        amt = rng.uniform(0.05, 0.3) * span * (0.5 + 0.5 * ramp)
        per_band = np.linspace(1.0, 0.4, x.shape[0], dtype=np.float32)[:, None, None]
        return (x * (1 - 0.1 * per_band) + amt * per_band).astype(np.float32)
    if kind == "quantise":
        z = np.clip((x - lo) / span * rng.uniform(200, 255), 0, 255)
        return np.round(z).astype(np.float32)
    raise ValueError(kind)


NUISANCES = ("shift", "blur", "gamma", "gain", "noise", "haze", "quantise")


def nuisances(x: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    for kind in rng.choice(NUISANCES, size=k, replace=False):
        x = nuisance(x, rng, str(kind))
    return x


# ----------------------------------------------------------------------- synthetic changes
def blob(rng: np.random.Generator, shape: tuple[int, int], size: float, rect: bool
         ) -> np.ndarray:
    """A soft-edged 0..1 shape of about ``size`` pixels across at a random place."""
    h, w = shape
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rect:
        ang = rng.uniform(0, np.pi)
        ry, rx = size * rng.uniform(0.3, 0.7), size * rng.uniform(0.3, 0.7)
        u = (yy - cy) * np.cos(ang) + (xx - cx) * np.sin(ang)
        v = -(yy - cy) * np.sin(ang) + (xx - cx) * np.cos(ang)
        hard = (np.abs(u) < ry) & (np.abs(v) < rx)
    else:
        noise = ndimage.gaussian_filter(rng.normal(size=shape), max(size / 4, 1.0))
        noise /= noise.std() + 1e-9
        r = np.hypot(yy - cy, xx - cx) / (size / 2)
        hard = (r + 0.35 * noise) < 1.0
    soft = ndimage.gaussian_filter(hard.astype(np.float32), rng.uniform(0.3, 1.2))
    return soft.astype(np.float32)


def _level(target: np.ndarray, rng: np.random.Generator, q: tuple[float, float]
           ) -> np.ndarray:
    """A spectrum drawn from the image's own per-band percentiles in the range ``q``."""
    return np.array([np.percentile(band, rng.uniform(*q)) for band in target], np.float32)


KINDS = ("paste", "roof", "building", "clearing", "water", "flood", "debris")
"""Kinds of synthetic change :func:`insert_changes` paints."""


def insert_changes(before: np.ndarray, after: np.ndarray, rng: np.random.Generator,
                   count: int) -> Pair:
    """Paint ``count`` synthetic changes into AFTER (or BEFORE: removals); their truth.

    Kinds (:data:`KINDS`): a patch pasted from elsewhere in the image; a roof (uniform
    spectrum, rectangle); a building (roof plus the shadow it casts, the shadow not labelled);
    a clearing (bright soil-like spectrum); water; a flood (a large dark, smooth blob); debris
    (the scene's own values shuffled into rough texture). Edges are soft. A "tone" kind (a
    per-band shift of 0.7-3 standard deviations keeping the ground's texture) taught the model
    to flag the inside of a uniformly brightened patch, but did not raise TUNE macro-F1 (0.098
    with it, 0.11-0.14 without; OMBRIA 0.19 against 0.16-0.31), so it is not drawn
    (DESIGN.md).
    """
    b, a = before.copy(), after.copy()
    h, w = b.shape[1:]
    truth = np.zeros((h, w), bool)
    for _ in range(count):
        target = a if rng.random() < 0.75 else b
        kind = str(rng.choice(KINDS))
        top = max(6.0, min(h, w) * (0.8 if kind == "flood" else 0.4))
        size = float(np.exp(rng.uniform(np.log(4), np.log(top))))
        alpha = blob(rng, (h, w), size, rect=kind in ("roof", "building") or
                     (kind == "paste" and bool(rng.random() < 0.5)))
        tex = rng.normal(0, 0.02, (h, w)).astype(np.float32)
        if kind == "paste":
            dy, dx = int(rng.integers(-h // 2, h // 2)), int(rng.integers(-w // 2, w // 2))
            src = np.roll(target, (dy, dx), axis=(1, 2))
        elif kind in ("roof", "building"):
            level = _level(target, rng, (2, 99.5) if rng.random() < 0.3 else (80, 99.5))
            level *= rng.uniform(0.85, 1.15, len(level)).astype(np.float32)
            src = level[:, None, None] * (1 + tex)[None]
        elif kind in ("water", "flood"):
            level = _level(target, rng, (0.5, 8))
            src = level[:, None, None] * (1 + 2 * tex)[None]
        elif kind == "clearing":
            src = _level(target, rng, (60, 97))[:, None, None] * (1 + 3 * tex)[None]
        else:  # debris: the scene's own values shuffled locally, rough texture
            perm = target.reshape(target.shape[0], -1)[:, rng.permutation(h * w)]
            src = ndimage.uniform_filter(perm.reshape(target.shape), (1, 2, 2))
        strength = rng.uniform(0.5, 1.0)
        if kind == "building":  # the shadow falls beside the roof, darkening what is there
            dy, dx = (int(v) for v in rng.integers(1, max(2, int(size / 3)) + 1, 2))
            shade = np.roll(alpha, (dy, dx), axis=(0, 1)) * (1 - alpha)
            target *= 1 - 0.5 * shade[None]
        alpha = alpha * strength
        target += alpha[None] * (src - target)
        truth |= alpha > 0.5 * strength
    return b, a, truth


# ------------------------------------------------------------------------------ sources
def simulator_pairs(rng: np.random.Generator, seeds: tuple[int, ...]) -> list[Pair]:
    """Clear simulator pairs with truth from the scene's events (4 bands, 0.5 m)."""
    out: list[Pair] = []
    facility = load_facility_by_id(SIM_FACILITY)
    for seed in seeds:
        params = SimulationParams(captures=12, size_m=400.0, vhr_gsd_m=0.5, seed=seed)
        scene = plan_scene(facility, params)
        plans = plan_captures(params, scene.lon, scene.lat)
        dated = date_events(scene.events, plans, params.seed)
        rasters = prepare_rasters(scene)
        g = scene.grid
        rows = slice(MARGIN_PX, MARGIN_PX + g.height)
        cols = slice(MARGIN_PX, MARGIN_PX + g.width)
        picks = sorted(rng.choice(len(plans), size=min(6, len(plans)), replace=False))
        imgs, labs = [], []
        for i in picks:
            plan = replace(plans[i], cloud_cover=0.0, snow=False, coverage=1.0,
                           haze=min(plans[i].haze, 0.3))
            happened = frozenset(ev.key for ev, day in dated if day < plan.acquired.date())
            labels = labels_for(scene, rasters, happened)
            refl = render_reflectance(scene, rasters, plan, labels, happened)
            imgs.append(refl[:, rows, cols].copy())
            labs.append(labels[rows, cols].copy())
        for k in range(len(imgs) - 1):
            for m in (k + 1, len(imgs) - 1) if k + 1 < len(imgs) - 1 else (k + 1,):
                out.append((imgs[k], imgs[m], labs[k] != labs[m]))
        print(f"  simulator seed {seed}: {len(imgs)} captures "
              f"{imgs[0].shape[1]}x{imgs[0].shape[2]}, changed px "
              f"{[int((labs[k] != labs[-1]).sum()) for k in range(len(labs) - 1)]}",
              flush=True)
    return out


def eolearn_scenes() -> list[np.ndarray]:
    """The five 13-band eo-learn scenes as float32 (13, 101, 100)."""
    arr = np.load(EOLEARN).astype(np.float32)
    return [np.moveaxis(s, -1, 0) for s in arr]


S2_SETS = ((1, 2, 3, 7), (3, 2, 1), (11, 7, 2), (1, 2, 3, 7, 11, 12), (3, 7))
"""eo-learn band subsets: B,G,R,NIR; R,G,B; B11,B8,B3 false colour; 6 bands; red+NIR."""
SIM_SETS = ((0, 1, 2, 3), (2, 1, 0), (3, 2, 1))
"""Simulator band subsets: B,G,R,NIR; R,G,B; NIR,R,G false colour."""


def downsample(pair: Pair, f: int) -> Pair:
    b, a, t = pair
    if f == 1:
        return pair
    h, w = (b.shape[1] // f) * f, (b.shape[2] // f) * f

    def mean(x: np.ndarray) -> np.ndarray:
        return x[..., :h, :w].reshape(*x.shape[:-2], h // f, f, w // f, f).mean(axis=(-3, -1))

    return (mean(b).astype(np.float32), mean(a).astype(np.float32),
            mean(t.astype(np.float32)) > 0.5)


# --------------------------------------------------------------------------- features
def pair_features(b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features of a pair through the inference path; (features, valid)."""
    params = ChangeParams(method="learned")
    cal = calibrate(b, a, None, params, with_thresholds=False)
    b32, a32, ok = prepare(b, a, None)
    bs, as_, ok = standardised(b32, a32, ok, cal)
    return features(bs, as_, reference(bs, as_, ok)), ok


def sample(feats: np.ndarray, ok: np.ndarray, truth: np.ndarray, rng: np.random.Generator,
           n: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` pixels: changed ones up to a third, the rest unchanged."""
    pos = np.flatnonzero(truth.ravel() & ok.ravel())
    neg = np.flatnonzero(~truth.ravel() & ok.ravel())
    npos = min(len(pos), n // 3)
    pick = np.concatenate([rng.choice(pos, npos, replace=False) if npos else pos[:0],
                           rng.choice(neg, min(len(neg), n - npos), replace=False)])
    x = feats.reshape(len(FEATURES), -1)[:, pick].T
    return x.astype(np.float32), truth.ravel()[pick].astype(np.float32)


def build_dataset(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys, names = [], [], []

    def add(name: str, b: np.ndarray, a: np.ndarray, t: np.ndarray) -> None:
        f, ok = pair_features(b, a)
        x, y = sample(f, ok, t, rng, PER_PAIR)
        xs.append(x)
        ys.append(y)
        names.append(name)

    print("simulator pairs", flush=True)
    for i, (b, a, t) in enumerate(simulator_pairs(rng, SIM_SEEDS)):
        for rep in range(2):
            bands = list(SIM_SETS[int(rng.integers(len(SIM_SETS)))])
            f = int(rng.choice([1, 2, 4, 8, 20]))
            bb, aa, tt = downsample((b[bands], a[bands], t), f)
            if rep == 1:  # synthetic changes on top of the simulator's own
                bb, aa, t2 = insert_changes(bb, aa, rng, int(rng.integers(2, 8)))
                tt = tt | t2
            aa = nuisances(aa, rng, int(rng.integers(0, 3)))
            add(f"sim{i}-f{f}-b{len(bands)}-{rep}", bb, aa, tt)
        if i % 3 == 0:  # nuisance-only copy of BEFORE
            bb = b[list(SIM_SETS[0])]
            add(f"sim{i}-null", bb, nuisances(bb, rng, int(rng.integers(1, 3))),
                np.zeros(t.shape, bool))
    print(f"  {len(names)} simulator samples", flush=True)
    if EOLEARN.exists():
        scenes = eolearn_scenes()
        for i in range(len(scenes)):
            for j in range(len(scenes)):
                if i == j:
                    continue
                for bands in S2_SETS:
                    b, a = scenes[i][list(bands)], scenes[j][list(bands)]
                    if rng.random() < 0.3:
                        up = int(rng.choice([2, 3]))
                        b = ndimage.zoom(b, (1, up, up), order=1)
                        a = ndimage.zoom(a, (1, up, up), order=1)
                    nchg = int(rng.integers(0, 6))
                    bb, aa, tt = insert_changes(b, a, rng, nchg)
                    aa = nuisances(aa, rng, int(rng.integers(0, 3)))
                    add(f"eo{i}{j}-b{len(bands)}-c{nchg}", bb, aa, tt)
        print(f"  {len(names)} samples with eo-learn", flush=True)
    return np.concatenate(xs), np.concatenate(ys), names


# ------------------------------------------------------------------------------- model
def train(x: np.ndarray, y: np.ndarray, seed: int, epochs: int = 25, lr: float = 3e-3
          ) -> list[np.ndarray]:
    """A ReLU MLP trained with Adam on binary cross-entropy; returns its parameters."""
    rng = np.random.default_rng(seed)
    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-6
    xn = (x - mu) / sd
    sizes = [x.shape[1], *HIDDEN, 1]
    params: list[np.ndarray] = []
    for i in range(len(sizes) - 1):
        params.append(rng.normal(0, math.sqrt(2 / sizes[i]), (sizes[i], sizes[i + 1])))
        params.append(np.zeros(sizes[i + 1]))
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    batch = 512
    n = len(xn)
    for ep in range(epochs):
        order = rng.permutation(n)
        rate = lr * 0.5 * (1 + math.cos(math.pi * ep / epochs))
        loss_sum = 0.0
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            xb, yb = xn[idx], y[idx]
            acts = [xb]
            h = xb
            for k in range(0, len(params) - 2, 2):
                h = np.maximum(h @ params[k] + params[k + 1], 0)
                acts.append(h)
            z = (h @ params[-2] + params[-1])[:, 0]
            p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
            loss_sum += float(-(yb * np.log(p + 1e-7) + (1 - yb) * np.log(1 - p + 1e-7)).sum())
            g = ((p - yb) / len(idx))[:, None]
            grads = [np.zeros_like(q) for q in params]
            for k in range(len(params) - 2, -1, -2):
                grads[k] = acts[k // 2].T @ g
                grads[k + 1] = g.sum(axis=0)
                if k > 0:
                    g = (g @ params[k].T) * (acts[k // 2] > 0)
            step += 1
            for k, q in enumerate(params):
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                mh = m[k] / (1 - 0.9**step)
                vh = v[k] / (1 - 0.999**step)
                q -= rate * (mh / (np.sqrt(vh) + 1e-8) + 1e-5 * q)
        if ep % 5 == 0 or ep == epochs - 1:
            print(f"  epoch {ep:3d} loss {loss_sum / n:.4f}", flush=True)
    return [mu, sd, *params]


def export(weights: list[np.ndarray], path: Path, note: str) -> None:
    """Write the MLP (standardisation folded in as Sub/Div) as an ONNX graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    mu, sd, *layers = weights
    inits = [numpy_helper.from_array(mu.astype(np.float32)[None], "mu"),
             numpy_helper.from_array(sd.astype(np.float32)[None], "sd")]
    nodes = [helper.make_node("Sub", ["features", "mu"], ["c"]),
             helper.make_node("Div", ["c", "sd"], ["h0"])]
    cur = "h0"
    for i in range(0, len(layers), 2):
        k = i // 2
        inits.append(numpy_helper.from_array(layers[i].astype(np.float32), f"w{k}"))
        inits.append(numpy_helper.from_array(layers[i + 1].astype(np.float32), f"b{k}"))
        nodes.append(helper.make_node("Gemm", [cur, f"w{k}", f"b{k}"], [f"z{k}"]))
        last = i + 2 == len(layers)
        nodes.append(helper.make_node("Sigmoid" if last else "Relu", [f"z{k}"], [f"h{k + 1}"]))
        cur = f"h{k + 1}"
    nodes.append(helper.make_node("Flatten", [cur], ["p2"], axis=0))
    nodes.append(helper.make_node("Squeeze", ["p2", "axes0"], ["probability"]))
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes0"))
    graph = helper.make_graph(
        nodes, "campwatch_learned_change",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(FEATURES)])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="campwatch benchmarks/train_change_model.py")
    model.ir_version = 8
    model.doc_string = note
    helper.set_model_props(model, {"features": ",".join(FEATURES)})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the sampled pixels in this .npz (built once, then reused)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    c0 = time.process_time()
    rng = np.random.default_rng(args.seed)
    if args.cache is not None and args.cache.exists():
        z = np.load(args.cache)
        x, y, names = z["x"], z["y"], list(z["names"])
    else:
        x, y, names = build_dataset(rng)
        if args.cache is not None:
            np.savez(args.cache, x=x, y=y, names=np.array(names))
    print(f"dataset: {len(names)} pairs, {len(y)} pixels, {y.mean():.1%} changed "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    weights = train(x, y, args.seed, args.epochs)
    note = (f"campwatch learned change model: MLP {len(FEATURES)}-{'-'.join(map(str, HIDDEN))}-1 "
            f"on {len(y)} pixels of {len(names)} licence-clean pairs (simulator seeds "
            f"{SIM_SEEDS}, eo-learn TestEOPatch with synthetic changes); "
            f"benchmarks/train_change_model.py --seed {args.seed} --epochs {args.epochs}")
    export(weights, args.out, note)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in "
          f"{time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU")


if __name__ == "__main__":
    main()
