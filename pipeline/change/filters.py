"""Neighbourhood filters of the change detectors: windowed minimum and maximum, block means
and their interpolation back to pixels. Pure numpy, written as a few whole-array operations
on shifted slices (no per-pixel Python, no padding copies where avoidable).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def min_max(x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum over a ``size`` x ``size`` window (edges repeated).

    Shifted whole-array minima and maxima, without padding: several times faster than
    scipy.ndimage's rank filters at size 3.

    Args:
        x: float32 (H, W).
        size: odd window side, pixels.

    Returns:
        (minimum, maximum), float32 (H, W) each.

    Example:
        >>> lo, hi = min_max(np.arange(5, dtype=np.float32)[None, :], 3)
        >>> lo.tolist(), hi.tolist()
        ([[0.0, 0.0, 1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0, 4.0, 4.0]])
    """
    src = np.asarray(x, np.float32)
    if size == 3 and min(src.shape) >= 2:
        return _min_max3(src, np.minimum), _min_max3(src, np.maximum)
    h = size // 2
    lo = src.copy()
    hi = src.copy()
    for k in range(1, h + 1):
        np.minimum(lo[:, k:], src[:, :-k], out=lo[:, k:])
        np.minimum(lo[:, :-k], src[:, k:], out=lo[:, :-k])
        np.maximum(hi[:, k:], src[:, :-k], out=hi[:, k:])
        np.maximum(hi[:, :-k], src[:, k:], out=hi[:, :-k])
    lo2 = lo.copy()
    hi2 = hi.copy()
    for k in range(1, h + 1):
        np.minimum(lo2[k:], lo[:-k], out=lo2[k:])
        np.minimum(lo2[:-k], lo[k:], out=lo2[:-k])
        np.maximum(hi2[k:], hi[:-k], out=hi2[k:])
        np.maximum(hi2[:-k], hi[k:], out=hi2[:-k])
    return lo2, hi2


def _min_max3(src: np.ndarray, pick: np.ufunc) -> np.ndarray:
    """3 x 3 minimum (``pick`` = np.minimum) or maximum of a (H >= 2, W >= 2) array, edges
    repeated: pairs of neighbours first, then pairs of pairs (two operations per axis)."""
    pair = pick(src[:, :-1], src[:, 1:])
    rows = np.empty_like(src)
    rows[:, 0] = pair[:, 0]
    rows[:, -1] = pair[:, -1]
    pick(pair[:, :-1], pair[:, 1:], out=rows[:, 1:-1])
    pair = pick(rows[:-1], rows[1:])
    out = np.empty_like(src)
    out[0] = pair[0]
    out[-1] = pair[-1]
    pick(pair[:-1], pair[1:], out=out[1:-1])
    return out


def bin_mean(x: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` pixel blocks of a (bands, H, W) stack, starting at
    pixel (0, 0); a partial last row or column of blocks repeats the edge pixels.

    Args:
        x: float32 (bands, H, W).
        factor: block side, pixels (>= 1).

    Returns:
        float32 (bands, ceil(H / factor), ceil(W / factor)).

    Example:
        >>> bin_mean(np.arange(6, dtype=np.float32).reshape(1, 2, 3), 2).tolist()
        [[[2.0, 3.5]]]
    """
    if factor == 1:
        return np.asarray(x, np.float32)
    h, w = x.shape[1:]
    ph, pw = (-h) % factor, (-w) % factor
    src = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="edge") if ph or pw else x
    rows = np.add(src[:, 0::factor], src[:, 1::factor], dtype=np.float32)
    for i in range(2, factor):
        rows += src[:, i::factor]
    out = np.add(rows[:, :, 0::factor], rows[:, :, 1::factor])
    for j in range(2, factor):
        out += rows[:, :, j::factor]
    out *= np.float32(1.0 / (factor * factor))
    return out


def _linear_weights(n_out: int, n_in: int, factor: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices and weights of linear interpolation from block centres back to pixels."""
    pos = (np.arange(n_out) + 0.5) / factor - 0.5
    lo = np.floor(pos)
    frac = (pos - lo).astype(np.float32)
    i0 = np.clip(lo, 0, n_in - 1).astype(np.intp)
    i1 = np.clip(lo + 1, 0, n_in - 1).astype(np.intp)
    return i0, i1, frac


def upsample(x: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of a (h, w) block-mean grid (:func:`bin_mean`) back to pixels.

    Pixel ``i`` of the output sits at block coordinate ``(i + 0.5) / factor - 0.5``; beyond
    the outermost block centres the edge value is kept.

    Args:
        x: float32 (h, w).
        factor: the block side of :func:`bin_mean`.
        shape: (H, W) of the output.

    Returns:
        float32 (H, W).

    Example:
        >>> upsample(np.array([[0.0, 4.0]], np.float32), 2, (1, 4)).tolist()
        [[0.0, 1.0, 3.0, 4.0]]
    """
    if factor == 1:
        return np.asarray(x, np.float32)
    if factor == 2 and x.dtype == np.float32:
        return _upsample2(_upsample2(x, shape[0], 0), shape[1], 1)
    r0, r1, fr = _linear_weights(shape[0], x.shape[0], factor)
    rows = x[r0] * (1 - fr)[:, None]
    rows += x[r1] * fr[:, None]
    c0, c1, fc = _linear_weights(shape[1], x.shape[1], factor)
    out = rows[:, c0] * (1 - fc)[None, :]
    out += rows[:, c1] * fc[None, :]
    return out.astype(np.float32, copy=False)


_QUARTER = np.float32(0.25)
_THREE_QUARTERS = np.float32(0.75)


def _upsample2(x: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """:func:`upsample` by 2 of a (h, w) array along ``axis`` with slices instead of gathers:
    output ``2k`` is ``0.25 x[k - 1] + 0.75 x[k]``, ``2k + 1`` is ``0.75 x[k] + 0.25 x[k + 1]``
    (edges repeated), the same two float32 products and one sum as the general path."""
    xa = np.moveaxis(x, axis, 0)
    ext = np.concatenate([xa[:1], xa, xa[-1:]])  # ext[k + 1] = x[k], edges repeated
    shape = list(x.shape)
    shape[axis] = n_out
    out = np.empty(shape, np.float32)
    oa = np.moveaxis(out, axis, 0)
    ne, no = (n_out + 1) // 2, n_out // 2
    even, odd = oa[0::2], oa[1::2]
    np.multiply(ext[0:ne], _QUARTER, out=even)
    even += ext[1:ne + 1] * _THREE_QUARTERS
    np.multiply(ext[1:no + 1], _THREE_QUARTERS, out=odd)
    odd += ext[2:no + 2] * _QUARTER
    return out


def close_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Morphological closing of a bool (H, W) mask with a ``size`` x ``size`` square.

    Dilation then erosion, each as shifted whole-array ORs and ANDs along rows and then
    columns, on the mask padded with ``size // 2`` unset pixels: beyond the image nothing is
    set, so a set pixel near the edge is not filled out to it (a clipped window would be).
    Gaps narrower than ``size`` between set pixels are filled; nothing is added where no
    pixel is set within ``size // 2`` pixels.

    Args:
        mask: bool (H, W).
        size: odd square side, pixels (1: returned unchanged).

    Returns:
        bool (H, W), a superset of ``mask``.

    Example:
        >>> m = np.zeros((1, 11), bool); m[0, [3, 6]] = True
        >>> close_mask(m, 5).astype(int).tolist()
        [[0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]]
        >>> close_mask(np.array([[0, 1, 0, 0, 0, 0, 0]], bool), 5).astype(int).tolist()
        [[0, 1, 0, 0, 0, 0, 0]]
    """
    src = np.asarray(mask, bool)
    if size <= 1:
        return src.copy()
    h = size // 2
    padded = np.pad(src, h)
    closed = _extreme(_extreme(padded, h, np.logical_or), h, np.logical_and)
    return closed[h:-h, h:-h]


def close3(mask: np.ndarray) -> np.ndarray:
    """Morphological closing with a 3 x 3 square as ``scipy.ndimage.binary_closing`` gives
    it (dilation, then erosion with everything beyond the edge unset, so the outermost
    pixels are never set), as shifted whole-array ORs and ANDs: about 20 times faster on a
    tile of 1028² px, and the same mask.

    Args:
        mask: bool (H, W).

    Returns:
        bool (H, W).

    Example:
        >>> m = np.zeros((5, 6), bool); m[2, [1, 3]] = True
        >>> close3(m).astype(int)[2].tolist()
        [0, 1, 1, 1, 0, 0]
    """
    dilated = _extreme(np.asarray(mask, bool), 1, np.logical_or)
    return _extreme(np.pad(dilated, 1), 1, np.logical_and)[1:-1, 1:-1]


def _extreme(src: np.ndarray, h: int, pick: np.ufunc) -> np.ndarray:
    """OR (dilation) or AND (erosion) over a (2h + 1)² square clipped at the edges."""
    rows = src.copy()
    for k in range(1, h + 1):
        pick(rows[:, k:], src[:, :-k], out=rows[:, k:])
        pick(rows[:, :-k], src[:, k:], out=rows[:, :-k])
    out = rows.copy()
    for k in range(1, h + 1):
        pick(out[k:], rows[:-k], out=out[k:])
        pick(out[:-k], rows[k:], out=out[:-k])
    return out
