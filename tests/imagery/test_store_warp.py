"""Atomic raster writes and warping onto the facility grid (pixel alignment)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from facilities.grid import FacilityGrid
from imagery.errors import ImageryError, WarpError
from imagery.store import grid_raster_writer, sha256_file, write_grid_raster
from imagery.warp import grid_blocks, warp_to_grid

GRID = FacilityGrid("EPSG:32652", 1.0, 252480.0, 4322640.0, 40, 30)


def write_source(path: Path, data: np.ndarray, transform: Affine, crs: str = "EPSG:32652",
                 nodata: float | None = 0) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype.name, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(data)
    return path


def test_write_grid_raster_is_a_cog_on_the_grid(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).random((4, 30, 40)).astype(np.float32)
    path = tmp_path / "x.tif"
    digest = write_grid_raster(path, arr, GRID, nodata=float("nan"), band_names=("b", "g", "r", "n"))
    assert digest == sha256_file(path)
    with rasterio.open(path) as src:
        assert src.transform == GRID.transform and src.crs.to_string() == "EPSG:32652"
        assert src.descriptions == ("b", "g", "r", "n")
        np.testing.assert_array_equal(src.read(), arr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "x.tif"
    with (
        pytest.raises(RuntimeError, match="boom"),
        grid_raster_writer(path, GRID, count=1, dtype="uint8", nodata=None, band_names=("m",)),
    ):
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_shape_mismatch_names_both_shapes(tmp_path: Path) -> None:
    with pytest.raises(ImageryError, match=r"array shape \(1, 3, 3\) does not match grid shape \(bands, 30, 40\)"):
        write_grid_raster(tmp_path / "x.tif", np.zeros((1, 3, 3), np.uint8), GRID, nodata=None,
                          band_names=("m",))


def test_blocks_partition_the_grid() -> None:
    seen = np.zeros(GRID.shape, int)
    for w in grid_blocks(GRID, 16):
        seen[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (seen == 1).all()


def test_aligned_source_lands_pixel_for_pixel(tmp_path: Path) -> None:
    data = np.arange(1, 1 + 30 * 40, dtype=np.uint16).reshape(1, 30, 40)
    src_path = write_source(tmp_path / "s.tif", data, GRID.transform)
    with rasterio.open(src_path) as src:
        out = warp_to_grid(src, GRID)
    np.testing.assert_array_equal(out[0], data[0].astype(np.float32))


def test_source_offset_by_whole_pixels_has_no_half_pixel_shift(tmp_path: Path) -> None:
    # Source origin 3 px east and 2 px south of the grid's: value v at source (r, c)
    # must land at grid (r + 2, c + 3), nowhere else.
    data = np.zeros((1, 30, 40), np.uint16)
    data[0, 5, 7] = 500
    transform = Affine(1.0, 0, GRID.west + 3, 0, -1.0, GRID.north - 2)
    src_path = write_source(tmp_path / "s.tif", data, transform, nodata=None)
    with rasterio.open(src_path) as src:
        out = warp_to_grid(src, GRID)
    rows, cols = np.nonzero(out[0] == 500)
    assert (rows.tolist(), cols.tolist()) == ([7], [10])
    assert np.isnan(out[0, 0, 0])  # outside the source footprint: no data, not zero


def test_downsampling_averages_exactly_nested_pixels(tmp_path: Path) -> None:
    fine = np.zeros((1, 60, 80), np.float32)
    fine[0, 0:2, 0:2] = [[1, 2], [3, 6]]
    src_path = write_source(tmp_path / "s.tif", fine, Affine(0.5, 0, GRID.west, 0, -0.5, GRID.north),
                            nodata=None)
    with rasterio.open(src_path) as src:
        out = warp_to_grid(src, GRID)
    assert out[0, 0, 0] == pytest.approx(3.0)
    assert out[0, 0, 1] == 0.0


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_source_without_crs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1,
                       dtype="uint8") as dst:
        dst.write(np.zeros((1, 4, 4), np.uint8))
    with rasterio.open(path) as src, pytest.raises(WarpError, match="has no CRS; refusing to guess"):
        warp_to_grid(src, GRID)


@pytest.mark.parametrize(("width", "height", "dtype"), [
    (2040, 1024, "float32"), (1024, 520, "uint8"), (257, 1030, "uint8"), (700, 300, "float32"),
    (200, 100, "float32"),
])
def test_cog_overviews_are_those_the_cog_driver_would_make(
    tmp_path: Path, width: int, height: int, dtype: str
) -> None:
    # grid_raster_writer builds the overviews itself (cheaper): the same levels and the
    # same pixels as the COG driver's own overview pass (average for float, nearest else)
    import rasterio.shutil

    from imagery.store import cog_overview_factors

    grid = FacilityGrid("EPSG:32652", 1.0, 500000.0, 4300000.0, width, height)
    rng = np.random.default_rng(3)
    if dtype == "float32":
        arr = rng.random((2, height, width), dtype=np.float32)
        arr[:, 10:40, 5:77] = np.nan  # nodata the averages must skip
        nodata: float | None = float("nan")
    else:
        arr = rng.integers(0, 3, (2, height, width), dtype=np.uint8)
        nodata = 255
    ours = tmp_path / "ours.tif"
    write_grid_raster(ours, arr, grid, nodata=nodata, band_names=("a", "b"))
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=width, height=height, count=2,
                       dtype=dtype, crs=grid.crs, transform=grid.transform, nodata=nodata,
                       tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(arr)
    ref = tmp_path / "ref.tif"
    rasterio.shutil.copy(plain, ref, driver="COG", compress="zstd", level=1, predictor="YES",
                         blocksize=256, overview_resampling="average" if dtype == "float32"
                         else "nearest")
    with rasterio.open(ours) as a, rasterio.open(ref) as b:
        assert a.overviews(1) == b.overviews(1) == cog_overview_factors(width, height)
        assert a.tags(ns="IMAGE_STRUCTURE") == b.tags(ns="IMAGE_STRUCTURE")
        assert np.array_equal(a.read(), b.read(), equal_nan=True)
        levels = len(a.overviews(1))
    for level in range(levels):
        with rasterio.open(ours, overview_level=level) as a, \
                rasterio.open(ref, overview_level=level) as b:
            assert np.array_equal(a.read(), b.read(), equal_nan=True), level
