"""Temporal evidence: a change must depart from the whole series, not just from A."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from pipeline.change.evidence import (
    HIGH_STEP,
    LOCAL_RATIO,
    MEDIUM_STEP,
    light_ruled_out,
    log_contrast,
    neighbour_looks,
    neighbour_offsets,
    temporal_evidence,
)
from pipeline.change.persistence import object_masks

GROUND = np.array([0.0, 0.0, 0.0, 0.0])
ROOF = np.array([0.5, 0.6, 0.7, 0.2])  # a new material: bands change unequally
SHADOW = np.array([-0.9, -0.9, -0.9, -0.9])  # a shadow darkens every band alike


def d(year: int, month: int = 6) -> datetime:
    return datetime(year, month, 1)


def test_a_new_roof_seen_before_and_after_is_high_confidence() -> None:
    looks = [(d(2010), GROUND), (d(2011), GROUND + 0.02), (d(2012), ROOF), (d(2013), ROOF)]
    ev = temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5)
    assert (ev.verdict, ev.label, ev.earlier, ev.later) == ("", "high", 1, 1)
    assert ev.contrast_step == pytest.approx(float(np.linalg.norm(ROOF - GROUND - 0.02)))


def test_confidence_counts_independent_support() -> None:
    # no earlier capture: confirmed only -> medium; nothing but the pair -> low
    only_later = [(d(2011), GROUND), (d(2012), ROOF), (d(2013), ROOF)]
    assert temporal_evidence(only_later, d(2011), d(2012), 400.0, 0.5).label == "medium"
    pair_only = [(d(2011), GROUND), (d(2012), ROOF)]
    ev = temporal_evidence(pair_only, d(2011), d(2012), 400.0, 0.5)
    assert (ev.verdict, ev.label) == ("", "low")


def test_a_small_step_is_never_high() -> None:
    faint_roof = np.array([0.12, 0.1, 0.08, 0.1])  # over the floor, under HIGH_STEP
    looks = [(d(2010), GROUND), (d(2011), GROUND), (d(2012), faint_roof), (d(2013), faint_roof)]
    ev = temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5)
    assert (ev.verdict, ev.label) == ("", "medium")


def test_a_transient_in_a_is_seen_before() -> None:
    # A carries a transient (dust, an unmasked shadow); B returns to what 2010 showed
    looks = [(d(2010), ROOF), (d(2011), GROUND), (d(2012), ROOF), (d(2013), ROOF)]
    assert temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5).verdict == "seen_before"


def test_a_change_that_comes_back_oscillates() -> None:
    looks = [(d(2010), GROUND), (d(2011), GROUND), (d(2012), ROOF), (d(2013), GROUND),
             (d(2014), ROOF)]
    assert temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5).verdict == "oscillates"


def test_a_demolition_after_a_build_is_not_oscillation() -> None:
    looks = [(d(2010), GROUND), (d(2011), GROUND), (d(2012), ROOF), (d(2013), ROOF),
             (d(2014, 2), GROUND)]
    assert temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5).verdict == ""


def test_reverted_when_a_season_returns_is_seasonal() -> None:
    looks = [(d(2010, 12), GROUND), (d(2012, 8), ROOF), (d(2013, 8), ROOF),
             (d(2024, 12), GROUND)]
    ev = temporal_evidence(looks, d(2010, 12), d(2012, 8), 400.0, 0.5)
    assert ev.verdict == "seasonal"


def test_a_third_look_in_the_same_season_neither_reverts_nor_confirms() -> None:
    # demo seed 4, E01 (a barrack built in 2012): A in December, B in August; a January
    # capture 14 years on, low sun over the new building, lies a little nearer A than B but
    # further from A than the whole step: a third look, not the season returning
    a = np.array([-0.014, -0.008, -0.004, -0.026])
    b = np.array([0.211, 0.089, -0.002, -0.112])
    winter = np.array([0.013, -0.165, -0.348, -0.347])
    looks = [(d(2010, 12), a), (d(2012, 8), b), (d(2013, 9), b + 0.03), (d(2025, 1), winter)]
    ev = temporal_evidence(looks, d(2010, 12), d(2012, 8), 2115.0, 0.5)
    assert (ev.verdict, ev.label, ev.later) == ("", "medium", 1)
    # the same winter capture back near A's look (within the step) is the season returning
    looks[-1] = (d(2025, 1), a + 0.05)
    assert temporal_evidence(looks, d(2010, 12), d(2012, 8), 2115.0, 0.5).verdict == "seasonal"
    # and a third look right after B neither confirms nor reverts: nothing said, low
    only = [(d(2010, 12), a), (d(2012, 8), b), (d(2025, 1), winter)]
    assert temporal_evidence(only, d(2010, 12), d(2012, 8), 2115.0, 0.5).later == 0


def test_a_uniform_darkening_is_illumination() -> None:
    looks = [(d(2010), GROUND), (d(2011), GROUND), (d(2012), SHADOW)]
    assert temporal_evidence(looks, d(2011), d(2012), 300.0, 0.5).verdict == "illumination"


def test_small_and_faint_changes_are_not_events() -> None:
    looks = [(d(2011), GROUND), (d(2012), ROOF)]
    # 5 pixels of a 10 m series is not an object
    assert temporal_evidence(looks, d(2011), d(2012), 500.0, 10.0).verdict == "small"
    faint = [(d(2011), GROUND), (d(2012), GROUND + np.array([0.03, 0.0, 0.05, 0.0]))]
    assert temporal_evidence(faint, d(2011), d(2012), 400.0, 0.5).verdict == "faint"


def test_unmeasured_object_is_low_and_not_an_event() -> None:
    ev = temporal_evidence([(d(2011), None), (d(2012), ROOF)], d(2011), d(2012), 400.0, 0.5)
    assert (ev.verdict, ev.label) == ("unclear", "low")
    assert ev.as_extra()["contrast_step"] is None


def test_log_contrast_needs_clear_pixels() -> None:
    stack = np.ones((2, 6, 6))
    inside = np.zeros((6, 6), bool)
    inside[2:4, 2:4] = True
    stack[:, inside] = 2.0
    ring = ~inside
    got = log_contrast(stack, inside, ring)
    assert got is not None and np.allclose(got, np.log(2.0))
    stack[:, 2:4, 2:4] = np.nan  # the object not clear
    assert log_contrast(stack, inside, ring) is None


def test_object_masks_ring_lies_between_the_two_distances() -> None:
    from affine import Affine
    from shapely.geometry import box

    transform = Affine(1, 0, 1000, 0, -1, 2000)  # 1 m pixels
    got = object_masks(box(1020, 1970, 1030, 1980), transform, (60, 60))
    assert got is not None
    (rows, cols), inside, ring = got
    assert int(inside.sum()) == 100 and not (inside & ring).any()
    rr, cc = np.nonzero(ring)
    # ring pixel centres lie 2..12 m outside the 10 m square (rows 20..29, cols 20..29)
    r_abs, c_abs = rr + rows.start + 0.5, cc + cols.start + 0.5
    dr = np.maximum(0, np.maximum(20 - r_abs, r_abs - 30))
    dc = np.maximum(0, np.maximum(20 - c_abs, c_abs - 30))
    dist = np.hypot(dr, dc)
    assert dist.min() > 2.0 - 1e-9 and dist.max() <= 12.0 + 1e-9
    assert object_masks(box(0, 0, 5, 5), transform, (60, 60)) is None  # off the array


def test_a_step_under_high_step_with_full_support_is_medium() -> None:
    step = np.full(4, 0.9 * HIGH_STEP / 2)  # norm 0.9 * HIGH_STEP, bands unequal below
    step[0] *= 0.5
    looks = [(d(2010), GROUND), (d(2011), GROUND), (d(2012), step), (d(2013), step)]
    ev = temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5)
    assert (ev.verdict, ev.label) == ("", "medium")


def test_an_object_on_a_mask_edge_is_not_measured() -> None:
    # the ring is a fifth hidden (a cloud beside the object): its contrast is not comparable
    stack = np.ones((2, 10, 10))
    inside = np.zeros((10, 10), bool)
    inside[4:6, 4:6] = True
    stack[:, inside] = 2.0
    ring = ~inside
    assert log_contrast(stack, inside, ring) is not None
    stack[:, :2, :] = np.nan  # 20 of 96 ring pixels not clear
    assert log_contrast(stack, inside, ring) is None
    looks = [(d(2011), GROUND), (d(2012), None), (d(2013), ROOF)]
    assert temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5).verdict == "unclear"


def _field(haze: float, roof: bool) -> np.ndarray:
    """A 1 m textured field (4 bands, 80 px) with an optional 8 px roof in the middle and an
    additive haze that lifts dark ground more than bright (log contrast moves everywhere)."""
    rng = np.random.default_rng(3)
    # 8 px patches of dark and bright ground; the object's own patch is dark
    base = np.kron(0.03 + 0.15 * (rng.random((10, 10)) > 0.5), np.ones((8, 8)))
    base[36:44, 36:44] = 0.03
    stack = np.stack([base * k for k in (0.8, 1.0, 1.2, 1.5)])
    if roof:
        stack[:, 36:44, 36:44] = np.array([0.3, 0.35, 0.4, 0.3])[:, None, None]
    return stack + haze


def _pair_evidence(after: np.ndarray) -> tuple[str, float]:
    from affine import Affine
    from shapely.geometry import box

    transform = Affine(1, 0, 0, 0, -1, 0)
    geom = box(36, -44, 44, -36)
    offsets = neighbour_offsets(geom, 1.0)
    got = object_masks(geom, transform, (80, 80),
                       reach_m=max(abs(v) for o in offsets for v in o))
    assert got is not None
    (rows, cols), inside, ring = got
    sides = []
    looks = []
    for when, stack in ((d(2011), _field(0.0, False)), (d(2012), after)):
        sub = stack[:, rows, cols]
        looks.append((when, log_contrast(sub, inside, ring)))
        sides.append(neighbour_looks(sub, inside, ring, offsets))
    ev = temporal_evidence(looks, d(2011), d(2012), 64.0, 1.0,
                           list(zip(*sides, strict=True)))
    return ev.verdict, ev.local_ratio


def test_with_two_captures_a_change_must_stand_out_from_its_neighbourhood() -> None:
    # a roof built on a field that did not change otherwise: an event, far above its
    # neighbours' steps
    verdict, ratio = _pair_evidence(_field(0.0, True))
    assert verdict == "" and ratio >= LOCAL_RATIO
    # no roof, only haze: the object's contrast moved, but so did every neighbour's
    verdict, ratio = _pair_evidence(_field(0.05, False))
    assert verdict == "like_surroundings" and ratio < LOCAL_RATIO


def test_neighbours_leaving_the_box_are_not_measured() -> None:
    stack = np.ones((1, 30, 30))
    inside = np.zeros((30, 30), bool)
    inside[13:17, 13:17] = True
    ring = np.zeros_like(inside)
    ring[11:19, 11:19] = True
    ring &= ~inside
    got = neighbour_looks(stack, inside, ring, [(8, 0), (0, -8), (20, 0)])
    assert [g is None for g in got] == [False, False, True]
    # only the pair speaks and the neighbours are all unmeasured: no local test
    ev = temporal_evidence([(d(2011), GROUND), (d(2012), ROOF)], d(2011), d(2012), 400.0, 0.5,
                           [(None, None)] * 8)
    assert (ev.verdict, ev.label) == ("", "low") and np.isnan(ev.local_ratio)


def test_one_sided_support_needs_a_larger_step() -> None:
    small = np.array([0.12, 0.1, 0.08, 0.1]) * (0.9 * MEDIUM_STEP / 0.2)  # under MEDIUM_STEP
    big = small * (1.2 * MEDIUM_STEP / float(np.linalg.norm(small)))  # over it
    for step, verdict in ((small, "faint"), (big, "")):
        # a later capture confirms it, there is no earlier one: one side only
        looks = [(d(2011), GROUND), (d(2012), step), (d(2013), step)]
        assert temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5).verdict == verdict
    # both sides support the small step: an event (medium: under HIGH_STEP)
    looks = [(d(2010), GROUND), (d(2011), GROUND), (d(2012), small), (d(2013), small)]
    ev = temporal_evidence(looks, d(2011), d(2012), 400.0, 0.5)
    assert (ev.verdict, ev.label) == ("", "medium")


def test_high_needs_the_light_ruled_out() -> None:
    # demo seed 11: a darkening from a March capture (sun 48 degrees) to a November one (29),
    # every earlier capture in higher sun, the confirming one in low winter sun again: the
    # longer shadows explain it however many captures agree, so it is medium, not high
    a, b = d(2021, 3), d(2022, 11)
    looks = [(d(2010, 5), GROUND), (d(2011, 9), GROUND), (a, GROUND), (b, SHADOW + ROOF),
             (d(2024, 12), SHADOW + ROOF)]
    sun = {d(2010, 5): 64.8, d(2011, 9): 55.0, a: 48.3, b: 29.3, d(2024, 12): 27.0}
    ev = temporal_evidence(looks, a, b, 400.0, 1.0, sun=sun)
    assert (ev.verdict, ev.label) == ("", "medium")
    # a confirming capture in light nearer A's rules the light out: high
    sun[d(2024, 12)] = 50.0
    assert temporal_evidence(looks, a, b, 400.0, 1.0, sun=sun).label == "high"
    # so does an earlier capture in light nearer B's that B departs from
    sun[d(2024, 12)], sun[d(2011, 9)] = 27.0, 30.0
    assert temporal_evidence(looks, a, b, 400.0, 1.0, sun=sun).label == "high"
    # and A and B in the same light
    sun[d(2011, 9)], sun[b] = 55.0, 46.0
    assert temporal_evidence(looks, a, b, 400.0, 1.0, sun=sun).label == "high"


def test_without_sun_elevations_the_day_of_the_year_stands_for_the_light() -> None:
    a, b = d(2021, 3), d(2022, 11)
    looks = [(d(2011, 9), GROUND), (a, GROUND), (b, ROOF), (d(2024, 12), ROOF)]
    # September lies nearer November than March: B departs from a look of its own season
    assert temporal_evidence(looks, a, b, 400.0, 1.0).label == "high"
    looks[0] = (d(2011, 4), GROUND)  # April: A's side; the December capture B's: medium
    assert temporal_evidence(looks, a, b, 400.0, 1.0).label == "medium"
    assert light_ruled_out(a, b, [d(2011, 4)], [d(2024, 12)]) is False


def test_support_that_may_be_the_light_needs_the_one_sided_step() -> None:
    # seed 11's ten-year gap pair: September -> March, the earlier capture in May (sun nearer
    # A's), the confirming ones in November and December (nearer B's): a 0.18 step is faint
    a, b = d(2011, 9), d(2021, 3)
    step = np.array([-0.05, 0.0, -0.1, 0.15])
    looks = [(d(2010, 5), GROUND), (a, GROUND), (b, step), (d(2022, 11), step),
             (d(2024, 12), step)]
    sun = {d(2010, 5): 64.8, a: 55.0, b: 48.3, d(2022, 11): 29.3, d(2024, 12): 27.0}
    assert float(np.linalg.norm(step)) < MEDIUM_STEP
    assert temporal_evidence(looks, a, b, 500.0, 1.0, sun=sun).verdict == "faint"
    sun[b] = 52.0  # A and B in the same light: the two sides' support stands
    ev = temporal_evidence(looks, a, b, 500.0, 1.0, sun=sun)
    assert (ev.verdict, ev.label) == ("", "medium")
