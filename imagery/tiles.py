"""Tile index over a facility grid: fixed-size cores with a halo, ids stable across runs.

How tiles nest across resolutions
---------------------------------
Every facility grid starts at the same origin, a multiple of the snap (60 m, see
:mod:`facilities.grid`), whatever its resolution, and every resolution divides the snap.
A tile's core is a square of ``snap_m * 2**k`` metres (k a whole number, possibly
negative), the largest such square whose side in pixels is a whole number not above the
requested ``tile_size``. Because every tile side is the snap times a power of two and
all tilings start at the grid origin, a tile of a coarse grid covers exactly a block of
whole tiles of any finer grid (or of the same grid with a smaller ``tile_size``):

==========  ==============  ===========  ==============
resolution  tile_size (px)  core (px)    core (m)
==========  ==============  ===========  ==============
0.5 m       1024            960          480 = 60 * 8
0.3 m       1024            800          240 = 60 * 4
3 m         1024            640          1920 = 60 * 32
10 m        1024            768          7680 = 60 * 128
==========  ==============  ===========  ==============

so one 10 m tile holds 16 x 16 tiles at 0.5 m, 32 x 32 at 0.3 m and 4 x 4 at 3 m.

Tile ids are ``r{row:03d}c{col:03d}@{resolution}cm-{core}m``, e.g. ``r002c005@50cm-480m``:
derived from the grid geometry only, so the same grid and tile size give the same ids in
every run, and ids of different resolutions or tile sizes never collide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from rasterio.windows import Window

from facilities.grid import DEFAULT_SNAP_M, FacilityGrid, to_grid_crs
from facilities.model import Facility
from imagery.errors import TileError


@dataclass(frozen=True)
class Tile:
    """One tile of a facility grid: a core that partitions the grid, and a halo around it."""

    tile_id: str
    """Stable id, e.g. "r002c005@50cm-480m" (row, column, resolution, core side)."""
    row: int
    """Tile row, 0 at the top (north) of the grid."""
    col: int
    """Tile column, 0 at the left (west) of the grid."""
    window: Window
    """Core window on the grid, without halo; the cores partition the grid exactly."""
    halo_window: Window
    """Core window grown by the halo on every side, clipped to the grid."""
    bounds: tuple[float, float, float, float]
    """Core (west, south, east, north) in the grid CRS, metres."""


def _format_metres(value: float) -> str:
    """Metres without a trailing ".0": 480.0 -> "480", 7.5 -> "7.5"."""
    return f"{value:.6g}"


def core_size(resolution: float, tile_size: int, *, snap_m: float = DEFAULT_SNAP_M) -> int:
    """The side in pixels of a tile core: the largest ``snap_m * 2**k`` m square <= tile_size px.

    Raises:
        TileError: when ``tile_size`` is not a positive integer, the resolution does not
            divide ``snap_m`` or no power-of-two fraction of the snap is a whole number
            of pixels not above ``tile_size``.

    Example:
        >>> core_size(0.5, 1024), core_size(10.0, 1024), core_size(10.0, 50)
        (960, 768, 48)
    """
    if isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 1:
        raise TileError(f"tile_size must be a positive whole number of pixels, got {tile_size!r}")
    if not (math.isfinite(resolution) and resolution > 0):
        raise TileError(f"grid resolution must be a positive number of metres, got {resolution!r}")
    per_snap = snap_m / resolution
    if abs(per_snap - round(per_snap)) > 1e-9:
        raise TileError(
            f"grid resolution {resolution!r} m does not divide the snap {snap_m!r} m; "
            "its tiles would not nest with other resolutions"
        )
    n = round(per_snap)
    if n <= tile_size:
        size = n
        while size * 2 <= tile_size:
            size *= 2
        return size
    size = n
    while size > tile_size:
        if size % 2:
            raise TileError(
                f"tile_size {tile_size} px is too small at {resolution!r} m: no tile of "
                f"{_format_metres(snap_m)} m / 2**k is a whole number of pixels <= {tile_size}"
            )
        size //= 2
    return size


def tile_index(
    grid: FacilityGrid,
    *,
    tile_size: int = 1024,
    halo: int = 32,
    snap_m: float = DEFAULT_SNAP_M,
) -> list[Tile]:
    """Divide ``grid`` into square tiles, row-major from the north-west corner.

    The core side is :func:`core_size` (at most ``tile_size`` px, a power-of-two
    multiple or fraction of ``snap_m`` metres, so tiles nest across resolutions). The last
    row and column are partial when the grid is not a whole number of tiles.

    Args:
        grid: The facility grid to divide.
        tile_size: Largest core side in pixels.
        halo: Overlap in pixels added on every side of the core (see :func:`halo_for`).
        snap_m: The snap the grid origin is a multiple of.

    Raises:
        TileError: for a bad ``tile_size`` or ``halo`` (naming the value).

    Example:
        >>> g = FacilityGrid("EPSG:32652", 10.0, 363000.0, 4320000.0, 200, 100)
        >>> tiles = tile_index(g, tile_size=100, halo=4)
        >>> len(tiles), tiles[0].tile_id, tiles[-1].window.width
        (6, 'r000c000@1000cm-960m', 8)
    """
    if isinstance(halo, bool) or not isinstance(halo, int) or halo < 0:
        raise TileError(f"halo must be a whole number of pixels >= 0, got {halo!r}")
    if grid.width < 1 or grid.height < 1:
        raise TileError(f"grid has no pixels: width={grid.width}, height={grid.height}")
    size = core_size(grid.resolution, tile_size, snap_m=snap_m)
    res_cm = _format_metres(grid.resolution * 100.0)
    core_m = _format_metres(size * grid.resolution)
    res = grid.resolution
    tiles: list[Tile] = []
    for row in range(math.ceil(grid.height / size)):
        row_off = row * size
        h = min(size, grid.height - row_off)
        r0 = max(0, row_off - halo)
        r1 = min(grid.height, row_off + h + halo)
        for col in range(math.ceil(grid.width / size)):
            col_off = col * size
            w = min(size, grid.width - col_off)
            c0 = max(0, col_off - halo)
            c1 = min(grid.width, col_off + w + halo)
            core = Window(col_off, row_off, w, h)
            tiles.append(
                Tile(
                    tile_id=f"r{row:03d}c{col:03d}@{res_cm}cm-{core_m}m",
                    row=row,
                    col=col,
                    window=core,
                    halo_window=Window(c0, r0, c1 - c0, r1 - r0),
                    bounds=(
                        grid.west + col_off * res,
                        grid.north - (row_off + h) * res,
                        grid.west + (col_off + w) * res,
                        grid.north - row_off * res,
                    ),
                )
            )
    return tiles


def halo_for(filter_radius_m: float, max_shift_m: float, resolution: float) -> int:
    """The halo in pixels a tile needs so that its core's answer equals the untiled answer.

    A pixel in the core may look up to ``filter_radius_m`` away (morphology, smoothing)
    after being shifted by up to ``max_shift_m`` (co-registration search); one more pixel
    covers resampling and the 8-connectivity of objects across the border.

    Raises:
        TileError: for a negative or non-finite distance or a non-positive resolution.

    Example:
        >>> halo_for(5.0, 20.0, 0.5)
        51
    """
    for name, value in (("filter_radius_m", filter_radius_m), ("max_shift_m", max_shift_m)):
        if not (math.isfinite(value) and value >= 0):
            raise TileError(f"{name} must be a finite number of metres >= 0, got {value!r}")
    if not (math.isfinite(resolution) and resolution > 0):
        raise TileError(f"resolution must be a positive number of metres, got {resolution!r}")
    return math.ceil((filter_radius_m + max_shift_m) / resolution - 1e-9) + 1


def zones_touching(
    tiles: Sequence[Tile], facility: Facility, grid: FacilityGrid
) -> dict[str, tuple[str, ...]]:
    """Zone ids whose outline shares area with each tile's core (touching edges do not count).

    Every tile id is a key, with an empty tuple when no zone touches it; zone ids keep the
    facility's order.

    Example:
        >>> from facilities.grid import facility_grid
        >>> from facilities.load import load_facility_by_id
        >>> fac = load_facility_by_id("kangdong-kyohwaso-4")
        >>> grid = facility_grid(fac, 10.0)
        >>> touching = zones_touching(tile_index(grid, tile_size=64), fac, grid)
        >>> sorted({z for ids in touching.values() for z in ids}) == sorted(
        ...     z.id for z in fac.zones)
        True
    """
    result: dict[str, tuple[str, ...]] = {t.tile_id: () for t in tiles}
    if not tiles or not facility.zones:
        return result
    b = np.asarray([t.bounds for t in tiles], dtype=np.float64)
    cores = shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])
    for zone in facility.zones:
        geom = to_grid_crs(zone.geometry, grid.crs)
        shapely.prepare(geom)
        hit = shapely.intersects(geom, cores) & ~shapely.touches(geom, cores)
        for tile, touched in zip(tiles, hit, strict=True):
            if touched:
                result[tile.tile_id] += (zone.id,)
    return result


__all__ = ["Tile", "TileError", "core_size", "halo_for", "tile_index", "zones_touching"]
