"""A simple clear-sky mask for 4-band (blue, green, red, nir) reflectance (pure array maths).

Providers with their own quality bands (Sentinel-2 SCL, Landsat QA_PIXEL) use
those instead. For imagery without one (vendor GeoTIFFs, the simulated archive)
this flags what an analyst would not trust: no data, bright and white (cloud,
snow) pixels in large connected patches, and the dark patches (cloud shadow)
beside them, grown by a margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class MaskParams:
    """Thresholds of :func:`clear_mask` (reflectance units, metres)."""

    bright: float = 0.30
    """Mean visible reflectance above which a pixel may be cloud or snow."""
    whiteness: float = 0.18
    """Maximum spectral flatness (mean absolute deviation / mean of the visible bands)."""
    min_patch_m2: float = 1500.0
    """Bright patches smaller than this are roofs or rock, not cloud."""
    shadow_dark: float = 0.5
    """A shadow is darker than this fraction of the scene's median brightness."""
    shadow_search_m: float = 150.0
    """Shadows are looked for within this distance of a cloud."""
    margin_m: float = 10.0
    """Grow clouds and shadows by this much (soft cloud edges)."""


def clear_mask(
    reflectance: np.ndarray, pixel_size_m: float, params: MaskParams | None = None
) -> np.ndarray:
    """True where ``reflectance`` (4, H, W: blue, green, red, nir; NaN = nodata) is clear.

    Example:
        >>> import numpy as np
        >>> img = np.full((4, 50, 50), 0.1, np.float32); img[:, :20, :20] = 0.8
        >>> m = clear_mask(img, 10.0)
        >>> bool(m[40, 40]), bool(m[5, 5])
        (True, False)
    """
    p = params or MaskParams()
    if reflectance.ndim != 3 or reflectance.shape[0] < 3:
        raise ValueError(f"clear_mask needs (bands>=3, H, W) reflectance, got {reflectance.shape}")
    valid = np.all(np.isfinite(reflectance), axis=0)
    vis = np.nan_to_num(reflectance[:3], nan=0.0)
    mean = vis.mean(axis=0)
    flat = np.abs(vis - mean).mean(axis=0) / np.maximum(mean, 1e-6)
    white = valid & (mean > p.bright) & (flat < p.whiteness)
    min_px = max(1, int(round(p.min_patch_m2 / pixel_size_m**2)))
    labels, n = ndimage.label(white)
    if n:
        sizes = np.bincount(labels.ravel())
        big = sizes >= min_px
        big[0] = False
        white = big[labels]
    cloud = white
    if cloud.any():
        med = float(np.median(mean[valid])) if valid.any() else 0.0
        dark = valid & (mean < p.shadow_dark * med)
        dist_m = ndimage.distance_transform_edt(~cloud) * pixel_size_m
        near = dist_m <= p.shadow_search_m
        dark_labels, nd = ndimage.label(dark & near)
        if nd:
            dsizes = np.bincount(dark_labels.ravel())
            keep = dsizes >= min_px // 4
            keep[0] = False
            cloud = cloud | keep[dark_labels]
        if p.margin_m > 0:
            cloud = ndimage.distance_transform_edt(~cloud) * pixel_size_m <= p.margin_m
    clear: np.ndarray = valid & ~cloud
    return clear


def coarse_mean(block: np.ndarray, f: int) -> np.ndarray:
    """Mean of a (bands, h, w) block over f×f cells, NaN-aware: the dims are padded up to
    multiples of f, and a cell needs more than half of its pixels valid (else NaN).

    Example:
        >>> import numpy as np
        >>> coarse_mean(np.arange(16, dtype=np.float32).reshape(1, 4, 4), 2)[0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]], dtype=float32)
    """
    if f == 1:
        return block
    b, h, w = block.shape
    if h % f == 0 and w % f == 0 and not np.isnan(block).any():
        # the common block: no padding and no NaN, so nansum is the plain sum (the same
        # additions in the same order) and every count is f * f: the same floats, at a
        # fifth of the CPU (no padded copy, no NaN-replaced copy, no finite count)
        whole = block.reshape(b, h // f, f, w // f, f).sum(axis=(2, 4))
        mean: np.ndarray = (whole / np.float64(f * f)).astype(np.float32)
        return mean
    return _nan_coarse_mean(block, f)


def _nan_coarse_mean(block: np.ndarray, f: int) -> np.ndarray:
    """:func:`coarse_mean` of any block: padded with NaN, a cell needs over half valid."""
    b, h, w = block.shape
    hp, wp = math.ceil(h / f) * f, math.ceil(w / f) * f
    padded = np.full((b, hp, wp), np.nan, dtype=np.float32)
    padded[:, :h, :w] = block
    cells = padded.reshape(b, hp // f, f, wp // f, f)
    with np.errstate(invalid="ignore"):
        count = np.isfinite(cells).sum(axis=(2, 4))
        total = np.nansum(cells, axis=(2, 4))
        out = np.where(count > (f * f) // 2, total / np.maximum(count, 1), np.nan)
    return out.astype(np.float32)
