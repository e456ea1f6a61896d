"""One resampling rule: a raster lands on a grid the same way whether ingested or fetched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from facilities.grid import FacilityGrid
from imagery.errors import WarpError
from imagery.stac.read import read_band
from imagery.warp import resampling_for, warp_to_grid, warped

GRID = FacilityGrid("EPSG:32652", 10.0, 252_000.0, 4_322_400.0, 40, 30)
"""A 10 m facility grid (400 m x 300 m) in UTM 52N."""


def write_source(path: Path, crs: str, transform: Affine, shape: tuple[int, int]) -> Path:
    """A single-band uint16 raster with texture, a nodata border and nodata value 0."""
    rng = np.random.default_rng(5)
    data = rng.integers(200, 3000, size=shape, dtype=np.uint16)
    data[:3, :] = 0  # a strip without data
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1,
                       dtype="uint16", crs=crs, transform=transform, nodata=0,
                       tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(data, 1)
    return path


@pytest.mark.parametrize(
    ("name", "crs", "transform", "shape", "expected"),
    [
        # a 10 m capture on the same UTM zone, offset by a third of a pixel: bilinear
        ("same-10m", "EPSG:32652", Affine(10, 0, 251_953.3, 0, -10, 4_322_446.7), (40, 50),
         Resampling.bilinear),
        # a 10 m capture delivered in the neighbouring UTM zone (reprojected): bilinear
        ("zone51-10m", "EPSG:32651", Affine(10, 0, 771_403.0, 0, -10, 4_323_260.0), (50, 60),
         Resampling.bilinear),
        # a 2.5 m capture: area average
        ("fine-2.5m", "EPSG:32652", Affine(2.5, 0, 251_980.0, 0, -2.5, 4_322_420.0), (140, 180),
         Resampling.average),
    ],
)
def test_ingest_and_fetch_land_identically(
    tmp_path: Path, name: str, crs: str, transform: Affine, shape: tuple[int, int],
    expected: Resampling,
) -> None:
    path = write_source(tmp_path / f"{name}.tif", crs, transform, shape)
    with rasterio.open(path) as src:
        assert resampling_for(src, GRID.crs, GRID.transform) is expected
        ingested = warp_to_grid(src, GRID, bands=[1])[0]  # the path of campwatch ingest
    fetched = read_band(str(path), GRID, categorical=False, src_nodata=0)  # campwatch fetch
    assert ingested.dtype == fetched.dtype == np.float32
    assert np.isfinite(ingested).sum() > 100
    np.testing.assert_array_equal(ingested, fetched)  # NaN where either has no data


def test_geographic_source_is_measured_in_metres(tmp_path: Path) -> None:
    # 0.00015 deg is about 13 m (east) and 17 m (north) at 39 N: coarser than the grid
    path = write_source(tmp_path / "wgs84.tif", "EPSG:4326",
                        Affine(0.00015, 0, 126.14, 0, -0.00015, 39.02), (60, 60))
    with rasterio.open(path) as src:
        assert resampling_for(src, GRID.crs, GRID.transform) is Resampling.bilinear
        coarse = FacilityGrid("EPSG:32652", 30.0, 252_000.0, 4_322_400.0, 10, 10)  # finer: average
        assert resampling_for(src, coarse.crs, coarse.transform) is Resampling.average
        assert resampling_for(src, GRID.crs, GRID.transform, categorical=True) is (
            Resampling.nearest
        )


def test_callers_cannot_choose_another_resampling(tmp_path: Path) -> None:
    path = write_source(tmp_path / "s.tif", "EPSG:32652",
                        Affine(10, 0, 252_000.0, 0, -10, 4_322_400.0), (30, 40))
    with rasterio.open(path) as src, pytest.raises(
        WarpError, match=r"s\.tif: resampling is decided by resampling_for, not the caller"
    ), warped(src, GRID.crs, GRID.transform, GRID.width, GRID.height,
              resampling=Resampling.cubic):
        pass
