"""pair_params keeps every field of the run's base parameters (it once dropped some)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from shapely.geometry import Polygon

from facilities.grid import FacilityGrid
from imagery.capture import BANDS, Capture
from pipeline.change.compare import pair_params
from pipeline.change.detect import ChangeParams
from pipeline.change.pairs import CapturePair


def _capture(cid: str, gsd: float) -> Capture:
    return Capture(cid, "f", datetime(2020, 1, 1, tzinfo=UTC), "S", gsd, Polygon(),
                   "local", "", "")


def test_pair_params_keeps_every_field_of_the_base() -> None:
    grid = FacilityGrid("EPSG:32652", 1.0, 0.0, 100.0, 100, 100)
    pair = CapturePair(_capture("a", 0.5), _capture("b", 0.5), "vhr")
    # every field set to something other than its default, so a dropped field shows
    base = ChangeParams(
        method="cva", min_area_m2=40.0, coregister=False, max_shift_m=5.0, max_shift_px=3.0,
        block_size=999, block_overlap=17, workers=3, calibration_tiles=4,
        calibration_tile_size=256, normalisation="histogram", structure_window_px=9,
        structure_scale=1, max_structural=1.2,
        structural_threshold="otsu", min_structural=0.2, min_spectral=0.7,
        smooth_sigma_px=1.5, smooth_cva=False, gate=0.3, noise_floor=0.5,
        envelope_sigma_px=2.5, fill_px=3, fill_gate=0.2, irmad_threshold="otsu",
        irmad_significance=0.99, model_path=Path("own.onnx"),
    )
    defaults = ChangeParams()
    set_here = {"pixel_size_m", "bands", "calibration"}
    for f in dataclasses.fields(ChangeParams):
        if f.name not in set_here:
            assert getattr(base, f.name) != getattr(defaults, f.name), f.name
    params = pair_params(pair, grid, base)
    for f in dataclasses.fields(ChangeParams):
        if f.name not in set_here:
            assert getattr(params, f.name) == getattr(base, f.name), f.name
    assert params.pixel_size_m == 1.0
    assert params.bands == BANDS


def test_pair_params_minimum_area_follows_the_coarser_capture() -> None:
    grid = FacilityGrid("EPSG:32652", 1.0, 0.0, 100.0, 100, 100)
    pair = CapturePair(_capture("a", 10.0), _capture("b", 10.0), "medium")
    assert pair_params(pair, grid, ChangeParams(min_area_m2=40.0)).min_area_m2 == 300.0
