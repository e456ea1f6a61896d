"""Thresholds of a small pair from the statistics its detection computes anyway (pure numpy).

The pair's thresholds are pooled over sample tiles (:func:`pipeline.change.calibration.
tile_windows`, 16 tiles of 512 px by default). On a small grid those tiles cover most or
all of it (the demo's 2040² px: all of it), so computing their statistics in windows of
their own, and then every detection tile's again, computes each pixel's statistics twice.
Here the detection tiles' statistics (kept for the whole grid, which is small) are pooled
over the same sample tiles' pixels instead: one computation of the statistics per pixel.

The pooled pixels are the same; their statistic values are those of the detection tiles,
whose windows start on even pixels, so the 2x2 structural grid (``structure_scale``) is
binned in the phase of the whole image; a sample tile's own window starting on an odd
pixel binned it one pixel off. The thresholds can differ slightly from the sample tiles'
own (see the commit and :mod:`pipeline.change.tiled`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from pipeline.change.calibration import thresholds
from pipeline.change.estimate import tile_windows
from pipeline.change.records import ChangeParams
from pipeline.errors import ChangeInputError


@dataclass(frozen=True)
class CoreStatistics:
    """The detector statistics of one detection tile's core."""

    window: Window
    """The core on the grid."""
    statistics: dict[str, np.ndarray]
    """Statistic by detector name, (h, w) each, over the core."""
    valid: np.ndarray
    """bool (h, w): valid after the calibration's shift (the pixels statistics pool)."""
    clear: np.ndarray
    """bool (h, w): valid in both captures before the shift (a sample tile counts when it
    has one such pixel, as in :func:`pipeline.change.estimate.calibrate_windows`)."""


def pooled_thresholds(
    cores: Sequence[CoreStatistics], shape: tuple[int, int], params: ChangeParams,
    nbands: int, source: str = "",
) -> dict[str, float]:
    """Thresholds pooled over the sample tiles' pixels, from the detection tiles' statistics.

    Args:
        cores: every detection tile's core statistics (together they cover the grid; a
            tile without a clear pixel may be left out).
        shape: (rows, cols) of the grid.
        params: threshold choices and the sample tiles (``calibration_tiles``,
            ``calibration_tile_size``).
        nbands: band count.
        source: how to name the pair in error messages.

    Returns:
        Threshold by detector name, as :func:`pipeline.change.calibration.tile_thresholds`.

    Raises:
        ChangeInputError: no sample tile has a pixel valid in both dates.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> st = {"cva": rng.random((8, 8)).astype(np.float32)}
        >>> ok = np.ones((8, 8), bool)
        >>> core = CoreStatistics(Window(0, 0, 8, 8), st, ok, ok)
        >>> p = ChangeParams(method="cva", calibration_tiles=4, calibration_tile_size=4)
        >>> sorted(pooled_thresholds([core], (8, 8), p, 1))
        ['cva']
    """
    names = list(cores[0].statistics) if cores else []
    grid = {name: np.zeros(shape, np.float32) for name in names}
    valid = np.zeros(shape, bool)
    clear = np.zeros(shape, bool)
    for core in cores:
        (r0, r1), (c0, c1) = core.window.toranges()
        where = (slice(int(r0), int(r1)), slice(int(c0), int(c1)))
        for name in names:
            grid[name][where] = core.statistics[name]
        valid[where] = core.valid
        clear[where] = core.clear
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in names}
    counted = 0
    for rows, cols in tile_windows(shape, params.calibration_tiles,
                                   params.calibration_tile_size):
        if not clear[rows, cols].any():
            continue
        counted += 1
        ok = valid[rows, cols]
        for name in names:
            pooled[name].append(grid[name][rows, cols][ok])
    if not counted:
        of = f" of {source}" if source else ""
        raise ChangeInputError(f"no calibration tile{of} has a pixel valid in both dates")
    flat = {k: np.concatenate(v)[None, :] for k, v in pooled.items()}
    if not flat:
        return {}
    first = next(iter(flat.values()))
    return thresholds(flat, np.ones(first.shape, bool), params, nbands)
