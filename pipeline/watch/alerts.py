"""Alerts: one record per new event, ranked by expected information gain, sent once.

Records
    An :class:`Alert` is made from an :class:`pipeline.history.events.Event` by a pure
    function. Its ``key`` is the SHA-256 of ``facility_id | track_id | kind``: the
    same physical change always gets the same key (a track keeps the id of the change
    that first showed it, see :mod:`pipeline.history.tracks`), so a rerun, a retry, a
    run after a crash or a capture backfilled before it never alerts twice.

Triage (``score``, ``rank``, ``reason``)
    The score adds up what makes an event worth an analyst's time now; the
    reason lists every term, so a reader sees why:

    * kind of change: earthworks +3, new or brighter structure +2.5, structure
      removed or darkened +2, vegetation loss +1, vegetation gain +0.5;
    * where: guard post or perimeter zone +3, housing +2, administration or
      industry +1.5, quarry or other zone +1, agriculture or outside every zone +0.5;
    * size: +log10(area / 100 m²), 0..3 (1,000 m² → +1, 10,000 m² → +2);
      earthworks of 5,000 m² or more +1 more (large earthworks);
    * the view: a very-high-resolution (≤ 5 m) capture +1; a clear one (AOI clear
      fraction ≥ 0.9) +0.5; a clear VHR capture after a gap of 180 days or more
      +2 (a long-awaited look);
    * confidence from the series evidence (pipeline/change/evidence.py): high +1,
      medium +0.5;
    * unconfirmed (no later capture yet) −1.

    ``rank`` is the tier: 1 (score ≥ 8, look now), 2 (score ≥ 5, look soon),
    3 (routine). Alerts from SIMULATED imagery are always rank 3. Webhooks
    receive only alerts at or above their ``min_score``; every alert is kept
    in the ledger. This is how the watch avoids alert saturation.

Ledgers and webhooks
    :mod:`pipeline.watch.ledger` keeps ``alerts.jsonl`` (each alert once) and the delivery
    ledger; :mod:`pipeline.watch.webhooks` sends alerts at least once with the alert key as
    ``Idempotency-Key``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.change.pairs import VHR_MAX_GSD_M
from pipeline.history.events import CONFIDENCE_ORDER, Event

log = logging.getLogger(__name__)

KIND_SCORES = {
    "earthworks": 3.0,
    "new_or_brighter": 2.5,
    "removed_or_darker": 2.0,
    "vegetation_loss": 1.0,
    "vegetation_gain": 0.5,
}
ZONE_SCORES = {
    "guard_post": 3.0,
    "perimeter": 3.0,
    "housing": 2.0,
    "administration": 1.5,
    "industry": 1.5,
    "quarry": 1.0,
    "other": 1.0,
    "agriculture": 0.5,
    "": 0.5,
}
CONFIDENCE_SCORES = {"high": 1.0, "medium": 0.5}
LONG_GAP_DAYS = 180.0
"""A clear VHR capture this long after the previous one scores as a long-awaited look."""
CLEAR_FRACTION = 0.9
"""AOI clear fraction from which a capture counts as clear."""
LARGE_EARTHWORKS_M2 = 5000.0
"""Earthworks from this area count as large."""
RANK_THRESHOLDS = ((8.0, 1), (5.0, 2))
"""(minimum score, rank); anything lower is rank 3."""


@dataclass(frozen=True)
class Alert:
    """A new event, as written to ``alerts.jsonl`` and POSTed to webhooks."""

    key: str
    """Idempotency key: SHA-256 of facility id, track id and kind (hex, 32 chars)."""
    facility_id: str
    """The facility."""
    kind: str
    """What is alerted: "event" (a persistent change)."""
    change_id: str
    """The change object's deterministic id in the facility catalogue."""
    change_type: str
    """new_or_brighter, removed_or_darker, vegetation_gain, vegetation_loss or earthworks."""
    zone_id: str
    """Zone the change falls in most ("" outside every zone)."""
    zone_type: str
    """That zone's type ("" outside every zone)."""
    area_m2: float
    """Changed area, m²."""
    confidence: str
    """Confidence label from the series evidence: low, medium or high."""
    status: str
    """"confirmed" or "unconfirmed" (no later capture yet) when first alerted."""
    before_capture_id: str
    """Last usable capture before the change."""
    after_capture_id: str
    """First usable capture showing it."""
    before_acquired: str
    """Acquisition time of the before capture (ISO 8601, UTC)."""
    after_acquired: str
    """Acquisition time of the after capture (ISO 8601, UTC)."""
    after_sensor: str
    """Sensor of the after capture."""
    after_gsd_m: float
    """GSD of the after capture, m."""
    gap_days: float
    """Days between the two captures."""
    statement: str
    """The event in one sentence (as in the report)."""
    score: float
    """Expected information gain (see the module doc for the terms)."""
    rank: int
    """1 look now, 2 look soon, 3 routine."""
    reason: str
    """Every term of the score, in words."""
    simulated: bool = False
    """True when either capture is simulated: never evidence."""
    created_at: str = field(default="", compare=False)
    """When the alert was first written (ISO 8601, UTC)."""
    track_id: str = ""
    """The physical change's identity (the key is made from it; "" in older ledgers, where
    it equals ``change_id``)."""

    def to_json(self) -> dict[str, Any]:
        """The alert as a JSON-ready dict (the ledger line and the webhook body)."""
        return asdict(self)


def alert_key(facility_id: str, change_id: str, kind: str) -> str:
    """The idempotency key of an alert.

    Example:
        >>> alert_key("kangdong-kyohwaso-4", "0123abcd", "event")[:12]
        '5e9882b62e22'
    """
    return hashlib.sha256(f"{facility_id}|{change_id}|{kind}".encode()).hexdigest()[:32]


def score_event(event: Event) -> tuple[float, list[str]]:
    """Expected information gain of an event, and the terms that make it up.

    Example:
        >>> # score, terms = score_event(event); terms[0]
        >>> # 'earthworks +3'
    """
    ch = event.change
    terms: list[tuple[str, float]] = []
    terms.append((ch.change_type.replace("_", " "), KIND_SCORES.get(ch.change_type, 1.0)))
    zone = ch.zone_type or ""
    where = f"{zone.replace('_', ' ')} zone" if zone else "outside the zones"
    terms.append((where, ZONE_SCORES.get(zone, 1.0)))
    size = min(3.0, max(0.0, math.log10(max(ch.area_m2, 1.0) / 100.0)))
    terms.append((f"{ch.area_m2:,.0f} m²", round(size, 2)))
    if ch.change_type == "earthworks" and ch.area_m2 >= LARGE_EARTHWORKS_M2:
        terms.append(("large earthworks", 1.0))
    after, before = event.after, event.before
    gap = (after.acquired - before.acquired).total_seconds() / 86400.0
    vhr = after.gsd_m <= VHR_MAX_GSD_M
    clear = after.clear_fraction is not None and after.clear_fraction >= CLEAR_FRACTION
    if vhr:
        terms.append((f"VHR capture ({after.gsd_m:g} m)", 1.0))
    if clear:
        terms.append((f"clear capture ({after.clear_fraction:.0%} of AOI)", 0.5))
    if vhr and clear and gap >= LONG_GAP_DAYS:
        terms.append((f"clear VHR look after a {gap:.0f}-day gap", 2.0))
    conf = CONFIDENCE_SCORES.get(ch.confidence_label, 0.0)
    if conf:
        terms.append((f"{ch.confidence_label} confidence", conf))
    if event.status != "confirmed":
        terms.append(("unconfirmed: no later capture yet", -1.0))
    score = round(sum(v for _, v in terms), 2)
    return score, [f"{name} {value:+g}" for name, value in terms]


def rank_of(score: float, simulated: bool = False) -> int:
    """The rank tier of a score (SIMULATED imagery is always 3).

    Example:
        >>> rank_of(9.0), rank_of(6.0), rank_of(2.0), rank_of(9.0, simulated=True)
        (1, 2, 3, 3)
    """
    if simulated:
        return 3
    return next((rank for threshold, rank in RANK_THRESHOLDS if score >= threshold), 3)


def alert_for_event(
    facility_id: str, event: Event, *, kind: str = "event", created_at: str = ""
) -> Alert:
    """The alert of one event (pure).

    Example:
        >>> # alert = alert_for_event("kangdong-kyohwaso-4", event); alert.rank
    """
    ch = event.change
    score, terms = score_event(event)
    simulated = event.before.simulated or event.after.simulated
    if simulated:
        terms.append("SIMULATED imagery: never evidence")
    gap = (event.after.acquired - event.before.acquired).total_seconds() / 86400.0
    return Alert(
        key=alert_key(facility_id, ch.track_id or ch.change_id, kind),
        facility_id=facility_id,
        kind=kind,
        change_id=ch.change_id,
        change_type=ch.change_type,
        zone_id=ch.zone_id,
        zone_type=ch.zone_type,
        area_m2=round(ch.area_m2, 2),
        confidence=ch.confidence_label,
        status=event.status,
        before_capture_id=event.before.capture_id,
        after_capture_id=event.after.capture_id,
        before_acquired=event.before.acquired.isoformat(),
        after_acquired=event.after.acquired.isoformat(),
        after_sensor=event.after.sensor,
        after_gsd_m=event.after.gsd_m,
        gap_days=round(gap, 2),
        statement=event.statement(),
        score=score,
        rank=rank_of(score, simulated),
        reason="; ".join(terms),
        simulated=simulated,
        created_at=created_at,
        track_id=ch.track_id or ch.change_id,
    )


def sort_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Most confident first, then most informative (score; facility and key for a stable
    order)."""
    return sorted(alerts, key=lambda a: (CONFIDENCE_ORDER.get(a.confidence, 3), -a.score,
                                         a.facility_id, a.key))
