"""One calibration function: arrays, files and stored tiles give the same estimates (#10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from pipeline.change.detect import ChangeParams
from pipeline.change.estimate import NoClearPixelsError, calibrate, calibrate_windows
from pipeline.change.rasters import calibrate_files
from pipeline.change.tiled import PairFiles, calibrate_pair
from tests.pipeline.change.conftest import texture


def _write(path: Path, data: np.ndarray) -> Path:
    profile = {
        "driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
        "count": data.shape[0], "dtype": "float32", "crs": "EPSG:32652",
        "transform": Affine(10, 0, 300000, 0, -10, 4400000),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def test_arrays_files_and_tiles_share_one_calibration(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    before = texture((4, 300, 300), seed=21)
    after = 0.9 * before + 40 + rng.normal(0, 4, before.shape).astype(np.float32)
    after[:, 100:140, 100:140] += 500
    params = ChangeParams(pixel_size_m=10.0, calibration_tile_size=96)
    pb, pa = _write(tmp_path / "b.tif", before), _write(tmp_path / "a.tif", after)
    mem = calibrate(before, after, None, params)
    tiles = calibrate_pair(PairFiles(pb, pa), (300, 300), params)
    with rasterio.open(pb) as b, rasterio.open(pa) as a:
        files = calibrate_files(b, a, params)
    for other in (tiles, files):
        assert other.shift_px == mem.shift_px
        assert other.normalisation == mem.normalisation
        assert other.mean == mem.mean and other.std == mem.std
        assert other.thresholds == pytest.approx(mem.thresholds)
    assert set(mem.thresholds) == {"cva", "envelope", "structural"}


def test_no_clear_pixel_names_the_source() -> None:
    def read(rows: slice, cols: slice, step: int) -> tuple[np.ndarray, ...]:
        h = len(range(rows.start, rows.stop, step))
        w = len(range(cols.start, cols.stop, step))
        z = np.zeros((1, h, w), np.float32)
        return z, z, np.zeros((h, w), bool)

    with pytest.raises(NoClearPixelsError, match=r"BEFORE and AFTER: x\.tif / y\.tif"):
        calibrate_windows(read, (40, 40), ChangeParams(), source="x.tif / y.tif")
