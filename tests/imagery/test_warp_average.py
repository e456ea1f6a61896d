"""The warp's exact area average (imagery.warp._average_block): the same pixels as GDAL's
average kernel, and GDAL itself wherever that cannot be promised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

import imagery.store
import imagery.warp
from facilities.grid import FacilityGrid
from imagery.store import write_grid_raster
from imagery.warp import _exact_average, warp_blocks

GRID = FacilityGrid("EPSG:32652", 1.0, 252480.0, 4322640.0, 60, 50)


def _source(path: Path, data: np.ndarray, west: float, north: float, *,
            crs: str = "EPSG:32652", res: float = 0.5) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype.name, crs=crs, nodata=0,
                       transform=Affine(res, 0, west, 0, -res, north)) as dst:
        dst.write(data)
    return path


def _warp(path: Path, monkeypatch: pytest.MonkeyPatch, *, gdal: bool,
          block: int = 32) -> np.ndarray:
    with monkeypatch.context() as m:
        if gdal:
            m.setattr(imagery.warp, "_exact_average", lambda *a, **k: None)
        out = np.full((4, *GRID.shape), -1.0, np.float32)
        with rasterio.open(path) as src:
            for w, arr in warp_blocks(src, GRID, scale=1e-4, block=block):
                r, c = int(w.row_off), int(w.col_off)
                out[:, r : r + arr.shape[1], c : c + arr.shape[2]] = arr
    return out


def _dn(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 9000, (4, *shape)).astype(np.uint16)


def _warped_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dx: float,
                 dy: float) -> tuple[np.ndarray, np.ndarray]:
    # a 0.5 m source shifted by a fraction of a pixel, with a strip of no data across it
    data = _dn((110, 130), 1)
    data[:, 70:, :40] = 0
    path = _source(tmp_path / "s.tif", data, GRID.west - 2.0 - dx, GRID.north + 2.0 + dy)
    with rasterio.open(path) as src:
        assert _exact_average(src, GRID, [1, 2, 3, 4], 0) is not None
    fast, gdal = _warp(path, monkeypatch, gdal=False), _warp(path, monkeypatch, gdal=True)
    assert np.isnan(gdal).any() and np.isfinite(gdal).any()
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(gdal))
    return fast, gdal


@pytest.mark.parametrize(("dx", "dy"), [(0.37, 0.11), (0.5, 0.23), (0.13, 0.0)])
def test_average_is_gdals_average(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  dx: float, dy: float) -> None:
    fast, gdal = _warped_both(tmp_path, monkeypatch, dx, dy)
    np.testing.assert_array_equal(fast, gdal)


def test_aligned_average_differs_from_gdal_only_at_half_way_ties(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aligned: four whole source pixels to a grid pixel, so a quarter of the averages are
    # exactly half-way between two DN; GDAL rounds most of them up, a few down
    fast, gdal = _warped_both(tmp_path, monkeypatch, 0.0, 0.0)
    apart = np.abs(fast - gdal)[np.isfinite(gdal)] * 1e4
    assert apart.max() < 1.001  # one DN
    assert np.count_nonzero(apart > 0.5) < 0.01 * apart.size


def test_bands_that_disagree_on_nodata_go_through_gdal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _dn((110, 130), 2)
    data[0, 10:20, 10:20] = 0  # only the blue band says no data here
    path = _source(tmp_path / "s.tif", data, GRID.west - 2.13, GRID.north + 2.41)
    np.testing.assert_array_equal(_warp(path, monkeypatch, gdal=False),
                                  _warp(path, monkeypatch, gdal=True))


def test_not_exact_where_gdal_must_warp(tmp_path: Path) -> None:
    inside = _dn((110, 130), 3)
    cases = {
        # coarser than the grid: bilinear, not an average
        "coarse": _source(tmp_path / "c.tif", _dn((30, 40), 3), GRID.west, GRID.north, res=2.0),
        # another CRS
        "crs": _source(tmp_path / "g.tif", inside, 129.0, 39.0, crs="EPSG:4326", res=5e-6),
        # not all of the grid inside the source
        "partial": _source(tmp_path / "p.tif", inside, GRID.west + 3.0, GRID.north),
        # 0.4 m: 2.5 source pixels to a grid pixel, not a whole number
        "ratio": _source(tmp_path / "r.tif", _dn((140, 170), 3), GRID.west - 2, GRID.north + 2,
                         res=0.4),
    }
    for name, path in cases.items():
        with rasterio.open(path) as src:
            assert _exact_average(src, GRID, [1, 2, 3, 4], 0) is None, name


def test_grid_raster_staged_on_disk_or_in_memory_is_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arr = np.random.default_rng(4).random((4, *GRID.shape)).astype(np.float32)
    names = ("b", "g", "r", "n")
    in_memory = write_grid_raster(tmp_path / "m.tif", arr, GRID, nodata=np.nan,
                                  band_names=names)
    monkeypatch.setattr(imagery.store, "STAGE_IN_MEMORY", 0)
    on_disk = write_grid_raster(tmp_path / "d.tif", arr, GRID, nodata=np.nan, band_names=names)
    assert in_memory == on_disk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.tif", "m.tif"]


def test_a_block_too_large_to_read_whole_goes_through_gdal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _dn((110, 130), 6)
    path = _source(tmp_path / "s.tif", data, GRID.west - 2.37, GRID.north + 2.11)
    monkeypatch.setattr(imagery.warp, "AVERAGE_MAX_READ", 1000)
    calls: list[object] = []
    real = imagery.warp._average_block

    def spy(*args: object) -> object:
        got = real(*args)  # type: ignore[arg-type]
        calls.append(got)
        return got

    monkeypatch.setattr(imagery.warp, "_average_block", spy)
    fast = _warp(path, monkeypatch, gdal=False)
    assert calls and all(c is None for c in calls)
    np.testing.assert_array_equal(fast, _warp(path, monkeypatch, gdal=True))
