"""Analyst review: decisions on change objects, kept as history, surviving re-detection.

A decision is recorded against a change object of the catalogue and stored with
its time, its analyst and a copy of the change's outline. Earlier decisions are
never overwritten: the decision in force for a change is the latest one that
applies to it. A decision applies to a change when

- the change has the decided change's id (ids are deterministic per capture
  pair and geometry, so the same detection on a rerun keeps its id), or
- the change continues the decided change's track (:mod:`pipeline.history.tracks`):
  a capture backfilled between two others re-brackets a change under a new id, and
  the decision follows the physical change, or
- failing that, the change is in the same capture pair and its outline overlaps
  the decided outline with an intersection over union of at least
  :data:`MATCH_IOU` (the same object, detected again with a slightly moved edge).

Only events whose decision in force is ``accepted`` are findings; events with
no decision are ``pending``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from shapely.geometry.base import BaseGeometry

from imagery.catalogue import Catalogue
from imagery.records import Review, StoredChange
from imagery.types import REVIEW_DECISIONS, ReviewDecision, ReviewStatus
from pipeline.errors import ReviewError
from pipeline.history.events import Event, read_events, stored_event

log = logging.getLogger(__name__)

DECISIONS = REVIEW_DECISIONS
"""Decisions an analyst can record."""
PENDING: ReviewStatus = "pending"
"""Status of a change with no decision."""
MATCH_IOU = 0.5
"""Smallest intersection over union for a decision to carry to a re-detected change."""


@dataclass(frozen=True)
class ReviewedEvent:
    """An event with the analyst decision in force."""

    event: Event
    """The event."""
    status: ReviewStatus
    """"pending", "accepted", "rejected" or "needs_vhr"."""
    review: Review | None
    """The decision in force (None when pending)."""
    history: tuple[Review, ...]
    """Every decision that applies to it, oldest first."""


def iou(a: BaseGeometry, b: BaseGeometry) -> float:
    """Intersection over union of two outlines (0 when both are empty).

    Example:
        >>> from shapely.geometry import box
        >>> round(iou(box(0, 0, 2, 1), box(1, 0, 3, 1)), 3)
        0.333
    """
    union = a.union(b).area
    return float(a.intersection(b).area / union) if union > 0 else 0.0


def decisions_for(change: StoredChange, reviews: Sequence[Review]) -> list[Review]:
    """The decisions that apply to ``change``, oldest first (see the module docstring).

    Example:
        >>> decisions_for.__name__
        'decisions_for'
    """
    track = change.track_id or change.change_id
    same = [
        r for r in reviews
        if r.change_id in (change.change_id, track) or (r.track_id and r.track_id == track)
    ]
    if same:
        return sorted(same, key=lambda r: r.decided_at)
    moved = [
        r
        for r in reviews
        if (r.before_id, r.after_id) == (change.before_id, change.after_id)
        and iou(r.geometry, change.geometry) >= MATCH_IOU
    ]
    return sorted(moved, key=lambda r: r.decided_at)


def review_events(events: Sequence[Event], reviews: Sequence[Review]) -> list[ReviewedEvent]:
    """Attach the decision in force (latest applicable) to each event.

    Example:
        >>> review_events([], [])
        []
    """
    out = []
    for ev in events:
        history = decisions_for(ev.change, reviews)
        latest = history[-1] if history else None
        out.append(
            ReviewedEvent(ev, latest.decision if latest else PENDING, latest, tuple(history))
        )
    return out


def _find_change(cat: Catalogue, change_id: str) -> StoredChange:
    changes = cat.changes()
    exact = [c for c in changes if c.change_id == change_id]
    if exact:
        return exact[0]
    prefixed = [c for c in changes if change_id and c.change_id.startswith(change_id)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise ReviewError(
            f"{cat.path}: change id prefix {change_id!r} matches {len(prefixed)} changes "
            f"({', '.join(c.change_id for c in prefixed[:5])}); give more characters"
        )
    raise ReviewError(f"{cat.path}: no change with id {change_id!r} in the catalogue")


def record_review(
    cat: Catalogue,
    change_id: str,
    decision: str,
    *,
    analyst: str = "",
    note: str = "",
    now: datetime | None = None,
) -> Review:
    """Record an analyst decision on a change (one transaction; history is kept).

    Args:
        cat: the open facility catalogue.
        change_id: the change's id (a unique prefix is enough).
        decision: "accepted", "rejected" or "needs_vhr".
        analyst: who decided.
        note: why.
        now: decision time (default: the current UTC time).

    Repeating the decision in force (same decision, analyst and note) records nothing
    new: rerunning a review command after a crash leaves the history as one decision.

    Raises:
        ReviewError: unknown decision, unknown or ambiguous change id.

    Example:
        >>> # with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        >>> #     record_review(cat, "3f9a0c", "accepted", analyst="JS", note="new barrack")
    """
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}; got {decision!r}")
    checked = cast(ReviewDecision, decision)
    change = _find_change(cat, change_id)
    when = now or datetime.now(UTC)
    if when.tzinfo is None:
        raise ReviewError(f"decision time {when.isoformat()!r} has no timezone; give UTC")
    in_force = decisions_for(change, cat.reviews())
    latest = in_force[-1] if in_force else None
    if latest is not None and (latest.decision, latest.analyst, latest.note) == (
        decision, analyst, note
    ):
        # the same decision again (e.g. a command rerun after a crash): history unchanged
        store_event_reviews(cat, read_events(cat))
        log.info("%s: change %s already %s by %s", cat.path, change.change_id, decision,
                 analyst or "?")
        return latest
    review = Review(
        change_id=change.change_id,
        facility_id=change.facility_id,
        before_id=change.before_id,
        after_id=change.after_id,
        geometry=change.geometry,
        change_type=change.change_type,
        decision=checked,
        decided_at=when.astimezone(UTC),
        analyst=analyst,
        note=note,
        track_id=change.track_id or change.change_id,
    )
    cat.add_review(review)
    store_event_reviews(cat, read_events(cat))
    log.info("%s: change %s %s by %s", cat.path, change.change_id, decision, analyst or "?")
    return review


def store_event_reviews(cat: Catalogue, events: Sequence[Event]) -> list[ReviewedEvent]:
    """Store ``events`` in the catalogue's ``events`` layer with the decision in force on each.

    The run calls it with the events it found; :func:`record_review` calls it with the stored
    events, so the layer's ``review`` column always follows the review history.

    Example:
        >>> # with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        >>> #     store_event_reviews(cat, find_events(cat.captures(), cat.changes()))
    """
    reviewed = review_events(events, cat.reviews())
    cat.replace_events([stored_event(r.event, r.status) for r in reviewed])
    return reviewed
