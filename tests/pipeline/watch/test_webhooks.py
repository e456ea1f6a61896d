"""Webhooks at least once, never twice after a 2xx, no secrets anywhere (issue #12, item 2)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli.watch import watch
from pipeline.watch.alerts import alert_for_event
from pipeline.watch.config import WebhookSpec, endpoint_id
from pipeline.watch.ledger import DeliveryLedger
from pipeline.watch.webhooks import DeliveryJob, WebhookDispatcher, pending_jobs
from tests.pipeline.watch.conftest import FACILITY_ID, HookServer, write_config
from tests.pipeline.watch.test_alerts import _event

SECRET = "s3cr3t-t0ken-XYZ"


def _alert(kind: str = "earthworks") -> Any:
    return alert_for_event("f", _event(kind, "perimeter", 900, 10, 10.0))


def test_same_key_on_every_retry_and_timeouts_are_retried(hook_server: Any) -> None:
    hook: HookServer = hook_server(["500", "slow:1.0", "200"])
    alert = _alert()
    dispatcher = WebhookDispatcher(timeout_s=0.3, retries=3, backoff_s=0.01)
    dispatcher.submit([DeliveryJob(alert, WebhookSpec(hook.url))])
    (result,) = dispatcher.finish(deadline_s=10)
    time.sleep(1.0)  # let the late 200 land at the receiver
    assert (result.state, result.attempts, result.status) == ("delivered", 3, 200)
    assert [r.headers["Idempotency-Key"] for r in hook.received] == [alert.key] * 3


def test_in_flight_post_at_the_deadline_settles_and_is_not_sent_again(
    hook_server: Any, tmp_path: Path
) -> None:
    hook: HookServer = hook_server(["slow:1.0"])
    alert = _alert()
    spec = WebhookSpec(hook.url)
    ledger = DeliveryLedger.in_workspace(tmp_path)
    dispatcher = WebhookDispatcher(timeout_s=3.0, retries=2, backoff_s=0.01, ledger=ledger)
    dispatcher.submit([DeliveryJob(alert, spec)])
    (result,) = dispatcher.finish(deadline_s=0.2)
    assert (result.state, result.status) == ("delivered", 200), result
    assert ledger.delivered() == {(alert.key, spec.endpoint)}
    assert pending_jobs([alert], lambda f: [spec], lambda f: 0.0, ledger.delivered()) == []
    assert len(hook.received) == 1


def test_each_delivery_is_recorded_the_moment_it_settles(
    hook_server: Any, tmp_path: Path
) -> None:
    fast: HookServer = hook_server()
    hung: HookServer = hook_server(default="hang")
    ledger = DeliveryLedger.in_workspace(tmp_path)
    alert = _alert()
    dispatcher = WebhookDispatcher(timeout_s=2.0, retries=0, ledger=ledger)
    dispatcher.submit([DeliveryJob(alert, WebhookSpec(hung.url)),
                       DeliveryJob(alert, WebhookSpec(fast.url))])
    t0 = time.monotonic()
    while not ledger.path.exists() and time.monotonic() - t0 < 5:
        time.sleep(0.02)
    # the fast delivery is on disk while the hung one is still in flight
    assert ledger.delivered() == {(alert.key, endpoint_id(fast.url))}
    results = dispatcher.finish(deadline_s=0.1)
    assert {r.state for r in results} == {"delivered", "failed"}
    lines = [json.loads(x) for x in ledger.path.read_text().splitlines()]
    assert sorted(x["state"] for x in lines) == ["delivered", "failed"]


def test_rotating_a_token_replays_nothing_and_no_secret_is_written(
    hook_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hook: HookServer = hook_server(["500", "200"])
    alert = _alert()
    old = WebhookSpec(f"{hook.url}?token={SECRET}")
    ledger = DeliveryLedger.in_workspace(tmp_path)
    with caplog.at_level(logging.DEBUG):
        dispatcher = WebhookDispatcher(timeout_s=2, retries=2, backoff_s=0.01, ledger=ledger)
        dispatcher.submit([DeliveryJob(alert, old)])
        (result,) = dispatcher.finish(deadline_s=10)
    assert result.state == "delivered" and hook.received[-1].path == f"/hook?token={SECRET}"
    rotated = WebhookSpec(f"{hook.url}?token=NEW-{SECRET}")
    assert rotated.endpoint == old.endpoint == hook.url
    assert pending_jobs([alert], lambda f: [rotated], lambda f: 0.0, ledger.delivered()) == []
    assert SECRET not in ledger.path.read_text()
    assert SECRET not in json.dumps(result.__dict__)
    assert SECRET not in caplog.text


def test_an_older_ledger_with_full_urls_is_read_by_endpoint(tmp_path: Path) -> None:
    ledger = DeliveryLedger.in_workspace(tmp_path)
    ledger.path.write_text(json.dumps({"key": "k1", "url": f"https://h.example/x?t={SECRET}",
                                       "state": "delivered", "attempts": 1}) + "\n")
    assert ledger.delivered() == {("k1", "https://h.example/x")}


def test_watch_exits_1_when_deliveries_fail_and_prints_no_secret(
    stac_api: Any, hook_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    down: HookServer = hook_server(default="500")
    ws = tmp_path / "ws"
    monkeypatch.setenv("CAMPWATCH_TEST_HOOK_TOKEN", SECRET)
    with stac_api("A", "B", "C") as api:
        cfg = write_config(ws, api.url)
        text = cfg.read_text().replace(
            "webhooks = []",
            f'webhooks = [{{ url = "{down.url}?token={SECRET}", '
            'headers = { Authorization = "env:CAMPWATCH_TEST_HOOK_TOKEN" } }]',
        )
        cfg.write_text(text)
        result = CliRunner().invoke(
            watch, ["--workspace", str(ws), "--facility", FACILITY_ID, "--json"]
        )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert all(f["status"] == "ok" for f in report["facilities"])
    assert report["ok"] is False and report["deliveries"]
    assert {d["state"] for d in report["deliveries"]} == {"failed"}
    assert {d["endpoint"] for d in report["deliveries"]} == {down.url}
    assert down.received and all(r.headers["Authorization"] == SECRET for r in down.received)
    assert SECRET not in result.output
    for name in ("alerts.jsonl", "alert-deliveries.jsonl"):
        assert SECRET not in (ws / name).read_text()
    text_out = CliRunner().invoke(watch, ["--workspace", str(ws)])
    assert text_out.exit_code == 1
    assert f"FAILED {down.url} alert " in text_out.output and SECRET not in text_out.output


def test_config_errors_do_not_echo_secrets(tmp_path: Path) -> None:
    from pipeline.watch.config import WatchConfigError, load_watch_config

    path = tmp_path / "watch.toml"
    for text in (f'webhooks = [{{ url = "ftp://h.example/x?t={SECRET}" }}]\n',
                 f'webhooks = [{{ url = "https://h.example/x?t={SECRET}", '
                 'headers = { Authorization = 5 } }]\n'):
        path.write_text(text)
        with pytest.raises(WatchConfigError) as err:
            load_watch_config(path)
        assert SECRET not in str(err.value) and "webhooks[0]." in str(err.value)
