"""Alerts: one record per new event, ranked by expected information gain, sent once.

Records
    An :class:`Alert` is made from an :class:`pipeline.history.events.Event` by a pure
    function. Its ``key`` is the SHA-256 of ``facility_id | change_id | kind``:
    the same detection always gets the same key, so a rerun, a retry or a run
    after a crash never alerts twice.

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
    * detector confidence: high +1, medium +0.5;
    * unconfirmed (no later capture yet) −1.

    ``rank`` is the tier: 1 (score ≥ 8, look now), 2 (score ≥ 5, look soon),
    3 (routine). Alerts from SIMULATED imagery are always rank 3. Webhooks
    receive only alerts at or above their ``min_score``; every alert is kept
    in the ledger. This is how the watch avoids alert saturation.

Ledgers (JSON Lines in the workspace root)
    ``alerts.jsonl`` holds each alert once; ``alert-deliveries.jsonl`` holds
    one line per delivery attempt outcome (key, webhook URL, state). Lines are
    appended with one ``write`` and ``fsync``ed; a torn last line left by a
    crash is cut off before the next append. Keys already in a ledger are read
    before appending, so an alert is written once however often a pass runs.
    Writers hold the workspace lock (:mod:`pipeline.lock`).

Webhooks
    HTTP POST of the alert as JSON with an ``Idempotency-Key`` header (the
    alert key), from a thread pool so a slow or hung endpoint never holds up
    other facilities. Each POST has a timeout; failures are retried with
    exponential backoff within the pass's deadline, then recorded and retried
    on the next pass. A delivered (key, URL) is never sent again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagery import __version__ as campwatch_version
from pipeline.change.pairs import VHR_MAX_GSD_M
from pipeline.errors import AlertLedgerError
from pipeline.history.events import Event
from pipeline.watch.config import WebhookSpec, header_values

log = logging.getLogger(__name__)

ALERTS_FILE = "alerts.jsonl"
"""The alert ledger, in the workspace root."""
DELIVERIES_FILE = "alert-deliveries.jsonl"
"""The webhook delivery ledger, in the workspace root."""

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
    """Idempotency key: SHA-256 of facility id, change id and kind (hex, 32 chars)."""
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
    """Detector confidence label: low, medium or high."""
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

    def to_json(self) -> dict[str, Any]:
        """The alert as a JSON-ready dict (the ledger line and the webhook body)."""
        return asdict(self)


def alert_key(facility_id: str, change_id: str, kind: str) -> str:
    """The idempotency key of an alert.

    Example:
        >>> alert_key("kangdong-kyohwaso-4", "0123abcd", "event")[:12]
        'ca7b3b6ad2b8'
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
        key=alert_key(facility_id, ch.change_id, kind),
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
    )


def sort_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Most informative first (score, then facility and key for a stable order)."""
    return sorted(alerts, key=lambda a: (-a.score, a.facility_id, a.key))


# ----------------------------------------------------------------------------- ledgers
def _read_lines(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Parsed records, and the byte length of the intact part (a torn last line excluded)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as exc:
        raise AlertLedgerError(f"{path}: cannot read: {exc}") from exc
    intact = raw.rfind(b"\n") + 1
    records = []
    for n, line in enumerate(raw[:intact].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            raise AlertLedgerError(f"{path}: line {n} is not JSON: {exc}") from exc
    return records, intact


def _append(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Append records as lines in one write, after cutting a torn tail; fsync file and dir."""
    _, intact = _read_lines(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(
        json.dumps(r, sort_keys=True, ensure_ascii=False).encode() + b"\n" for r in records
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size != intact:
            log.warning("%s: cutting a torn last line (%d bytes)", path, size - intact)
            os.ftruncate(fd, intact)
        os.lseek(fd, intact, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@dataclass(frozen=True)
class AlertLedger:
    """The workspace's ``alerts.jsonl``."""

    path: Path
    """The JSON Lines file."""

    @classmethod
    def in_workspace(cls, workspace: Path) -> AlertLedger:
        """The ledger of a workspace root."""
        return cls(Path(workspace) / ALERTS_FILE)

    def alerts(self) -> list[Alert]:
        """Every alert in the ledger, in file order."""
        records, _ = _read_lines(self.path)
        out = []
        for r in records:
            try:
                out.append(Alert(**r))
            except TypeError as exc:
                raise AlertLedgerError(f"{self.path}: record {r.get('key')!r}: {exc}") from exc
        return out

    def keys(self) -> set[str]:
        """Keys of every alert already written."""
        return {str(r.get("key")) for r in _read_lines(self.path)[0]}

    def append_new(self, alerts: Sequence[Alert], *, now: datetime | None = None) -> list[Alert]:
        """Write the alerts whose key is not in the ledger yet; return them (as written).

        Example:
            >>> # new = AlertLedger.in_workspace(ws).append_new(alerts)
        """
        known = self.keys()
        stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        fresh: list[Alert] = []
        for a in alerts:
            if a.key in known:
                continue
            known.add(a.key)
            fresh.append(Alert(**{**a.to_json(), "created_at": a.created_at or stamp}))
        if fresh:
            _append(self.path, [a.to_json() for a in fresh])
        return fresh


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of sending one alert to one webhook in this pass."""

    key: str
    """The alert key."""
    url: str
    """The webhook URL."""
    state: str
    """"delivered", "failed" (retried next pass) or "pending" (not finished in time)."""
    attempts: int
    """POSTs made in this pass."""
    status: int | None = None
    """HTTP status of the last attempt (None: no response)."""
    error: str = ""
    """Why the last attempt failed."""
    at: str = ""
    """When the outcome was recorded (ISO 8601, UTC)."""


@dataclass(frozen=True)
class DeliveryLedger:
    """The workspace's ``alert-deliveries.jsonl``."""

    path: Path
    """The JSON Lines file."""

    @classmethod
    def in_workspace(cls, workspace: Path) -> DeliveryLedger:
        """The delivery ledger of a workspace root."""
        return cls(Path(workspace) / DELIVERIES_FILE)

    def delivered(self) -> set[tuple[str, str]]:
        """(alert key, URL) pairs delivered at some point."""
        return {
            (str(r["key"]), str(r["url"]))
            for r in _read_lines(self.path)[0]
            if r.get("state") == "delivered"
        }

    def record(self, results: Sequence[DeliveryResult]) -> None:
        """Append outcomes (delivered and failed; pending ones are not final and skipped)."""
        final = [asdict(r) for r in results if r.state != "pending"]
        if final:
            _append(self.path, final)


# ----------------------------------------------------------------------------- webhooks
Poster = Callable[[str, bytes, dict[str, str], float], int]
"""POSTs a body to a URL with headers and a timeout; returns the HTTP status."""


def post_json(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POST ``body`` to ``url``; return the HTTP status (raises OSError without a response).

    Example:
        >>> # post_json("https://hooks.example.org/x", b"{}", {}, 10.0)
    """
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            resp.read(65536)
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass(frozen=True)
class DeliveryJob:
    """One alert to send to one webhook."""

    alert: Alert
    """What to send."""
    hook: WebhookSpec
    """Where."""


class WebhookDispatcher:
    """Sends alerts from a thread pool; :meth:`finish` waits a bounded time.

    Example:
        >>> # d = WebhookDispatcher(timeout_s=10, retries=3, backoff_s=1)
        >>> # d.submit([DeliveryJob(alert, hook)]); results = d.finish(deadline_s=60)
    """

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_workers: int = 8,
        post: Poster = post_json,
    ) -> None:
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._post = post
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="webhook")
        self._futures: list[tuple[DeliveryJob, Future[DeliveryResult]]] = []
        self._cancel = threading.Event()

    def submit(self, jobs: Iterable[DeliveryJob]) -> None:
        """Start sending (returns at once)."""
        for job in jobs:
            self._futures.append((job, self._pool.submit(self._send, job)))

    def _send(self, job: DeliveryJob) -> DeliveryResult:
        body = json.dumps(job.alert.to_json(), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"campwatch/{campwatch_version}",
            "Idempotency-Key": job.alert.key,
        } | header_values(job.hook)
        status: int | None = None
        error = ""
        attempts = 0
        for attempt in range(self.retries + 1):
            if self._cancel.is_set():
                break
            attempts += 1
            try:
                status = self._post(job.hook.url, body, headers, self.timeout_s)
                error = "" if 200 <= status < 300 else f"HTTP status {status}"
            except (OSError, ValueError) as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if not error:
                return DeliveryResult(job.alert.key, job.hook.url, "delivered", attempts, status)
            log.info("webhook %s: alert %s attempt %d: %s", job.hook.url, job.alert.key,
                     attempts, error)
            if attempt < self.retries and self._cancel.wait(self.backoff_s * 2**attempt):
                break
        return DeliveryResult(job.alert.key, job.hook.url, "failed", attempts, status, error)

    def finish(self, deadline_s: float) -> list[DeliveryResult]:
        """Wait at most ``deadline_s`` for every delivery; unfinished ones come back "pending"."""
        t_end = time.monotonic() + deadline_s
        futures = [f for _, f in self._futures]
        wait_futures(futures, timeout=max(0.0, t_end - time.monotonic()))
        self._cancel.set()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        results = []
        for job, fut in self._futures:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                results.append(DeliveryResult(**{**asdict(fut.result()), "at": stamp}))
            else:
                results.append(
                    DeliveryResult(
                        job.alert.key, job.hook.url, "pending", 0, None,
                        f"not finished within the {deadline_s:g} s delivery deadline", stamp,
                    )
                )
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._futures = []
        return results


def pending_jobs(
    alerts: Iterable[Alert],
    hooks_for: Callable[[str], Sequence[WebhookSpec]],
    min_score_for: Callable[[str], float],
    delivered: set[tuple[str, str]],
) -> list[DeliveryJob]:
    """Deliveries still owed: each alert × its facility's webhooks, minus those delivered.

    Example:
        >>> pending_jobs([], lambda f: [], lambda f: 0.0, set())
        []
    """
    jobs = []
    for a in sort_alerts(alerts):
        for hook in hooks_for(a.facility_id):
            threshold = hook.min_score if hook.min_score is not None else min_score_for(
                a.facility_id
            )
            if a.score >= threshold and (a.key, hook.url) not in delivered:
                jobs.append(DeliveryJob(a, hook))
    return jobs
