"""Fault tests: SIGKILL ingest, run and review at each write point, rerun, and compare with an
uninterrupted run (issue #12, item 6). Watch and fetch are in tests/pipeline/watch/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from imagery.catalogue import open_catalogue
from imagery.verify import verify_workspace
from pipeline.lock import is_temporary
from tests.killing import kill_when_paused
from tests.pipeline.evidence.conftest import MIN_AREA_M2, cli, delivery
from tests.pipeline.watch.conftest import CRS, FACILITY_ID

HARNESS = Path(__file__).with_name("kill_harness.py")
pytestmark = pytest.mark.slow


def _commands(ws: Path, originals: Path) -> dict[str, list[str]]:
    return {
        "ingest": ["ingest", FACILITY_ID, str(originals / "A.tif"), str(originals / "C.tif"),
                   str(originals / "D.tif"), "--workspace", str(ws), "--resolution", "10"],
        "run": ["run", FACILITY_ID, "--workspace", str(ws), "--min-area", str(MIN_AREA_M2)],
        "review": ["review", FACILITY_ID, "--workspace", str(ws), "--change", "{change}",
                   "--accept", "--analyst", "JS", "--note", "spoil heap"],
    }


def _first_change(ws: Path) -> str:
    with open_catalogue(ws / FACILITY_ID / "catalogue.gpkg", CRS) as cat:
        return min(e.event_id for e in cat.events())


def _args(args: list[str], ws: Path) -> list[str]:
    return [_first_change(ws) if a == "{change}" else a for a in args]


def _state(ws: Path) -> dict[str, Any]:
    with open_catalogue(ws / FACILITY_ID / "catalogue.gpkg", CRS) as cat:
        return {
            "captures": sorted((c.capture_id, c.raster_sha256, c.mask_sha256, c.usable)
                               for c in cat.captures()),
            "changes": sorted((c.change_id, c.track_id, c.area_m2) for c in cat.changes()),
            "events": sorted((e.event_id, e.status, e.review) for e in cat.events()),
            "reviews": sorted((r.change_id, r.decision, r.analyst, r.note)
                              for r in cat.reviews()),
            "timeline": len(cat.timeline()),
        }


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deliveries")
    for name in "ACD":
        delivery(root / f"{name}.tif", name)
    return root


@pytest.fixture(scope="module")
def stages(originals: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uninterrupted workspaces as they are before each command (and after the last one)."""
    out: dict[str, Path] = {}
    ws = tmp_path_factory.mktemp("clean") / "ws"
    for name, args in _commands(ws, originals).items():
        snapshot = tmp_path_factory.mktemp(f"before-{name}") / "ws"
        if ws.exists():
            shutil.copytree(ws, snapshot)
        out[name] = snapshot
        cli(*_args(args, ws))
    out["end"] = ws
    assert verify_workspace(ws).ok
    return out


def _kill(args: list[str], spec: str, tmp_path: Path) -> None:
    kill_when_paused(HARNESS, args, pause_at=spec, mark=tmp_path / "paused", label=args[0],
                     deadline_s=240)


@pytest.mark.parametrize(
    ("command", "spec"),
    [
        ("ingest", "imagery.store:sha256_file:2"),  # 2nd COG written, not yet renamed
        ("ingest", "imagery.catalogue:Catalogue._refresh_extent:2"),  # in 2nd capture's txn
        ("ingest", "pipeline.lock:seal_facility:1"),  # everything written, nothing sealed
        ("run", "imagery.catalogue:Catalogue.replace_changes:2"),  # between two pairs
        ("run", "imagery.catalogue:Catalogue.replace_events:1"),  # timeline stored, no events
        ("run", "pipeline.runner:write_report:1"),  # catalogue done, no report
        ("run", "pipeline.lock:seal_facility:1"),  # report written, not sealed
        ("review", "imagery.catalogue:Catalogue._refresh_extent:1"),  # inside the review txn
        ("review", "imagery.catalogue:Catalogue.replace_events:1"),  # review stored, no layer
    ],
)
def test_kill_then_rerun_equals_an_uninterrupted_run(
    command: str, spec: str, originals: Path, stages: dict[str, Path], tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    if stages[command].exists():  # the uninterrupted workspace just before this command
        shutil.copytree(stages[command], ws)
    commands = _commands(ws, originals)
    names = list(commands)
    for name in names[names.index(command):]:
        args = _args(commands[name], ws)
        if name == command:
            _kill(args, spec, tmp_path)
        cli(*args)  # the operator reruns the killed command; the later ones follow
    assert _state(ws) == _state(stages["end"])
    report = verify_workspace(ws)
    assert report.ok, [p.describe() for p in report.problems]
    left = [p for p in ws.rglob("*") if p.is_file() and is_temporary(p.name)]
    assert left == [], left
