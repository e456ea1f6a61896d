"""Records of a watch pass: searches, one facility's result, the driver's summaries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.history.events import Event
from pipeline.watch.alerts import Alert
from pipeline.watch.ledger import DeliveryResult


@dataclass(frozen=True)
class Search:
    """One provider/collection search of a facility."""

    provider: str
    """Configured provider name."""
    collection: str
    """STAC collection."""
    start: str
    """First day searched (ISO date)."""
    end: str
    """Last day searched (ISO date)."""
    found: int
    """Items found."""
    added: tuple[str, ...] = ()
    """Capture ids newly catalogued."""
    usable: tuple[str, ...] = ()
    """Of those, the ones usable for detection."""
    errors: tuple[str, ...] = ()
    """Failures (the search itself or single items)."""


@dataclass(frozen=True)
class FacilityResult:
    """What one facility's pass did (returned by a Dask task: plain data)."""

    facility_id: str
    """The facility."""
    searches: tuple[Search, ...] = ()
    """Every search made."""
    events: tuple[Event, ...] = ()
    """Every event now in the facility's catalogue (alerts are made for the new ones)."""
    ran_detection: bool = False
    """Whether detection and timeline ran in this pass."""
    captures: int = 0
    """Captures in the catalogue after the pass."""
    errors: tuple[str, ...] = ()
    """Errors of this facility (searches, items, detection)."""
    seconds: float = 0.0
    """Wall time of the facility's pass."""

    @property
    def new_captures(self) -> tuple[str, ...]:
        """Capture ids added in this pass."""
        return tuple(c for s in self.searches for c in s.added)

    @property
    def usable(self) -> tuple[str, ...]:
        """New captures usable for detection."""
        return tuple(c for s in self.searches for c in s.usable)


@dataclass(frozen=True)
class FacilitySummary:
    """The driver's line for one facility."""

    facility_id: str
    """The facility."""
    status: str
    """"ok", "failed" (see errors) or "not run" (stopped or fail-fast before it)."""
    new_captures: tuple[str, ...] = ()
    """Capture ids added."""
    usable: tuple[str, ...] = ()
    """New captures usable for detection."""
    events: int = 0
    """Events in the catalogue."""
    new_alerts: tuple[Alert, ...] = ()
    """Alerts written in this pass, most informative first."""
    errors: tuple[str, ...] = ()
    """What went wrong."""
    ran_detection: bool = False
    """Whether detection ran."""
    seconds: float = 0.0
    """Wall time."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (alerts reduced to key, rank, score and statement)."""
        return {
            "facility_id": self.facility_id,
            "status": self.status,
            "new_captures": list(self.new_captures),
            "usable": list(self.usable),
            "events": self.events,
            "new_alerts": [
                {"key": a.key, "rank": a.rank, "score": a.score, "statement": a.statement}
                for a in self.new_alerts
            ],
            "errors": list(self.errors),
            "ran_detection": self.ran_detection,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class WatchReport:
    """What a watch pass did."""

    facilities: tuple[FacilitySummary, ...]
    """One summary per facility, in the order given."""
    alerts: tuple[Alert, ...] = ()
    """Alerts written in this pass, most informative first."""
    deliveries: tuple[DeliveryResult, ...] = ()
    """Webhook outcomes of this pass."""
    swept: tuple[str, ...] = ()
    """Temporary files of an earlier, killed run that were removed."""
    stopped: bool = False
    """True when a stop request ended the pass early."""
    seconds: float = 0.0
    """Wall time of the pass."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Further facts (workers, lock recovery)."""

    @property
    def ok(self) -> bool:
        """True when no facility failed and no webhook delivery failed or was left pending."""
        return all(f.status != "failed" for f in self.facilities) and not self.undelivered

    @property
    def undelivered(self) -> tuple[DeliveryResult, ...]:
        """Deliveries of this pass that failed or did not settle (retried next pass)."""
        return tuple(d for d in self.deliveries if d.state != "delivered")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "ok": self.ok,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
            "facilities": [f.to_json() for f in self.facilities],
            "alerts": [a.to_json() for a in self.alerts],
            "deliveries": [asdict(d) for d in self.deliveries],
            "swept": list(self.swept),
            **self.extra,
        }
