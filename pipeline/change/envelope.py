"""The default method's envelope excess where a decision can read it (pure numpy).

The envelope excess (:func:`pipeline.change.detectors.envelope_excess`) is the costliest
statistic of the default method, and it only confirms candidates: pixels whose structural
statistic passes its threshold where the CVA gate is open, and the gap pixels the fill adds
next to them. Once the thresholds are known it is computed in row strips (whose working
arrays stay in the CPU's cache), and only in the strips near a candidate row.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from pipeline.change import detectors
from pipeline.change.records import ChangeParams

log = logging.getLogger(__name__)

ENVELOPE_STRIP = 128
"""Rows of :func:`envelope_strips` per strip: its dozen temporaries then stay in the CPU's
cache (about twice as fast on a 1176² 4-band tile as the whole block at once)."""


def envelope_strips(before: np.ndarray, after: np.ndarray, rows: int = ENVELOPE_STRIP,
                    needed: np.ndarray | None = None) -> np.ndarray:
    """:func:`pipeline.change.detectors.envelope_excess` computed in strips of ``rows`` rows.

    Each strip is read with one row of context on either side (the 3 x 3 neighbourhood),
    clipped at the image edge as the whole-image computation clips it, and every value is
    the same element-wise arithmetic: the result is identical, bit for bit. Given
    ``needed``, a strip with no needed row is left at 0 instead.

    Args:
        before: float32 (bands, H, W).
        after: float32 (bands, H, W).
        rows: strip height, pixels.
        needed: optional bool (H,): the rows whose envelope is wanted (None: all).

    Returns:
        float32 (H, W) envelope excess (0 in the strips skipped).

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(size=(2, 50, 9)).astype(np.float32)
        >>> a = rng.normal(size=b.shape).astype(np.float32)
        >>> bool(np.array_equal(envelope_strips(b, a, 7), detectors.envelope_excess(b, a)))
        True
    """
    h = before.shape[1]
    if h <= rows and (needed is None or needed.all()):
        return detectors.envelope_excess(before, after)
    out = np.zeros(before.shape[1:], np.float32)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        if needed is not None and not needed[r0:r1].any():
            continue
        a0, a1 = max(0, r0 - 1), min(h, r1 + 1)
        part = detectors.envelope_excess(before[:, a0:a1], after[:, a0:a1])
        out[r0:r1] = part[r0 - a0: r1 - a0]
    return out


def gate_level(threshold: float, gate: float) -> np.float32 | None:
    """The statistic above which its confidence (``1 - 2 ** (-stat / threshold)``,
    :func:`pipeline.change.detect.confidence`) exceeds ``gate``, without the exponential:
    ``threshold * -log2(1 - gate)``; None when no value can pass (a threshold that is not
    finite and positive, or a gate of 1). The decision's gates and :func:`envelope_rows`
    take their levels from here, so the rows skipped are exactly the rows no gate opens.

    Example:
        >>> float(gate_level(2.0, 0.5)), gate_level(float("nan"), 0.5)
        (2.0, None)
    """
    if not (math.isfinite(threshold) and threshold > 0 and gate < 1):
        return None
    return np.float32(threshold * -math.log2(1.0 - gate))


def envelope_reach(params: ChangeParams) -> int:
    """Rows of raw envelope excess a decision depends on, either side of a candidate row:
    the gap fill's half side, then the smoothing (block means of ``structure_scale`` rows,
    a Gaussian of radius ``int(3 sigma + 0.5)`` block rows, bilinear interpolation back)
    and a safety row.

    Example:
        >>> envelope_reach(ChangeParams())
        14
    """
    f = max(1, params.structure_scale)
    radius = int(3.0 * params.envelope_sigma_px / f + 0.5)
    return params.fill_px // 2 + f * (radius + 2) + 2


def envelope_rows(stats_: dict[str, np.ndarray], ok: np.ndarray,
                  thr: dict[str, float] | None, params: ChangeParams) -> np.ndarray:
    """The rows whose envelope excess a decision can read.

    Those within :func:`envelope_reach` of a candidate: a valid pixel whose structural
    statistic passes its threshold where the CVA gate is open. The structural test keeps
    every pixel whose confidence exceeds 0.4999 (the cap of an ungated score), and a
    filled gap pixel lies within ``fill_px // 2`` of a detection, so leaving the other
    rows at 0 changes no mask and no score (:func:`pipeline.change.detect.decide`).

    Args:
        stats_: the block's "structural" and "cva" statistics, (H, W) each.
        ok: bool (H, W) valid pixels.
        thr: the decision thresholds; None (not known yet): every row.
        params: gate, gap fill and smoothing settings.

    Returns:
        bool (H,): True where the envelope excess is needed (none when the gate is open
        nowhere).

    Example:
        >>> st = {"structural": np.zeros((40, 3), np.float32), "cva": np.ones((40, 3))}
        >>> st["structural"][20, 1] = 1.0
        >>> rows = envelope_rows(st, np.ones((40, 3), bool), {"structural": 0.5, "cva": 0.1},
        ...                      ChangeParams())
        >>> int(rows.sum()), int(np.flatnonzero(rows)[0])
        (29, 6)
    """
    h = ok.shape[0]
    if thr is None:
        return np.ones(h, bool)
    level = gate_level(thr.get("cva", 0.0), params.gate)
    if level is None:
        return np.zeros(h, bool)  # decide() opens the gate nowhere
    cand = stats_["structural"] > np.float32(thr.get("structural", 0.0) * (1 - 1e-3))
    cand &= stats_["cva"] > level
    cand &= ok
    hit = np.flatnonzero(cand.any(axis=1))
    reach = envelope_reach(params)
    edges = np.zeros(h + 1, np.int32)
    np.add.at(edges, np.clip(hit - reach, 0, h), 1)
    np.add.at(edges, np.clip(hit + reach + 1, 0, h), -1)
    return np.asarray(np.cumsum(edges[:h]) > 0)
