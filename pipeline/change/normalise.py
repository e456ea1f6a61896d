"""Radiometric normalisation between two dates: bring AFTER onto BEFORE's radiometry.

First choice: a per-band linear regression of BEFORE on AFTER fitted on the pixels that
IR-MAD judges unchanged (pseudo-invariant features, Canty & Nielsen 2008). Fallback when too
few unchanged pixels are found or a fit is implausible: per-band histogram matching.
Pure numpy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import stats

from pipeline.change.detectors import irmad_chi2, irmad_fit

log = logging.getLogger(__name__)

NO_CHANGE_PROBABILITY = 0.9
"""A pixel is a no-change (invariant) pixel when its IR-MAD no-change probability exceeds this."""
INVARIANT_QUANTILE = 0.1
"""On real pairs the chi-square tail is heavy and few pixels pass the probability test, so
the lowest-chi-square fraction of this size is always taken as invariant as well."""
MIN_INVARIANT_PIXELS = 50
"""Below this many invariant pixels the fallback is used."""
MIN_CORRELATION = 0.3
"""A band whose invariant pixels correlate less than this between dates falls back."""


@dataclass(frozen=True)
class Normalisation:
    """How AFTER maps onto BEFORE's radiometry, band by band."""

    method: str
    """"irmad-regression", "histogram-matching" or "none"."""
    gain: tuple[float, ...]
    """Per-band gain applied to AFTER (regression; 1 for the others)."""
    offset: tuple[float, ...]
    """Per-band offset applied to AFTER (regression; 0 for the others)."""
    quantiles_after: np.ndarray | None
    """(bands, K) AFTER quantiles of the histogram matching, else None."""
    quantiles_before: np.ndarray | None
    """(bands, K) BEFORE quantiles they map to, else None."""
    invariant_fraction: float
    """Fraction of the sampled pixels used as no-change pixels."""

    def apply(self, after: np.ndarray) -> np.ndarray:
        """AFTER (bands, H, W) mapped onto BEFORE's radiometry (float32 copy).

        Example:
            >>> n = Normalisation("irmad-regression", (2.0,), (1.0,), None, None, 1.0)
            >>> n.apply(np.ones((1, 1, 2), np.float32)).tolist()
            [[[3.0, 3.0]]]
        """
        out = np.empty(after.shape, dtype=np.float32)
        for b in range(after.shape[0]):
            if self.quantiles_after is not None and self.quantiles_before is not None:
                out[b] = np.interp(after[b], self.quantiles_after[b], self.quantiles_before[b])
            else:
                out[b] = after[b] * np.float32(self.gain[b]) + np.float32(self.offset[b])
        return out


def _sample(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray, max_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(valid)
    if rows.size > max_samples:
        pick = np.random.default_rng(0).choice(rows.size, max_samples, replace=False)
        rows, cols = rows[pick], cols[pick]
    return (
        before[:, rows, cols].astype(np.float32),
        after[:, rows, cols].astype(np.float32),
    )


def _histogram(x: np.ndarray, y: np.ndarray, nb: int, frac: float) -> Normalisation:
    q = np.linspace(0.0, 1.0, 1001)
    qa = np.quantile(y, q, axis=1)
    qb = np.quantile(x, q, axis=1)
    # np.interp needs increasing knots: drop repeated AFTER quantiles.
    qa = qa.T + np.arange(q.size)[None, :] * 1e-9 * np.maximum(np.abs(qa.T).max(axis=1), 1)[:, None]
    return Normalisation(
        "histogram-matching", (1.0,) * nb, (0.0,) * nb, qa.astype(np.float64),
        qb.T.astype(np.float64), frac,
    )


def normalise(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    method: str = "auto",
    max_samples: int = 50_000,
) -> Normalisation:
    """Find how AFTER maps onto BEFORE's radiometry, band by band.

    Fitted on at most ``max_samples`` random valid pixels, so the cost does not grow with
    the image; apply it with :meth:`Normalisation.apply`.

    Args:
        before: float32 (bands, H, W), finite where ``valid``.
        after: float32 (bands, H, W).
        valid: bool (H, W) pixels valid in both dates.
        method: "auto" (IR-MAD regression, histogram matching fallback), "irmad",
            "histogram" or "none".
        max_samples: pixels sampled for the fit.

    Returns:
        The :class:`Normalisation`.

    Example:
        >>> rng = np.random.default_rng(0); b = rng.gamma(2, 100, (3, 60, 60)).astype(np.float32)
        >>> n = normalise(b, 2 * b + 10, np.ones((60, 60), bool))
        >>> n.method, bool(np.allclose(n.apply(2 * b + 10), b, atol=0.1))
        ('irmad-regression', True)
    """
    nb = before.shape[0]
    if method == "none":
        return Normalisation("none", (1.0,) * nb, (0.0,) * nb, None, None, 0.0)
    x, y = _sample(before, after, valid, max_samples)
    if method == "histogram":
        return _histogram(x, y, nb, 0.0)
    mx, sx = x.mean(axis=1), x.std(axis=1)
    my, sy = y.mean(axis=1), y.std(axis=1)
    sx[sx == 0] = 1.0
    sy[sy == 0] = 1.0
    zx = ((x - mx[:, None]) / sx[:, None])[:, None, :]
    zy = ((y - my[:, None]) / sy[:, None])[:, None, :]
    ones = np.ones((1, x.shape[1]), dtype=bool)
    fit = irmad_fit(zx, zy, ones, max_samples=max_samples)
    chi = irmad_chi2(zx, zy, fit)[0]
    cut = float(np.quantile(chi, INVARIANT_QUANTILE))
    invariant = (stats.chi2.sf(chi, nb) > NO_CHANGE_PROBABILITY) | (chi <= cut)
    frac = float(invariant.mean())
    gains: list[float] = []
    offsets: list[float] = []
    if invariant.sum() >= MIN_INVARIANT_PIXELS:
        for b in range(nb):
            u = y[b][invariant].astype(np.float64)
            v = x[b][invariant].astype(np.float64)
            su, sv = u.std(), v.std()
            r = np.corrcoef(u, v)[0, 1] if su > 0 and sv > 0 else 0.0
            if not np.isfinite(r) or r <= MIN_CORRELATION:
                break
            # Reduced major axis regression: symmetric in the two dates.
            gain = sv / su
            gains.append(float(gain))
            offsets.append(float(v.mean() - gain * u.mean()))
    if len(gains) == nb:
        return Normalisation("irmad-regression", tuple(gains), tuple(offsets), None, None, frac)
    log.info("IR-MAD regression not possible (%.3f invariant); histogram matching", frac)
    return _histogram(x, y, nb, frac)
