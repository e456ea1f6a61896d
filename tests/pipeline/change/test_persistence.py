"""Persistence of a change in the next capture, judged by local contrast (pure arrays)."""

from __future__ import annotations

import numpy as np
from affine import Affine
from shapely.geometry import box

from pipeline.change.persistence import persistence

T = Affine(1, 0, 0, 0, -1, 0)
ROOF = box(15, -25, 25, -15)


def scene(roof: float, ground: float = 0.1) -> np.ndarray:
    img = np.full((2, 40, 40), ground)
    img[:, 15:25, 15:25] = roof
    return img


def test_new_roof_persists_under_other_illumination() -> None:
    before, after = scene(0.1), scene(0.5)
    brighter_day = scene(0.5) * 1.6
    assert persistence([ROOF], before, after, brighter_day, T) == ["persisted"]


def test_transient_reverts() -> None:
    assert persistence([ROOF], scene(0.1), scene(0.5), scene(0.1) * 0.8, T) == ["reverted"]


def test_unclear_next_capture_is_unknown() -> None:
    cloudy = scene(0.5)
    cloudy[:, 10:30, 10:30] = np.nan
    assert persistence([ROOF], scene(0.1), scene(0.5), cloudy, T) == ["unknown"]


def test_outline_off_the_grid_is_unknown() -> None:
    far = box(1000, -1000, 1010, -990)
    assert persistence([far], scene(0.1), scene(0.5), scene(0.5), T) == ["unknown"]
