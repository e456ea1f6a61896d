"""Persistence of a change in the next capture, judged by local contrast (pure arrays)."""

from __future__ import annotations

import numpy as np
from affine import Affine
from shapely.geometry import Polygon, box

from pipeline.change.persistence import burn_objects, object_masks, object_windows, persistence

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


def test_windows_around_the_objects_give_the_whole_grid_verdicts() -> None:
    # what pipeline.run._with_persistence reads instead of the whole grid: every object's
    # box inside its window, the same masks (edges of the grid included) and verdicts
    rng = np.random.default_rng(7)
    res, shape = 0.5, (600, 900)
    transform = Affine(res, 0, 1000.0, 0, -res, 2000.0)
    a = rng.uniform(0.05, 0.1, (4, *shape)).astype(np.float32)
    b, c = a.copy(), a.copy()
    a[:, rng.uniform(size=shape) < 0.05] = np.nan  # some ground not clear
    outlines = []
    corners = [(0, 0), (shape[0] - 10, shape[1] - 12)]  # boxes the grid's edges clip
    for k in range(30):
        r, col = corners[k] if k < 2 else (int(rng.integers(0, shape[0] - 10)),
                                           int(rng.integers(0, shape[1] - 12)))
        h, w = int(rng.integers(2, 10)), int(rng.integers(2, 12))
        x0, y0 = transform @ (col, r)
        outlines.append(box(x0, y0 - h * res, x0 + w * res, y0))
        b[:, r:r + h, col:col + w] += 0.3
        if k % 3:
            c[:, r:r + h, col:col + w] += 0.2
    whole = persistence(outlines, a, b, c, transform)
    assert {"persisted", "reverted"} <= set(whole)
    windows = object_windows(outlines, transform, shape)
    assert sorted(i for _, members in windows for i in members) == list(range(len(outlines)))
    assert 1 < len(windows) < len(outlines)  # near objects share a window
    for (r0, r1, c0, c1), members in windows:
        local = transform @ Affine.translation(c0, r0)
        ca, cb, cc = (s[:, r0:r1, c0:c1] for s in (a, b, c))
        here = [outlines[i] for i in members]
        labels = burn_objects(here, local, (r1 - r0, c1 - c0))
        assert persistence(here, ca, cb, cc, local, burnt=labels) == [whole[i] for i in members]
        for i in members:
            full = object_masks(outlines[i], transform, shape)
            part = object_masks(outlines[i], local, (r1 - r0, c1 - c0))
            assert full is not None and part is not None
            (fr, fc), (pr, pc) = full[0], part[0]
            assert (fr.start - r0, fr.stop - r0, fc.start - c0, fc.stop - c0) == (
                pr.start, pr.stop, pc.start, pc.stop)
            np.testing.assert_array_equal(full[1], part[1])
            np.testing.assert_array_equal(full[2], part[2])
