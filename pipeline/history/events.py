"""Events: change objects that persist (pure geometry over stored changes).

A change between captures A and B is an *event* when the next usable capture
C of the same series does not revert it: C still looks like B there, not like A
(``extra["persistence"]``, set by the run loop with :mod:`pipeline.change.persistence`),
and no change of the opposite kind between B and C covers most of it; and the
whole series supports it (``extra["evidence"]``, set by the run loop with
:mod:`pipeline.change.evidence`: new against every earlier capture, no oscillation, not
the season or a change of light, large and strong enough). Changes in
the last pair of a series cannot be confirmed yet and are reported as
``unconfirmed``. Vegetation gain or loss in fields and outside every zone is, in
most pairs, the seasonal cycle: it is tracked by the timeline's NDVI per zone and
not reported as events. Inside the camp's other zones it is kept (a guard post
built on grass shows first as vegetation loss), subject to the same persistence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imagery.capture import Capture
from imagery.catalogue import Catalogue
from imagery.records import StoredChange, StoredEvent
from imagery.types import EventStatus, ReviewStatus
from pipeline.change.pairs import capture_pairs
from pipeline.history.landcover import LandCoverMeasure

OPPOSITE = {
    "new_or_brighter": "removed_or_darker",
    "removed_or_darker": "new_or_brighter",
    "vegetation_gain": "vegetation_loss",
    "vegetation_loss": "vegetation_gain",
    "earthworks": "vegetation_gain",
}
CONFIDENCE_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
"""Sort key of a confidence label (set from the series' evidence by the run, see
:mod:`pipeline.change.evidence`): alerts and report figures are ranked by it first."""
REVERT_SHARE = 0.5
"""A later opposite change covering this share of a change reverts it."""


@dataclass(frozen=True)
class Event:
    """A persistent change, bracketed by the captures before and after it."""

    change: StoredChange
    """The change object."""
    before: Capture
    """Last usable capture before the event."""
    after: Capture
    """First usable capture showing it."""
    status: EventStatus
    """"confirmed" (the next capture still shows it) or "unconfirmed" (no next capture yet,
    or it was not clear there)."""
    land_cover: LandCoverMeasure | None = None
    """What it did to the ground, measured once by the run from its two captures
    (:mod:`pipeline.history.landcover`) and stored with it; None when not measured yet."""

    def statement(self) -> str:
        """The event as a sentence whose wording follows the evidence.

        The noun follows the size and the measured land cover: up to
        :data:`STRUCTURE_MAX_M2` a change can be one structure ("New or brighter structure");
        larger, a measured land-cover change names it ("Vegetation cleared, 1.2 ha"); else up
        to :data:`SITE_MAX_M2` it is a surface larger than one building, above that a change
        of land cover in hectares, never called a structure. The land-cover measure (or why
        there is none) follows the confidence. The status follows the persistence test:
        "persistent" only when a later usable capture confirmed it, otherwise "unconfirmed".

        Example:
            >>> # "New or brighter structure, 420 m², housing zone: appeared between
            >>> #  2010-06-01 (WV-2, 0.5 m) and 2012-06-01 (GE-1, 0.5 m), confidence high;
            >>> #  land cover: vegetated before and after (NDVI 0.61 → 0.48); persistent (a
            >>> #  later capture still shows it)"
        """
        ch = self.change
        zone = f"{ch.zone_type.replace('_', ' ')} zone" if ch.zone_type else (
            "outside the defined zones"
        )
        label = self.land_cover.label if self.land_cover is not None else None
        by_cover = ch.area_m2 > STRUCTURE_MAX_M2 and label in _COVER  # the cover names it
        verb = ("appeared" if ch.change_type in ("new_or_brighter", "earthworks")
                and not by_cover else "occurred")
        status = (
            "; persistent (a later capture still shows it)" if self.status == "confirmed"
            else " (unconfirmed: no later clear capture yet)"
        )
        cover = ""
        if self.land_cover is not None:
            if by_cover:
                cover = f"; measured {self.land_cover.note}"
            elif self.land_cover.label == "not_measured":
                cover = f"; {self.land_cover.words()}"
            else:
                cover = f"; land cover: {self.land_cover.words()}"
        noun = change_noun(ch.change_type, ch.area_m2, label)
        if by_cover:  # the detector's own reading stays in the sentence
            noun += f", detected as {ch.change_type.replace('_', ' ')}"
        return (
            f"{noun}, {zone}: {verb} between "
            f"{self.before.acquired:%Y-%m-%d} ({self.before.sensor}, {self.before.gsd_m:g} m) and "
            f"{self.after.acquired:%Y-%m-%d} ({self.after.sensor}, {self.after.gsd_m:g} m), "
            f"confidence {ch.confidence_label}{cover}{status}"
        )


STRUCTURE_MAX_M2 = 2_500.0
"""Largest change worded as one structure (a large barracks block is about 50 x 40 m)."""
SITE_MAX_M2 = 50_000.0
"""Largest change worded as a surface (5 ha); above it the change is one of land cover."""

_SMALL = {
    "new_or_brighter": "New or brighter structure",
    "removed_or_darker": "Structure removed or darkened",
    "vegetation_gain": "Vegetation gain",
    "vegetation_loss": "Vegetation loss",
    "earthworks": "Earthworks",
}
_SURFACE = {
    "new_or_brighter": "Surface newly built or brightened",
    "removed_or_darker": "Surface cleared or darkened",
}
_LAND = {
    "new_or_brighter": "Large area brightened (land cover, not a single structure)",
    "removed_or_darker": "Large area darkened (land cover, not a single structure)",
    "vegetation_gain": "Vegetation gain over a large area",
    "vegetation_loss": "Vegetation loss over a large area",
    "earthworks": "Earthworks over a large area",
}


_COVER = {
    "vegetation_cleared": "Vegetation cleared",
    "vegetation_grown": "Vegetation grown",
    "bare_or_excavated": "Ground brightened (bare, excavated or built)",
    "water": "Change at open water",
}
"""Nouns of a change larger than one structure whose land-cover change was measured."""


def change_noun(change_type: str, area_m2: float, land_cover: str | None = None) -> str:
    """What a change of this type, size and measured land cover is called, with its size.

    Up to :data:`STRUCTURE_MAX_M2` the change type names it; larger, a measured land-cover
    change (``land_cover``, see :mod:`pipeline.history.landcover`) names it; else the type,
    as a surface or (above :data:`SITE_MAX_M2`) a change of land cover.

    Example:
        >>> change_noun("new_or_brighter", 12_000, "vegetation_cleared")
        'Vegetation cleared, 12,000 m² (larger than one building)'
        >>> change_noun("new_or_brighter", 360_000, "bare_or_excavated")
        'Ground brightened (bare, excavated or built) over a large area, 36.0 ha'

        >>> change_noun("new_or_brighter", 420)
        'New or brighter structure, 420 m²'
        >>> change_noun("new_or_brighter", 12_000)
        'Surface newly built or brightened, 12,000 m² (larger than one building)'
        >>> change_noun("new_or_brighter", 360_000)
        'Large area brightened (land cover, not a single structure), 36.0 ha'
    """
    if area_m2 > STRUCTURE_MAX_M2 and land_cover in _COVER:
        noun = _COVER[str(land_cover)]
        if area_m2 > SITE_MAX_M2:
            return f"{noun} over a large area, {area_m2 / 10_000:,.1f} ha"
        return f"{noun}, {area_m2:,.0f} m² (larger than one building)"
    if area_m2 > SITE_MAX_M2:
        return f"{_LAND.get(change_type, change_type)}, {area_m2 / 10_000:,.1f} ha"
    if area_m2 > STRUCTURE_MAX_M2 and change_type in _SURFACE:
        return f"{_SURFACE[change_type]}, {area_m2:,.0f} m² (larger than one building)"
    return f"{_SMALL.get(change_type, change_type)}, {area_m2:,.0f} m²"


def find_events(captures: Sequence[Capture], changes: Sequence[StoredChange]) -> list[Event]:
    """The persistent changes among ``changes``, oldest first.

    Example:
        >>> find_events([], [])
        []
    """
    by_id = {c.capture_id: c for c in captures}
    next_pair = {p.before.capture_id: p for p in capture_pairs(list(captures))}
    by_pair: dict[tuple[str, str], list[StoredChange]] = {}
    for ch in changes:
        if ch.before_id in by_id and ch.after_id in by_id:
            by_pair.setdefault((ch.before_id, ch.after_id), []).append(ch)
    events: list[Event] = []
    # every compared pair: consecutive ones and the gap-filling ones (see pairs.gap_pairs)
    for before_id, after_id in sorted(by_pair, key=lambda k: (by_id[k[1]].acquired, k)):
        following = next_pair.get(after_id)
        later = (
            by_pair.get((following.before.capture_id, following.after.capture_id), [])
            if following is not None
            else []
        )
        for ch in by_pair[(before_id, after_id)]:
            if ch.change_type.startswith("vegetation") and ch.zone_type in ("", "agriculture"):
                continue
            if ch.extra.get("persistence") == "reverted":
                continue
            evidence = ch.extra.get("evidence")
            if isinstance(evidence, dict) and evidence.get("verdict"):
                continue  # the series explains it (pipeline.change.evidence)
            reverted = any(
                later_ch.change_type == OPPOSITE.get(ch.change_type)
                and later_ch.geometry.intersection(ch.geometry).area
                >= REVERT_SHARE * ch.geometry.area
                for later_ch in later
            )
            if reverted:
                continue
            seen_again = following is not None and ch.extra.get("persistence") != "unknown"
            status: EventStatus = "confirmed" if seen_again else "unconfirmed"
            events.append(Event(ch, by_id[ch.before_id], by_id[ch.after_id], status))
    return events


def load_events(
    captures: Sequence[Capture], changes: Sequence[StoredChange], stored: Sequence[StoredEvent]
) -> list[Event]:
    """The events a run stored, as :class:`Event` records, in the order the run found them.

    Events are found once, by the run (:func:`find_events`), and stored in the catalogue's
    ``events`` layer; every reader (report, review, exports, viewer, watch) goes through this
    function instead of finding them again. A stored event whose change or captures are no
    longer in the catalogue is skipped (the next run rewrites the layer).

    Example:
        >>> load_events([], [], [])
        []
    """
    by_id = {c.capture_id: c for c in captures}
    by_change = {c.change_id: c for c in changes}
    return [
        Event(by_change[e.event_id], by_id[e.before_id], by_id[e.after_id], e.status,
              LandCoverMeasure(e.land_cover, e.land_cover_note or "") if e.land_cover else None)
        for e in stored
        if e.event_id in by_change and e.before_id in by_id and e.after_id in by_id
    ]


def read_events(cat: Catalogue) -> list[Event]:
    """The events stored in an open catalogue (see :func:`load_events`).

    Example:
        >>> # with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        >>> #     events = read_events(cat)
    """
    return load_events(cat.captures(), cat.changes(), cat.events())


def stored_event(event: Event, review: ReviewStatus = "pending") -> StoredEvent:
    """The record of ``event`` in the catalogue's ``events`` layer, with its review state.

    Example:
        >>> # cat.replace_events([stored_event(ev, "accepted") for ev in events])
    """
    ch = event.change
    return StoredEvent(
        event_id=ch.change_id,
        facility_id=ch.facility_id,
        before_id=event.before.capture_id,
        after_id=event.after.capture_id,
        before_acquired=event.before.acquired,
        after_acquired=event.after.acquired,
        geometry=ch.geometry,
        area_m2=ch.area_m2,
        change_type=ch.change_type,
        confidence=ch.confidence,
        confidence_label=ch.confidence_label,
        zone_id=ch.zone_id,
        zone_type=ch.zone_type,
        series=ch.series,
        status=event.status,
        review=review,
        statement=event.statement(),
        track_id=ch.track_id or ch.change_id,
        land_cover=event.land_cover.label if event.land_cover else None,
        land_cover_note=event.land_cover.note if event.land_cover else None,
    )
