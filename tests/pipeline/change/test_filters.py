"""Neighbourhood filters: windowed extremes, block means and their interpolation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from pipeline.change import filters
from pipeline.change.calibration import margin_px, thresholds
from pipeline.change.detect import ChangeParams, detect_change
from tests.pipeline.change.conftest import texture


@pytest.mark.parametrize("size", [3, 5])
def test_min_max_equals_scipy_rank_filters(size: int) -> None:
    x = np.random.default_rng(0).normal(size=(37, 41)).astype(np.float32)
    lo, hi = filters.min_max(x, size)
    np.testing.assert_array_equal(lo, ndimage.minimum_filter(x, size, mode="nearest"))
    np.testing.assert_array_equal(hi, ndimage.maximum_filter(x, size, mode="nearest"))


def test_bin_mean_repeats_the_edge_of_a_partial_block() -> None:
    x = np.arange(15, dtype=np.float32).reshape(1, 3, 5)
    padded = np.pad(x, ((0, 0), (0, 1), (0, 1)), mode="edge")
    expected = padded.reshape(1, 2, 2, 3, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(filters.bin_mean(x, 2), expected)


def test_upsample_reproduces_a_ramp_between_block_centres() -> None:
    ramp = np.arange(40, dtype=np.float32)[None, :].repeat(6, axis=0)
    coarse = filters.bin_mean(ramp[None], 2)[0]
    back = filters.upsample(coarse, 2, ramp.shape)
    # bilinear interpolation is exact on a linear ramp, away from the outer half-blocks
    np.testing.assert_allclose(back[:, 1:-1], ramp[:, 1:-1], atol=1e-5)
    assert back.shape == ramp.shape and back.dtype == np.float32


def test_margin_is_even_so_blocks_bin_in_phase() -> None:
    for shift in (1.0, 3.0, 7.0):
        assert margin_px(ChangeParams(pixel_size_m=1.0, max_shift_m=shift)) % 2 == 0


def test_blocks_with_an_odd_image_equal_a_single_pass() -> None:
    rng = np.random.default_rng(3)
    before = texture((3, 203, 181), seed=4)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, 90:131, 60:97] += 400
    params = ChangeParams(coregister=False)
    single = detect_change(before, after, params)
    blocked = detect_change(
        before, after, replace(params, block_size=64, calibration=single.calibration)
    )
    np.testing.assert_array_equal(single.mask, blocked.mask)
    np.testing.assert_allclose(single.score, blocked.score, atol=1e-5)


def test_structural_threshold_is_capped_at_no_correlation() -> None:
    rng = np.random.default_rng(1)
    stat = np.concatenate([rng.uniform(1.0, 1.5, 10000), rng.uniform(1.7, 2.0, 5000)])
    st = {"structural": stat.astype(np.float32)[None, :]}
    ok = np.ones(st["structural"].shape, bool)
    assert thresholds(st, ok, ChangeParams(), 4)["structural"] == 1.0
    uncapped = thresholds(st, ok, ChangeParams(max_structural=2.0), 4)["structural"]
    assert uncapped > 1.0


@pytest.mark.parametrize("size", [3, 5, 7])
def test_close_mask_equals_scipy_closing_with_nothing_set_beyond_the_edge(size: int) -> None:
    m = np.random.default_rng(1).random((43, 39)) > 0.8
    h = size // 2
    expected = ndimage.minimum_filter(
        ndimage.maximum_filter(np.pad(m, h).astype(np.uint8), size, mode="constant", cval=0),
        size, mode="nearest",
    ).astype(bool)[h:-h, h:-h]
    np.testing.assert_array_equal(filters.close_mask(m, size), expected)
    assert (filters.close_mask(m, 1) == m).all()


def test_close_mask_does_not_fill_out_to_the_edge() -> None:
    """A detection 1-2 px from the image edge stays where it is; a clipped window would
    have filled the gap between it and the edge as if change continued beyond the image."""
    m = np.zeros((12, 12), bool)
    m[5:7, 1] = True  # 1 px from the left edge
    m[0, 9] = True  # on the top edge, 2 px from the right one
    closed = filters.close_mask(m, 5)
    np.testing.assert_array_equal(closed, m)
    two = m.copy()
    two[5:7, 4] = True  # a gap of 2 px between set pixels is still filled
    assert filters.close_mask(two, 5)[5:7, 1:5].all()


def test_envelope_is_skipped_only_where_it_cannot_change_a_decision() -> None:
    """A block without a structural candidate behind an open CVA gate skips the costly
    envelope excess; the blocked result still equals the single pass (mask and score)."""
    from pipeline.change.calibration import block_statistics

    rng = np.random.default_rng(6)
    before = texture((3, 256, 256), seed=12)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, 20:50, 30:70] += 500
    params = ChangeParams(coregister=False)
    single = detect_change(before, after, params)
    cal, thr = single.calibration, single.detector_thresholds
    assert cal is not None
    ok = np.ones((256, 256), bool)
    quiet, _ = block_statistics(before[:, 150:, 150:], after[:, 150:, 150:], ok[150:, 150:],
                                cal, params, thr)
    busy, _ = block_statistics(before[:, :100, :100], after[:, :100, :100], ok[:100, :100],
                               cal, params, thr)
    assert "envelope" not in quiet and "envelope" in busy
    blocked = detect_change(before, after, replace(params, block_size=64, calibration=cal))
    np.testing.assert_array_equal(single.mask, blocked.mask)
    np.testing.assert_allclose(single.score, blocked.score, atol=1e-5)


def _upsample_by_gathers(x: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """The general path of filters.upsample (index gathers), for any factor."""
    r0, r1, fr = filters._linear_weights(shape[0], x.shape[0], factor)
    rows = x[r0] * (1 - fr)[:, None]
    rows += x[r1] * fr[:, None]
    c0, c1, fc = filters._linear_weights(shape[1], x.shape[1], factor)
    out = rows[:, c0] * (1 - fc)[None, :]
    out += rows[:, c1] * fc[None, :]
    return out.astype(np.float32, copy=False)


@pytest.mark.parametrize("h, w", [(1, 1), (1, 2), (2, 1), (3, 5), (7, 8), (64, 33)])
def test_upsample_by_two_equals_the_general_path_bit_for_bit(h: int, w: int) -> None:
    x = (np.random.default_rng(h * 31 + w).normal(size=(h, w)) * 1e3).astype(np.float32)
    for shape in ((2 * h, 2 * w), (2 * h - 1, 2 * w), (2 * h, 2 * w - 1), (2 * h - 1, 2 * w - 1)):
        if min(shape) < 1:
            continue
        fast = filters.upsample(x, 2, shape)
        assert fast.dtype == np.float32 and fast.flags.c_contiguous
        np.testing.assert_array_equal(fast, _upsample_by_gathers(x, 2, shape))


def test_envelope_skipped_far_from_candidates_changes_no_decision() -> None:
    """Known thresholds: the envelope is computed only in the row strips near a candidate
    (pipeline.change.envelope), and the mask and the score equal those computed with the
    envelope everywhere, bit for bit."""
    from pipeline.change.calibration import block_statistics
    from pipeline.change.detect import decide

    rng = np.random.default_rng(7)
    before = texture((3, 700, 200), seed=13)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, 300:330, 40:90] += 500
    after[:, 333:336, 40:90] += 500  # a gap the fill closes
    params = ChangeParams(coregister=False)
    single = detect_change(before, after, params)
    cal, thr = single.calibration, single.detector_thresholds
    assert cal is not None
    ok = np.ones((700, 200), bool)
    full, ok_full = block_statistics(before, after, ok, cal, params)
    part, ok_part = block_statistics(before, after, ok, cal, params, thr)
    skipped = part["envelope"] == 0
    assert skipped[:128].all() and skipped[-128:].all()
    assert not skipped[300:340].all()
    for got, want in zip(decide(part, ok_part, thr, params), decide(full, ok_full, thr, params),
                         strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (2, 2), (3, 7), (61, 47)])
def test_close3_equals_scipy_binary_closing(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    for density in (0.02, 0.2, 0.5, 0.9):
        mask = rng.random(shape) < density
        np.testing.assert_array_equal(
            filters.close3(mask), ndimage.binary_closing(mask, structure=np.ones((3, 3), bool)))
