"""``campwatch verify`` covers every stored file and the catalogue's rows, never writes, and
works on moved and copied workspaces (issue #12, item 3)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagery.verify import verify_workspace
from pipeline.cli.main import main
from tests.pipeline.watch.conftest import FACILITY_ID


def _flip(path: Path, at: int | None = None) -> None:
    raw = bytearray(path.read_bytes())
    i = len(raw) // 2 if at is None else at
    raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


def _sql(ws: Path, statement: str) -> None:
    conn = sqlite3.connect(ws / FACILITY_ID / "catalogue.gpkg")
    conn.execute(statement)
    conn.commit()
    conn.close()


def _problems(ws: Path) -> list[str]:
    return [p.describe() for p in verify_workspace(ws).problems]


def test_fresh_workspace_verifies_and_verify_never_writes(ws_copy: Path) -> None:
    fdir = ws_copy / FACILITY_ID
    cat = fdir / "catalogue.gpkg"
    before = hashlib.sha256(cat.read_bytes()).hexdigest(), cat.stat().st_mtime_ns
    listing = sorted(p.name for p in fdir.iterdir())
    result = CliRunner().invoke(main, ["verify", "--workspace", str(ws_copy), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] and payload["problems"] == []
    # captures, masks, originals, change masks, report, figures, timeline exports, events
    assert payload["checked"] >= 3 * 3 + 4
    assert (hashlib.sha256(cat.read_bytes()).hexdigest(), cat.stat().st_mtime_ns) == before
    assert sorted(p.name for p in fdir.iterdir()) == listing, "verify left -wal/-shm files"


def test_every_kind_of_derived_file_is_covered(ws_copy: Path) -> None:
    fdir = ws_copy / FACILITY_ID
    targets = [
        next((fdir / "changes").glob("*.tif")),
        fdir / "report" / "report.html",
        fdir / "report" / "timeline.csv",
        fdir / "report" / "events.geojson",
        next((fdir / "report" / "figures").glob("*.png")),
    ]
    for t in targets:
        _flip(t)
    problems = _problems(ws_copy)
    for t in targets:
        assert any(p.startswith("MISMATCH ") and str(t) in p for p in problems), (t, problems)
    (fdir / "report" / "timeline.csv").unlink()
    assert any(p.startswith("MISSING ") and "timeline.csv" in p for p in _problems(ws_copy))
    (fdir / "report" / "planted.html").write_text("<p>not written by campwatch</p>")
    assert any(p.startswith("UNRECORDED ") and "planted.html" in p for p in _problems(ws_copy))


def test_edited_rows_and_a_deleted_event_are_caught(ws_copy: Path) -> None:
    _sql(ws_copy, "UPDATE changes SET area_m2 = area_m2 * 2 WHERE fid = "
                  "(SELECT min(fid) FROM changes)")
    _sql(ws_copy, "UPDATE captures SET acquired = '2019-01-01T00:00:00+00:00' WHERE fid = 1")
    problems = _problems(ws_copy)
    assert any("TAMPERED" in p and "changes row change_id=" in p and "(edited)" in p
               for p in problems), problems
    assert any("captures row capture_id=" in p and "(edited)" in p for p in problems)


def test_a_deleted_event_changes_its_table_digest(ws_copy: Path) -> None:
    _sql(ws_copy, "DELETE FROM events WHERE fid = (SELECT min(fid) FROM events)")
    problems = _problems(ws_copy)
    assert any("TAMPERED" in p and "events: " in p and "(a row was deleted, added or replaced)"
               in p for p in problems), problems


def test_a_raw_byte_flip_fails_the_integrity_check(ws_copy: Path) -> None:
    cat = ws_copy / FACILITY_ID / "catalogue.gpkg"
    page = 4096
    raw = bytearray(cat.read_bytes())
    for i in range(page * 2 + 16, page * 2 + 80):  # inside a b-tree page, past its header
        raw[i] ^= 0x5A
    cat.write_bytes(bytes(raw))
    report = verify_workspace(ws_copy)
    assert not report.ok
    found = [p.describe() for p in report.problems if p.role == "catalogue"]
    assert any("SQLite integrity check" in p or "not a GeoPackage" in p or "cannot be read" in p
               for p in found), found


def test_moved_workspace_checks_its_own_originals(ws_copy: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "moved"
    shutil.move(str(ws_copy), moved)
    report = verify_workspace(moved)
    assert report.ok, [p.describe() for p in report.problems]
    original = next((moved / FACILITY_ID / "originals" / "deliveries").glob("*.tif"))
    _flip(original, 4000)
    problems = _problems(moved)
    assert any(p.startswith("MISMATCH ") and f"source {original}:" in p for p in problems)


def test_absent_originals_outside_are_unchecked_not_failed(tmp_path: Path) -> None:
    from tests.pipeline.evidence.conftest import build

    outside = tmp_path / "deliveries"
    ws = build(tmp_path / "ws", "AC", outside)
    shutil.rmtree(outside)
    report = verify_workspace(ws)
    assert report.ok, [p.describe() for p in report.problems]
    assert len(report.unchecked) == 2
    assert all("outside the workspace, unchecked (recorded sha256 " in u
               for u in report.unchecked)
    result = CliRunner().invoke(main, ["verify", "--workspace", str(ws)])
    assert result.exit_code == 0 and "UNCHECKED " in result.output


def test_review_then_report_rebuilt_still_verifies(ws_copy: Path) -> None:
    from imagery.catalogue import open_catalogue
    from tests.pipeline.watch.conftest import CRS

    with open_catalogue(ws_copy / FACILITY_ID / "catalogue.gpkg", CRS) as cat:
        change = min(e.event_id for e in cat.events())
    runner = CliRunner()
    ok = runner.invoke(main, ["review", FACILITY_ID, "--workspace", str(ws_copy), "--change",
                              change, "--accept", "--note", "seen"])
    assert ok.exit_code == 0, ok.output
    rebuilt = runner.invoke(main, ["report", FACILITY_ID, "--workspace", str(ws_copy),
                                   "--overwrite"])
    assert rebuilt.exit_code == 0, rebuilt.output
    report = verify_workspace(ws_copy)
    assert report.ok, [p.describe() for p in report.problems]


def test_an_original_dropped_into_the_workspace_is_vouched_for_by_its_capture(
    ws_copy: Path, tmp_path: Path
) -> None:
    from tests.pipeline.evidence.conftest import delivery

    late = delivery(ws_copy / FACILITY_ID / "originals" / "late" / "D.tif", "D")
    result = CliRunner().invoke(main, ["ingest", FACILITY_ID, str(late), "--workspace",
                                       str(ws_copy)])
    assert result.exit_code == 0, result.output
    report = verify_workspace(ws_copy)
    assert report.ok, [p.describe() for p in report.problems]
    _flip(late, 5000)
    assert any(p.startswith("MISMATCH ") and f"source {late}:" in p for p in _problems(ws_copy))


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv to drop to nobody")
def test_verify_works_on_a_read_only_copy(ws_copy: Path, tmp_path: Path) -> None:
    """A write-protected copy, read by an unprivileged user who cannot write anything there."""
    import os
    import subprocess
    import sys

    if os.geteuid() != 0:
        ro = ws_copy
    else:
        ro = Path("/tmp") / f"campwatch-ro-{tmp_path.name}"
        shutil.rmtree(ro, ignore_errors=True)
        shutil.copytree(ws_copy, ro)
    cat = ro / FACILITY_ID / "catalogue.gpkg"
    before = hashlib.sha256(cat.read_bytes()).hexdigest()
    for p in [ro, *ro.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    repo = Path(__file__).resolve().parents[3]
    code = ("import sys; from pathlib import Path; from imagery.verify import verify_workspace; "
            "r = verify_workspace(Path(sys.argv[1])); "
            "print([p.describe() for p in r.problems]); sys.exit(0 if r.ok else 1)")
    cmd = [sys.executable, "-c", code, str(ro)]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = os.environ | {"PYTHONPATH": str(repo), "HOME": "/tmp"}
    try:
        done = subprocess.run(cmd, env=env, cwd="/tmp", capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert hashlib.sha256(cat.read_bytes()).hexdigest() == before
    finally:
        for p in [ro, *ro.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        if ro != ws_copy:
            shutil.rmtree(ro, ignore_errors=True)
