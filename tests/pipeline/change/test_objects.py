"""Change objects: clean-up, minimum mapping unit, types, georeferenced polygons."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from pipeline.change.detect import ChangeParams, ChangeResult
from pipeline.change.objects import change_objects, clean_mask, min_pixels

ROLES = ("blue", "green", "red", "nir")


def _result(mask: np.ndarray, score: float = 0.9) -> ChangeResult:
    return ChangeResult(
        mask=mask, score=np.where(mask == 1, score, 0.1).astype(np.float32), method="test",
        shift_px=None, registration_note="", normalisation="", threshold=1.0,
    )


def _square_mask() -> np.ndarray:
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 20:30] = 1
    return mask


def _stacks(value: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    b = np.full((4, 40, 50), value, np.float32)
    return b, b.copy()


def test_polygon_is_georeferenced_without_half_pixel_shift() -> None:
    b, a = _stacks()
    a[:, 10:20, 20:30] += 50
    transform = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_000_000.0)
    params = ChangeParams(pixel_size_m=10.0, min_area_m2=100.0)
    (obj,) = change_objects(_result(_square_mask()), b, a, params, transform)
    assert obj.geometry.bounds == (500_200.0, 3_999_800.0, 500_300.0, 3_999_900.0)
    assert obj.area_m2 == pytest.approx(10_000.0)
    assert obj.pixel_count == 100
    assert obj.geometry.area == pytest.approx(obj.area_m2)


def test_pixel_coordinates_without_transform() -> None:
    b, a = _stacks()
    (obj,) = change_objects(_result(_square_mask()), b, a, ChangeParams(min_area_m2=4))
    assert obj.geometry.bounds == (20.0, 10.0, 30.0, 20.0)
    assert obj.area_m2 == 100.0  # pixels when not georeferenced


def test_min_area_removes_specks() -> None:
    mask = _square_mask()
    mask[30, 5] = 1
    mask[2:4, 40:42] = 1  # 4 pixels = 400 m² at 10 m
    b, a = _stacks()
    objs = change_objects(_result(mask), b, a, ChangeParams(pixel_size_m=10.0, min_area_m2=500))
    assert [o.pixel_count for o in objs] == [100]
    assert min_pixels(ChangeParams(pixel_size_m=10.0, min_area_m2=500)) == 5


def test_clean_mask_fills_pinholes_but_not_nodata() -> None:
    mask = _square_mask()
    mask[15, 25] = 0
    mask[10, 20] = 255
    cleaned = clean_mask(mask, ChangeParams(min_area_m2=1))
    assert cleaned[15, 25] and not cleaned[10, 20]


def test_ndvi_loss_is_vegetation_loss() -> None:
    b, a = _stacks()
    b[3] = 400  # vegetated before: NDVI 0.6
    a[3] = 400
    a[3, 10:20, 20:30] = 160  # after: NDVI 0.23 (sparse cover, not bare)
    (obj,) = change_objects(_result(_square_mask()), b, a, ChangeParams(bands=ROLES))
    assert obj.change_type == "vegetation_loss"


def test_vegetation_to_red_soil_is_earthworks() -> None:
    b, a = _stacks()
    b[3] = 400
    a[3] = 400
    a[:, 10:20, 20:30] = np.array([80, 110, 150, 170], np.float32)[:, None, None]
    (obj,) = change_objects(_result(_square_mask()), b, a, ChangeParams(bands=ROLES))
    assert obj.change_type == "earthworks"


def test_ndvi_gain_is_vegetation_gain() -> None:
    b, a = _stacks()
    a[3, 10:20, 20:30] = 400
    (obj,) = change_objects(_result(_square_mask()), b, a, ChangeParams(bands=ROLES))
    assert obj.change_type == "vegetation_gain"


@pytest.mark.parametrize(("delta", "kind"), [(80.0, "new_or_brighter"),
                                             (-80.0, "removed_or_darker")])
def test_brightness_types_without_band_roles(delta: float, kind: str) -> None:
    b, a = _stacks()
    b += np.random.default_rng(0).normal(0, 5, b.shape).astype(np.float32)
    a = b.copy()
    a[:, 10:20, 20:30] += delta
    (obj,) = change_objects(_result(_square_mask()), b, a, ChangeParams())
    assert obj.change_type == kind


@pytest.mark.parametrize(("score", "label"), [(0.9, "high"), (0.57, "medium"), (0.52, "low")])
def test_confidence_label(score: float, label: str) -> None:
    """A lone object (all of its pair's change): the label follows its mean score."""
    b, a = _stacks()
    (obj,) = change_objects(_result(_square_mask(), score), b, a, ChangeParams())
    assert obj.confidence == pytest.approx(score)
    assert obj.confidence_label == label


def test_no_change_no_objects() -> None:
    b, a = _stacks()
    assert change_objects(_result(np.zeros((40, 50), np.uint8)), b, a, ChangeParams()) == []


def test_confidence_label_is_capped_by_the_share_of_the_pairs_change() -> None:
    """#11: one strong object among many is "high"; change spread over many is not."""
    b, a = _stacks()
    mask = np.zeros(b.shape[1:], np.uint8)
    mask[2:12, 2:12] = 1  # 100 px
    for k in range(24):  # twenty-four 3x3 specks, 3 px apart: 216 px in all
        r, c = 20 + 6 * (k // 8), 2 + 6 * (k % 8)
        mask[r : r + 3, c : c + 3] = 1
    objs = change_objects(_result(mask, 0.9), b, a, ChangeParams(min_area_m2=4))
    labels = [o.confidence_label for o in objs]
    assert labels == ["high"] + ["low"] * 24  # 100/316 of the change, then 9/316 each
    alone = change_objects(_result(_square_mask(), 0.9), b, a, ChangeParams(min_area_m2=4))
    assert [o.confidence_label for o in alone] == ["high"]
