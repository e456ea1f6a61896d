"""Clear-sky mask and zone-level clear fractions (pure array maths)."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.features import rasterize

from facilities.grid import facility_grid, to_grid_crs
from facilities.load import load_facility_by_id
from imagery.masks.rules import clear_mask
from imagery.quality import assess_quality, region_boxes, region_masks


def ground(h: int = 100, w: int = 100) -> np.ndarray:
    img = np.empty((4, h, w), np.float32)
    img[:] = np.array([0.05, 0.08, 0.07, 0.3], np.float32)[:, None, None]
    return img


def test_large_white_patch_is_cloud_small_bright_roof_is_not() -> None:
    img = ground()
    img[:, 10:50, 10:50] = 0.7  # cloud: 40x40 px at 10 m = 160,000 m²
    img[:3, 80:83, 80:83] = [[[0.6]], [[0.6]], [[0.6]]]  # bright roof, 900 m²
    m = clear_mask(img, 10.0)
    assert not m[30, 30] and m[81, 81] and m[95, 5]


def test_shadow_beside_cloud_is_masked_but_far_dark_water_is_not() -> None:
    img = ground(200, 200)
    img[:, 10:40, 10:40] = 0.7
    img[:, 45:70, 20:45] *= 0.2  # shadow next to the cloud
    img[:, 170:195, 170:195] *= 0.2  # dark lake far away
    m = clear_mask(img, 5.0)
    assert not m[55, 30] and m[180, 180]


def test_nan_is_never_clear() -> None:
    img = ground()
    img[:, :, :5] = np.nan
    m = clear_mask(img, 10.0)
    assert not m[:, :5].any() and m[:, 10:].all()


def test_zone_clear_fractions_and_threshold() -> None:
    fac = load_facility_by_id("kangdong-kyohwaso-4")
    grid = facility_grid(fac, 10.0)
    regions = region_masks(fac, grid)
    assert set(regions) == {"aoi", *(z.id for z in fac.zones)}
    clear = np.ones(grid.shape, bool)
    clear[regions["quarry-1"]] = False
    q = assess_quality(clear, regions, min_clear=0.6)
    assert q.zone_clear["quarry-1"] == 0.0 and q.zone_clear["housing-1"] == 1.0
    assert q.usable and 0.9 < q.clear_fraction < 1.0
    q2 = assess_quality(np.zeros(grid.shape, bool), regions, min_clear=0.6)
    assert not q2.usable
    assert q2.reason == "AOI clear fraction 0.00 is below the threshold 0.60"


@pytest.mark.parametrize("resolution", [10.0, 3.0])
def test_region_boxes_hold_the_same_pixels_as_the_full_masks(resolution: float) -> None:
    fac = load_facility_by_id("kangdong-kyohwaso-4")
    grid = facility_grid(fac, resolution)
    boxes = region_boxes(fac, grid)
    shapes = {"aoi": fac.aoi} | {z.id: z.geometry for z in fac.zones}
    assert set(boxes) == set(shapes)
    full = {}  # the reference: each region rasterised on the whole grid (pixel centres)
    for key, geom in shapes.items():
        full[key] = rasterize([(to_grid_crs(geom, grid.crs), 1)], out_shape=grid.shape,
                              transform=grid.transform, fill=0, dtype="uint8").astype(bool)
    for key, box in boxes.items():
        rebuilt = np.zeros(grid.shape, bool)
        rebuilt[box.rows, box.cols] = box.mask
        np.testing.assert_array_equal(rebuilt, full[key], err_msg=key)
        np.testing.assert_array_equal(region_masks(fac, grid)[key], full[key], err_msg=key)
        if key != "aoi":  # a zone's box is a small part of the grid
            assert box.mask.size < grid.width * grid.height / 4
    clear = np.random.default_rng(3).random(grid.shape) < 0.7
    assert assess_quality(clear, boxes) == assess_quality(clear, full)


def test_clear_mask_refuses_too_few_bands() -> None:
    with pytest.raises(ValueError, match=r"needs \(bands>=3, H, W\) reflectance, got \(2, 4, 4\)"):
        clear_mask(np.zeros((2, 4, 4), np.float32), 1.0)
