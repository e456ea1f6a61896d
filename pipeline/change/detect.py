"""The change-detection stage: two co-located image stacks in, a change mask and score out.

Pure numpy: no file I/O. The steps are co-registration (:mod:`pipeline.change.coregister`),
radiometric normalisation (:mod:`pipeline.change.normalise`), one or several detectors
(:mod:`pipeline.change.detectors`) and an automatic threshold.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from pipeline.change import filters
from pipeline.change.calibration import (
    block_statistics,
    margin_px,
    prepare,
    thresholds,
)
from pipeline.change.envelope import gate_level
from pipeline.change.estimate import calibrate
from pipeline.change.learned import detect_learned
from pipeline.change.records import METHODS, Calibration, ChangeParams, ChangeResult
from pipeline.errors import ChangeInputError

__all__ = ["METHODS", "Calibration", "ChangeParams", "ChangeResult", "detect_change"]

log = logging.getLogger(__name__)

PROCESS_BLOCK = 512
"""Side of the windows the block path computes, pixels (at most ``params.block_size``).
Results do not depend on it (every window has the full margin of context); small windows
keep the working arrays in cache and let the allocator reuse their memory instead of
faulting in fresh pages: on a 4096² 4-band pair, CPU 6.5 s at 2048 and 5.2-5.8 s at 512
(user + system time; blocks of 1024: 5.8-7.7 s)."""


def _as_stack(name: str, array: np.ndarray) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise ChangeInputError(f"{name} must be shaped (bands, H, W), got shape {arr.shape}")
    if arr.shape[1] == 0 or arr.shape[2] == 0 or arr.shape[0] == 0:
        raise ChangeInputError(f"{name} is empty: shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ChangeInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def check_inputs(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None) -> None:
    """Raise :class:`ChangeInputError` when the two stacks cannot be compared.

    Args:
        before: (bands, H, W) array.
        after: (bands, H, W) array.
        valid: optional bool (H, W) array.

    Example:
        >>> check_inputs(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), None)
    """
    if before.shape[0] != after.shape[0]:
        raise ChangeInputError(
            f"band counts differ: BEFORE has {before.shape[0]}, AFTER has {after.shape[0]}"
        )
    if before.shape[1:] != after.shape[1:]:
        raise ChangeInputError(
            f"shapes differ: BEFORE is {before.shape[1]}x{before.shape[2]} (rows x cols), "
            f"AFTER is {after.shape[1]}x{after.shape[2]}"
        )
    if valid is not None and np.shape(valid) != before.shape[1:]:
        raise ChangeInputError(
            f"valid mask shape {np.shape(valid)} does not match the images {before.shape[1:]}"
        )


def confidence(stat: np.ndarray, threshold: float) -> np.ndarray:
    """Map a non-negative statistic to 0..1 with 0.5 exactly at ``threshold``.

    Args:
        stat: float (H, W) detector statistic (>= 0, larger = more change).
        threshold: the statistic's decision threshold (> 0).

    Returns:
        float32 (H, W) ``1 - 2 ** (-stat / threshold)``.

    Example:
        >>> float(confidence(np.array([2.0]), 2.0)[0])
        0.5
    """
    if not math.isfinite(threshold) or threshold <= 0:
        return np.zeros_like(stat, dtype=np.float32)
    out = -np.maximum(stat, 0) / np.float32(threshold)
    np.exp2(out, out=out)
    return (1.0 - out).astype(np.float32, copy=False)


def decide(
    statistics: dict[str, np.ndarray], valid: np.ndarray, thr: dict[str, float],
    params: ChangeParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Mask and 0..1 score from detector statistics and their thresholds.

    Args:
        statistics: detector statistics by name, (H, W) each.
        valid: bool (H, W).
        thr: threshold by detector name.
        params: method and gate.

    Returns:
        (uint8 mask 1/0/255, float32 score with NaN where invalid).

    Example:
        >>> st = {"cva": np.array([[0.0, 3.0]], np.float32)}
        >>> m, s = decide(st, np.ones((1, 2), bool), {"cva": 1.0}, ChangeParams(method="cva"))
        >>> m.tolist()
        [[0, 1]]
    """
    if params.method == "default":
        conf_st = confidence(statistics["structural"], thr["structural"])
        level = gate_level(thr["cva"], params.gate)  # confidence(cva) > gate
        if level is not None:
            gate = statistics["cva"] > level
        else:
            gate = np.zeros(statistics["cva"].shape, bool)
        if "envelope" in statistics:
            gate &= statistics["envelope"] > thr["envelope"]
        score = np.where(gate, conf_st, np.minimum(conf_st, np.float32(0.4999)))
        if params.fill_px > 1:
            _fill(score, valid, statistics, thr, params)
    else:
        score = confidence(statistics[params.method], thr[params.method])
    score = score.astype(np.float32, copy=False)
    mask = np.where(valid, (score > 0.5).astype(np.uint8), np.uint8(255)).astype(np.uint8)
    score[~valid] = np.nan
    return mask, score


FILLED_SCORE = np.float32(0.5 + 2.0**-20)
"""Score given to a pixel the closing adds: just above the threshold, it carries no more
confidence than the weakest detection."""


def _fill(score: np.ndarray, valid: np.ndarray, statistics: dict[str, np.ndarray],
          thr: dict[str, float], params: ChangeParams) -> None:
    """Close gaps between valid structural detections (``params.fill_px`` square) where the
    spectral evidence supports change (CVA confidence above ``params.fill_gate``, envelope
    above its floor); updates ``score`` in place."""
    seed = score > 0.5
    seed &= valid
    if not seed.any():
        return
    level = gate_level(thr["cva"], params.fill_gate)
    if level is None:
        return
    closed = filters.close_mask(seed, params.fill_px)
    closed &= ~seed
    closed &= valid
    closed &= statistics["cva"] > level
    if "envelope" in statistics:
        closed &= statistics["envelope"] > thr["envelope"]
    score[closed] = FILLED_SCORE


def workers(params: ChangeParams) -> int:
    """Threads that process blocks: ``params.workers``, or one per CPU core (at most 4).

    Example:
        >>> workers(ChangeParams(workers=3))
        3
    """
    if params.workers > 0:
        return params.workers
    return max(1, min(4, os.cpu_count() or 1))


def _main_threshold(params: ChangeParams, thr: dict[str, float]) -> float:
    return thr["structural"] if params.method == "default" else thr[params.method]


def detect_change(
    before: np.ndarray,
    after: np.ndarray,
    params: ChangeParams,
    valid: np.ndarray | None = None,
) -> ChangeResult:
    """Find where AFTER differs from BEFORE beyond radiometric and geometric noise.

    Steps: co-registration (sub-pixel, rejected when unreliable), radiometric
    normalisation of AFTER onto BEFORE, standardisation of both with BEFORE's band
    statistics, the detector(s) of ``params.method`` and their automatic thresholds.
    The default method keeps structural change (loss of local contrast-structure
    correlation, blind to uniform brightness shifts; Yen threshold) where the spectral
    change vector also supports it (smoothed CVA confidence above ``params.gate``; Otsu
    threshold) and where the difference exceeds what misregistration, blur and noise explain
    (envelope excess above ``params.noise_floor`` times the pair's median CVA magnitude: an
    absolute floor, so a pair without change stays quiet). It was chosen by measurement on
    the TUNE split of real labelled pairs and on null pairs (benchmarks/accuracy.py,
    benchmarks/null_pairs.py).
    Images larger than ``params.block_size`` are calibrated on bounded samples and
    processed block by block with overlap, in threads.

    Args:
        before: (bands, H, W) any numeric dtype and value range; NaN marks invalid pixels.
        after: (bands, H, W), same shape as ``before``.
        params: how to detect (method, pixel size, band roles...).
        valid: optional bool (H, W); False where either input is invalid.

    Returns:
        A :class:`ChangeResult` with the mask, the 0..1 score and what was done.

    Raises:
        ChangeInputError: shapes or band counts differ, inputs are empty or constant,
            or the method is unknown.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> b = rng.normal(100, 5, (3, 64, 64)); a = b + rng.normal(0, 1, b.shape)
        >>> a[:, 20:30, 20:30] += 80
        >>> r = detect_change(b, a, ChangeParams(method="cva", coregister=False))
        >>> int(r.mask[25, 25]), int(r.mask[50, 50])
        (1, 0)
    """
    if params.method not in METHODS:
        raise ChangeInputError(
            f"unknown change method {params.method!r}; choose one of {', '.join(METHODS)}"
        )
    b = _as_stack("BEFORE", before)
    a = _as_stack("AFTER", after)
    check_inputs(b, a, valid)
    ok_in = None if valid is None else np.asarray(valid, dtype=bool)
    if params.method == "learned":  # its own features and blocks (pipeline.change.learned)
        return detect_learned(b, a, params, ok_in)
    h, w = b.shape[1:]
    margin = margin_px(params)
    single = h <= params.block_size + 2 * margin and w <= params.block_size + 2 * margin
    cal = params.calibration
    if single:
        b32, a32, ok = prepare(b, a, ok_in)
        if cal is None:
            cal = calibrate(b32, a32, ok, params, with_thresholds=False)
        stats_, ok2 = block_statistics(b32, a32, ok, cal, params, cal.thresholds or None)
        thr = cal.thresholds or thresholds(stats_, ok2, params, b.shape[0])
        mask, score = decide(stats_, ok2, thr, params)
    else:
        if cal is None:
            cal = calibrate(b, a, ok_in, params)
        thr = cal.thresholds
        fixed: Calibration = cal
        mask = np.empty((h, w), np.uint8)
        score = np.empty((h, w), np.float32)
        size = min(params.block_size, PROCESS_BLOCK)

        def run(r: int, c: int) -> None:
            r0, r1 = max(0, r - margin), min(h, r + size + margin)
            c0, c1 = max(0, c - margin), min(w, c + size + margin)
            rows, cols = slice(r0, r1), slice(c0, c1)
            bb, ab, okb = prepare(
                b[:, rows, cols], a[:, rows, cols], None if ok_in is None else ok_in[rows, cols]
            )
            st, okb = block_statistics(bb, ab, okb, fixed, params, thr, overwrite=True)
            mb, sb = decide(st, okb, thr, params)
            rr, cc = min(r + size, h), min(c + size, w)
            mask[r:rr, c:cc] = mb[r - r0 : rr - r0, c - c0 : cc - c0]
            score[r:rr, c:cc] = sb[r - r0 : rr - r0, c - c0 : cc - c0]

        starts = [(r, c) for r in range(0, h, size) for c in range(0, w, size)]
        with ThreadPoolExecutor(max_workers=workers(params)) as pool:
            for _ in pool.map(lambda rc: run(*rc), starts):
                pass
    cal = replace(cal, thresholds=thr)
    return ChangeResult(
        mask=mask,
        score=score,
        method=params.method,
        shift_px=cal.shift_px,
        registration_note=cal.registration_note,
        normalisation=cal.normalisation.method,
        threshold=_main_threshold(params, thr),
        detector_thresholds=dict(thr),
        calibration=cal,
    )
