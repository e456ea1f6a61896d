"""Demo validation: how the pipeline's events compare with the simulation's truth.

Only meaningful for the simulated archive, whose ``truth.json`` lists every
event with its date and footprint. A truth event is *found* when an event
(persistent change) overlaps its footprint and the event's bracket — the pair
of captures it was detected between — contains the truth date. Precision is
the share of events that overlap some truth event with a correct bracket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time

from shapely.geometry.base import BaseGeometry

from imagery.simulate.archive import TruthEvent
from pipeline.history.events import Event

MIN_OVERLAP_M2 = 5.0
"""Events and truth footprints must share at least this much area to match..."""
MIN_OVERLAP_SHARE = 0.25
"""...and at least this share of the smaller of the two (a large noisy object that
grazes a truth footprint does not count)."""


@dataclass(frozen=True)
class TruthMatch:
    """One truth event and what the pipeline made of it."""

    event_id: str
    """Truth event id."""
    kind: str
    """Truth event kind."""
    zone_id: str
    """Truth zone."""
    date: str
    """Truth date (ISO)."""
    area_m2: float
    """Truth footprint area."""
    found: bool
    """Whether an event with a correct bracket overlaps it."""
    bracket: str
    """The bracket of the matching event ("" when not found)."""


@dataclass(frozen=True)
class Validation:
    """Recall and precision of events against the simulation's truth."""

    matches: tuple[TruthMatch, ...]
    """Per truth event."""
    events: int
    """Events the pipeline reported."""
    true_events: int
    """Of those, events matching a truth event with a correct bracket."""

    @property
    def recall(self) -> float:
        """Share of truth events found with the right bracket."""
        return sum(m.found for m in self.matches) / len(self.matches) if self.matches else 0.0

    @property
    def precision(self) -> float:
        """Share of reported events that are real, correctly bracketed events."""
        return self.true_events / self.events if self.events else 0.0


def _overlaps(a: BaseGeometry, b: BaseGeometry) -> bool:
    shared = a.intersection(b).area
    return shared >= MIN_OVERLAP_M2 and shared >= MIN_OVERLAP_SHARE * min(a.area, b.area)


def _brackets(ev: Event, when: datetime) -> bool:
    return ev.before.acquired < when < ev.after.acquired


def validate_events(truth_events: Sequence[TruthEvent], events: Sequence[Event]) -> Validation:
    """Compare events with the simulation's truth events.

    Example:
        >>> validate_events([], []).recall
        0.0
    """
    matches: list[TruthMatch] = []
    good: set[str] = set()
    for t in truth_events:
        when = datetime.combine(t.date, time(12), tzinfo=UTC)
        geom = t.geometry
        hits = [
            ev
            for ev in events
            if _brackets(ev, when) and _overlaps(ev.change.geometry, geom)
        ]
        for ev in hits:
            good.add(ev.change.change_id)
        best = hits[0] if hits else None
        matches.append(
            TruthMatch(
                event_id=t.event_id,
                kind=t.kind,
                zone_id=t.zone_id,
                date=t.date.isoformat(),
                area_m2=round(float(geom.area), 1),
                found=best is not None,
                bracket=(
                    f"{best.before.acquired:%Y-%m-%d} – {best.after.acquired:%Y-%m-%d}"
                    if best
                    else ""
                ),
            )
        )
    return Validation(tuple(matches), len(events), len(good))
