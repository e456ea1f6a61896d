"""One calibration of a pair, whatever holds its pixels: arrays in memory, files, stored tiles.

:func:`calibrate_windows` makes every global estimate (shift, radiometry, thresholds) from
bounded reads through a :data:`Reader`; :func:`calibrate` is the reader for in-memory arrays.
The file readers live with their I/O (:func:`pipeline.change.rasters.calibrate_files`,
:func:`pipeline.change.tiled.calibrate_pair`) and call the same function, so the three paths
cannot drift apart. Pure numpy apart from what the reader does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from pipeline.change.calibration import (
    Tile,
    central_crop,
    check_variation,
    estimate_registration,
    margin_px,
    prepare,
    radiometry,
    sample_step,
    tile_thresholds,
)
from pipeline.change.records import Calibration, ChangeParams
from pipeline.errors import ChangeInputError, NoClearPixelsError

log = logging.getLogger(__name__)

Reader = Callable[[slice, slice, int], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""``read(rows, cols, step)``: BEFORE, AFTER and validity of a window, as :func:`prepare`
returns them (float32, 0 where invalid); ``step`` > 1 asks for a regular subsample."""


def tile_windows(
    shape: tuple[int, int], count: int, size: int
) -> list[tuple[slice, slice]]:
    """Up to ``count`` windows of ``size`` pixels spread evenly over the image.

    Example:
        >>> len(tile_windows((4096, 4096), 16, 512))
        16
    """
    h, w = shape
    n = max(1, math.isqrt(count))
    th, tw = min(h, size), min(w, size)
    rows = sorted({int(r) for r in np.linspace(0, h - th, n).round()})
    cols = sorted({int(c) for c in np.linspace(0, w - tw, n).round()})
    return [(slice(r, r + th), slice(c, c + tw)) for r in rows for c in cols]


def tile_with_context(
    shape: tuple[int, int], rows: slice, cols: slice, margin: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """A tile grown by ``margin`` pixels of context (clipped to the image), and the tile
    proper inside it.

    Example:
        >>> tile_with_context((100, 100), slice(0, 50), slice(50, 100), 8)
        ((slice(0, 58, None), slice(42, 100, None)), (slice(0, 50, None), slice(8, 58, None)))
    """
    r0, r1 = max(0, rows.start - margin), min(shape[0], rows.stop + margin)
    c0, c1 = max(0, cols.start - margin), min(shape[1], cols.stop + margin)
    inner = (slice(rows.start - r0, rows.stop - r0), slice(cols.start - c0, cols.stop - c0))
    return (slice(r0, r1), slice(c0, c1)), inner


def calibrate_windows(
    read: Reader, shape: tuple[int, int], params: ChangeParams,
    with_thresholds: bool = True, source: str = "",
) -> Calibration:
    """All global estimates of a pair from bounded reads: sample, central crop, tiles.

    Args:
        read: the pair's :data:`Reader`.
        shape: (rows, cols) of the pair.
        params: detection settings.
        with_thresholds: also estimate thresholds on sample tiles (large images).
        source: how to name the pair in error messages (e.g. its two files), "" for arrays.

    Returns:
        The :class:`Calibration` shared by every block or tile.

    Raises:
        NoClearPixelsError: no pixel valid in both dates.
        ChangeInputError: a constant image, or no calibration tile with a valid pixel.

    Example:
        >>> b = np.random.default_rng(0).normal(9, 2, (2, 64, 64)).astype(np.float32)
        >>> read = lambda r, c, s: prepare(b[:, r.start:r.stop:s, c.start:c.stop:s],
        ...                                b[:, r.start:r.stop:s, c.start:c.stop:s] + 1, None)
        >>> sorted(calibrate_windows(read, (64, 64), ChangeParams(method="cva")).thresholds)
        ['cva']
    """
    whole = (slice(0, shape[0]), slice(0, shape[1]))
    sample = read(*whole, sample_step(shape))
    if not sample[2].any():
        where = f": {source}" if source else ""
        raise NoClearPixelsError(f"no pixel is valid in both BEFORE and AFTER{where}")
    check_variation(*sample)
    reg = estimate_registration(*read(*central_crop(shape), 1), params, shape)
    cal = radiometry(*sample, params, reg)
    if not with_thresholds:
        return cal
    margin = margin_px(params)
    tiles: list[Tile] = []
    for rs, cs in tile_windows(shape, params.calibration_tiles, params.calibration_tile_size):
        (wr, wc), inner = tile_with_context(shape, rs, cs, margin)
        b, a, ok = read(wr, wc, 1)
        if ok[inner].any():
            tiles.append((b, a, ok, inner))
    if not tiles:
        where = f" of {source}" if source else ""
        raise ChangeInputError(f"no calibration tile{where} has a pixel valid in both dates")
    return replace(cal, thresholds=tile_thresholds(tiles, cal, params))


def calibrate(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray | None, params: ChangeParams,
    with_thresholds: bool = True,
) -> Calibration:
    """All global estimates for in-memory arrays, from bounded crops, samples and tiles.

    Only windows are converted to float32, so the cost does not grow with the image.

    Args:
        before: (bands, H, W) any numeric dtype; NaN is invalid.
        after: (bands, H, W).
        valid: optional bool (H, W).
        params: detection settings.
        with_thresholds: also estimate thresholds on sample tiles (large images).

    Returns:
        The :class:`Calibration`.

    Raises:
        ChangeInputError: no valid pixel or a constant image.

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(9, 2, (2, 64, 64)).astype(np.float32)
        >>> cal = calibrate(b, b + 1, None, ChangeParams(method="cva"))
        >>> cal.normalisation.method, sorted(cal.thresholds)
        ('irmad-regression', ['cva'])
    """

    def read(rows: slice, cols: slice, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rs, cs = slice(rows.start, rows.stop, step), slice(cols.start, cols.stop, step)
        return prepare(before[:, rs, cs], after[:, rs, cs],
                       None if valid is None else valid[rs, cs])

    shape = (before.shape[1], before.shape[2])
    return calibrate_windows(read, shape, params, with_thresholds)
