"""Co-registration: the sub-pixel shift that lays AFTER onto BEFORE, when it can be trusted.

Phase correlation (``skimage.registration.phase_cross_correlation``) of the gradient
magnitude of the band mean, so that a change of brightness or season matters less than
edges. The estimate is trusted only when it is inside the search bound, is consistent across
the four quadrants of the image, and improves the correlation of the two gradient images.
Pure numpy.
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from pipeline.errors import ChangeInputError

log = logging.getLogger(__name__)

MIN_SIDE = 32
"""Images smaller than this (either side) are not co-registered."""
AGREEMENT_PX = 0.5
"""Quadrant estimates must agree with the global one within this many pixels."""
NEGLIGIBLE_PX = 0.1
"""Shifts smaller than this in both axes are reported but not applied."""


@dataclass(frozen=True)
class Registration:
    """Outcome of :func:`coregister`."""

    shift_px: tuple[float, float] | None
    """(dy, dx) to apply to AFTER, in pixels; None when rejected or not needed."""
    estimated_px: tuple[float, float] | None
    """(dy, dx) estimated, applied or not (None when no estimate was made)."""
    reliable: bool
    """True when the estimate passed every check."""
    note: str
    """Why the shift was applied, or why it was rejected."""


def _gradient(stack: np.ndarray, valid: np.ndarray) -> np.ndarray:
    img = stack.mean(axis=0)
    vals = img[valid]
    img = np.where(valid, (img - vals.mean()) / (vals.std() or 1.0), 0.0).astype(np.float32)
    g = np.hypot(ndimage.sobel(img, 0), ndimage.sobel(img, 1)).astype(np.float32)
    g[~ndimage.binary_erosion(valid, iterations=2)] = 0.0
    g -= g.mean()
    # A Hann window reduces the edge effects of the periodic FFT.
    win = np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1])).astype(np.float32)
    return g * win


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / den if den > 0 else 0.0


def _estimate(ref: np.ndarray, mov: np.ndarray, upsample: int) -> np.ndarray:
    with warnings.catch_warnings():
        # Its RMS-error warning concerns a by-product we do not use.
        warnings.simplefilter("ignore", UserWarning)
        shift, _, _ = phase_cross_correlation(
            ref, mov, upsample_factor=upsample, normalization=None
        )
    return np.asarray(shift, dtype=np.float64)


@functools.lru_cache(maxsize=2)
def _phase(h: int, w: int, dy: float, dx: float) -> np.ndarray:
    """complex64 (h, w // 2 + 1) phase ramp of a (dy, dx) shift in :func:`scipy.fft.rfft2`'s
    layout (h = 1: the columns' ramp alone). Kept for the next calls: a pair's tiles share
    one shift and mostly one halo shape (1172² px: 10 ms of ``exp`` per tile saved).
    Read-only, so a cached array cannot be changed by a caller."""
    fy = sfft.fftfreq(h)[:, None]
    fx = sfft.rfftfreq(w)[None, :]
    phase = np.exp(-2j * np.pi * (fy * dy + fx * dx)).astype(np.complex64)
    phase.flags.writeable = False
    return phase


SLOW_FACTOR = 100
"""A row length with a prime factor above this is shifted by :func:`_circular_row_shift`
(pocketfft's transforms of such lengths are slow: 13.5 ms for 1172 = 4 x 293 against
6.4 ms for the convolution's 2400, and 3.1 ms for 1034 = 2 x 11 x 47)."""


def _largest_prime_factor(n: int) -> int:
    """Example: ``_largest_prime_factor(1172) == 293``."""
    largest, p = 1, 2
    while p * p <= n:
        while n % p == 0:
            largest, n = p, n // p
        p += 1
    return max(largest, n)


FAST_PRIME = 7
"""Largest prime factor of a length whose transforms pocketfft does fast (its radix-2, 3, 4,
5 and 7 passes): a 1176 px tile halo (2^3 x 3 x 7^2) shifts in 54 ms, 1168 (2^4 x 73) in
81 ms and 1172 (4 x 293, by :func:`_circular_row_shift`) in 112 ms (4 bands, along rows)."""


def fast_halo(core: int, halo: int, step: int = 1) -> int:
    """The smallest halo of at least ``halo`` pixels, in steps of ``step`` (a phase to keep),
    that makes a tile's side (``core + 2 * halo``) a length :func:`apply_shift` transforms
    fast (no prime factor above :data:`FAST_PRIME`). A wider halo only adds context.

    Example:
        >>> fast_halo(960, 106), fast_halo(48, 38), fast_halo(48, 38, step=2), fast_halo(9, 0)
        (108, 39, 40, 0)

    Raises:
        ChangeInputError: a negative halo or a step below 1 (naming the value).
    """
    if halo < 0 or step < 1:
        raise ChangeInputError(f"fast_halo needs halo >= 0 and step >= 1, got halo={halo!r}, "
                               f"step={step!r}")
    h = halo
    while _largest_prime_factor(core + 2 * h) > FAST_PRIME:
        h += step
    return h


@functools.lru_cache(maxsize=2)
def _row_kernel(w: int, dx: float) -> tuple[int, np.ndarray]:
    """(fast length, complex64 :func:`scipy.fft.rfft` of the kernel at that length) of the
    periodic shift of rows of ``w`` pixels by ``dx``: the kernel is the inverse transform of
    :func:`_phase`'s ramp (float64), zero-padded to a fast length of at least 2 w - 1."""
    n = sfft.next_fast_len(2 * w - 1, real=True)
    ramp = np.exp(-2j * np.pi * sfft.rfftfreq(w) * dx)
    kernel = sfft.rfft(sfft.irfft(ramp, n=w), n=n).astype(np.complex64)
    kernel.flags.writeable = False
    return n, kernel


def _circular_row_shift(stack: np.ndarray, w: int, dx: float, out: np.ndarray) -> None:
    """The rows' periodic shift of :func:`apply_shift` (multiplying by the ramp in the
    Fourier domain of length ``w``) as the circular convolution it is: a linear convolution
    at a fast length, its tail folded back. The same values to float rounding, for row
    lengths whose own transform is slow."""
    n, kernel = _row_kernel(w, dx)
    for b in range(stack.shape[0]):
        spectrum = sfft.rfft(stack[b], n=n, axis=1)
        spectrum *= kernel
        full = sfft.irfft(spectrum, n=n, axis=1)
        out[b] = full[:, :w]
        out[b, :, : w - 1] += full[:, w : 2 * w - 1]


def apply_shift(stack: np.ndarray, shift_px: tuple[float, float]) -> np.ndarray:
    """Shift a (bands, H, W) stack by (dy, dx) pixels; pixels from outside are NaN.

    The shift is applied in the Fourier domain, which unlike bilinear or spline
    interpolation does not blur the image (blur would itself look like structural change).

    Args:
        stack: float32 (bands, H, W), finite.
        shift_px: (dy, dx); positive moves content down / right.

    Returns:
        float32 shifted copy.

    Example:
        >>> s = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
        >>> apply_shift(s, (0.0, 1.0))[0, 0].round(3).tolist()
        [nan, 0.0, 1.0, 2.0]
    """
    dy, dx = shift_px
    _, h, w = stack.shape
    out = np.empty(stack.shape, dtype=np.float32)
    if dy == 0.0:
        # a shift along the rows only: the columns' phase is 1, so their transform and its
        # inverse cancel; the same periodic shift with one 1-D real transform pair per band
        # (float rounding apart), about 40 % less CPU. Not for a shift along the columns
        # only: there the 2-D transform's complex axis treats the Nyquist row differently.
        if _largest_prime_factor(w) > SLOW_FACTOR:
            _circular_row_shift(stack, w, dx, out)
        else:
            ramp = _phase(1, w, 0.0, dx)[0]
            for b in range(stack.shape[0]):
                spectrum = sfft.rfft(stack[b], axis=1)
                spectrum *= ramp
                out[b] = sfft.irfft(spectrum, n=w, axis=1)
    else:
        phase = _phase(h, w, dy, dx)
        for b in range(stack.shape[0]):
            spectrum = sfft.rfft2(stack[b])
            spectrum *= phase
            out[b] = sfft.irfft2(spectrum, s=(h, w))
    iy, ix = math.ceil(abs(dy)), math.ceil(abs(dx))
    if iy:
        out[:, :iy, :] = np.nan if dy > 0 else out[:, :iy, :]
        out[:, h - iy :, :] = np.nan if dy < 0 else out[:, h - iy :, :]
    if ix:
        out[:, :, :ix] = np.nan if dx > 0 else out[:, :, :ix]
        out[:, :, w - ix :] = np.nan if dx < 0 else out[:, :, w - ix :]
    return out


def coregister(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    max_shift_px: float,
    upsample: int = 20,
) -> Registration:
    """Estimate the shift of AFTER onto BEFORE and judge whether to trust it.

    Args:
        before: float32 (bands, H, W), finite where ``valid``.
        after: float32 (bands, H, W).
        valid: bool (H, W) pixels valid in both dates.
        max_shift_px: bounded search: larger estimates are rejected.
        upsample: sub-pixel precision is 1 / ``upsample`` pixel.

    Returns:
        A :class:`Registration`. Apply ``shift_px`` with :func:`apply_shift` when not None.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> base = ndimage.gaussian_filter(rng.normal(size=(140, 140)), 2).astype(np.float32)
        >>> b, a = base[None, 10:-10, 10:-10], base[None, 12:-8, 9:-11]
        >>> r = coregister(b, a, np.ones(b.shape[1:], bool), 5.0)
        >>> [round(v) for v in r.shift_px]
        [2, -1]
    """
    h, w = valid.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        return Registration(None, None, False, f"image {h}x{w} too small to co-register")
    if valid.mean() < 0.5:
        return Registration(None, None, False, f"only {valid.mean():.0%} of pixels valid")
    ref = _gradient(before, valid)
    mov = _gradient(after, valid)
    if not (ref.any() and mov.any()):
        return Registration(None, None, False, "rejected: no texture to correlate")
    shift = _estimate(ref, mov, upsample)
    est = (float(shift[0]), float(shift[1]))
    if max(abs(est[0]), abs(est[1])) > max_shift_px:
        return Registration(
            None, est, False,
            f"rejected: shift ({est[0]:.2f}, {est[1]:.2f}) px exceeds the bound "
            f"{max_shift_px:.2f} px",
        )
    if max(abs(est[0]), abs(est[1])) < NEGLIGIBLE_PX:
        return Registration(None, est, True, f"negligible shift ({est[0]:.2f}, {est[1]:.2f}) px")
    if h >= 2 * MIN_SIDE and w >= 2 * MIN_SIDE:
        hh, hw = h // 2, w // 2
        spread = []
        for rs in (slice(0, hh), slice(hh, h)):
            for cs in (slice(0, hw), slice(hw, w)):
                q = _estimate(_gradient(before[:, rs, cs], valid[rs, cs]),
                              _gradient(after[:, rs, cs], valid[rs, cs]), 4)
                spread.append(float(np.max(np.abs(q - shift))))
        agree = sum(s <= AGREEMENT_PX for s in spread)
        if agree < 3:
            return Registration(
                None, est, False,
                f"rejected: only {agree} of 4 quadrants agree with ({est[0]:.2f}, {est[1]:.2f})"
                f" px within {AGREEMENT_PX} px",
            )
    moved = ndimage.shift(mov, shift, order=1, mode="constant", cval=0.0, prefilter=False)
    c0, c1 = _corr(ref, mov), _corr(ref, moved)
    if c1 <= c0:
        return Registration(
            None, est, False,
            f"rejected: shift ({est[0]:.2f}, {est[1]:.2f}) px does not improve the gradient "
            f"correlation ({c0:.3f} -> {c1:.3f})",
        )
    return Registration(
        est, est, True,
        f"applied ({est[0]:.2f}, {est[1]:.2f}) px; gradient correlation {c0:.3f} -> {c1:.3f}",
    )
