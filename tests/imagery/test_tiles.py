"""Tile index: stable ids, exact partition, clipped halos, nesting, zones touched."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, box

from facilities.grid import FacilityGrid
from facilities.load import load_facility_by_id
from facilities.model import Zone
from imagery.errors import TileError
from imagery.tiles import Tile, core_size, halo_for, tile_index, zones_touching

WEST, NORTH = 363_000.0, 4_320_000.0  # multiples of the 60 m snap


def grid_at(resolution: float, width_m: float, height_m: float) -> FacilityGrid:
    return FacilityGrid(
        "EPSG:32652",
        resolution,
        WEST,
        NORTH,
        round(width_m / resolution),
        round(height_m / resolution),
    )


def coverage(grid: FacilityGrid, tiles: list[Tile], attr: str = "window") -> np.ndarray:
    count = np.zeros(grid.shape, dtype=np.int32)
    for t in tiles:
        w = getattr(t, attr)
        count[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    return count


def test_ids_are_stable_and_follow_rows_then_columns() -> None:
    grid = grid_at(10.0, 2000.0, 1000.0)  # 200 x 100 px
    tiles = tile_index(grid, tile_size=100, halo=4)
    again = tile_index(dataclasses.replace(grid), tile_size=100, halo=4)
    assert [t.tile_id for t in tiles] == [t.tile_id for t in again]
    assert [t.tile_id for t in tiles] == [
        "r000c000@1000cm-960m",
        "r000c001@1000cm-960m",
        "r000c002@1000cm-960m",
        "r001c000@1000cm-960m",
        "r001c001@1000cm-960m",
        "r001c002@1000cm-960m",
    ]
    assert len({t.tile_id for t in tile_index(grid_at(0.5, 2000.0, 1000.0))}) == 15


def test_cores_partition_the_grid_with_partial_last_row_and_column() -> None:
    grid = grid_at(10.0, 2000.0, 1000.0)
    tiles = tile_index(grid, tile_size=100, halo=4)
    assert np.array_equal(coverage(grid, tiles), np.ones(grid.shape, dtype=np.int32))
    last = tiles[-1]
    assert (last.window.width, last.window.height) == (200 - 2 * 96, 100 - 96)
    assert tiles[0].window.width == tiles[0].window.height == 96


def test_bounds_are_the_core_window_on_the_grid() -> None:
    grid = grid_at(10.0, 2000.0, 1000.0)
    t = tile_index(grid, tile_size=100)[4]  # r001c001
    assert t.bounds == (WEST + 960.0, NORTH - 1000.0, WEST + 1920.0, NORTH - 960.0)
    union = shapely.union_all([box(*x.bounds) for x in tile_index(grid, tile_size=100)])
    assert union.equals(box(*grid.bounds))


def test_halos_grow_the_core_and_are_clipped_at_the_grid_edges() -> None:
    grid = grid_at(10.0, 2000.0, 1500.0)  # 200 x 150 px
    tiles = {t.tile_id: t for t in tile_index(grid, tile_size=50, halo=5)}  # 48 px cores
    first = tiles["r000c000@1000cm-480m"]
    assert (first.halo_window.col_off, first.halo_window.row_off) == (0, 0)
    assert (first.halo_window.width, first.halo_window.height) == (53, 53)
    inner = tiles["r001c001@1000cm-480m"]
    hw = inner.halo_window
    assert (hw.col_off, hw.row_off, hw.width, hw.height) == (43, 43, 58, 58)
    last = tiles["r003c004@1000cm-480m"]  # core cols 192..200, rows 144..150
    hw = last.halo_window
    assert (hw.col_off, hw.row_off) == (187, 139)
    assert (hw.col_off + hw.width, hw.row_off + hw.height) == (200, 150)
    assert coverage(grid, list(tiles.values()), "halo_window").max() == 4


@pytest.mark.parametrize(
    ("resolution", "expected_px"), [(0.5, 960), (0.3, 800), (3.0, 640), (10.0, 768), (60.0, 1024)]
)
def test_core_size_is_the_snap_times_a_power_of_two(resolution: float, expected_px: int) -> None:
    px = core_size(resolution, 1024)
    assert px == expected_px
    ratio = px * resolution / 60.0
    assert ratio == 2 ** round(math.log2(ratio))


@pytest.mark.parametrize("fine", [0.5, 0.3, 3.0])
def test_tiles_nest_across_resolutions(fine: float) -> None:
    # 15 km x 9 km: not a whole number of coarse tiles, so edges are partial at both grids
    coarse_tiles = tile_index(grid_at(10.0, 15_000.0, 9_000.0))
    fine_tiles = tile_index(grid_at(fine, 15_000.0, 9_000.0))
    coarse_boxes = [box(*t.bounds) for t in coarse_tiles]
    inside: dict[str, list[Tile]] = {t.tile_id: [] for t in coarse_tiles}
    for ft in fine_tiles:
        fb = box(*ft.bounds)
        owners = [
            c
            for c, cb in zip(coarse_tiles, coarse_boxes, strict=True)
            if shapely.contains(cb.buffer(1e-6), fb)
        ]
        assert len(owners) == 1, ft.tile_id
        inside[owners[0].tile_id].append(ft)
    for ct, cb in zip(coarse_tiles, coarse_boxes, strict=True):
        area = sum(box(*ft.bounds).area for ft in inside[ct.tile_id])
        assert area == pytest.approx(cb.area), ct.tile_id


def test_tiles_nest_across_tile_sizes_on_one_grid() -> None:
    grid = grid_at(0.5, 3000.0, 2000.0)
    big = tile_index(grid, tile_size=1024)  # 480 m
    small = tile_index(grid, tile_size=256)  # 120 m = 240 px
    assert big[0].window.width == 4 * small[0].window.width
    big_edges = {b for t in big for b in (t.bounds[0], t.bounds[2])}
    small_edges = {b for t in small for b in (t.bounds[0], t.bounds[2])}
    assert big_edges <= small_edges


def test_small_tile_sizes_use_fractions_of_the_snap() -> None:
    assert core_size(0.5, 100) == 60  # 30 m
    assert core_size(10.0, 5) == 3  # 30 m


def test_bad_tile_parameters_name_the_value() -> None:
    grid = grid_at(10.0, 2000.0, 1000.0)
    with pytest.raises(
        TileError, match=r"^tile_size must be a positive whole number of pixels, got 0$"
    ):
        tile_index(grid, tile_size=0)
    with pytest.raises(TileError, match=r"^halo must be a whole number of pixels >= 0, got -1$"):
        tile_index(grid, halo=-1)
    with pytest.raises(
        TileError,
        match=r"^grid resolution 0\.7 m does not divide the snap 60\.0 m; "
        r"its tiles would not nest with other resolutions$",
    ):
        core_size(0.7, 1024)
    with pytest.raises(TileError, match=r"^tile_size 2 px is too small at 10\.0 m"):
        core_size(10.0, 2)


def test_halo_for_covers_filter_and_shift_plus_one_pixel() -> None:
    assert halo_for(5.0, 20.0, 0.5) == 51
    assert halo_for(0.0, 0.0, 10.0) == 1
    assert halo_for(15.0, 0.0, 10.0) == 3
    with pytest.raises(
        TileError, match=r"^max_shift_m must be a finite number of metres >= 0, got -1\.0$"
    ):
        halo_for(1.0, -1.0, 0.5)
    with pytest.raises(
        TileError, match=r"^resolution must be a positive number of metres, got 0\.0$"
    ):
        halo_for(1.0, 1.0, 0.0)


def _wgs84(poly: Polygon) -> Polygon:
    tr = Transformer.from_crs("EPSG:32652", "EPSG:4326", always_xy=True)
    return Polygon([tr.transform(x, y) for x, y in poly.exterior.coords])


def _utm_box(dx0: float, dy0: float, dx1: float, dy1: float) -> Polygon:
    """A box given as offsets east of WEST and south of NORTH, in WGS 84."""
    return _wgs84(box(WEST + dx0, NORTH - dy0, WEST + dx1, NORTH - dy1))


def test_zones_touching_lists_the_zones_sharing_area_with_each_core() -> None:
    fac = load_facility_by_id("kangdong-kyohwaso-4")
    grid = grid_at(10.0, 2000.0, 1000.0)
    # 960 m tiles; zone "a" well inside r000c000, zone "b" straddles the r000c000|r000c001 border
    a = Zone("a", "housing", "A", _utm_box(100, 500, 400, 100), "test")
    b = Zone("b", "quarry", "B", _utm_box(900, 300, 1100, 100), "test")
    fac = dataclasses.replace(fac, zones=(a, b))
    tiles = tile_index(grid, tile_size=100)
    touching = zones_touching(tiles, fac, grid)
    assert set(touching) == {t.tile_id for t in tiles}
    assert touching["r000c000@1000cm-960m"] == ("a", "b")
    assert touching["r000c001@1000cm-960m"] == ("b",)
    assert touching["r001c000@1000cm-960m"] == ()
    assert touching["r000c002@1000cm-960m"] == ()


def test_zones_touching_on_the_kangdong_grid_reaches_every_zone() -> None:
    from facilities.grid import facility_grid

    fac = load_facility_by_id("kangdong-kyohwaso-4")
    grid = facility_grid(fac, 10.0)
    touching = zones_touching(tile_index(grid, tile_size=24), fac, grid)
    seen = {z for ids in touching.values() for z in ids}
    assert seen == {z.id for z in fac.zones}
    assert any(ids == () for ids in touching.values())
