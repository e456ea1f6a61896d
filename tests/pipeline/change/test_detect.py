"""The public stage function detect_change."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline.change.detect import METHODS, ChangeParams, detect_change
from pipeline.errors import ChangeInputError
from tests.pipeline.change.conftest import texture

SQUARE = (slice(40, 56), slice(60, 76))


def _recall_precision(mask: np.ndarray) -> tuple[float, float]:
    truth = np.zeros(mask.shape, bool)
    truth[SQUARE] = True
    pred = mask == 1
    tp = float((pred & truth).sum())
    return tp / truth.sum(), tp / max(pred.sum(), 1)


@pytest.mark.parametrize("method", ["default", "difference", "cva", "irmad", "structural"])
def test_planted_square_is_found(scene: tuple[np.ndarray, np.ndarray], method: str) -> None:
    before, after = scene
    r = detect_change(before, after, ChangeParams(method=method))
    recall, precision = _recall_precision(r.mask)
    assert recall > 0.7, (method, recall)
    # Windowed statistics bleed a few pixels past the edges of a 16-pixel square.
    assert precision > (0.4 if method == "structural" else 0.5), (method, precision)
    assert r.method == method
    assert r.mask.dtype == np.uint8 and r.score.dtype == np.float32


def test_index_method_finds_vegetation_loss(scene: tuple[np.ndarray, np.ndarray]) -> None:
    before, _ = scene
    b = before.copy()
    b[3] = b[2] * 3  # vegetated: nir = 3 x red
    a = b.copy()
    a[3, SQUARE[0], SQUARE[1]] = a[2, SQUARE[0], SQUARE[1]]  # NDVI drops from 0.5 to 0
    r = detect_change(b, a, ChangeParams(method="index", bands=("blue", "green", "red", "nir")))
    recall, precision = _recall_precision(r.mask)
    assert recall > 0.9 and precision > 0.9


def test_index_method_without_roles_is_a_clear_error(scene: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ChangeInputError) as err:
        detect_change(*scene, ChangeParams(method="index"))
    assert str(err.value) == (
        "method 'index' needs the band roles (e.g. --bands blue,green,red,nir)"
    )


@pytest.mark.parametrize("method", ["default", "structural"])
def test_uniform_brightness_shift_is_not_change(method: str) -> None:
    rng = np.random.default_rng(3)
    before = texture((3, 96, 96), seed=4)
    after = before + 400 + rng.normal(0, 3, before.shape).astype(np.float32)
    r = detect_change(before, after, ChangeParams(method=method, normalisation="none"))
    assert (r.mask == 1).mean() < 0.01


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64]
)
def test_any_dtype_and_range(scene: tuple[np.ndarray, np.ndarray], dtype: type) -> None:
    before, after = scene
    scale = 0.1 if dtype == np.uint8 else 1.0
    b: np.ndarray = (before * scale).astype(dtype)
    a: np.ndarray = (np.clip(after * scale, 0, 255) if dtype == np.uint8 else after).astype(dtype)
    recall, precision = _recall_precision(detect_change(b, a, ChangeParams()).mask)
    assert recall > 0.7 and precision > 0.5


def test_nan_and_valid_mask_become_nodata(scene: tuple[np.ndarray, np.ndarray]) -> None:
    before, after = scene
    after = after.copy()
    after[0, 0:5, 0:5] = np.nan
    valid = np.ones(before.shape[1:], bool)
    valid[100:, 100:] = False
    r = detect_change(before, after, ChangeParams(), valid)
    assert (r.mask[0:5, 0:5] == 255).all() and (r.mask[100:, 100:] == 255).all()
    assert np.isnan(r.score[0:5, 0:5]).all()
    assert set(np.unique(r.mask[10:90, 10:90])) <= {0, 1}


def test_score_is_half_at_the_threshold(scene: tuple[np.ndarray, np.ndarray]) -> None:
    r = detect_change(*scene, ChangeParams(method="cva"))
    ok = r.mask != 255
    assert ((r.score[ok] > 0.5) == (r.mask[ok] == 1)).all()
    assert np.nanmin(r.score) >= 0 and np.nanmax(r.score) <= 1


def test_shift_is_recorded_and_applied(scene: tuple[np.ndarray, np.ndarray]) -> None:
    from pipeline.change.coregister import apply_shift

    before, after = scene
    moved = np.nan_to_num(apply_shift(after, (0.0, 1.5)), nan=1000.0)
    r = detect_change(before, moved, ChangeParams(pixel_size_m=1.0, max_shift_m=5.0))
    assert r.shift_px is not None and r.shift_px[1] == pytest.approx(-1.5, abs=0.15)
    assert r.registration_note.startswith("applied")
    recall, precision = _recall_precision(r.mask)
    assert recall > 0.7 and precision > 0.5


def test_blocks_equal_single_pass_with_the_same_calibration() -> None:
    rng = np.random.default_rng(5)
    before = texture((3, 300, 260), seed=8)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, 100:140, 120:170] += 500
    params = ChangeParams(coregister=False)
    single = detect_change(before, after, params)
    blocked = detect_change(
        before, after, replace(params, block_size=64, calibration=single.calibration)
    )
    np.testing.assert_array_equal(single.mask, blocked.mask)
    np.testing.assert_allclose(single.score, blocked.score, atol=1e-5)


def test_large_images_are_processed_in_blocks(scene: tuple[np.ndarray, np.ndarray]) -> None:
    before, after = scene
    r = detect_change(before, after, ChangeParams(block_size=32, calibration_tile_size=48))
    recall, precision = _recall_precision(r.mask)
    assert recall > 0.7 and precision > 0.5
    assert set(r.detector_thresholds) == {"cva", "envelope", "structural"}


def test_band_count_mismatch() -> None:
    with pytest.raises(ChangeInputError) as err:
        detect_change(np.zeros((3, 8, 8)), np.zeros((4, 8, 8)), ChangeParams())
    assert str(err.value) == "band counts differ: BEFORE has 3, AFTER has 4"


def test_shape_mismatch() -> None:
    with pytest.raises(ChangeInputError) as err:
        detect_change(np.zeros((1, 8, 8)), np.zeros((1, 8, 9)), ChangeParams())
    assert str(err.value) == (
        "shapes differ: BEFORE is 8x8 (rows x cols), AFTER is 8x9"
    )


def test_constant_image() -> None:
    before = texture((2, 40, 40))
    with pytest.raises(ChangeInputError) as err:
        detect_change(before, np.full((2, 40, 40), 7.0), ChangeParams())
    assert str(err.value) == "AFTER is constant (every valid pixel is 7): nothing to compare"


def test_empty_image() -> None:
    with pytest.raises(ChangeInputError) as err:
        detect_change(np.zeros((1, 0, 5)), np.zeros((1, 0, 5)), ChangeParams())
    assert str(err.value) == "BEFORE is empty: shape (1, 0, 5)"


def test_unknown_method() -> None:
    with pytest.raises(ChangeInputError) as err:
        detect_change(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), ChangeParams(method="magic"))
    assert str(err.value) == (
        f"unknown change method 'magic'; choose one of {', '.join(METHODS)}"
    )


def test_nothing_valid() -> None:
    nan = np.full((1, 4, 4), np.nan)
    with pytest.raises(ChangeInputError) as err:
        detect_change(nan, nan, ChangeParams())
    assert str(err.value) == "no pixel is valid in both BEFORE and AFTER"


@pytest.mark.parametrize("nuisance", ["shift", "blur", "gamma", "gain", "noise"])
def test_default_flags_nothing_on_a_nuisance_only_copy(nuisance: str) -> None:
    """#11: an image against a copy of itself with only a nuisance applied is not change."""
    from scipy import ndimage

    b = texture((4, 128, 128), seed=11)
    rng = np.random.default_rng(3)
    a = {
        "shift": lambda: np.roll(b, 1, axis=2),
        "blur": lambda: ndimage.gaussian_filter(b, (0, 1.0, 1.0)),
        "gamma": lambda: b.max() * (b / b.max()) ** 0.8,
        "gain": lambda: b * np.array([0.72, 0.78, 0.82, 0.88], np.float32)[:, None, None] + 20,
        "noise": lambda: b + rng.normal(0, 0.02 * float(np.ptp(b)), b.shape),
    }[nuisance]().astype(np.float32)
    r = detect_change(b, a, ChangeParams(pixel_size_m=1.0))
    assert float((r.mask == 1).mean()) <= 0.005
    assert r.detector_thresholds["envelope"] > 0


def test_default_still_finds_the_square_among_noise(
    scene: tuple[np.ndarray, np.ndarray]
) -> None:
    before, after = scene
    r = detect_change(before, after, ChangeParams(pixel_size_m=1.0))
    square = r.mask[40:56, 60:76] == 1
    assert square.mean() > 0.7
    outside = r.mask == 1
    outside[36:60, 56:80] = False
    assert int(outside.sum()) == 0


def test_fill_closes_gaps_between_detections_where_the_spectrum_supports_it() -> None:
    """#11: the structural statistic fires on the edges of a large uniform change (a flood, a
    razed block) more than inside it; the closing fills gaps narrower than ``fill_px`` where
    the CVA and envelope support change, adds nothing elsewhere and never starts a
    detection."""
    from pipeline.change.detect import decide

    shape = (9, 24)
    structural = np.zeros(shape, np.float32)
    structural[:, [4, 7, 14, 17]] = 1.0  # two pairs of edges, gaps of 2 columns
    cva = np.full(shape, 3.0, np.float32)
    cva[:, 15:17] = 0.0  # the second gap has no spectral support
    stats_ = {"structural": structural, "cva": cva, "envelope": np.ones(shape, np.float32)}
    thr = {"structural": 0.5, "cva": 1.0, "envelope": 0.5}
    ok = np.ones(shape, bool)
    on, score = decide(stats_, ok, thr, ChangeParams())
    off, _ = decide(stats_, ok, thr, ChangeParams(fill_px=1))
    assert (off[4] == 1).nonzero()[0].tolist() == [4, 7, 14, 17]
    assert (on[4] == 1).nonzero()[0].tolist() == [4, 5, 6, 7, 14, 17]
    assert np.allclose(score[4, 5:7], 0.5, atol=1e-5) and (score[4, 5:7] > 0.5).all()
    quiet, _ = decide({**stats_, "structural": np.zeros(shape, np.float32)}, ok, thr,
                      ChangeParams())
    assert int((quiet == 1).sum()) == 0
