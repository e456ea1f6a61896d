"""Radiometric normalisation: regression on IR-MAD invariant pixels, histogram fallback."""

from __future__ import annotations

import numpy as np

from pipeline.change.normalise import Normalisation, normalise
from tests.pipeline.change.conftest import texture


def test_gain_and_offset_recovered_despite_change() -> None:
    before = texture((4, 96, 96), seed=2)
    after = 1.7 * before - 300
    after[:, 10:40, 10:40] += 900  # real change must not bias the fit
    n = normalise(before, after, np.ones((96, 96), bool))
    assert n.method == "irmad-regression"
    np.testing.assert_allclose(n.gain, [1 / 1.7] * 4, rtol=1e-3)
    restored = n.apply(after)
    np.testing.assert_allclose(restored[:, 50:, 50:], before[:, 50:, 50:], atol=0.5)


def test_histogram_matching_when_asked() -> None:
    before = texture((2, 64, 64), seed=5)
    after = (before / 1000) ** 3
    n = normalise(before, after, np.ones((64, 64), bool), method="histogram")
    assert n.method == "histogram-matching"
    out = n.apply(after)
    q = [1, 5, 25, 50, 75, 95, 99]
    np.testing.assert_allclose(np.percentile(out[0], q), np.percentile(before[0], q), rtol=0.01)


def test_unrelated_dates_fall_back_to_histogram_matching() -> None:
    before = texture((2, 64, 64), seed=6)
    n = normalise(before, texture((2, 64, 64), seed=99), np.ones((64, 64), bool))
    assert n.method == "histogram-matching"


def test_inverted_band_falls_back_to_histogram_matching() -> None:
    before = texture((2, 64, 64), seed=6)
    after = before.copy()
    after[1] = 3000 - before[1]  # contrast inversion: no positive linear fit
    n = normalise(before, after, np.ones((64, 64), bool))
    assert n.method == "histogram-matching"


def test_none_is_identity() -> None:
    x = texture((1, 8, 8))
    n = normalise(x, x + 5, np.ones((8, 8), bool), method="none")
    assert isinstance(n, Normalisation) and n.method == "none"
    np.testing.assert_array_equal(n.apply(x), x)
