"""Temporal evidence for a change: does it depart from the whole series? (pure array maths)

A pair of captures shows where pixels differ; the series says whether that difference
is a change. Each change object is described in every clear capture of its series by
its log contrast with a ring of ground around it (log of object mean / ring mean, per
band; see :mod:`pipeline.change.persistence`), which survives illumination, haze and
season far better than raw reflectance. With A the capture before and B the capture
after, a change is an *event* only when:

- its contrast changed by at least :data:`CONTRAST_FLOOR` (``|d(B) - d(A)|``; below it
  the difference is texture, noise or a sub-pixel shift);
- with the support of one side of the series only (earlier captures, or a later one), or of
  both sides when the light is not ruled out (:func:`light_ruled_out`), it changed by at
  least :data:`MEDIUM_STEP`;
- it covers at least :data:`MIN_GSD_PIXELS` pixels of the series' ground sample
  distance (a few 10 m pixels are not an object);
- B departs from every earlier clear capture H (before A): ``|d(B) - d(H)|`` is at least
  ``|d(A) - d(H)|`` and at least :data:`NOVELTY` of the step ``|d(B) - d(A)|``. A shadow of
  the season or a transient in A (dust, a vehicle, an unmasked cloud shadow) is a
  return to something seen before, not a change;
- no later capture first reverts it and a still later one shows it again
  (oscillation: shadows and seasons come and go, a demolition does not come back);
- no later capture within :data:`SEASON_DAYS` of A's day of the year reverts it (the
  season returned, so did the look);
- the step is not a pure change of illumination: a shadow darkens every band by the
  same factor, so its log-contrast step is the same in every band (spread under
  :data:`FLAT_SPREAD` of its mean, with at least three bands).

A later capture *shows* the change when its look lies nearer B's than A's, and *reverts* it
only when it lies nearer A's than B's *and* nearer A's than B's does (within the step,
:func:`reverts`); a look further from A than the whole step is a third look (other light,
snow, a low winter sun) that neither confirms nor reverts.

A look is measured in a capture only where at least :data:`CLEAR_SHARE` of the object and
of its ring are clear: beside a cloud, its shadow or a strip edge the surroundings are
partly hidden and the contrast is not comparable (last session's false "high" events on
real pairs lay along the edge of a mask). A or B unmeasured: not an event ("unclear").

Where the series has nothing else to say (two captures: no earlier and no later capture
can support the change), it must at least stand out from its own neighbourhood: the same
outline, moved to :data:`NEIGHBOURS` places around it (each one object width plus the ring
away), is measured in A and B the same way, and the change's step must be at least
:data:`LOCAL_RATIO` times the largest of those steps
(:func:`neighbour_offsets`, :func:`neighbour_looks`). A season, haze or a change of light
moves the contrast of the whole neighbourhood; a new building moves its own.

Confidence follows the evidence: ``high`` when B departs from at least one earlier
capture besides A *and* at least one later capture confirms it *and* the contrast moved by
at least :data:`HIGH_STEP` *and* the series rules out the light (:func:`light_ruled_out`:
A and B in similar light, or support from a capture in the other one's light; else the
support may be the sun's height or the season alone); ``medium`` when only one of the two
captures' support exists (or both without the step or with the light not ruled out);
``low`` when only the pair itself speaks for it (no earlier and no later clear capture of
the place).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from shapely.geometry.base import BaseGeometry

from imagery.types import ConfidenceLabel
from pipeline.change.persistence import RING_M

CONTRAST_FLOOR = 0.1
"""Smallest change of log contrast with the surroundings (about 10 %) that is evidence."""
MIN_GSD_PIXELS = 15.0
"""Smallest event, in pixels of the series' ground sample distance."""
NOVELTY = 0.5
"""B must lie at least this share of the A→B step away from every earlier capture."""
SEASON_DAYS = 45
"""A later capture this close to A's day of the year that looks like A reverts the change."""
HIGH_STEP = 0.5
"""A high-confidence change moved its log contrast by at least this much (a factor 1.65, five
times the floor): a smaller step can be texture, haze, a winter shadow or a seasonal shift
that happened to hold. Was 0.25 (set on demo seed 4): on seed 11 only 6 of 14 "high" events
were real at 0.25, 6 of 8 at 0.5 (benchmarks/events.py)."""
MEDIUM_STEP = 0.2
"""A change supported by one side of the series only (earlier captures or a later one, not
both) moved its log contrast by at least this much (about 22 %): the less the series says,
the larger the step must be. Chosen on seeds 4 and 7 (seed 7: precision 36 % -> 43 %, recall
kept; 0.25 lost a real event there, 0.3 one on seed 4)."""
CLEAR_SHARE = 0.9
"""A look is measured only where this share of the object's and of its ring's pixels are
clear (an object on the edge of a cloud, shadow or strip mask is not measured there)."""
LOCAL_RATIO = 4.0
"""With no support from the series, the step must be this many times the largest step of the
same outline moved around it. Chosen on OSCD Bercy (on cached looks: 3 of 7 events real at 4,
3 of 11 at 3, 4 of 20 at 2); Hong Kong held out (end to end 10 of 15: events_real.py)."""
NEIGHBOURS = 8
"""Places around an object (the eight compass directions) where its outline is moved."""
SUN_MATCH_DEG = 5.0
"""Sun elevations this close count as the same light (at 45 degrees, 5 degrees lengthen a cast
shadow by about 17 %: under a pixel for a 3 m wall at 1 m GSD)."""
FLAT_SPREAD = 0.15
"""A step whose bands differ by less than this share of its mean is a change of light."""

Verdict = str
""""" for an event, else why not: "unclear", "small", "faint", "seen_before", "oscillates",
"seasonal", "illumination" or "like_surroundings"."""


@dataclass(frozen=True)
class Evidence:
    """What the series says about one change object."""

    verdict: Verdict
    """"" when the change is an event, else the first test it failed."""
    label: ConfidenceLabel
    """Confidence from the evidence: high, medium or low."""
    contrast_step: float
    """|d(B) - d(A)|: change of log contrast with the surroundings (NaN when unmeasured)."""
    earlier: int
    """Clear captures before A that B was compared with."""
    later: int
    """Clear later captures that still show B's look (until the first that reverts it)."""
    local_ratio: float = float("nan")
    """Step over the largest step of the outline moved around it (NaN when not measured:
    only measured when the series gives no support)."""

    def as_extra(self) -> dict[str, object]:
        """The evidence as stored in a change's ``extra["evidence"]``.

        Example:
            >>> Evidence("", "high", 0.5, 2, 1).as_extra()["label"]
            'high'
        """
        return {
            "verdict": self.verdict, "label": self.label,
            "contrast_step": None if np.isnan(self.contrast_step) else round(self.contrast_step, 4),
            "earlier": self.earlier, "later": self.later,
            "local_ratio": None if np.isnan(self.local_ratio) else round(self.local_ratio, 3),
        }


def log_contrast(stack: np.ndarray, inside: np.ndarray, ring: np.ndarray) -> np.ndarray | None:
    """Log of (object mean / ring mean) per band; None when less than :data:`CLEAR_SHARE` of
    the object or of the ring is clear.

    Example:
        >>> import numpy as np
        >>> s = np.ones((1, 4, 4)); s[0, 1:3, 1:3] = np.e
        >>> inside = s[0] > 1; ring = ~inside
        >>> [round(float(v), 3) for v in log_contrast(s, inside, ring)]
        [1.0]
    """
    obj = stack[:, inside]
    bg = stack[:, ring]
    obj = obj[:, np.all(np.isfinite(obj), axis=0)]
    bg = bg[:, np.all(np.isfinite(bg), axis=0)]
    if (obj.shape[1] < max(3.0, CLEAR_SHARE * int(inside.sum()))
            or bg.shape[1] < max(3.0, CLEAR_SHARE * int(ring.sum()))):
        return None
    om, rm = obj.mean(axis=1), bg.mean(axis=1)
    if np.any(rm <= 0) or np.any(om <= 0):
        return None
    return np.asarray(np.log(om / rm))


def neighbour_offsets(
    geom: BaseGeometry, res: float, ring_m: tuple[float, float] = RING_M,
) -> list[tuple[int, int]]:
    """(row, col) pixel offsets of the :data:`NEIGHBOURS` places an outline is moved to.

    Each lies one object width (the larger side of its bounding box) plus the ring's outer
    distance away, in the eight compass directions, so a moved outline does not cover the
    object itself. ``max(abs(offset)) * res`` is the reach
    :func:`pipeline.change.persistence.object_masks` needs.

    Example:
        >>> from shapely.geometry import box
        >>> neighbour_offsets(box(0, 0, 10, 4), 1.0)[:2]
        [(24, 0), (-24, 0)]
    """
    minx, miny, maxx, maxy = geom.bounds
    d = int(np.ceil((max(maxx - minx, maxy - miny) + ring_m[1]) / res)) + 2
    return [(d, 0), (-d, 0), (0, d), (0, -d), (d, d), (d, -d), (-d, d), (-d, -d)]


def _moved(mask: np.ndarray, dr: int, dc: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    r0, r1, c0, c1 = max(0, dr), min(h, h + dr), max(0, dc), min(w, w + dc)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = mask[r0 - dr:r1 - dr, c0 - dc:c1 - dc]
    return out


def neighbour_looks(
    stack: np.ndarray, inside: np.ndarray, ring: np.ndarray,
    offsets: Sequence[tuple[int, int]],
) -> list[np.ndarray | None]:
    """:func:`log_contrast` of the outline moved by each offset (None where it leaves the box
    or is not clear).

    Args:
        stack: (bands, H, W) reflectance of the box of
            :func:`pipeline.change.persistence.object_masks` (NaN not clear).
        inside, ring: the object and ring masks of that box.
        offsets: from :func:`neighbour_offsets`.

    Example:
        >>> import numpy as np
        >>> s = np.ones((1, 30, 30)); inside = np.zeros((30, 30), bool); inside[13:17, 13:17] = 1
        >>> ring = np.zeros_like(inside); ring[11:19, 11:19] = 1; ring &= ~inside
        >>> [v is None for v in neighbour_looks(s, inside, ring, [(8, 0), (20, 0)])]
        [False, True]
    """
    n = int(inside.sum())
    out: list[np.ndarray | None] = []
    for dr, dc in offsets:
        moved = _moved(inside, dr, dc)
        out.append(None if int(moved.sum()) < n
                   else log_contrast(stack, moved, _moved(ring, dr, dc)))
    return out


def _season_gap(a: datetime, b: datetime) -> int:
    d = abs(a.timetuple().tm_yday - b.timetuple().tm_yday)
    return min(d, 365 - d)


def _later_look(v: np.ndarray, a: np.ndarray, b: np.ndarray, size: float) -> bool | None:
    """True when a later look still shows B, False when it brings A back, None when it is a
    third look, nearer neither or at least as far from A as the whole step (:func:`reverts`)."""
    to_a, to_b = float(np.linalg.norm(v - a)), float(np.linalg.norm(v - b))
    if to_b < to_a:
        return True
    return False if reverts(to_a, to_b, size) else None


def reverts(to_a: float, to_b: float, step: float) -> bool:
    """Whether a later look at distances ``to_a`` and ``to_b`` from A's and B's looks brings
    A's look back: it must lie nearer A than B *and* nearer A than B itself lies (the step).

    A shadow or a season that returns brings the contrast back close to A's; a later capture
    whose contrast lies as far from A as the whole step or further (other light, snow, a low
    winter sun over a new building) shows a third look, which neither confirms nor reverts
    the change: on the default demo such a capture, 18 days from A's day of the year, undid
    a real barrack of 2012 (E01) as "seasonal".

    Example:
        >>> reverts(0.05, 0.3, 0.3), reverts(0.5, 0.53, 0.26)
        (True, False)
    """
    return to_a < to_b and to_a < step


def light_ruled_out(before: datetime, after: datetime, earlier: Sequence[datetime],
                    confirming: Sequence[datetime],
                    sun: Mapping[datetime, float | None] | None = None) -> bool:
    """Whether the series rules out the light (sun height, season) as the cause of a step.

    Shadows lengthen as the sun sinks and vegetation follows the time of year. When every
    earlier capture was taken in light nearer A's and every later one that confirms the change
    in light nearer B's, a look that is "new" after B and "kept" later can be the light alone
    (a winter sun's longer shadows, dormant grass), however many captures agree. The light is
    ruled out when A and B were taken in similar light, or B departs from an earlier capture
    taken in light nearer B's than A's, or a capture taken in light nearer A's still shows B.
    Light is the sun's elevation when every capture involved records it (similar: within
    :data:`SUN_MATCH_DEG`), else the day of the year (similar: within :data:`SEASON_DAYS`).

    Example:
        >>> from datetime import datetime as d
        >>> a, b, h, c = d(2021, 3, 23), d(2022, 11, 23), d(2011, 9, 5), d(2024, 12, 27)
        >>> sun = {a: 48.3, b: 29.3, h: 55.0, c: 27.0}
        >>> light_ruled_out(a, b, [h], [c], sun), light_ruled_out(a, b, [h], [c])
        (False, True)
    """
    sun = sun or {}
    times = [before, after, *earlier, *confirming]
    by = {t: sun.get(t) for t in times}
    use_sun = all(e is not None for e in by.values())
    similar = SUN_MATCH_DEG if use_sun else float(SEASON_DAYS)

    def gap(x: datetime, y: datetime) -> float:
        if use_sun:
            return abs(float(by[x] or 0.0) - float(by[y] or 0.0))
        return float(_season_gap(x, y))
    return (gap(before, after) <= similar
            or any(gap(h, after) < gap(h, before) for h in earlier)
            or any(gap(c, before) < gap(c, after) for c in confirming))


def temporal_evidence(
    looks: Sequence[tuple[datetime, np.ndarray | None]],
    before: datetime,
    after: datetime,
    area_m2: float,
    gsd_m: float,
    neighbours: Sequence[tuple[np.ndarray | None, np.ndarray | None]] = (),
    sun: Mapping[datetime, float | None] | None = None,
) -> Evidence:
    """Judge one change object from its look in every capture of its series.

    Args:
        looks: (acquisition time, log contrast per band or None when not clear) for each
            usable capture of the series, in any order; must include ``before``/``after``.
        before, after: acquisition times of A and B.
        area_m2: the object's area.
        gsd_m: the series' ground sample distance (the coarser of A and B).
        neighbours: the look in A and in B of the outline moved around it
            (:func:`neighbour_looks`), given by the run for a series of two captures; tested
            only when the series gives no support.
        sun: sun elevation (degrees) of each capture by acquisition time, None where not
            recorded (see :func:`light_ruled_out`; without it the day of the year is used).

    Returns:
        The :class:`Evidence`.

    Example:
        >>> import numpy as np
        >>> from datetime import datetime as d
        >>> flat, roof = np.zeros(4), np.array([0.5, 0.6, 0.7, 0.2])
        >>> looks = [(d(2010, 6, 1), flat), (d(2011, 6, 1), flat), (d(2012, 6, 1), roof),
        ...          (d(2013, 6, 1), roof)]
        >>> e = temporal_evidence(looks, d(2011, 6, 1), d(2012, 6, 1), 400.0, 0.5)
        >>> (e.verdict, e.label, e.earlier, e.later)
        ('', 'high', 1, 1)
    """
    by_time = dict(looks)
    a, b = by_time.get(before), by_time.get(after)
    if a is None or b is None:
        return Evidence("unclear", "low", float("nan"), 0, 0)
    step = b - a
    size = float(np.linalg.norm(step))
    history = [v for t, v in looks if t < before and v is not None]
    seq = [(t, _later_look(v, a, b, size))
           for t, v in sorted(looks, key=lambda x: x[0]) if t > after and v is not None]
    seq = [(t, s) for t, s in seq if s is not None]  # a third look says nothing
    shows = [s for _, s in seq]
    confirmed = shows.index(False) if False in shows else len(shows)
    verdict = ""
    if area_m2 < MIN_GSD_PIXELS * gsd_m * gsd_m:
        verdict = "small"
    elif size < CONTRAST_FLOOR:
        verdict = "faint"
    elif any(float(np.linalg.norm(b - h)) < max(float(np.linalg.norm(a - h)), NOVELTY * size)
             for h in history):
        verdict = "seen_before"
    elif any(not s and any(shows[i + 1:]) for i, s in enumerate(shows)):
        verdict = "oscillates"
    elif any(not s and _season_gap(t, before) <= SEASON_DAYS for t, s in seq):
        verdict = "seasonal"
    elif step.size >= 3 and float(np.ptp(step)) < FLAT_SPREAD * abs(float(step.mean())):
        verdict = "illumination"
    support = int(bool(history)) + int(confirmed > 0)
    if support == 2 and not light_ruled_out(
            before, after, [t for t, v in looks if t < before and v is not None],
            [t for t, _ in seq[:confirmed]], sun):
        support = 1  # both sides may share A's and B's light: one side's worth of support
    if not verdict and support == 1 and size < MEDIUM_STEP:
        verdict = "faint"
    ratio = float("nan")
    steps = [float(np.linalg.norm(nb - na)) for na, nb in neighbours
             if na is not None and nb is not None]
    if support == 0 and steps:
        ratio = size / max(max(steps), 1e-9)
        if not verdict and ratio < LOCAL_RATIO:
            verdict = "like_surroundings"
    if support == 2 and size < HIGH_STEP:
        support = 1
    label: ConfidenceLabel = "low" if verdict else ("high", "medium", "low")[2 - support]
    return Evidence(verdict, label, size, len(history), confirmed, ratio)
