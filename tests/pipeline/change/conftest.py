"""Synthetic scenes for the change-detection tests: small, textured, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage


def texture(shape: tuple[int, ...], seed: int = 0, sigma: float = 1.5) -> np.ndarray:
    """Smooth random texture (bands, H, W) around 1000 with a spread of about 200."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=shape)
    sig = (0, sigma, sigma) if len(shape) == 3 else sigma
    t = ndimage.gaussian_filter(noise, sig)
    return (1000 + 200 * t / t.std()).astype(np.float32)


@pytest.fixture
def scene() -> tuple[np.ndarray, np.ndarray]:
    """A 4-band 128x128 pair: AFTER = BEFORE + small noise + a bright textured 16x16 square
    at rows 40..55, cols 60..75."""
    rng = np.random.default_rng(1)
    before = texture((4, 128, 128), seed=1)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, 40:56, 60:76] = texture((4, 16, 16), seed=9, sigma=0.7) + 600
    return before, after
