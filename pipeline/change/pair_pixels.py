"""The pixels of a capture pair on a facility grid: its files and how windows of it are read (I/O).

A small grid's pair is read whole, once, and every window is a view of it; a large grid's
is read window by window, or through a :class:`pipeline.change.blocks.PlannedPair` that
decodes each block once when the windows are known in advance (tiled detection's halos).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from facilities.grid import FacilityGrid
from imagery.tiles import Tile
from pipeline.change.blocks import PlannedPair, clear_of

Pixels = tuple[np.ndarray, np.ndarray, np.ndarray | None]
"""BEFORE, AFTER (as stored, (bands, h, w)) and the pair's clear mask (None: all clear)."""

PairReader = Callable[[Window], Pixels]
"""Full-resolution pixels of a pair in a window of the grid (:func:`read_pair` or a view of
pixels already read)."""

WHOLE_READ_MAX_PX = 2560 * 2560
"""A pair on a grid of at most this many pixels is read whole, once; every window is a view
of it (no block decoded twice for overlapping windows), and its tiles' statistics are kept
to pool the thresholds (:mod:`pipeline.change.pooled`): about 50 bytes a pixel, 210 MB at
the demo's 2040² px. Larger grids are read window by window (memory bounded by the tile)."""


@dataclass(frozen=True)
class PairFiles:
    """The rasters of one pair on the same facility grid (picklable)."""

    before: Path
    """BEFORE image (bands, NaN or nodata where invalid)."""
    after: Path
    """AFTER image on the same grid."""
    before_mask: Path | None = None
    """Clear-sky mask of BEFORE (1 clear), None: every pixel clear."""
    after_mask: Path | None = None
    """Clear-sky mask of AFTER (1 clear), None: every pixel clear."""
    gap_mask: Path | None = None
    """Clear-sky mask of a capture in between: only pixels it did not see clearly count."""

    @property
    def masks(self) -> tuple[tuple[Path | None, bool], ...]:
        """Each clear-sky mask with whether its clear pixels count (True) or its unclear ones
        (False, the capture in between), as :func:`pipeline.change.blocks.clear_of` takes them.

        Example:
            >>> PairFiles(Path("b.tif"), Path("a.tif"), gap_mask=Path("g.tif")).masks[2]
            (PosixPath('g.tif'), False)
        """
        return ((self.before_mask, True), (self.after_mask, True), (self.gap_mask, False))


def _read(path: Path, window: Window, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    with rasterio.open(path) as src:
        kw: dict[str, Any] = {"window": window}
        if out_shape is not None:
            kw["out_shape"] = (src.count, *out_shape)
            kw["resampling"] = Resampling.nearest
        return np.asarray(src.read(**kw))


def _valid(files: PairFiles, window: Window, out_shape: tuple[int, int] | None = None
           ) -> np.ndarray | None:
    return clear_of(((_read(path, window, out_shape)[0], want) for path, want in files.masks
                     if path is not None))


def read_pair(files: PairFiles, window: Window, out_shape: tuple[int, int] | None = None
              ) -> Pixels:
    """BEFORE, AFTER (as stored) and the pair's clear mask (None: all clear) in a window.

    Example:
        >>> # b, a, ok = read_pair(files, Window(0, 0, 256, 256))
    """
    return (_read(files.before, window, out_shape), _read(files.after, window, out_shape),
            _valid(files, window, out_shape))


def window_of(rows: slice, cols: slice) -> Window:
    """The window of a (rows, cols) pair of slices.

    Example:
        >>> window_of(slice(2, 6), slice(0, 3))
        Window(col_off=0, row_off=2, width=3, height=4)
    """
    return Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)


class WholePair:
    """Views of a pair read whole, once (see :func:`pair_reader`)."""

    def __init__(self, files: PairFiles, grid: FacilityGrid) -> None:
        self._pixels = read_pair(files, Window(0, 0, grid.width, grid.height))

    def __call__(self, window: Window) -> Pixels:
        (r0, r1), (c0, c1) = window.toranges()
        rows, cols = slice(int(r0), int(r1)), slice(int(c0), int(c1))
        before, after, valid = self._pixels
        return (before[:, rows, cols], after[:, rows, cols],
                None if valid is None else valid[rows, cols])


def pair_reader(files: PairFiles, grid: FacilityGrid) -> PairReader:
    """How to read the pair's windows: views of the whole pair read once when the grid has
    at most :data:`WHOLE_READ_MAX_PX` pixels, else :func:`read_pair` window by window.

    Example:
        >>> # read = pair_reader(files, grid); before, after, ok = read(Window(0, 0, 64, 64))
    """
    if grid.width * grid.height > WHOLE_READ_MAX_PX:
        return WindowedPair(files)
    return WholePair(files, grid)


class WindowedPair:
    """:func:`read_pair` window by window (a large grid; see :func:`pair_reader`)."""
    def __init__(self, files: PairFiles) -> None:
        self.files = files

    def __call__(self, window: Window) -> Pixels:
        return read_pair(self.files, window)


def planned_pair(read_window: PairReader, tiles: list[Tile]) -> PlannedPair | None:
    """The tiles' halos of a large grid's pair, each block decoded once
    (:mod:`pipeline.change.blocks`); None for any other reader."""
    if not isinstance(read_window, WindowedPair):
        return None
    f = read_window.files
    return PlannedPair(f.before, f.after, f.masks, [t.halo_window for t in tiles])


def is_whole(read_window: PairReader) -> bool:
    """Whether ``read_window`` serves a pair read whole (a small grid).

    Example:
        >>> is_whole(lambda window: (None, None, None))
        False
    """
    return isinstance(read_window, WholePair)


__all__ = [
    "WHOLE_READ_MAX_PX",
    "PairFiles",
    "PairReader",
    "Pixels",
    "WholePair",
    "WindowedPair",
    "is_whole",
    "pair_reader",
    "planned_pair",
    "read_pair",
    "window_of",
]
