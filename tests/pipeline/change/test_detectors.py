"""Detectors and thresholds on arrays."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.change import detectors
from tests.pipeline.change.conftest import texture


def test_structural_ignores_a_uniform_brightness_shift() -> None:
    b = texture((3, 64, 64), seed=1) / 200
    assert float(detectors.structural_change(b, b + 3.0, 7).max()) < 1e-4


def test_structural_sees_new_texture() -> None:
    b = np.zeros((1, 64, 64), np.float32)
    a = b.copy()
    a[0, 20:40, 20:40] = texture((20, 20), seed=2) / 200
    st = detectors.structural_change(b, a, 7)
    assert st[30, 30] > 0.5 > st[5, 5]


def test_cva_and_difference() -> None:
    b = np.zeros((2, 1, 1), np.float32)
    a = np.array([[[3.0]], [[-3.0]]], np.float32)
    assert detectors.cva_magnitude(b, a)[0, 0] == pytest.approx(np.sqrt(18))
    assert detectors.difference_magnitude(b, a)[0, 0] == 0.0  # mean brightness unchanged


def test_irmad_chi2_is_high_where_changed() -> None:
    b = texture((4, 80, 80), seed=3)
    rng = np.random.default_rng(0)
    a = 0.8 * b + 50 + rng.normal(0, 5, b.shape).astype(np.float32)
    a[:, :10, :10] = texture((4, 10, 10), seed=7)
    fit = detectors.irmad_fit(b, a, np.ones((80, 80), bool))
    chi = detectors.irmad_chi2(b, a, fit)
    assert np.median(chi[:10, :10]) > 10 * np.median(chi[20:, 20:])


def _changed_everywhere(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 4-band 8x8 pair whose pixels fall in four groups, each mapped by its own random
    linear transform: no pixel keeps the relation of the rest, so IR-MAD's re-weighting
    drives every no-change weight to zero within a few iterations."""
    rng = np.random.default_rng(seed)
    b = rng.random((4, 8, 8)) * 100
    group = np.arange(64).reshape(8, 8) % 4
    a = np.empty_like(b)
    for g in range(4):
        a[:, group == g] = rng.normal(size=(4, 4)) @ b[:, group == g]
    return b.astype(np.float32), a.astype(np.float32)


@pytest.mark.parametrize("seed", [69, 100])
def test_irmad_keeps_its_last_fit_when_every_weight_vanishes(
    seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: the weights' sum became 0 and the next iteration divided by it, so the
    # default method crashed with numpy's "array must not contain infs or NaNs".
    b, a = _changed_everywhere(seed)
    with caplog.at_level("DEBUG", logger="pipeline.change.detectors"):
        fit = detectors.irmad_fit(b, a, np.ones((8, 8), bool))
    assert "all weights vanished" in caplog.text
    assert fit.iterations >= 1
    for v in (fit.a, fit.b, fit.mean_before, fit.mean_after, fit.sigma, fit.rho):
        assert np.isfinite(v).all()
    assert np.isfinite(detectors.irmad_chi2(b, a, fit)).all()


def test_index_change_needs_red_and_nir() -> None:
    x = np.ones((3, 4, 4), np.float32)
    assert detectors.index_change(x, x, ("blue", "green", "red")) is None
    assert detectors.index_change(x, x, ("green", "red", "nir")) is not None


def test_kittler_illingworth_finds_a_rare_class() -> None:
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.normal(0, 1, 98_000), rng.normal(10, 1, 2_000)]).astype(np.float32)
    thr = detectors.kittler_illingworth_threshold(s, np.ones(s.shape, bool))
    assert 3.0 < thr < 8.0


def test_auto_threshold_rejects_unknown_method() -> None:
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="unknown threshold method 'median'"):
        detectors.auto_threshold(x, np.ones((2, 2), bool), "median")


def test_constant_scores_give_an_infinite_threshold() -> None:
    x = np.ones((4, 4), np.float32)
    assert detectors.otsu_threshold(x, np.ones((4, 4), bool)) == float("inf")


def test_envelope_excess_ignores_a_one_pixel_shift_and_a_blur() -> None:
    from scipy import ndimage

    b = texture((3, 64, 64), seed=4) / 200
    shifted = np.roll(b, 1, axis=2)
    blurred = ndimage.gaussian_filter(b, (0, 1.0, 1.0)).astype(np.float32)
    inner = (slice(2, -2), slice(2, -2))
    assert float(detectors.envelope_excess(b, shifted)[inner].max()) == 0.0
    assert float(detectors.envelope_excess(b, blurred)[inner].max()) < 0.05 * float(np.ptp(b))


def test_envelope_excess_sees_a_new_object() -> None:
    b = texture((3, 64, 64), seed=5) / 200
    a = b.copy()
    a[:, 20:30, 20:30] += 10.0
    env = detectors.envelope_excess(b, a)
    assert env[25, 25] > 10.0 and env[50, 50] == 0.0


@pytest.mark.parametrize("rows", [1, 2, 5, 64])
def test_envelope_in_strips_equals_the_whole_block_bit_for_bit(rows: int) -> None:
    from pipeline.change.envelope import envelope_strips

    rng = np.random.default_rng(rows)
    b = rng.normal(size=(3, 67, 23)).astype(np.float32)
    a = (b + rng.normal(0, 0.5, b.shape)).astype(np.float32)
    a[:, 10:30, 5:15] += 3.0
    np.testing.assert_array_equal(envelope_strips(b, a, rows), detectors.envelope_excess(b, a))
