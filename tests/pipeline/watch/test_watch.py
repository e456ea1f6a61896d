"""Watch passes against a real local STAC API: alerts once, incremental search, isolation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.stac.read import gdal_env_options
from pipeline.cli.watch import watch
from pipeline.watch.alerts import alert_key
from pipeline.watch.config import find_watch_config
from pipeline.watch.ledger import AlertLedger, DeliveryLedger
from pipeline.watch.passes import watch_pass
from tests.pipeline.watch.conftest import FACILITY_ID, HookServer, write_config

NOW = datetime(2024, 6, 1, tzinfo=UTC)
pytestmark = pytest.mark.slow


def _catalogue(ws: Path) -> tuple[list[str], list[str]]:
    with open_catalogue(ws / FACILITY_ID / "catalogue.gpkg", "EPSG:32652") as cat:
        return [c.capture_id for c in cat.captures()], [c.change_id for c in cat.changes()]


def _run(ws: Path, **kwargs: Any) -> Any:
    cfg = find_watch_config(None, ws)
    return watch_pass([load_facility_by_id(FACILITY_ID)], ws, cfg, now=NOW,
                      gdal_options=gdal_env_options(), **kwargs)


def test_two_passes_alert_once_and_second_finds_nothing(
    stac_api: Any, hook_server: Any, tmp_path: Path
) -> None:
    hook: HookServer = hook_server()
    ws = tmp_path / "ws"
    with stac_api("A", "B", "C") as api:
        write_config(ws, api.url, hooks=[hook.url])
        first = _run(ws)
        searches_before = len(api.requests_to("/search"))
        second = _run(ws)
    f1, f2 = first.facilities[0], second.facilities[0]
    assert f1.status == "ok", f1.errors
    assert len(f1.new_captures) == 3 and len(f1.usable) == 3
    # The planted changes of B, confirmed by C, are alerted with their zone.
    planted = {(a.zone_id, a.status) for a in first.alerts if a.before_acquired.startswith("2024-01")}
    assert planted == {("housing-1", "confirmed"), ("quarry-1", "confirmed")}
    housing = next(a for a in first.alerts if a.zone_id == "housing-1")
    assert housing.rank == 2 and "housing zone +2" in housing.reason
    # Every event has exactly one alert; keys follow facility|change|kind.
    ledger = AlertLedger.in_workspace(ws).alerts()
    keys = [a.key for a in ledger]
    assert len(keys) == len(set(keys)) == f1.events == len(first.alerts)
    assert {a.key for a in ledger} == {alert_key(FACILITY_ID, a.change_id, "event") for a in ledger}
    assert [a.score for a in first.alerts] == sorted((a.score for a in first.alerts), reverse=True)
    # Webhook got each alert once, with the idempotency key.
    assert sorted(r.body["key"] for r in hook.received) == sorted(keys)
    assert all(r.headers["Idempotency-Key"] == r.body["key"] for r in hook.received)
    assert len(DeliveryLedger.in_workspace(ws).delivered()) == len(keys)
    # Second pass: searched again, nothing new, no detection, no alert, nothing re-sent.
    assert len(api.requests_to("/search")) > searches_before
    assert f2.status == "ok" and f2.new_captures == () and not f2.ran_detection
    assert second.alerts == () and second.deliveries == ()
    assert len(AlertLedger.in_workspace(ws).alerts()) == len(keys)
    assert len(hook.received) == len(keys)
    captures, changes = _catalogue(ws)
    assert len(captures) == 3 and len(changes) == len(set(changes))


def test_incremental_search_uses_overlap_and_alerts_only_new_events(
    stac_api: Any, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    with stac_api("A", "B") as api:
        write_config(ws, api.url)
        first = _run(ws)
    assert len(first.facilities[0].new_captures) == 2
    first_keys = {a.key for a in first.alerts}
    assert first_keys and all(a.status == "unconfirmed" for a in first.alerts)
    with stac_api("A", "B", "C") as api:
        write_config(ws, api.url)
        second = _run(ws)
        searches = [r for r in api.log if r.path == "/search"]
    f2 = second.facilities[0]
    assert f2.new_captures == ("stac_sentinel-2-l2a_S2A_TEST_20240510_C",)
    assert searches, "the second pass searched the API"
    # B's events were alerted (unconfirmed) in pass 1; confirming them adds no alert.
    assert not first_keys & {a.key for a in second.alerts}
    assert len(AlertLedger.in_workspace(ws).keys()) == len(first_keys) + len(second.alerts)


def test_search_window_starts_at_newest_capture_minus_overlap(
    stac_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.watch.passes as watch_module

    seen: list[tuple[str, str]] = []
    real = watch_module.fetch_captures

    def spy(facility: Any, provider: Any, collection: str, start: Any, end: Any,
            *args: Any, **kwargs: Any) -> Any:
        seen.append((str(start), str(end)))
        return real(facility, provider, collection, start, end, *args, **kwargs)

    monkeypatch.setattr(watch_module, "fetch_captures", spy)
    ws = tmp_path / "ws"
    with stac_api("A") as api:
        write_config(ws, api.url)
        _run(ws)
        _run(ws)
    # First: lookback 3650 days; then newest capture (2024-01-10) minus 10 days overlap.
    assert seen == [("2014-06-04", "2024-06-01"), ("2023-12-31", "2024-06-01")]


def test_failed_facility_is_recorded_and_others_go_on(
    stac_api: Any, tmp_path: Path
) -> None:
    """A provider that is down fails its facility; exit code 1; the other facility runs."""
    ws = tmp_path / "ws"
    defs = tmp_path / "defs"
    defs.mkdir()
    src = json.loads(load_facility_by_id(FACILITY_ID).source_path.read_text())  # type: ignore[union-attr]
    src["name"] = "kangdong-copy"
    for feat in src["features"]:
        if feat["properties"].get("feature_type") == "facility":
            feat["properties"]["id"] = "kangdong-copy"
    (defs / "kangdong-copy.geojson").write_text(json.dumps(src))
    with stac_api("A") as api:
        cfg = write_config(ws, api.url, extra="")
        cfg.write_text(cfg.read_text() + (
            '\n[providers.down]\ntype = "stac"\nurl = "http://127.0.0.1:9"\n'
            'collections = ["sentinel-2-l2a"]\n'
            '\n[facilities.kangdong-copy]\nproviders = ["down"]\n'
            f'\n[facilities.{FACILITY_ID}]\nproviders = ["local"]\n'
        ))
        result = CliRunner().invoke(
            watch, ["--workspace", str(ws), "--facilities", str(defs), "--json"]
        )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    by_id = {f["facility_id"]: f for f in report["facilities"]}
    assert by_id["kangdong-copy"]["status"] == "failed"
    assert "http://127.0.0.1:9" in by_id["kangdong-copy"]["errors"][0]
    assert by_id[FACILITY_ID]["status"] == "ok"
    assert len(by_id[FACILITY_ID]["new_captures"]) == 1


def test_local_cluster_equals_serial(stac_api: Any, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with stac_api("A", "B") as api:
        serial_ws, dask_ws = tmp_path / "serial", tmp_path / "dask"
        write_config(serial_ws, api.url)
        write_config(dask_ws, api.url)
        serial = _run(serial_ws)
        with (
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                     dashboard_address=None) as cluster,
            distributed.Client(cluster) as client,
        ):
            parallel = _run(dask_ws, client=client)
    assert parallel.extra["workers"] == 2

    def strip(report: Any) -> Any:
        return [
            replace(f, seconds=0.0, new_alerts=tuple(replace(a, created_at="") for a in f.new_alerts))
            for f in report.facilities
        ]

    assert strip(parallel) == strip(serial)
    assert _catalogue(dask_ws) == _catalogue(serial_ws)
    a = [replace(x, created_at="") for x in AlertLedger.in_workspace(serial_ws).alerts()]
    b = [replace(x, created_at="") for x in AlertLedger.in_workspace(dask_ws).alerts()]
    assert a == b and len(a) > 0
