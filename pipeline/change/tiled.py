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

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.windows import Window
from scipy import ndimage

from facilities.grid import FacilityGrid
from facilities.model import Facility
from imagery.records import StoredTile, TileStatus
from imagery.store import GridRasterSink
from imagery.tiles import Tile, tile_index, zones_touching
from pipeline.change.calibration import (
    margin_px,
    prepare,
)
from pipeline.change.detect import Calibration, ChangeParams, detect_change
from pipeline.change.estimate import calibrate_windows
from pipeline.change.objects import ChangeObject, change_objects
from pipeline.change.tile_objects import (
    Piece,
    TileChange,
    band_stats,
    canonical,
    core_pieces,
    merge_pieces,
    no_edges,
)

log = logging.getLogger(__name__)

RING = 2
"""Pixels of mask context the 3x3 closing of :func:`pipeline.change.objects.clean_mask` needs."""

_EIGHT = np.ones((3, 3), dtype=bool)
_FOUR = ndimage.generate_binary_structure(2, 1)

Progress = Callable[[int, int], None]
"""Called with (tiles done, tiles in total)."""


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


# -- reading --------------------------------------------------------------------------------


def _read(path: Path, window: Window, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    with rasterio.open(path) as src:
        kw: dict[str, Any] = {"window": window}
        if out_shape is not None:
            kw["out_shape"] = (src.count, *out_shape)
            kw["resampling"] = Resampling.nearest
        return np.asarray(src.read(**kw))


def _valid(files: PairFiles, window: Window, out_shape: tuple[int, int] | None = None
           ) -> np.ndarray | None:
    valid: np.ndarray | None = None
    for path, want in ((files.before_mask, True), (files.after_mask, True),
                       (files.gap_mask, False)):
        if path is None:
            continue
        clear = _read(path, window, out_shape)[0] == 1
        part = clear if want else ~clear
        valid = part if valid is None else valid & part
    return valid


def read_pair(files: PairFiles, window: Window, out_shape: tuple[int, int] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """BEFORE, AFTER (as stored) and the pair's clear mask (None: all clear) in a window.

    Example:
        >>> # b, a, ok = read_pair(files, Window(0, 0, 256, 256))
    """
    return (_read(files.before, window, out_shape), _read(files.after, window, out_shape),
            _valid(files, window, out_shape))


def _win(rows: slice, cols: slice) -> Window:
    return Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)


def calibrate_pair(files: PairFiles, shape: tuple[int, int], params: ChangeParams
                   ) -> Calibration:
    """The pair's single calibration, from bounded reads (sample, central crop, tiles).

    Args:
        files: the pair's rasters.
        shape: (rows, cols) of the grid.
        params: detection settings (``pixel_size_m`` set).

    Returns:
        A :class:`Calibration` with thresholds.

    Raises:
        NoClearPixelsError: no pixel valid in both captures.
        ChangeInputError: a constant image.

    Example:
        >>> # cal = calibrate_pair(files, grid.shape, params)
    """

    def read(rows: slice, cols: slice, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = None
        if step > 1:
            out = (max(1, shape[0] // step), max(1, shape[1] // step))
        return prepare(*read_pair(files, _win(rows, cols), out))

    return calibrate_windows(read, shape, params, source=f"{files.before} / {files.after}")


# -- one tile -------------------------------------------------------------------------------


def detect_tile(files: PairFiles, tile: Tile, index: int, params: ChangeParams) -> TileChange:
    """Detect change in one tile with the pair's calibration; keep only the core.

    Args:
        files: the pair's rasters.
        tile: the tile (its halo must be at least ``margin_px(params) + RING``).
        index: position of the tile in the index (keys its pieces).
        params: detection settings with ``params.calibration`` set.

    Returns:
        The core mask, the valid pixel count and the object pieces of the core.

    Example:
        >>> # tc = detect_tile(files, tiles[3], 3, replace(params, calibration=cal))
    """
    core = tile.window
    h, w = int(core.height), int(core.width)
    r0, c0 = int(core.row_off), int(core.col_off)
    halo = tile.halo_window
    hr, hc = int(halo.row_off), int(halo.col_off)
    cr, cc = slice(r0 - hr, r0 - hr + h), slice(c0 - hc, c0 - hc + w)
    before, after, valid = read_pair(files, halo)
    b, a, ok = prepare(before, after, valid)
    empty = np.zeros((before.shape[0], 3))
    n_valid = int(ok[cr, cc].sum())
    if n_valid == 0:
        return TileChange(index, tile.tile_id, core, np.full((h, w), 255, np.uint8), 0,
                          no_edges(h, w), (), empty)
    result = detect_change(b, a, params, ok)
    mask_h = result.mask
    # Clean exactly as clean_mask does, on the core plus a ring of context.
    er0, er1 = max(0, cr.start - RING), min(mask_h.shape[0], cr.stop + RING)
    ec0, ec1 = max(0, cc.start - RING), min(mask_h.shape[1], cc.stop + RING)
    sub = mask_h[er0:er1, ec0:ec1]
    change = sub == 1
    if change.any():
        change = ndimage.binary_closing(change, structure=_EIGHT) | change
        change &= sub != 255
    change = change[cr.start - er0: cr.start - er0 + h, cc.start - ec0: cc.start - ec0 + w]
    core_mask = mask_h[cr, cc].copy()
    stats_b = band_stats(before[:, cr, cc], core_mask != 255)
    pieces, edges = core_pieces(change, result.score[cr, cc], before[:, cr, cc],
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

    Returns:
        A :class:`TiledChange`: calibration, objects and per-tile valid pixel counts.

    Raises:
        ChangeInputError: no pixel clear in both captures, or a constant image.

    Example:
        >>> # with grid_raster_writer(path, grid, count=1, dtype="uint8", nodata=255,
        >>> #                         band_names=("change",)) as sink:
        >>> #     res = tiled_change(PairFiles(b, a, bm, am), grid, params, sink, tile_size=512)
    """
    cal = calibration or calibrate_pair(files, grid.shape, params)
    p = replace(params, calibration=cal)
    tiles = tile_index(grid, tile_size=tile_size, halo=margin_px(p) + RING)
    results: list[TileChange] = []
    changed = valid_px = 0
    for i, tile in enumerate(tiles):
        tc = detect_tile(files, tile, i, p)
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


def tile_records(facility: Facility, grid: FacilityGrid, tiles: Sequence[Tile]
                 ) -> list[StoredTile]:
    """Catalogue records of a tile index: id, core outline and the zones each tile touches.

    Example:
        >>> # cat.replace_tiles(tile_records(facility, grid, tile_index(grid)))
    """
    touching = zones_touching(tiles, facility, grid)
    return [
        StoredTile(tile_id=t.tile_id, facility_id=facility.id, row=t.row, col=t.col,
                   resolution_m=grid.resolution, geometry=shapely.box(*t.bounds),
                   zone_ids=touching[t.tile_id])
        for t in tiles
    ]


def tile_statuses(capture_id: str, mask_path: Path, tiles: Sequence[Tile]) -> list[TileStatus]:
    """Clear pixels (mask value 1) of one capture in every tile core, read tile by tile.

    Example:
        >>> # cat.replace_tile_status(c.capture_id, tile_statuses(c.capture_id, path, tiles))
    """
    out: list[TileStatus] = []
    with rasterio.open(mask_path) as src:
        for t in tiles:
            clear = int((src.read(1, window=t.window) == 1).sum())
            out.append(TileStatus(capture_id, t.tile_id, clear,
                                  int(t.window.width * t.window.height)))
    return out


__all__ = [
    "PairFiles",
    "Piece",
    "TileChange",
    "TiledChange",
    "calibrate_pair",
    "canonical",
    "detect_tile",
    "merge_pieces",
    "read_pair",
    "tile_records",
    "tile_statuses",
    "tiled_change",
    "untiled_change",
]
