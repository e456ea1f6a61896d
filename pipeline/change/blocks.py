"""Read a planned sequence of overlapping windows of a raster, decoding each block once (I/O).

Tiled detection reads every tile's halo window. Halos overlap their neighbours and do not
start on the raster's internal blocks (256 px in the workspace COGs), so reading them one by
one decodes most blocks twice or more: on a 4080² px capture the 25 halo windows of a
1024 px tiling cost 2.1 times the CPU of reading each block once (GDAL's block cache does not
help: a multi-band window read of a pixel-interleaved file bypasses it).

A :class:`PlannedReader` knows the windows it will be asked for, in order. It reads only
the blocks not held yet (one aligned read per run of adjacent blocks), keeps of a block only
the part later windows of the plan still read (nothing after its last window), and
assembles each window from its blocks: the same pixels as a direct read, bit for bit.
Memory: what the next windows share with the ones read; for a row-major tiling, the rows
the next tile row's halos share with this one's (twice the halo) plus the rest of the
block row they end in, across the raster: 336 rows of 256 px blocks for 1024 px tiles with
76 px halos, not the 512 of two whole block rows.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import rasterio
from rasterio.io import DatasetReader
from rasterio.windows import Window

log = logging.getLogger(__name__)

Span = tuple[int, int, int, int]
"""(row start, row stop, column start, column stop) of a window, pixels."""


def _span(window: Window) -> Span:
    (r0, r1), (c0, c1) = window.toranges()
    return int(r0), int(r1), int(c0), int(c1)


class PlannedReader:
    """Windows of one raster, read in a planned order with each block decoded once.

    ``source`` is the raster's path or a dataset the caller holds open. A path is opened for
    each read of new blocks and closed again, so GDAL's block cache (up to GDAL_CACHEMAX)
    keeps nothing between reads and the memory is what this reader holds: for the tiles'
    large halos. An open dataset is not reopened (2 ms and a re-read of the file's
    directory each time): for many small windows, whose blocks then stay in GDAL's cache
    until the caller closes the dataset.

    Example:
        >>> # with PlannedReader(path, [t.halo_window for t in tiles]) as reader:
        >>> #     for t in tiles:
        >>> #         pixels = reader.read(t.halo_window)
    """

    def __init__(self, source: Path | DatasetReader, windows: Sequence[Window]) -> None:
        self._source = source
        with self._open() as src:
            self._bh, self._bw = (int(v) for v in src.block_shapes[0])
            self._shape = (src.count, src.height, src.width)
            self._dtype = np.dtype(src.dtypes[0])
        self._plan = [_span(w) for w in windows]
        self._next = 0
        # the part of each block held: its top-left pixel on the raster and its pixels
        self._blocks: dict[tuple[int, int], tuple[int, int, np.ndarray]] = {}
        # the windows of the plan that need each block, in plan order
        self._users: dict[tuple[int, int], list[int]] = {}
        for i, span in enumerate(self._plan):
            for key in self._keys(span):
                self._users.setdefault(key, []).append(i)

    def __enter__(self) -> PlannedReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Drop the blocks held (an open dataset given stays open: it is the caller's)."""
        self._blocks.clear()

    def _open(self) -> contextlib.AbstractContextManager[DatasetReader]:
        """The raster: opened now (a path), or the caller's open dataset, left open."""
        if isinstance(self._source, DatasetReader):
            return contextlib.nullcontext(self._source)
        return rasterio.open(self._source)

    def _keys(self, span: Span) -> list[tuple[int, int]]:
        r0, r1, c0, c1 = span
        return [(br, bc) for br in range(r0 // self._bh, (r1 - 1) // self._bh + 1)
                for bc in range(c0 // self._bw, (c1 - 1) // self._bw + 1)]

    def _fetch(self, keys: list[tuple[int, int]]) -> None:
        """Read the missing blocks, one aligned read per run of adjacent blocks in a row."""
        missing = sorted(k for k in keys if k not in self._blocks)
        if not missing:
            return
        _, height, width = self._shape
        with self._open() as src:
            self._runs(src, missing, height, width)

    def _runs(self, src: DatasetReader, missing: list[tuple[int, int]],
              height: int, width: int) -> None:
        i = 0
        while i < len(missing):
            br, first = missing[i]
            last = first
            while i + 1 < len(missing) and missing[i + 1] == (br, last + 1):
                i += 1
                last += 1
            i += 1
            r0, c0 = br * self._bh, first * self._bw
            r1, c1 = min(height, r0 + self._bh), min(width, (last + 1) * self._bw)
            run = src.read(window=Window(c0, r0, c1 - c0, r1 - r0))
            for bc in range(first, last + 1):
                b0 = bc * self._bw - c0
                self._blocks[(br, bc)] = (r0, bc * self._bw, run[:, :, b0:b0 + self._bw])

    def read(self, window: Window) -> np.ndarray:
        """The (bands, h, w) pixels of ``window`` as stored.

        The next window of the plan is assembled from its blocks; any other window is read
        directly (and does not advance the plan).
        """
        span = _span(window)
        if self._next >= len(self._plan) or span != self._plan[self._next]:
            with self._open() as src:
                return np.asarray(src.read(window=window))
        index = self._next
        self._next += 1
        keys = self._keys(span)
        self._fetch(keys)
        r0, r1, c0, c1 = span
        out = np.empty((self._shape[0], r1 - r0, c1 - c0), self._dtype)
        for key in keys:
            top, left, block = self._blocks[key]
            rr0, rr1 = max(r0, top), min(r1, top + block.shape[1])
            cc0, cc1 = max(c0, left), min(c1, left + block.shape[2])
            out[:, rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0] = block[:, rr0 - top:rr1 - top,
                                                                  cc0 - left:cc1 - left]
            self._keep_for_later(key, index)
        return out

    def _keep_for_later(self, key: tuple[int, int], index: int) -> None:
        """Drop a block after window ``index`` unless a later window reads it; then keep
        only the part the later windows read (a copy, so the rest of its run is freed)."""
        later = [self._plan[i] for i in self._users[key] if i > index]
        if not later:
            del self._blocks[key]
            return
        top, left, block = self._blocks[key]
        k0 = max(top, min(sp[0] for sp in later)) - top
        k1 = min(top + block.shape[1], max(sp[1] for sp in later)) - top
        j0 = max(left, min(sp[2] for sp in later)) - left
        j1 = min(left + block.shape[2], max(sp[3] for sp in later)) - left
        if (k0, k1, j0, j1) != (0, block.shape[1], 0, block.shape[2]) or block.base is not None:
            block = block[:, k0:k1, j0:j1].copy()
        self._blocks[key] = (top + k0, left + j0, block)


class PlannedPair:
    """BEFORE, AFTER and the clear masks of a pair through :class:`PlannedReader` s: the
    same ``(before, after, valid)`` as :func:`pipeline.change.pair_pixels.read_pair`.

    Example:
        >>> # with PlannedPair(before, after, [(mask_b, True), (mask_a, True)], halos) as read:
        >>> #     b, a, ok = read(halos[0])
    """

    def __init__(self, before: Path, after: Path, masks: Sequence[tuple[Path | None, bool]],
                 windows: Sequence[Window]) -> None:
        self._images = (PlannedReader(before, windows), PlannedReader(after, windows))
        self._masks = [(PlannedReader(path, windows), want) for path, want in masks
                       if path is not None]

    def __enter__(self) -> PlannedPair:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Drop the blocks held."""
        for reader in (*self._images, *(m for m, _ in self._masks)):
            reader.close()

    def __call__(self, window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        valid = clear_of((reader.read(window)[0], want) for reader, want in self._masks)
        return self._images[0].read(window), self._images[1].read(window), valid


def clear_of(masks: Iterable[tuple[np.ndarray, bool]]) -> np.ndarray | None:
    """Where a pair counts: clear (1) in every mask marked True and not clear in every mask
    marked False (a capture in between); None without masks.

    Example:
        >>> clear_of([(np.array([1, 1, 0]), True), (np.array([0, 1, 1]), False)]).tolist()
        [True, False, False]
    """
    valid: np.ndarray | None = None
    for mask, want in masks:
        clear = mask == 1
        part = clear if want else ~clear
        valid = part if valid is None else valid & part
    return valid
