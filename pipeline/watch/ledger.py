"""The alert ledgers: JSON Lines files in the workspace root (an I/O module).

``alerts.jsonl`` holds each alert once. ``alert-deliveries.jsonl`` holds one line
per settled delivery (alert key, endpoint identity, state, attempts, HTTP status),
appended by the sending thread the moment the delivery settles, so a kill -9 loses
at most the POSTs in flight. The endpoint is identified without secrets
(:func:`pipeline.watch.config.endpoint_id`): no token is ever written here, and
rotating one replays nothing. Ledgers written by an older campwatch (a ``url``
field) are read through the same identity.

Lines are appended with one ``write`` and ``fsync``ed; a torn last line left by a
crash is cut off before the next append. Keys already in a ledger are read before
appending, so an alert is written once however often a pass runs. Writers hold the
workspace lock (:mod:`pipeline.lock`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import AlertLedgerError
from pipeline.watch.alerts import Alert
from pipeline.watch.config import endpoint_id

log = logging.getLogger(__name__)

ALERTS_FILE = "alerts.jsonl"
"""The alert ledger, in the workspace root."""
DELIVERIES_FILE = "alert-deliveries.jsonl"
"""The webhook delivery ledger, in the workspace root."""

_APPEND_LOCK = threading.Lock()


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
    with _APPEND_LOCK:  # webhook threads record their outcomes as they settle
        _append_locked(path, records)


def _append_locked(path: Path, records: Sequence[dict[str, Any]]) -> None:
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
        """Every alert in the ledger, in file order (fields of a newer campwatch are ignored)."""
        records, _ = _read_lines(self.path)
        known = {f.name for f in fields(Alert)}
        out = []
        for r in records:
            try:
                out.append(Alert(**{k: v for k, v in r.items() if k in known}))
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
    """The outcome of sending one alert to one webhook."""

    key: str
    """The alert key (also the ``Idempotency-Key`` header of every attempt)."""
    endpoint: str
    """The webhook's identity (no secrets: see :func:`pipeline.watch.config.endpoint_id`)."""
    state: str
    """"delivered" (answered 2xx), "failed" (retried next pass) or "pending" (not started
    before the deadline)."""
    attempts: int
    """POSTs made in this pass."""
    status: int | None = None
    """HTTP status of the last attempt (None: no response)."""
    error: str = ""
    """Why the last attempt failed."""
    at: str = ""
    """When the outcome settled (ISO 8601, UTC)."""


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
        """(alert key, endpoint identity) pairs delivered at some point."""
        out = set()
        for r in _read_lines(self.path)[0]:
            if r.get("state") != "delivered":
                continue
            endpoint = r.get("endpoint")
            if endpoint is None and isinstance(r.get("url"), str):
                try:  # a line of an older campwatch, which wrote the full URL
                    endpoint = endpoint_id(r["url"])
                except ValueError:
                    continue
            out.add((str(r["key"]), str(endpoint)))
        return out

    def record(self, results: Sequence[DeliveryResult]) -> None:
        """Append settled outcomes (delivered and failed; pending ones are not final).

        Example:
            >>> # DeliveryLedger.in_workspace(ws).record([result])
        """
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        final = [asdict(r) | {"at": r.at or stamp} for r in results if r.state != "pending"]
        if final:
            _append(self.path, final)
