"""The learned change method: a small per-pixel classifier on scale-free change features.

The classifier is a multilayer perceptron stored as ONNX (``pipeline/change/models/``) and run
on the CPU by onnxruntime. It sees, per pixel, :data:`FEATURES` computed from the two dates
after the same co-registration, radiometric normalisation and standardisation as every other
method (so it is blind to gain, offset, colour cast and small shifts by construction), at
several scales (pixel, 2x2 and 4x4 block means), and gives the probability that the pixel
changed. It was trained only on data whose licences allow it (the simulator's output and the
MIT eo-learn Sentinel-2 patch with synthetic inserted changes and nuisance-only pairs), by
``benchmarks/train_change_model.py``; see ``pipeline/change/models/PROVENANCE.md``. An
organisation can plug in its own model with the same inputs (``ChangeParams.model_path``).

Experimental and opt-in: on the shared labelled pairs the shipped model scores well below the
default method (TUNE macro-F1 0.11 against 0.35; DESIGN.md), and it misses the inside of a
region whose tone shifted uniformly while its texture stayed (it flags the edges). The tiled
path of ``campwatch run`` hands each tile to :func:`detect_learned`, whose reference levels
are then those of the tile's halo (not pooled over the pair as for arrays).

Pure numpy apart from the ONNX session.
"""

from __future__ import annotations

import logging
import math
from dataclasses import astuple, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.change import detectors, filters
from pipeline.change.calibration import prepare
from pipeline.change.coregister import apply_shift
from pipeline.change.estimate import calibrate, tile_windows, tile_with_context
from pipeline.change.records import Calibration, ChangeParams, ChangeResult
from pipeline.errors import ChangeInputError

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "models"
"""Directory of the shipped model and its provenance."""
DEFAULT_MODEL = MODEL_DIR / "learned_change.onnx"
"""The shipped model (trained by ``benchmarks/train_change_model.py``)."""

FEATURES = (
    "cva",
    "cva_s2",
    "cva_s4",
    "envelope",
    "structural_s2",
    "structural_s4",
    "brightness_s2",
    "cva_rel",
    "envelope_rel",
    "cva_contrast",
    "texture_before",
    "texture_after",
    "cva_split",
    "structural_split",
)
"""Names of the per-pixel inputs, in the model's input order (see :func:`features`)."""

REFERENCE_KEYS = ("learned_noise", "learned_cva_split", "learned_structural_split")
"""Keys of the pair's :class:`Reference` levels in ``Calibration.thresholds``."""
THRESHOLD = 0.5
"""Probability above which a pixel is change."""
CONTEXT_PX = 48
"""Pixels of context a block needs on each side so that its features are exact."""
BLOCK_PX = 1024
"""Side of the blocks large images are processed in, pixels."""


def _coarse(stat: np.ndarray, factor: int, sigma: float) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks, smoothed by ``sigma`` blocks, back to pixels."""
    shape = (stat.shape[0], stat.shape[1])
    coarse = filters.bin_mean(stat[np.newaxis], factor)[0]
    return filters.upsample(detectors.smooth(coarse, sigma), factor, shape)


def _structural(bs: np.ndarray, as_: np.ndarray, factor: int) -> np.ndarray:
    shape = (bs.shape[1], bs.shape[2])
    st = detectors.structural_change(filters.bin_mean(bs, factor), filters.bin_mean(as_, factor), 5)
    return filters.upsample(detectors.smooth(st, 0.5), factor, shape)


def _texture(x: np.ndarray) -> np.ndarray:
    """Local standard deviation (5x5 on the 2x2 grid), mean over bands, in pixels."""
    shape = (x.shape[1], x.shape[2])
    c = filters.bin_mean(x, 2)
    m = detectors.box_mean(c, 5)
    v = detectors.box_mean(c * c, 5)
    v -= m * m
    sd = np.sqrt(np.maximum(v, 0)).mean(axis=0)
    return filters.upsample(sd.astype(np.float32), 2, shape)


@dataclass(frozen=True)
class Reference:
    """Levels of a whole pair that its features are relative to (shared by every block)."""

    noise: float
    """Median of the 2x2-smoothed per-band CVA: the pair's noise level."""
    cva_split: float
    """Otsu's threshold of the same statistic: where the pair's histogram splits."""
    structural_split: float
    """Yen's threshold of the structural statistic on 2x2 block means."""


def reference_values(bs: np.ndarray, as_: np.ndarray, valid: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The valid values the :class:`Reference` levels are computed from: the 2x2-smoothed
    per-band CVA and the structural statistic (pool them over windows of a large pair).

    Example:
        >>> z = np.zeros((1, 8, 8), np.float32)
        >>> [v.shape for v in reference_values(z, z, np.ones((8, 8), bool))]
        [(64,), (64,)]
    """
    cva = detectors.cva_magnitude(bs, as_) / np.float32(math.sqrt(bs.shape[0]))
    return _coarse(cva, 2, 0.5)[valid], _structural(bs, as_, 2)[valid]


def reference_from(cva: np.ndarray, structural: np.ndarray) -> Reference:
    """:class:`Reference` levels of pooled values (:func:`reference_values`), each floored
    at a small positive value.

    Example:
        >>> reference_from(np.zeros(4, np.float32), np.zeros(4, np.float32)).noise
        0.001
    """
    floor = 1e-3

    def level(x: float) -> float:
        return max(x, floor) if math.isfinite(x) else floor

    ones = np.ones((1, cva.size), bool)
    noise = float(np.median(cva)) if cva.size else 0.0
    split = detectors.auto_threshold(cva[None, :], ones, "otsu")
    st_split = detectors.auto_threshold(structural[None, :], np.ones((1, structural.size), bool),
                                        "yen")
    return Reference(level(noise), level(split), level(st_split))


def reference(bs: np.ndarray, as_: np.ndarray, valid: np.ndarray) -> Reference:
    """The pair's :class:`Reference` levels from its standardised dates.

    Args:
        bs: float32 (bands, H, W) standardised BEFORE.
        as_: float32 (bands, H, W) standardised, normalised AFTER.
        valid: bool (H, W).

    Returns:
        The levels, each floored at a small positive value.

    Example:
        >>> z = np.zeros((1, 8, 8), np.float32)
        >>> reference(z, z, np.ones((8, 8), bool)).noise > 0
        True
    """
    return reference_from(*reference_values(bs, as_, valid))


def features(bs: np.ndarray, as_: np.ndarray, ref: Reference) -> np.ndarray:
    """The model's per-pixel inputs (:data:`FEATURES`), all scale-free.

    Magnitudes are per band (divided by the square root of the band count) in BEFORE's
    standard deviations, and log-compressed; the relative ones are divided by the pair's
    levels ``ref`` (:func:`reference`: noise, Otsu and Yen splits), so a pair's own
    statistics set the scale as an automatic threshold would, while the absolute ones keep a
    pair without change quiet.

    Args:
        bs: float32 (bands, H, W) standardised BEFORE, 0 where invalid.
        as_: float32 (bands, H, W) standardised AFTER on the same grid.
        ref: the pair's reference levels.

    Returns:
        float32 (len(FEATURES), H, W).

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(size=(3, 32, 32)).astype(np.float32)
        >>> features(b, b, Reference(0.1, 0.5, 0.3)).shape
        (14, 32, 32)
    """
    nb = bs.shape[0]
    scale = np.float32(1.0 / math.sqrt(nb))
    cva = detectors.cva_magnitude(bs, as_) * scale
    cva2 = _coarse(cva, 2, 0.5)
    cva4 = _coarse(cva, 4, 1.0)
    wide = _coarse(cva, 8, 2.0)
    env = _coarse(detectors.envelope_excess(bs, as_) * scale, 2, 1.0)
    bright = np.abs(_coarse(as_.mean(axis=0) - bs.mean(axis=0), 2, 0.5))
    st2 = _structural(bs, as_, 2)
    st4 = _structural(bs, as_, 4)
    tb = _texture(bs)
    ta = _texture(as_)
    n = np.float32(ref.noise)
    out = np.empty((len(FEATURES), *cva.shape), np.float32)
    out[0] = np.log1p(cva)
    out[1] = np.log1p(cva2)
    out[2] = np.log1p(cva4)
    out[3] = np.log1p(env)
    out[4] = st2
    out[5] = st4
    out[6] = np.log1p(bright)
    out[7] = np.log1p(cva2 / n)
    out[8] = np.log1p(env / n)
    out[9] = np.log1p(cva2) - np.log1p(wide)
    out[10] = np.log1p(tb)
    out[11] = np.log1p(ta)
    out[12] = np.log(np.maximum(cva2, 1e-4) / np.float32(ref.cva_split))
    out[13] = np.log(np.maximum(st2, 1e-4) / np.float32(ref.structural_split))
    return out


@lru_cache(maxsize=4)
def _session(path: str) -> Any:
    """The ONNX session of a model file (cached per path)."""
    import onnxruntime  # imported here: the CLI starts fast when no model is needed
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    load_errors = (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph, ort_errors.Fail,
                   ort_errors.InvalidArgument, ort_errors.NotImplemented, RuntimeError,
                   ValueError)

    try:
        model_bytes = Path(path).read_bytes()
    except OSError as exc:
        raise ChangeInputError(f"change model {path}: cannot be read: {exc}") from exc
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except load_errors as exc:  # what onnxruntime raises for a file that is not a model
        raise ChangeInputError(f"change model {path}: not a valid ONNX model: {exc}") from exc
    inputs = session.get_inputs()
    shape = inputs[0].shape if len(inputs) == 1 else None
    if shape is None or len(shape) != 2 or shape[1] != len(FEATURES):
        got = [(i.name, i.shape) for i in inputs]
        raise ChangeInputError(
            f"change model {path}: input must be one (N, {len(FEATURES)}) float tensor of "
            f"the features {', '.join(FEATURES)}; got {got}"
        )
    return session


def probability(feats: np.ndarray, model: Path | None = None) -> np.ndarray:
    """Change probability of every pixel from its features.

    Args:
        feats: float32 (len(FEATURES), H, W) from :func:`features`.
        model: ONNX model file (None: the shipped :data:`DEFAULT_MODEL`).

    Returns:
        float32 (H, W) in 0..1.

    Raises:
        ChangeInputError: the model cannot be read or does not take these features.

    Example:
        >>> probability(np.zeros((len(FEATURES), 2, 3), np.float32)).shape
        (2, 3)
    """
    session = _session(str(model or DEFAULT_MODEL))
    h, w = feats.shape[1:]
    flat = np.ascontiguousarray(feats.reshape(len(FEATURES), -1).T)
    name = session.get_inputs()[0].name
    out = session.run(None, {name: flat})[0]
    prob = np.asarray(out, np.float32).reshape(-1)
    if prob.size != h * w:
        raise ChangeInputError(
            f"change model {model or DEFAULT_MODEL}: gave {prob.size} outputs for {h * w} pixels"
        )
    return prob.reshape(h, w)


def standardised(before: np.ndarray, after: np.ndarray, valid: np.ndarray, cal: Calibration
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shift and normalise AFTER, standardise both dates with BEFORE's band statistics.

    Args:
        before: float32 (bands, h, w), 0 where invalid.
        after: float32 (bands, h, w).
        valid: bool (h, w).
        cal: the pair's calibration.

    Returns:
        (standardised BEFORE, standardised AFTER, valid after the shift), 0 where invalid.

    Example:
        >>> from pipeline.change.normalise import Normalisation
        >>> b = np.ones((1, 2, 2), np.float32)
        >>> n = Normalisation("none", (1.0,), (0.0,), None, None, 1.0)
        >>> cal = Calibration(None, "", n, (1.0,), (2.0,))
        >>> standardised(b, 3 * b, np.ones((2, 2), bool), cal)[1].tolist()
        [[[1.0, 1.0], [1.0, 1.0]]]
    """
    a, ok = after, valid
    if cal.shift_px is not None:
        a = apply_shift(after, cal.shift_px)
        ok = ok & np.isfinite(a).all(axis=0)
        a[:, ~ok] = 0.0
    a = cal.normalisation.apply(a)
    mean = np.array(cal.mean, np.float32)[:, None, None]
    inv = (1.0 / np.array(cal.std, np.float32))[:, None, None]
    bs = (before - mean) * inv
    as_ = (a - mean) * inv
    bs[:, ~ok] = 0.0
    as_[:, ~ok] = 0.0
    return bs.astype(np.float32, copy=False), as_.astype(np.float32, copy=False), ok


def _block(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None, cal: Calibration,
           ref: Reference | None, model: Path | None) -> tuple[np.ndarray, Reference]:
    b, a, ok = prepare(before, after, valid)
    bs, as_, ok = standardised(b, a, ok, cal)
    if ref is None:
        ref = reference(bs, as_, ok)
    prob = probability(features(bs, as_, ref), model)
    prob[~ok] = np.nan
    return prob, ref


def _sample_reference(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None,
                      cal: Calibration) -> Reference:
    """Reference levels of a large pair from values pooled over up to 16 windows of 512 px
    spread over the image (as the other methods' thresholds are; bounded cost)."""
    h, w = before.shape[1:]
    cvas, sts = [], []
    for rows, cols in tile_windows((h, w), 16, 512):
        b, a, ok = prepare(before[:, rows, cols], after[:, rows, cols],
                           None if valid is None else valid[rows, cols])
        bs, as_, ok = standardised(b, a, ok, cal)
        if ok.any():
            c, st = reference_values(bs, as_, ok)
            cvas.append(c)
            sts.append(st)
    if not cvas:
        raise ChangeInputError("no pixel is valid in both BEFORE and AFTER")
    return reference_from(np.concatenate(cvas), np.concatenate(sts))


@lru_cache(maxsize=1)
def _warn_experimental() -> None:
    """Say once per process that the shipped model is experimental."""
    log.warning("method 'learned' is experimental: the shipped model scores below the "
                "default method on the shared labelled pairs (DESIGN.md)")


def detect_learned(before: np.ndarray, after: np.ndarray, params: ChangeParams,
                   valid: np.ndarray | None = None) -> ChangeResult:
    """Change mask and probability from the learned classifier.

    Co-registration and radiometric normalisation as for every method
    (:func:`pipeline.change.estimate.calibrate`), then :func:`features` and the ONNX model
    (``params.model_path``, or the shipped one) on blocks of :data:`BLOCK_PX` with
    :data:`CONTEXT_PX` of context, so memory stays bounded.

    Args:
        before: (bands, H, W) any numeric dtype; NaN marks invalid pixels.
        after: (bands, H, W), same shape (checked by the caller).
        params: ``model_path``, ``calibration`` and the co-registration settings.
        valid: optional bool (H, W).

    Returns:
        A :class:`ChangeResult` whose score is the probability (0.5 = :data:`THRESHOLD`).

    Raises:
        ChangeInputError: constant or fully invalid inputs, or a model that cannot be used.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> b = rng.normal(100, 5, (3, 64, 64)); a = b + rng.normal(0, 1, b.shape)
        >>> r = detect_learned(b, a, ChangeParams(method="learned"))
        >>> r.mask.shape, r.method
        ((64, 64), 'learned')
    """
    model = params.model_path
    if model is None:
        _warn_experimental()
    h, w = before.shape[1:]
    cal = params.calibration
    if cal is None:
        cal = calibrate(before, after, valid, params, with_thresholds=False)
    known = [cal.thresholds.get(k) for k in REFERENCE_KEYS]
    ref = None if None in known else Reference(*(float(k or 0.0) for k in known))
    if h <= BLOCK_PX + 2 * CONTEXT_PX and w <= BLOCK_PX + 2 * CONTEXT_PX:
        prob, ref = _block(before, after, valid, cal, ref, model)
    else:
        if ref is None:
            ref = _sample_reference(before, after, valid, cal)
        prob = np.empty((h, w), np.float32)
        for r in range(0, h, BLOCK_PX):
            for c in range(0, w, BLOCK_PX):
                core = slice(r, min(r + BLOCK_PX, h)), slice(c, min(c + BLOCK_PX, w))
                (rs, cs), inner = tile_with_context((h, w), *core, CONTEXT_PX)
                pb, _ = _block(before[:, rs, cs], after[:, rs, cs],
                               None if valid is None else valid[rs, cs], cal, ref, model)
                prob[core] = pb[inner]
    ok = np.isfinite(prob)
    mask = np.where(ok, (prob > THRESHOLD).astype(np.uint8), np.uint8(255)).astype(np.uint8)
    thr = dict(zip(REFERENCE_KEYS, astuple(ref), strict=True))
    thr["learned"] = THRESHOLD
    cal = replace(cal, thresholds=thr)
    return ChangeResult(
        mask=mask, score=prob, method="learned", shift_px=cal.shift_px,
        registration_note=cal.registration_note, normalisation=cal.normalisation.method,
        threshold=THRESHOLD, detector_thresholds=dict(thr), calibration=cal,
    )
