"""A small pair read whole once: views equal windowed reads; thresholds pooled from the
detection tiles' statistics equal the sample tiles' own when their windows bin alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.windows import Window

import pipeline.change.pair_pixels as pair_pixels
from imagery.capture import BANDS
from pipeline.change.detect import ChangeParams
from pipeline.change.pooled import pooled_thresholds
from pipeline.change.tiled import (
    calibrate_pair,
    is_whole,
    pair_reader,
    read_pair,
    tiled_change,
)
from pipeline.errors import ChangeInputError

from .conftest import GRID, simulated_pair

# 4 sample tiles of 128 px on the 300 x 260 px grid start at rows 0 and 132, columns 0 and
# 172; with the 32 px margin at 10 m their windows start on even pixels (0, 100, 140), as
# every detection tile's halo does: the same 2x2 binning phase, so the same statistics.
PARAMS = ChangeParams(pixel_size_m=10.0, bands=BANDS, min_area_m2=300.0,
                      calibration_tiles=4, calibration_tile_size=128)


def test_views_of_the_whole_pair_equal_windowed_reads(tmp_path: Path) -> None:
    files = simulated_pair(tmp_path)
    read = pair_reader(files, GRID)
    assert is_whole(read)
    for window in (Window(0, 0, 40, 30), Window(170, 100, 130, 160), Window(5, 7, 1, 1)):
        for got, want in zip(read(window), read_pair(files, window), strict=True):
            assert got is not None and want is not None
            np.testing.assert_array_equal(got, want)


def test_a_large_grid_is_read_window_by_window(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    files = simulated_pair(tmp_path)
    monkeypatch.setattr(pair_pixels, "WHOLE_READ_MAX_PX", GRID.width * GRID.height - 1)
    assert not is_whole(pair_reader(files, GRID))


def test_pooled_thresholds_equal_the_sample_tiles_own(tmp_path: Path) -> None:
    files = simulated_pair(tmp_path)
    own = calibrate_pair(files, GRID.shape, PARAMS)  # statistics in the sample tiles' windows
    pooled = tiled_change(files, GRID, PARAMS, tile_size=128)  # whole, pooled
    assert own.thresholds
    assert pooled.calibration.thresholds == pytest.approx(own.thresholds, rel=1e-6)
    # and the detection with those thresholds is the tile-by-tile detection's
    again = tiled_change(files, GRID, PARAMS, tile_size=128, calibration=pooled.calibration)
    assert [o.geometry.wkb for o in again.objects] == [o.geometry.wkb for o in pooled.objects]
    assert [o.confidence for o in again.objects] == [o.confidence for o in pooled.objects]
    assert (again.changed_pixels, again.valid_pixels) == (
        pooled.changed_pixels, pooled.valid_pixels)


def test_windowed_and_whole_reads_find_the_same_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = simulated_pair(tmp_path)
    whole = tiled_change(files, GRID, PARAMS, tile_size=128)
    monkeypatch.setattr(pair_pixels, "WHOLE_READ_MAX_PX", 0)
    windowed = tiled_change(files, GRID, PARAMS, tile_size=128)
    assert windowed.calibration.thresholds == pytest.approx(
        whole.calibration.thresholds, rel=1e-6)
    assert [o.geometry.wkb for o in windowed.objects] == [
        o.geometry.wkb for o in whole.objects]


def test_no_sample_tile_with_a_clear_pixel_is_a_clear_error() -> None:
    with pytest.raises(ChangeInputError, match=r"no calibration tile of a\.tif / b\.tif"):
        pooled_thresholds([], (8, 8), PARAMS, 4, source="a.tif / b.tif")
