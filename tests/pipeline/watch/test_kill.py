"""Fault injection: SIGKILL a watch run at a chosen point, then check the next run.

After each kill, the next run must finish with no duplicate captures, changes,
events or alerts, nothing lost that had been committed, and no temporary files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.stac.read import gdal_env_options
from imagery.verify import verify_workspace
from pipeline.history.events import find_events
from pipeline.watch.alerts import alert_key
from pipeline.watch.config import find_watch_config
from pipeline.watch.ledger import AlertLedger, DeliveryLedger
from pipeline.watch.passes import watch_pass
from tests.killing import kill_when_paused
from tests.pipeline.watch.conftest import FACILITY_ID, HookServer, write_config

HARNESS = Path(__file__).with_name("harness.py")
REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def _state(ws: Path) -> tuple[list[str], list[str], list[str]]:
    path = ws / FACILITY_ID / "catalogue.gpkg"
    if not path.exists():
        return [], [], []
    with open_catalogue(path, "EPSG:32652") as cat:
        captures, changes = cat.captures(), cat.changes()
    events = [e.change.change_id for e in find_events(captures, changes)]
    return [c.capture_id for c in captures], [c.change_id for c in changes], events


def _temporaries(ws: Path) -> list[Path]:
    return [p for p in ws.rglob(".*") if p.is_file() and p.name.endswith((".tmp", ".stage.tif"))]


def _kill_at(stage: str, ws: Path, tmp_path: Path) -> None:
    kill_when_paused(HARNESS, ["--workspace", str(ws), "--facility", FACILITY_ID],
                     pause_at=stage, mark=tmp_path / f"paused-{stage}", label="run",
                     deadline_s=60)


@pytest.mark.parametrize(
    ("stage", "committed_before_kill", "temporaries_left"),
    [
        ("search", 0, False),
        ("download", 1, False),
        ("raster-write", 1, True),
        ("catalogue-write", 1, False),
        ("alert-write", 2, False),
    ],
)
def test_kill_then_rerun(
    stage: str, committed_before_kill: int, temporaries_left: bool,
    ab_api: Any, hook_server: Any, tmp_path: Path,
) -> None:
    hook: HookServer = hook_server()
    ws = tmp_path / "ws"
    write_config(ws, ab_api.url, hooks=[hook.url])
    _kill_at(stage, ws, tmp_path)

    captures, _, _ = _state(ws)
    assert len(captures) == committed_before_kill
    assert bool(_temporaries(ws)) == temporaries_left
    assert (ws / ".campwatch.lock").read_text().strip(), "the killed run left its lock record"

    report = watch_pass(
        [load_facility_by_id(FACILITY_ID)], ws, find_watch_config(None, ws),
        gdal_options=gdal_env_options(),
    )
    assert report.ok, report.facilities[0].errors
    assert "recovered_lock" in report.extra
    assert bool(report.swept) == temporaries_left
    captures_after, changes, events = _state(ws)
    assert set(captures) <= set(captures_after), "a committed capture was lost"
    assert len(captures_after) == len(set(captures_after)) == 2
    assert len(changes) == len(set(changes)) and changes
    assert len(events) == len(set(events))
    alerts = AlertLedger.in_workspace(ws).alerts()
    keys = [a.key for a in alerts]
    assert len(keys) == len(set(keys))
    assert set(keys) == {alert_key(FACILITY_ID, e, "event") for e in events}
    assert sorted(r.body["key"] for r in hook.received) == sorted(keys), "each alert sent once"
    assert {k for k, _ in DeliveryLedger.in_workspace(ws).delivered()} == set(keys)
    assert _temporaries(ws) == []
    leftovers = {p.stem for p in (ws / FACILITY_ID / "captures").glob("*.tif")}
    assert leftovers == set(captures_after), "a stored raster has no catalogue row"
    verified = verify_workspace(ws)
    assert verified.ok, [p.describe() for p in verified.problems]


def test_every_loops_until_sigterm_then_exits_cleanly(ab_api: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_config(ws, ab_api.url)
    env = os.environ | {"PYTHONPATH": str(REPO), "CAMPWATCH_TEST_PAUSE_AT": ""}
    proc = subprocess.Popen(
        [sys.executable, str(HARNESS), "--workspace", str(ws), "--facility", FACILITY_ID,
         "--every", "1h", "--json"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # one JSON report per pass
    proc.send_signal(signal.SIGTERM)  # while it waits for the next pass
    t0 = time.monotonic()
    code = proc.wait(timeout=20)
    proc.stdout.close()
    assert time.monotonic() - t0 < 5
    assert code == 0
    report = json.loads(first)
    assert report["ok"] and len(report["facilities"][0]["new_captures"]) == 2
    assert (ws / ".campwatch.lock").read_text() == ""  # released, not left stale


def test_kill_during_delivery_resends_only_what_was_not_settled(
    ab_api: Any, hook_server: Any, tmp_path: Path
) -> None:
    """kill -9 after the first delivery settled: it is never POSTed again; every alert is
    delivered in the end, each POST carrying its alert's key."""
    hook: HookServer = hook_server()
    ws = tmp_path / "ws"
    write_config(ws, ab_api.url, hooks=[hook.url])
    _kill_at("delivery", ws, tmp_path)
    settled = DeliveryLedger.in_workspace(ws).delivered()
    assert len(settled) >= 1, "the first delivery was recorded as it settled"
    report = watch_pass(
        [load_facility_by_id(FACILITY_ID)], ws, find_watch_config(None, ws),
        gdal_options=gdal_env_options(),
    )
    assert report.ok, (report.facilities[0].errors, report.deliveries)
    keys = {a.key for a in AlertLedger.in_workspace(ws).alerts()}
    assert {k for k, _ in DeliveryLedger.in_workspace(ws).delivered()} == keys
    posts: dict[str, int] = {}
    for r in hook.received:
        assert r.headers["Idempotency-Key"] == r.body["key"]
        posts[r.body["key"]] = posts.get(r.body["key"], 0) + 1
    assert set(posts) == keys
    for key, _ in settled:
        assert posts[key] == 1, f"alert {key} was delivered (2xx) and POSTed again"
    verified = verify_workspace(ws)
    assert verified.ok, [p.describe() for p in verified.problems]
