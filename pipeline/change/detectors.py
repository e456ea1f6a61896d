"""Change detectors: pure numpy maps of how much each pixel changed.

Every detector takes two float32 stacks shaped (bands, H, W) that are already on the same
grid, radiometrically comparable and free of NaN (invalid pixels are given by ``valid``), and
returns a float32 (H, W) score where larger means more change. Thresholds are chosen
separately (:func:`otsu_threshold`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import linalg, ndimage, special
from skimage.filters import threshold_otsu, threshold_yen

from pipeline.change import filters

log = logging.getLogger(__name__)


def otsu_threshold(score: np.ndarray, valid: np.ndarray) -> float:
    """Otsu's threshold of the finite, valid scores.

    Args:
        score: float (H, W) change score.
        valid: bool (H, W), True where the score counts.

    Returns:
        The threshold; ``inf`` when there are fewer than two distinct valid values.

    Example:
        >>> s = np.array([[0.0, 0.1], [0.9, 1.0]], dtype=np.float32)
        >>> 0.1 <= otsu_threshold(s, np.ones_like(s, dtype=bool)) < 0.9
        True
    """
    values = score[valid & np.isfinite(score)]
    if values.size < 2 or float(values.min()) == float(values.max()):
        return float("inf")
    return float(threshold_otsu(values, nbins=512))


def cva_magnitude(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Change vector analysis: Euclidean length of the per-pixel spectral difference.

    Args:
        before: float32 (bands, H, W).
        after: float32 (bands, H, W), same shape.

    Returns:
        float32 (H, W) magnitude of ``after - before``.

    Example:
        >>> b = np.zeros((2, 1, 1), np.float32); a = np.full((2, 1, 1), 3.0, np.float32)
        >>> float(cva_magnitude(b, a)[0, 0])  # doctest: +ELLIPSIS
        4.24...
    """
    diff = after - before
    return np.sqrt(np.einsum("bhw,bhw->hw", diff, diff, dtype=np.float32))


def difference_magnitude(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Plain difference: absolute difference of the band means (a single 'brightness' band).

    Args:
        before: float32 (bands, H, W).
        after: float32 (bands, H, W).

    Returns:
        float32 (H, W) ``|mean(after) - mean(before)|``.

    Example:
        >>> b = np.zeros((2, 1, 1), np.float32); a = np.ones((2, 1, 1), np.float32)
        >>> float(difference_magnitude(b, a)[0, 0])
        1.0
    """
    return np.abs(after.mean(axis=0) - before.mean(axis=0)).astype(np.float32)


def smooth(stat: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian smoothing of a (H, W) or (bands, H, W) array in the image plane.

    Args:
        stat: float32 array.
        sigma_px: standard deviation in pixels (<= 0: returned unchanged).

    Returns:
        float32 array of the same shape.

    Example:
        >>> smooth(np.ones((3, 3), np.float32), 1.0).round(3).tolist()[1]
        [1.0, 1.0, 1.0]
    """
    if sigma_px <= 0:
        return stat
    sig = (0.0, sigma_px, sigma_px) if stat.ndim == 3 else sigma_px
    out = ndimage.gaussian_filter(stat, sig, mode="reflect", truncate=3.0)
    return out.astype(np.float32, copy=False)


def envelope_excess(before: np.ndarray, after: np.ndarray, size: int = 3) -> np.ndarray:
    """Spectral difference that misregistration and blur cannot explain.

    Per band, how far AFTER lies outside the range (min..max) of BEFORE over a ``size`` ×
    ``size`` neighbourhood, and BEFORE outside AFTER's; the smaller of the two directions,
    then the Euclidean norm over bands. A shift of up to ``size // 2`` pixels or a blur (a
    weighted mean of neighbours) stays inside the range and scores 0; a new roof, a cleared
    plot or a flood does not.

    Args:
        before: float32 (bands, H, W), bands on comparable scales (e.g. standardised).
        after: float32 (bands, H, W).
        size: neighbourhood side, pixels (odd).

    Returns:
        float32 (H, W) >= 0.

    Example:
        >>> b = np.zeros((1, 5, 5), np.float32); b[0, :, 2] = 1.0
        >>> float(envelope_excess(b, np.roll(b, 1, axis=2)).max())  # a 1 px shift
        0.0
        >>> a = b.copy(); a[0, 0:3, 0:2] = 4.0
        >>> float(envelope_excess(b, a)[1, 0])
        4.0
    """
    total = np.zeros(before.shape[1:], np.float32)
    for band_b, band_a in zip(before, after, strict=True):
        lo_b, hi_b = filters.min_max(band_b, size)
        lo_a, hi_a = filters.min_max(band_a, size)
        # distance outside the other date's range: max(x - hi, lo - x, 0)
        out_a = np.maximum(np.subtract(band_a, hi_b, out=hi_b), np.subtract(lo_b, band_a, out=lo_b))
        out_b = np.maximum(np.subtract(band_b, hi_a, out=hi_a), np.subtract(lo_a, band_b, out=lo_a))
        np.minimum(out_a, out_b, out=out_a)
        np.maximum(out_a, 0, out=out_a)
        total += out_a * out_a
    return np.sqrt(total, out=total)


def box_mean(x: np.ndarray, size: int) -> np.ndarray:
    """Mean over a ``size`` x ``size`` window (edges reflected), per band of a (bands, H, W)
    stack, as float32.

    Example:
        >>> box_mean(np.arange(9, dtype=np.float32).reshape(3, 3), 3)[1, 1]
        np.float32(4.0)
    """
    sz = (1, size, size) if x.ndim == 3 else size
    return ndimage.uniform_filter(x, sz, mode="reflect").astype(np.float32, copy=False)


def structural_change(before: np.ndarray, after: np.ndarray, window: int) -> np.ndarray:
    """Loss of local structure: 1 - the contrast-structure term of SSIM, averaged over bands.

    The term ``(2 cov + C) / (var_b + var_a + C)`` ignores local means, so a uniform
    brightness shift is not change, while new edges, texture or flattened texture are.

    Args:
        before: float32 (bands, H, W), bands on comparable scales (e.g. standardised).
        after: float32 (bands, H, W).
        window: side of the square window, pixels (odd, >= 3).

    Returns:
        float32 (H, W) in 0..2 (0 = identical structure).

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(size=(1, 32, 32)).astype(np.float32)
        >>> float(structural_change(b, b + 5, 7).max()) < 1e-5
        True
    """
    c = np.float32(0.01)
    total = np.zeros(before.shape[1:], dtype=np.float32)
    for k in range(before.shape[0]):
        x = before[k]
        y = after[k]
        mx = box_mean(x, window)
        my = box_mean(y, window)
        # var_x + var_y - 2 cov = var(x - y), so the contrast-structure term is
        # 1 - var(x - y) / (var_x + var_y + C): four box filters per band.
        vsum = box_mean(x * x + y * y, window)
        vsum -= mx * mx
        vsum -= my * my
        d = x - y
        vd = box_mean(d * d, window)
        mx -= my
        vd -= mx * mx
        np.maximum(vd, 0, out=vd)
        np.maximum(vsum, 0, out=vsum)
        vsum += c
        vd /= vsum
        total += vd
    total /= np.float32(before.shape[0])
    return total


def spectral_angle(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Spectral angle between the two pixel vectors, radians (gain-invariant).

    Args:
        before: float32 (bands, H, W) of non-negative values.
        after: float32 (bands, H, W).

    Returns:
        float32 (H, W) angle in 0..pi.

    Example:
        >>> b = np.ones((2, 1, 1), np.float32)
        >>> float(spectral_angle(b, 3 * b)[0, 0]) < 1e-3
        True
    """
    dot = np.einsum("bhw,bhw->hw", before, after, dtype=np.float32)
    nb = np.sqrt(np.einsum("bhw,bhw->hw", before, before, dtype=np.float32))
    na = np.sqrt(np.einsum("bhw,bhw->hw", after, after, dtype=np.float32))
    cos = dot / np.maximum(nb * na, np.float32(1e-12))
    return np.arccos(np.clip(cos, -1.0, 1.0)).astype(np.float32)


@dataclass(frozen=True)
class IrmadFit:
    """The canonical transformation found by IR-MAD."""

    a: np.ndarray
    """(bands, bands) BEFORE canonical vectors (columns), lowest correlation first."""
    b: np.ndarray
    """(bands, bands) AFTER canonical vectors."""
    mean_before: np.ndarray
    """(bands,) weighted mean of BEFORE."""
    mean_after: np.ndarray
    """(bands,) weighted mean of AFTER."""
    sigma: np.ndarray
    """(bands,) robust standard deviation of each MAD variate (median absolute deviation)."""
    rho: np.ndarray
    """(bands,) canonical correlations, ascending."""
    iterations: int
    """Iterations run."""


def irmad_fit(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    max_iter: int = 20,
    tol: float = 1e-3,
    max_samples: int = 50_000,
    seed: int = 0,
) -> IrmadFit:
    """Iteratively re-weighted multivariate alteration detection (Nielsen 2007).

    Canonical correlation between the two dates, re-weighting each pixel by its
    chi-square probability of no change, until the correlations settle.

    Args:
        before: float32 (bands, H, W).
        after: float32 (bands, H, W).
        valid: bool (H, W) pixels to fit on.
        max_iter: iteration cap.
        tol: stop when no canonical correlation moves by more than this.
        max_samples: fit on at most this many valid pixels (a fixed random subset).
        seed: random seed of the subset.

    Returns:
        The :class:`IrmadFit`; apply it with :func:`irmad_chi2`.

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(size=(3, 40, 40)).astype(np.float32)
        >>> fit = irmad_fit(b, 2 * b + 0.1 * rng.normal(size=b.shape).astype(np.float32),
        ...                 np.ones((40, 40), bool))
        >>> bool(fit.rho.min() > 0.9)
        True
    """
    nb = before.shape[0]
    x = before[:, valid].astype(np.float64)
    y = after[:, valid].astype(np.float64)
    if x.shape[1] > max_samples:
        pick = np.random.default_rng(seed).choice(x.shape[1], max_samples, replace=False)
        x, y = x[:, pick], y[:, pick]
    w = np.ones(x.shape[1])
    rho_old = np.zeros(nb)
    ridge = 1e-9
    iterations = 0
    a = b = np.eye(nb)
    mx = my = np.zeros(nb)
    sigma = np.ones(nb)
    rho = np.zeros(nb)
    for it in range(1, max_iter + 1):
        sw = w.sum()
        if not sw > 0:
            # every pixel's no-change probability underflowed to 0 (a pair that differs
            # everywhere): keep the previous iteration's fit rather than divide by zero
            log.debug("IR-MAD: all weights vanished at iteration %d; keeping iteration %d",
                      it, iterations)
            break
        iterations = it
        mx = (x * w).sum(axis=1) / sw
        my = (y * w).sum(axis=1) / sw
        xc = x - mx[:, None]
        yc = y - my[:, None]
        s11 = (xc * w) @ xc.T / sw + ridge * np.eye(nb)
        s22 = (yc * w) @ yc.T / sw + ridge * np.eye(nb)
        s12 = (xc * w) @ yc.T / sw
        s22_inv = np.linalg.inv(s22)
        lam, a = linalg.eigh(s12 @ s22_inv @ s12.T, s11)
        lam = np.clip(lam, 0.0, 1.0)
        rho = np.sqrt(lam)
        b = s22_inv @ s12.T @ a
        b /= np.sqrt(np.maximum(np.einsum("ij,ik,kj->j", b, s22, b), 1e-30))
        sign = np.sign(np.einsum("ij,ik,kj->j", a, s12, b))
        sign[sign == 0] = 1
        b = b * sign
        mad = np.einsum("ij,in->jn", a, xc) - np.einsum("ij,in->jn", b, yc)
        sigma = np.sqrt(np.maximum(2.0 * (1.0 - rho), 1e-12))
        z = ((mad / sigma[:, None]) ** 2).sum(axis=0)
        w = special.gammaincc(nb / 2.0, z / 2.0)  # chi-square survival
        if np.max(np.abs(rho - rho_old)) < tol:
            break
        rho_old = rho
    # Final spread of each MAD variate from a robust estimate (median absolute deviation)
    # rather than 2 (1 - rho): real images have heavier tails than the Gaussian model.
    centre = np.median(mad, axis=1, keepdims=True)
    robust = 1.4826 * np.median(np.abs(mad - centre), axis=1)
    sigma = np.where(robust > 0, robust, sigma)
    return IrmadFit(a, b, mx, my, sigma, rho, iterations)


def irmad_chi2(before: np.ndarray, after: np.ndarray, fit: IrmadFit) -> np.ndarray:
    """The IR-MAD chi-square statistic of every pixel.

    Args:
        before: float32 (bands, H, W).
        after: float32 (bands, H, W).
        fit: result of :func:`irmad_fit`.

    Returns:
        float32 (H, W): sum of squared standardised MAD variates (chi-square with
        ``bands`` degrees of freedom under no change).

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(size=(2, 30, 30)).astype(np.float32)
        >>> fit = irmad_fit(b, b, np.ones((30, 30), bool))
        >>> irmad_chi2(b, b, fit).shape
        (30, 30)
    """
    nb, h, w = before.shape
    xc = before.reshape(nb, -1) - fit.mean_before[:, None].astype(np.float32)
    yc = after.reshape(nb, -1) - fit.mean_after[:, None].astype(np.float32)
    mad = np.einsum("ij,in->jn", fit.a.astype(np.float32), xc) - np.einsum(
        "ij,in->jn", fit.b.astype(np.float32), yc
    )
    mad /= fit.sigma[:, None].astype(np.float32)
    return np.einsum("bn,bn->n", mad, mad).reshape(h, w).astype(np.float32)


def ndvi(stack: np.ndarray, red: int, nir: int) -> np.ndarray:
    """Normalised difference vegetation index (0 where red + nir is 0).

    Args:
        stack: (bands, H, W) with non-negative reflectance-like values.
        red: index of the red band.
        nir: index of the near-infrared band.

    Returns:
        float32 (H, W) in -1..1.

    Example:
        >>> s = np.array([[[1.0]], [[3.0]]], np.float32)
        >>> float(ndvi(s, 0, 1)[0, 0])
        0.5
    """
    r = stack[red]
    n = stack[nir]
    total = n + r
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(total) > 0, (n - r) / total, 0.0)
    return np.clip(out, -1, 1).astype(np.float32)


def index_change(
    before: np.ndarray, after: np.ndarray, roles: tuple[str, ...]
) -> np.ndarray | None:
    """Spectral-index change: |dNDVI| plus a brightness index change, when the roles allow.

    Args:
        before: float32 (bands, H, W) raw (not standardised) values.
        after: float32 (bands, H, W) raw values, radiometrically matched to BEFORE.
        roles: band roles in order (e.g. ("blue", "green", "red", "nir")).

    Returns:
        float32 (H, W) ``|dNDVI| + |d brightness| / mean brightness``, or None when the
        roles lack red and nir.

    Example:
        >>> b = np.array([[[1.0]], [[3.0]]], np.float32); a = np.array([[[3.0]], [[1.0]]])
        >>> float(index_change(b, a.astype(np.float32), ("red", "nir"))[0, 0])
        1.0
    """
    low = [r.lower() for r in roles]
    if "red" not in low or not ({"nir", "nir08"} & set(low)):
        return None
    red = low.index("red")
    nir = low.index("nir") if "nir" in low else low.index("nir08")
    d_ndvi = np.abs(ndvi(after, red, nir) - ndvi(before, red, nir))
    bb = before.mean(axis=0)
    ba = after.mean(axis=0)
    scale = max(float(np.abs(bb).mean()), 1e-12)
    return (d_ndvi + np.abs(ba - bb) / scale).astype(np.float32)


def kittler_illingworth_threshold(score: np.ndarray, valid: np.ndarray, nbins: int = 512) -> float:
    """Minimum-error threshold (Kittler & Illingworth 1986) of the valid scores.

    Models the histogram as two Gaussians of unequal size and spread, so unlike Otsu it
    does not pull the threshold towards equal class sizes; it suits rare change.

    Args:
        score: float (H, W).
        valid: bool (H, W).
        nbins: histogram bins.

    Returns:
        The threshold (``inf`` when the scores are constant).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = np.concatenate([rng.normal(0, 1, 9000), rng.normal(8, 1, 1000)])
        >>> 2.0 < kittler_illingworth_threshold(s, np.ones(s.shape, bool)) < 6.0
        True
    """
    values = score[valid & np.isfinite(score)]
    if values.size < 2 or float(values.min()) == float(values.max()):
        return float("inf")
    hist, edges = np.histogram(values, bins=nbins)
    centres = (edges[:-1] + edges[1:]) / 2
    p = hist / hist.sum()
    p1 = np.cumsum(p)
    m1 = np.cumsum(p * centres)
    s1 = np.cumsum(p * centres**2)
    p2 = 1 - p1
    m2 = m1[-1] - m1
    s2 = s1[-1] - s1
    with np.errstate(divide="ignore", invalid="ignore"):
        mu1, mu2 = m1 / p1, m2 / p2
        v1 = s1 / p1 - mu1**2
        v2 = s2 / p2 - mu2**2
        j = p1 * np.log(v1) + p2 * np.log(v2) - 2 * (p1 * np.log(p1) + p2 * np.log(p2))
    j[~np.isfinite(j) | (v1 <= 0) | (v2 <= 0)] = np.inf
    if not np.isfinite(j).any():
        return otsu_threshold(score, valid)
    return float(edges[int(np.argmin(j)) + 1])


THRESHOLD_METHODS = ("otsu", "yen", "kittler-illingworth")
"""Names accepted by :func:`auto_threshold`."""


def auto_threshold(
    score: np.ndarray, valid: np.ndarray, method: str = "otsu", max_samples: int = 4_000_000
) -> float:
    """Automatic histogram threshold of the valid scores, on a regular subsample if large.

    Args:
        score: float (H, W).
        valid: bool (H, W).
        method: one of :data:`THRESHOLD_METHODS`. Yen's maximum-correlation criterion
            measured best for the structural statistic; Otsu for CVA and differences.
        max_samples: larger inputs are subsampled with a regular stride.

    Returns:
        The threshold (``inf`` when the valid scores are constant).

    Example:
        >>> s = np.array([[0.0, 0.1], [0.9, 1.0]], dtype=np.float32)
        >>> 0.1 <= auto_threshold(s, np.ones((2, 2), bool), "yen") < 0.9
        True
    """
    if method not in THRESHOLD_METHODS:
        raise ValueError(f"unknown threshold method {method!r}; choose {THRESHOLD_METHODS}")
    step = max(1, int(np.ceil(np.sqrt(score.size / max_samples))))
    s = score[::step, ::step]
    v = valid[::step, ::step]
    if method == "otsu":
        return otsu_threshold(s, v)
    if method == "kittler-illingworth":
        return kittler_illingworth_threshold(s, v)
    values = s[v & np.isfinite(s)]
    if values.size < 2 or float(values.min()) == float(values.max()):
        return float("inf")
    return float(threshold_yen(values, nbins=512))
