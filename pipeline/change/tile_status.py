"""Catalogue records of a facility's detection tiles: outlines, zones, clear pixels (I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import rasterio
import shapely

from facilities.grid import FacilityGrid
from facilities.model import Facility
from imagery.records import StoredTile, TileStatus
from imagery.tiles import Tile, zones_touching


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
