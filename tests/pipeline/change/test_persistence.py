"""Persistence of a change in the next capture, judged by local contrast (pure arrays)."""

from __future__ import annotations

import numpy as np
from affine import Affine
from shapely.geometry import Polygon, box

from pipeline.change.persistence import burn_objects, object_masks, persistence

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


def test_objects_cut_from_one_burn_are_judged_as_when_rasterised_one_by_one() -> None:
    rng = np.random.default_rng(3)
    transform = Affine(1.0, 0, 500.0, 0, -1.0, 900.0)
    a = rng.uniform(0.05, 0.1, (4, 120, 140))
    b, c = a.copy(), a.copy()
    outlines = [box(520, 800, 531, 812), box(560, 840, 566, 851),
                Polygon([(600, 820), (615, 822), (611, 833), (598, 829)]), box(630, 870, 650, 899)]
    for g in outlines[:2]:  # two real changes that persist, two that revert
        c0, r0 = ~transform @ (g.bounds[0], g.bounds[3])
        b[:, int(r0) : int(r0) + 10, int(c0) : int(c0) + 5] += 0.3
        c[:, int(r0) : int(r0) + 10, int(c0) : int(c0) + 5] += 0.3
    labels = burn_objects(outlines, transform, (120, 140))
    assert labels is not None
    alone = persistence(outlines, a, b, c, transform)
    assert alone[:2] == ["persisted", "persisted"], alone
    assert persistence(outlines, a, b, c, transform, burnt=labels) == alone
    for i, g in enumerate(outlines):
        one = object_masks(g, transform, (120, 140), reach_m=7.0)
        cut = object_masks(g, transform, (120, 140), reach_m=7.0, burnt=(labels, i + 1))
        assert one is not None and cut is not None and one[0] == cut[0]
        np.testing.assert_array_equal(one[1], cut[1])
        np.testing.assert_array_equal(one[2], cut[2])
