"""Temporal evidence for a change: does it depart from the whole series? (pure array maths)

A pair of captures shows where pixels differ; the series says whether that difference
is a change. Each change object is described in every clear capture of its series by
its log contrast with a ring of ground around it (log of object mean / ring mean, per
band; see :mod:`pipeline.change.persistence`), which survives illumination, haze and
season far better than raw reflectance. With A the capture before and B the capture
after, a change is an *event* only when:

- its contrast changed by at least :data:`CONTRAST_FLOOR` (``|d(B) - d(A)|``; below it
  the difference is texture, noise or a sub-pixel shift);
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

Confidence follows the evidence: ``high`` when B departs from at least one earlier
capture besides A *and* at least one later capture confirms it *and* the contrast moved by
at least :data:`HIGH_STEP`; ``medium`` when only one of the two captures' support exists (or
both with a smaller step); ``low`` when only the pair itself speaks for it (no earlier and
no later clear capture of the place).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from affine import Affine
from rasterio.features import rasterize
from scipy.ndimage import distance_transform_edt
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
HIGH_STEP = 0.25
"""A high-confidence change moved its log contrast by at least this much (2.5 times the floor):
a step just over the floor can be texture, haze or a seasonal shift that happened to hold."""
FLAT_SPREAD = 0.15
"""A step whose bands differ by less than this share of its mean is a change of light."""

Verdict = str
""""" for an event, else why not: "small", "faint", "seen_before", "oscillates",
"seasonal" or "illumination"."""


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
        }


def log_contrast(stack: np.ndarray, inside: np.ndarray, ring: np.ndarray) -> np.ndarray | None:
    """Log of (object mean / ring mean) per band; None when either is mostly not clear.

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
    if obj.shape[1] < max(3, int(inside.sum()) // 2) or bg.shape[1] < 3:
        return None
    om, rm = obj.mean(axis=1), bg.mean(axis=1)
    if np.any(rm <= 0) or np.any(om <= 0):
        return None
    return np.asarray(np.log(om / rm))


def object_masks(
    geom: BaseGeometry, transform: Affine, shape: tuple[int, int],
    ring_m: tuple[float, float] = RING_M,
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """An object and its background ring, rasterised in the ring's bounding box.

    The ring is every pixel whose centre lies more than ``ring_m[0]`` and at most
    ``ring_m[1]`` metres from the object's edge (a Euclidean distance transform between
    pixel centres less half a pixel: far cheaper than buffering a pixel-edged outline).

    Args:
        geom: the outline, in the CRS of ``transform``.
        transform: affine of the array the masks index (square pixels, north up).
        shape: (rows, cols) of that array.
        ring_m: inner and outer distance of the ring, metres.

    Returns:
        ((rows, cols) slices of the box, object mask, ring mask), or None when the box
        misses the array.

    Example:
        >>> from affine import Affine
        >>> from shapely.geometry import box
        >>> (rs, cs), inside, ring = object_masks(box(20, -30, 30, -20), Affine(1, 0, 0, 0, -1, 0),
        ...                                       (60, 60))
        >>> int(inside.sum()), bool((inside & ring).any())
        (100, False)
    """
    res = abs(transform.a)
    margin = ring_m[1] + res
    minx, miny, maxx, maxy = geom.bounds
    c0, r0 = ~transform @ (minx - margin, maxy + margin)
    c1, r1 = ~transform @ (maxx + margin, miny - margin)
    r0, c0 = max(0, int(np.floor(r0))), max(0, int(np.floor(c0)))
    r1, c1 = min(shape[0], int(np.ceil(r1))), min(shape[1], int(np.ceil(c1)))
    if r1 <= r0 or c1 <= c0:
        return None
    local = transform @ Affine.translation(c0, r0)
    inside = rasterize([(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=local, fill=0,
                       dtype="uint8").astype(bool)
    if not inside.any():
        return None
    # distance from the outline's edge: between pixel centres, less half a pixel
    dist = distance_transform_edt(~inside) * res - res / 2
    ring = (dist > ring_m[0]) & (dist <= ring_m[1])
    return (slice(r0, r1), slice(c0, c1)), inside, ring


def _season_gap(a: datetime, b: datetime) -> int:
    d = abs(a.timetuple().tm_yday - b.timetuple().tm_yday)
    return min(d, 365 - d)


def temporal_evidence(
    looks: Sequence[tuple[datetime, np.ndarray | None]],
    before: datetime,
    after: datetime,
    area_m2: float,
    gsd_m: float,
) -> Evidence:
    """Judge one change object from its look in every capture of its series.

    Args:
        looks: (acquisition time, log contrast per band or None when not clear) for each
            usable capture of the series, in any order; must include ``before``/``after``.
        before, after: acquisition times of A and B.
        area_m2: the object's area.
        gsd_m: the series' ground sample distance (the coarser of A and B).

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
        return Evidence("faint", "low", float("nan"), 0, 0)
    step = b - a
    size = float(np.linalg.norm(step))
    history = [v for t, v in looks if t < before and v is not None]
    seq = [(t, bool(np.linalg.norm(v - b) < np.linalg.norm(v - a)))
           for t, v in sorted(looks, key=lambda x: x[0]) if t > after and v is not None]
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
    if support == 2 and size < HIGH_STEP:
        support = 1
    label: ConfidenceLabel = "low" if verdict else ("high", "medium", "low")[2 - support]
    return Evidence(verdict, label, size, len(history), confirmed)
