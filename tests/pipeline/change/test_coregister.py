"""Co-registration: sub-pixel recovery, bounded search, rejection of unreliable matches."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.change.coregister import (
    FAST_PRIME,
    _largest_prime_factor,
    apply_shift,
    coregister,
    fast_halo,
)
from pipeline.errors import ChangeInputError
from tests.pipeline.change.conftest import texture


def test_known_subpixel_shift_is_recovered() -> None:
    base = texture((3, 160, 160), seed=3, sigma=2.0)
    moved = apply_shift(base, (-1.3, 2.6))  # AFTER = BEFORE moved up 1.3, right 2.6
    ok = np.isfinite(moved).all(axis=0)
    moved = np.where(ok, moved, 0)
    reg = coregister(base, moved, ok, max_shift_px=8)
    assert reg.reliable, reg.note
    assert reg.shift_px is not None
    assert reg.shift_px[0] == pytest.approx(1.3, abs=0.1)
    assert reg.shift_px[1] == pytest.approx(-2.6, abs=0.1)
    assert reg.note.startswith("applied (1.3")


def test_unrelated_images_are_rejected_with_a_reason() -> None:
    rng = np.random.default_rng(0)
    before = rng.normal(size=(1, 128, 128)).astype(np.float32)
    after = rng.normal(size=(1, 128, 128)).astype(np.float32)
    reg = coregister(before, after, np.ones((128, 128), bool), max_shift_px=30)
    assert reg.shift_px is None
    assert not reg.reliable
    assert reg.note.startswith("rejected: ")


def test_shift_beyond_the_bound_is_rejected() -> None:
    base = texture((1, 160, 160), seed=4, sigma=2.0)
    moved = np.nan_to_num(apply_shift(base, (0.0, 6.0)))
    reg = coregister(base, moved, np.ones((160, 160), bool), max_shift_px=3)
    assert reg.shift_px is None
    assert reg.estimated_px is not None and reg.estimated_px[1] == pytest.approx(-6, abs=0.2)
    assert "exceeds the bound 3.00 px" in reg.note


def test_tiny_image_is_not_coregistered() -> None:
    z = np.zeros((1, 16, 16), np.float32)
    reg = coregister(z, z, np.ones((16, 16), bool), 4)
    assert reg.shift_px is None
    assert reg.note == "image 16x16 too small to co-register"


def test_apply_shift_marks_pixels_from_outside_as_nan() -> None:
    s = np.ones((2, 10, 10), np.float32)
    out = apply_shift(s, (2.0, -1.0))
    assert np.isnan(out[:, :2, :]).all() and np.isnan(out[:, :, -1]).all()
    assert np.allclose(out[:, 2:, :-1], 1.0, atol=1e-5)


# 1172 = 4 x 293 and 293 (odd): rows too slow to transform at their own length, shifted
# by a circular convolution at a fast length
@pytest.mark.parametrize("shape", [(3, 60, 70), (2, 61, 71), (2, 20, 1172), (1, 20, 293)])
@pytest.mark.parametrize("shift", [(0.0, -0.1), (0.0, 2.35), (0.35, -0.2), (-0.15, 0.0)])
def test_apply_shift_is_the_two_d_fourier_shift(shape: tuple[int, int, int],
                                                shift: tuple[float, float]) -> None:
    # the reference: one 2-D transform pair per band; a shift along rows only takes a 1-D
    # pair (float rounding apart), any other the same 2-D pair (bit for bit)
    from scipy import fft

    stack = texture(shape, seed=5, sigma=1.5)
    dy, dx = shift
    phase = np.exp(-2j * np.pi * (fft.fftfreq(shape[1])[:, None] * dy
                                  + fft.rfftfreq(shape[2])[None, :] * dx)).astype(np.complex64)
    want = np.stack([fft.irfft2(fft.rfft2(band) * phase, s=shape[1:]) for band in stack])
    got = apply_shift(stack, shift)
    inside = np.isfinite(got)
    assert inside.sum() >= 0.9 * got.size
    if dy == 0.0:
        scale = float(np.abs(want).max())  # float32 rounding of values this large
        np.testing.assert_allclose(got[inside], want[inside], rtol=0, atol=4e-6 * scale)
    else:
        np.testing.assert_array_equal(got[inside], want[inside])
    assert np.array_equal(apply_shift(stack, shift), got, equal_nan=True)  # cached phase


@pytest.mark.parametrize(("core", "halo", "step"), [(960, 106, 2), (48, 38, 2), (768, 57, 1),
                                                     (480, 0, 2), (1920, 106, 2)])
def test_fast_halo_is_the_smallest_fast_length_in_phase(core: int, halo: int, step: int) -> None:
    got = fast_halo(core, halo, step)
    assert got >= halo and (got - halo) % step == 0
    assert _largest_prime_factor(core + 2 * got) <= FAST_PRIME
    # nothing smaller in the same phase is fast
    assert all(_largest_prime_factor(core + 2 * h) > FAST_PRIME
               for h in range(halo, got, step))


@pytest.mark.parametrize(("halo", "step"), [(-1, 2), (10, 0)])
def test_fast_halo_rejects_a_bad_halo_or_step(halo: int, step: int) -> None:
    with pytest.raises(ChangeInputError, match=rf"halo={halo}, step={step}"):
        fast_halo(960, halo, step)
