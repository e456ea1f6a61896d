"""Seamless tiled change detection of a capture pair on a facility grid (an I/O module).

One calibration (shift, normalisation, thresholds) is estimated per pair from bounded
reads; every tile of :func:`imagery.tiles.tile_index` then reads its halo window of BEFORE,
AFTER and the clear-sky masks, detects change with that calibration and keeps only its
core. Change objects are built without ever holding the whole grid: each core is cleaned
(the closing needs two pixels of context, which the halo gives), labelled and polygonised
in pixel coordinates; pieces that touch across core edges (4-connectivity) are merged with
a union-find, and each object's type and confidence are computed from per-piece sums of
its pixels, so they equal :func:`pipeline.change.objects.change_objects` on the whole grid.
Peak memory is bounded by the tile size, not by the AOI.

:func:`detect_tile` is the unit of work: it takes paths and a tile, returns arrays and
small per-piece summaries, and is picklable (for a scheduler such as Dask).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from rasterio.windows import Window
from scipy import ndimage

from facilities.grid import FacilityGrid
from imagery.store import GridRasterSink
from imagery.tiles import Tile, core_size, tile_index
from pipeline.change.calibration import (
    block_statistics,
    margin_px,
    prepare,
    thresholds,
)
from pipeline.change.coregister import fast_halo
from pipeline.change.detect import Calibration, ChangeParams, decide, detect_change
from pipeline.change.estimate import calibrate_windows
from pipeline.change.objects import ChangeObject, change_objects, closed_change
from pipeline.change.pair_pixels import (
    PairFiles,
    PairReader,
    is_whole,
    pair_reader,
    planned_pair,
    read_pair,
    window_of,
)
from pipeline.change.pooled import CoreStatistics, pooled_thresholds
from pipeline.change.records import METHODS
from pipeline.change.tile_objects import (
    Piece,
    TileChange,
    band_stats,
    canonical,
    core_pieces,
    merge_pieces,
    no_edges,
)
from pipeline.change.tile_status import tile_records, tile_statuses

log = logging.getLogger(__name__)

RING = 2
"""Pixels of mask context the 3x3 closing of :func:`pipeline.change.objects.clean_mask` needs."""

_FOUR = ndimage.generate_binary_structure(2, 1)

Progress = Callable[[int, int], None]
"""Called with (tiles done, tiles in total)."""

@dataclass(frozen=True)
class TiledChange:
    """What :func:`tiled_change` did for one pair."""

    calibration: Calibration
    """Shift, normalisation and thresholds shared by every tile."""
    objects: tuple[ChangeObject, ...]
    """Change objects in the grid CRS, largest first."""
    tile_valid: dict[str, int]
    """Valid pixel count of every tile core (0: skipped)."""
    changed_pixels: int
    """Pixels marked 1 in the mask."""
    valid_pixels: int
    """Pixels not marked 255."""


POOLED_THRESHOLDS = True
"""A pair read whole keeps its tiles' statistics and pools its thresholds from them
(:mod:`pipeline.change.pooled`). On the demo's 11 pairs: 50 s of CPU instead of 76 (one
process), 798 changes instead of 799, 19 events instead of 20 (recall 11/13 and "high" 7/8
real unchanged; 14 of 19 real instead of 15 of 20). False: the sample tiles' own windows,
exactly the outputs of before."""


def pools_thresholds(read_window: PairReader) -> bool:
    """Whether the detection pools the thresholds (:data:`POOLED_THRESHOLDS`, a pair read
    whole), so the calibration need not estimate them.

    Example:
        >>> pools_thresholds(lambda window: (None, None, None))
        False
    """
    return POOLED_THRESHOLDS and is_whole(read_window)


def calibrate_pair(files: PairFiles, shape: tuple[int, int], params: ChangeParams,
                   read_window: PairReader | None = None, *, with_thresholds: bool = True
                   ) -> Calibration:
    """The pair's single calibration, from bounded reads (sample, central crop, tiles).

    Args:
        files: the pair's rasters.
        shape: (rows, cols) of the grid.
        params: detection settings (``pixel_size_m`` set).
        read_window: how to read full-resolution windows (:func:`pair_reader`); default
            :func:`read_pair`. Subsampled reads always go to the files (their overviews).
        with_thresholds: also the thresholds (from sample tiles); False leaves them to the
            detection (:func:`tiled_change` of a pair read whole pools them).

    Returns:
        A :class:`Calibration`, with thresholds unless ``with_thresholds`` is False.

    Raises:
        NoClearPixelsError: no pixel valid in both captures.
        ChangeInputError: a constant image.

    Example:
        >>> # cal = calibrate_pair(files, grid.shape, params)
    """

    def read(rows: slice, cols: slice, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if step > 1:
            out = (max(1, shape[0] // step), max(1, shape[1] // step))
            return prepare(*read_pair(files, window_of(rows, cols), out))
        if read_window is not None:
            return prepare(*read_window(window_of(rows, cols)))
        return prepare(*read_pair(files, window_of(rows, cols)))

    return calibrate_windows(read, shape, params, with_thresholds,
                             source=f"{files.before} / {files.after}")


# -- one tile -------------------------------------------------------------------------------


def detect_tile(files: PairFiles, tile: Tile, index: int, params: ChangeParams,
                read_window: PairReader | None = None) -> TileChange:
    """Detect change in one tile with the pair's calibration; keep only the core.

    Args:
        files: the pair's rasters.
        tile: the tile (its halo must be at least ``margin_px(params) + RING``).
        index: position of the tile in the index (keys its pieces).
        params: detection settings with ``params.calibration`` set.
        read_window: how to read the halo window (:func:`pair_reader`); default
            :func:`read_pair`.

    Returns:
        The core mask, the valid pixel count and the object pieces of the core.

    Example:
        >>> # tc = detect_tile(files, tiles[3], 3, replace(params, calibration=cal))
    """
    read = tile_statistics(files, tile, params, read_window)
    if read.statistics is None:
        return _tile_change(tile, index, read, None, params)
    assert params.calibration is not None
    thr = params.calibration.thresholds or thresholds(
        read.statistics, read.valid, params, read.before.shape[0])
    return _tile_change(tile, index, read, decide(read.statistics, read.valid, thr, params),
                        params)


@dataclass(frozen=True)
class TileStatistics:
    """A tile's halo window read and its detector statistics (see :func:`tile_statistics`)."""

    before: np.ndarray
    """BEFORE over the halo, as stored."""
    after: np.ndarray
    """AFTER over the halo, as stored."""
    clear: np.ndarray
    """bool over the halo: valid in both captures (before the calibration's shift)."""
    statistics: dict[str, np.ndarray] | None
    """Statistic by detector name over the halo; None: no clear core pixel, or a halo larger
    than a block (then the detection stage's own path runs)."""
    valid: np.ndarray
    """bool over the halo: valid after the calibration's shift (``clear`` when no statistics)."""


def _core(tile: Tile) -> tuple[slice, slice]:
    """The core's rows and columns inside the halo window."""
    halo, core = tile.halo_window, tile.window
    r0, c0 = int(core.row_off - halo.row_off), int(core.col_off - halo.col_off)
    return slice(r0, r0 + int(core.height)), slice(c0, c0 + int(core.width))


def tile_statistics(files: PairFiles, tile: Tile, params: ChangeParams,
                    read_window: PairReader | None = None) -> TileStatistics:
    """Read a tile's halo and compute its detector statistics with the pair's calibration,
    as :func:`pipeline.change.detect.detect_change` does for one block.

    Example:
        >>> # st = tile_statistics(files, tiles[3], replace(params, calibration=cal))
    """
    halo = tile.halo_window
    before, after, valid = (read_pair(files, halo) if read_window is None
                            else read_window(halo))
    b, a, ok = prepare(before, after, valid)
    cal = params.calibration
    single = max(b.shape[1:]) <= params.block_size + 2 * margin_px(params)
    if (not ok[_core(tile)].any() or cal is None or not single
            or params.method not in METHODS or params.method == "learned"):
        return TileStatistics(before, after, ok, None, ok)
    # known thresholds (a large grid's): a tile without a candidate pixel skips the envelope
    stats, ok2 = block_statistics(b, a, ok, cal, params, cal.thresholds or None, overwrite=True)
    return TileStatistics(before, after, ok, stats, ok2)


def _core_statistics(tile: Tile, read: TileStatistics) -> CoreStatistics:
    rows, cols = _core(tile)
    assert read.statistics is not None
    return CoreStatistics(tile.window, {k: v[rows, cols] for k, v in read.statistics.items()},
                          read.valid[rows, cols], read.clear[rows, cols])


def _tile_change(tile: Tile, index: int, read: TileStatistics,
                 decided: tuple[np.ndarray, np.ndarray] | None, params: ChangeParams
                 ) -> TileChange:
    """The core mask, valid count and object pieces of a tile from its decided halo."""
    core = tile.window
    h, w = int(core.height), int(core.width)
    r0, c0 = int(core.row_off), int(core.col_off)
    cr, cc = _core(tile)
    before, after = read.before, read.after
    empty = np.zeros((before.shape[0], 3))
    n_valid = int(read.clear[cr, cc].sum())
    if n_valid == 0:
        return TileChange(index, tile.tile_id, core, np.full((h, w), 255, np.uint8), 0,
                          no_edges(h, w), (), empty)
    if decided is None:  # no statistics of our own: the detection stage's own path
        b, a, ok = prepare(before, after, read.clear)
        result = detect_change(b, a, params, ok)
        mask_h, score_h = result.mask, result.score
    else:
        mask_h, score_h = decided
    # Clean exactly as clean_mask does, on the core plus a ring of context.
    er0, er1 = max(0, cr.start - RING), min(mask_h.shape[0], cr.stop + RING)
    ec0, ec1 = max(0, cc.start - RING), min(mask_h.shape[1], cc.stop + RING)
    change = closed_change(mask_h[er0:er1, ec0:ec1])
    change = change[cr.start - er0: cr.start - er0 + h, cc.start - ec0: cc.start - ec0 + w]
    core_mask = mask_h[cr, cc].copy()
    stats_b = band_stats(before[:, cr, cc], core_mask != 255)
    pieces, edges = core_pieces(change, score_h[cr, cc], before[:, cr, cc],
                                after[:, cr, cc], params.bands, index, (r0, c0))
    return TileChange(index, tile.tile_id, core, core_mask, n_valid, edges, pieces, stats_b)


# -- the pair -------------------------------------------------------------------------------


def tiled_change(
    files: PairFiles,
    grid: FacilityGrid,
    params: ChangeParams,
    sink: GridRasterSink | None = None,
    *,
    tile_size: int = 1024,
    calibration: Calibration | None = None,
    progress: Progress | None = None,
    read_window: PairReader | None = None,
) -> TiledChange:
    """Detect change between a pair tile by tile; write the mask cores; merge the objects.

    Args:
        files: the pair's rasters on ``grid``.
        grid: the facility grid.
        params: detection settings (``pixel_size_m`` set).
        sink: where the uint8 change mask goes (1 change, 0 none, 255 nodata), or None.
        tile_size: largest tile core side, pixels (see :func:`imagery.tiles.core_size`).
        calibration: a calibration to reuse; None estimates it once from the pair.
        progress: optional callable (tiles done, tiles in total).
        read_window: how to read full-resolution windows; default :func:`pair_reader`
            (a small grid is read whole, once).

    Returns:
        A :class:`TiledChange`: calibration, objects and per-tile valid pixel counts.

    Raises:
        ChangeInputError: no pixel clear in both captures, or a constant image.

    Example:
        >>> # with grid_raster_writer(path, grid, count=1, dtype="uint8", nodata=255,
        >>> #                         band_names=("change",)) as sink:
        >>> #     res = tiled_change(PairFiles(b, a, bm, am), grid, params, sink, tile_size=512)
    """
    read_window = read_window or pair_reader(files, grid)
    cal = calibration or calibrate_pair(files, grid.shape, params, read_window,
                                        with_thresholds=not pools_thresholds(read_window))
    if not cal.thresholds and not pools_thresholds(read_window):
        cal = calibrate_pair(files, grid.shape, params, read_window)
    p = replace(params, calibration=cal)
    # the halo widened to a fast FFT length for the shift (1172 px tiles: 1176), kept even
    # as margin_px keeps it (the structural grid's 2 x 2 bins in the whole image's phase)
    halo = fast_halo(core_size(grid.resolution, tile_size), margin_px(p) + RING, step=2)
    tiles = tile_index(grid, tile_size=tile_size, halo=halo)
    results: list[TileChange] = []
    changed = valid_px = 0
    planned = planned_pair(read_window, tiles) if cal.thresholds else None
    if cal.thresholds or params.method == "learned":  # learned: no statistics to pool
        # a large grid's halos go through a PlannedPair (each block read once)
        done = ((tile, detect_tile(files, tile, i, p, planned or read_window))
                for i, tile in enumerate(tiles))
    else:  # a small grid: thresholds pooled from the tiles' own statistics, computed once
        read = [tile_statistics(files, tile, p, read_window) for tile in tiles]
        cores = [_core_statistics(tile, r) for tile, r in zip(tiles, read, strict=True)
                 if r.statistics is not None]
        cal = replace(cal, thresholds=pooled_thresholds(
            cores, grid.shape, p, read[0].before.shape[0],
            source=f"{files.before} / {files.after}"))
        p = replace(params, calibration=cal)
        done = ((tile, _tile_change(tile, i, r, None if r.statistics is None else decide(
            r.statistics, r.valid, cal.thresholds, p), p))
            for i, (tile, r) in enumerate(zip(tiles, read, strict=True)))
    with planned or contextlib.nullcontext():
        for i, (_, tc) in enumerate(done):
            if sink is not None:
                sink.write(tc.window, tc.mask[np.newaxis])
            changed += int((tc.mask == 1).sum())
            valid_px += tc.valid_pixels
            # Keep only what merging needs: the core mask can go.
            results.append(replace(tc, mask=np.empty((0, 0), np.uint8)))
            if progress is not None:
                progress(i + 1, len(tiles))
    skipped = sum(1 for tc in results if tc.valid_pixels == 0)
    if skipped:
        log.info("%d of %d tiles have no pixel clear in both captures: skipped",
                 skipped, len(tiles))
    objects = merge_pieces(results, tiles, p, grid.transform)
    return TiledChange(cal, tuple(objects), {tc.tile_id: tc.valid_pixels for tc in results},
                       changed, valid_px)


def untiled_change(files: PairFiles, grid: FacilityGrid, params: ChangeParams,
                   calibration: Calibration) -> tuple[np.ndarray, list[ChangeObject]]:
    """The reference: the whole pair in memory, the same calibration, the same objects.

    Used by the equality tests and the benchmark; memory grows with the AOI.

    Returns:
        (uint8 mask of the whole grid, change objects from :func:`change_objects`).

    Example:
        >>> # mask, objs = untiled_change(files, grid, params, res.calibration)
    """
    full = Window(0, 0, grid.width, grid.height)
    before, after, valid = read_pair(files, full)
    p = replace(params, calibration=calibration)
    result = detect_change(before, after, p, valid)
    objs = change_objects(result, before, after, p, grid.transform)
    return result.mask, objs


__all__ = [
    "PairFiles",
    "Piece",
    "TileChange",
    "TiledChange",
    "calibrate_pair",
    "canonical",
    "detect_tile",
    "is_whole",
    "merge_pieces",
    "pair_reader",
    "pools_thresholds",
    "read_pair",
    "tile_records",
    "tile_statistics",
    "tile_statuses",
    "tiled_change",
    "untiled_change",
]
