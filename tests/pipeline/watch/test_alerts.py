"""Alerts: keys, triage, the JSON Lines ledger, and webhooks against real loopback servers."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shapely.geometry import box

from imagery.capture import Capture
from imagery.records import StoredChange
from pipeline.history.events import Event
from pipeline.watch.alerts import alert_for_event
from pipeline.watch.config import WebhookSpec
from pipeline.watch.ledger import AlertLedger, DeliveryLedger
from pipeline.watch.webhooks import DeliveryJob, WebhookDispatcher, pending_jobs
from tests.pipeline.watch.conftest import HookServer


def _capture(cid: str, when: datetime, gsd: float, clear: float) -> Capture:
    return Capture(cid, "f", when, "WorldView-3", gsd, box(0, 0, 1, 1), "stac", "", "",
                   clear_fraction=clear, usable=True)


def _event(change_type: str, zone_type: str, area: float, gap_days: int, gsd: float,
           status: str = "confirmed", conf: str = "high") -> Event:
    before = _capture("b", datetime(2023, 1, 1, tzinfo=UTC), gsd, 0.95)
    after = _capture("a", datetime.fromtimestamp(before.acquired.timestamp() + gap_days * 86400,
                                                 UTC), gsd, 0.95)
    change = StoredChange(f"{change_type}-{zone_type}", "f", "b", "a", before.acquired,
                          after.acquired, box(0, 0, 10, 10), area, change_type, 0.9, conf,
                          "z1" if zone_type else "", zone_type, "test")
    return Event(change, before, after, status)


def test_triage_ranks_guard_post_earthworks_after_long_gap_first() -> None:
    top = alert_for_event("f", _event("earthworks", "guard_post", 8000, 400, 0.5))
    mid = alert_for_event("f", _event("new_or_brighter", "housing", 400, 30, 10.0))
    low = alert_for_event("f", _event("vegetation_gain", "", 300, 30, 10.0, "unconfirmed", "low"))
    assert (top.rank, mid.rank, low.rank) == (1, 2, 3)
    assert top.score > mid.score > low.score
    assert top.reason == (
        "earthworks +3; guard post zone +3; 8,000 m² +1.9; large earthworks +1; "
        "VHR capture (0.5 m) +1; clear capture (95% of AOI) +0.5; "
        "clear VHR look after a 400-day gap +2; high confidence +1"
    )
    assert top.score == 13.4
    assert "unconfirmed: no later capture yet -1" in low.reason
    assert top.key == alert_for_event("f", _event("earthworks", "guard_post", 8000, 400, 0.5)).key
    assert top.key != alert_for_event("g", _event("earthworks", "guard_post", 8000, 400, 0.5)).key


def test_ledger_appends_once_and_cuts_a_torn_line(tmp_path: Path) -> None:
    ledger = AlertLedger.in_workspace(tmp_path)
    a = alert_for_event("f", _event("earthworks", "perimeter", 900, 10, 10.0))
    b = alert_for_event("f", _event("new_or_brighter", "housing", 900, 10, 10.0))
    assert [x.key for x in ledger.append_new([a])] == [a.key]
    with ledger.path.open("ab") as fh:  # a crash in the middle of writing b
        fh.write(json.dumps(b.to_json()).encode()[:40])
    assert ledger.keys() == {a.key}
    assert [x.key for x in ledger.append_new([a, b, b])] == [b.key]
    lines = ledger.path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [a.key, b.key]


def test_webhook_retries_500_then_delivers_once(hook_server: Any, tmp_path: Path) -> None:
    hook: HookServer = hook_server(["500", "200"])
    alert = alert_for_event("f", _event("earthworks", "perimeter", 900, 10, 10.0))
    spec = WebhookSpec(hook.url)
    dispatcher = WebhookDispatcher(timeout_s=2, retries=3, backoff_s=0.01)
    dispatcher.submit([DeliveryJob(alert, spec)])
    (result,) = dispatcher.finish(deadline_s=10)
    assert (result.state, result.attempts, result.status) == ("delivered", 2, 200)
    assert [r.status for r in hook.received] == [500, 200]
    assert hook.received[1].body == alert.to_json()
    ledger = DeliveryLedger.in_workspace(tmp_path)
    ledger.record([result])
    # A delivered alert is never owed again.
    assert pending_jobs([alert], lambda f: [spec], lambda f: 0.0, ledger.delivered()) == []


def test_hung_webhook_is_bounded_and_does_not_block_others(hook_server: Any) -> None:
    hung: HookServer = hook_server(default="hang")
    good: HookServer = hook_server()
    alert = alert_for_event("f", _event("earthworks", "perimeter", 900, 10, 10.0))
    dispatcher = WebhookDispatcher(timeout_s=0.5, retries=1, backoff_s=0.01)
    t0 = time.monotonic()
    dispatcher.submit([DeliveryJob(alert, WebhookSpec(hung.url)),
                       DeliveryJob(alert, WebhookSpec(good.url))])
    assert time.monotonic() - t0 < 0.2  # submit never waits
    results = {r.endpoint: r for r in dispatcher.finish(deadline_s=5)}
    assert time.monotonic() - t0 < 3
    assert results[good.url].state == "delivered"
    assert results[hung.url].state == "failed"
    assert "timed out" in results[hung.url].error
    assert len(good.received) == 1


def test_min_score_filters_what_is_sent() -> None:
    alert = alert_for_event("f", _event("vegetation_gain", "", 300, 10, 10.0, conf="low"))
    loud = WebhookSpec("http://127.0.0.1:1/a", min_score=8.0)
    quiet = WebhookSpec("http://127.0.0.1:1/b")
    jobs = pending_jobs([alert], lambda f: [loud, quiet], lambda f: 0.0, set())
    assert [j.hook.url for j in jobs] == ["http://127.0.0.1:1/b"]
