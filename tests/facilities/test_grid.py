"""Facility grids: UTM zone, snapped origin, exact nesting across resolutions, bad resolutions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from facilities.errors import GridError
from facilities.grid import facility_grid, to_grid_crs, utm_crs_for
from facilities.load import load_facility_by_id
from facilities.model import Facility
from facilities.validate import facility_from_collection

RESOLUTIONS = (0.5, 1.0, 10.0, 60.0)


@pytest.fixture(scope="module")
def kangdong() -> Facility:
    return load_facility_by_id("kangdong-kyohwaso-4")


def test_kangdong_is_utm_52n(kangdong: Facility) -> None:
    g = facility_grid(kangdong, 10.0)
    assert g.crs == "EPSG:32652"
    assert g.resolution == 10.0


@pytest.mark.parametrize(
    ("lon", "lat", "crs"),
    [
        (126.153277, 39.008838, "EPSG:32652"),
        (-70.65, -33.45, "EPSG:32719"),
        (151.2, -33.87, "EPSG:32756"),
        (-180.0, 0.0, "EPSG:32601"),
        (179.99, -1.0, "EPSG:32760"),
        (0.0, -0.000001, "EPSG:32731"),
    ],
)
def test_utm_zone_and_hemisphere(lon: float, lat: float, crs: str) -> None:
    assert utm_crs_for(lon, lat) == crs


def test_southern_facility_grid_is_327xx(make_definition: Callable[..., dict[str, Any]]) -> None:
    f = facility_from_collection(make_definition(lon=-70.65, lat=-33.45), None)
    g = facility_grid(f, 10.0)
    assert g.crs == "EPSG:32719"
    assert 6_000_000 < g.north < 10_000_000  # southern false northing
    assert g.polygon().covers(to_grid_crs(f.aoi, g.crs))


@pytest.mark.parametrize("res", RESOLUTIONS)
def test_origin_snapped_to_60m_and_aoi_covered(kangdong: Facility, res: float) -> None:
    g = facility_grid(kangdong, res)
    assert g.west % 60.0 == 0.0
    assert g.north % 60.0 == 0.0
    west, south, east, north = g.bounds
    assert south % 60.0 == 0.0 and east % 60.0 == 0.0
    aoi = to_grid_crs(kangdong.aoi, g.crs)
    assert g.polygon().covers(aoi)
    # no extra row or column: the AOI reaches into the outermost 60 m of each side
    ax0, ay0, ax1, ay1 = aoi.bounds
    assert ax0 - west < 60 and east - ax1 < 60 and ay0 - south < 60 and north - ay1 < 60


def test_grids_share_bounds_and_sizes(kangdong: Facility) -> None:
    grids = [facility_grid(kangdong, r) for r in RESOLUTIONS]
    assert len({g.bounds for g in grids}) == 1
    assert len({g.crs for g in grids}) == 1
    for g in grids:
        assert g.width * g.resolution == grids[-1].width * 60.0
        assert g.height * g.resolution == grids[-1].height * 60.0
    g05, g10 = grids[0], grids[2]
    assert (g05.width, g05.height) == (20 * g10.width, 20 * g10.height)


def test_10m_pixel_covers_exactly_20x20_half_metre_pixels(kangdong: Facility) -> None:
    g05, g10 = facility_grid(kangdong, 0.5), facility_grid(kangdong, 10.0)
    t05, t10 = g05.transform, g10.transform
    inv05 = ~t05
    last_row, last_col = g10.height - 1, g10.width - 1
    for row, col in [(0, 0), (0, last_col), (last_row, 0), (last_row, last_col), (7, 13)]:
        # upper-left and lower-right corners of the 10 m pixel are 0.5 m pixel corners
        assert t10 @ (col, row) == t05 @ (20 * col, 20 * row)
        assert t10 @ (col + 1, row + 1) == t05 @ (20 * col + 20, 20 * row + 20)
        # its centre falls on the corner between 0.5 m pixels 20i+9 and 20i+10: no half-pixel shift
        cx, cy = inv05 @ (t10 @ (col + 0.5, row + 0.5))
        assert (cx, cy) == (20 * col + 10, 20 * row + 10)
    # the last 0.5 m pixel ends exactly where the last 10 m pixel ends
    assert t05 @ (g05.width, g05.height) == t10 @ (g10.width, g10.height)


def test_grid_is_deterministic(kangdong: Facility) -> None:
    assert facility_grid(kangdong, 0.5) == facility_grid(kangdong, 0.5)


@pytest.mark.parametrize("res", [7.0, 0.7, 25.0, 120.0])
def test_resolution_not_dividing_60_is_refused(kangdong: Facility, res: float) -> None:
    with pytest.raises(GridError) as err:
        facility_grid(kangdong, res)
    assert str(err.value) == (
        f"grid resolution {res!r} m does not divide the snap 60.0 m; "
        "grids of different resolutions would not nest"
    )


@pytest.mark.parametrize("res", [0.0, -10.0, math.nan, math.inf])
def test_non_positive_resolution_is_refused(kangdong: Facility, res: float) -> None:
    with pytest.raises(GridError) as err:
        facility_grid(kangdong, res)
    assert str(err.value) == f"grid resolution must be a positive number of metres, got {res!r}"


def test_utm_for_out_of_range_point() -> None:
    with pytest.raises(GridError, match=r"point lon=39\.0, lat=126\.15 is outside WGS 84 bounds"):
        utm_crs_for(39.0, 126.15)
