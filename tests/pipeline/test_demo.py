"""The walking skeleton end to end on a small simulated archive."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner

from imagery.catalogue import open_catalogue
from pipeline.cli.main import main
from pipeline.demo import DEMO_FACILITY, run_demo

SMALL = ["--captures", "6", "--resolution", "4.0", "--vhr-gsd", "2.0"]


def test_demo_workspace_has_catalogue_report_and_figures(demo_workspace: Path) -> None:
    fdir = demo_workspace / DEMO_FACILITY
    for rel in ("catalogue.gpkg", "report/report.html", "report/timeline.csv",
                "report/figures/timeline.png"):
        assert (fdir / rel).is_file(), rel
    caps = gpd.read_file(fdir / "catalogue.gpkg", layer="captures")
    assert caps.crs.to_epsg() == 32652 and caps.geometry.is_valid.all() and len(caps) == 6
    changes = gpd.read_file(fdir / "catalogue.gpkg", layer="changes")
    assert changes.crs.to_epsg() == 32652 and changes.geometry.is_valid.all()
    tiles = gpd.read_file(fdir / "catalogue.gpkg", layer="tiles")
    assert len(tiles) >= 1 and tiles.crs.to_epsg() == 32652
    with open_catalogue(fdir / "catalogue.gpkg", "EPSG:32652") as cat:
        assert {s.capture_id for s in cat.tile_status()} == {c.capture_id for c in cat.captures()}
    html = (fdir / "report" / "report.html").read_text(encoding="utf-8")
    assert html.count("SIMULATED IMAGERY") >= 2
    assert "Demo validation" in html and "src=\"data:image/png;base64," in html


def test_rerun_is_idempotent(demo_workspace: Path) -> None:
    cat_path = demo_workspace / DEMO_FACILITY / "catalogue.gpkg"
    with open_catalogue(cat_path, "EPSG:32652") as cat:
        before = (len(cat.captures()), sorted(c.change_id for c in cat.changes()),
                  len(cat.timeline()))
    run_demo(demo_workspace, captures=6, resolution=4.0, vhr_gsd_m=2.0, seed=7)
    with open_catalogue(cat_path, "EPSG:32652") as cat:
        after = (len(cat.captures()), sorted(c.change_id for c in cat.changes()),
                 len(cat.timeline()))
    assert after == before


def test_demo_with_other_settings_is_refused_and_loses_nothing(demo_workspace: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--workspace", str(demo_workspace), *SMALL,
                                       "--seed", "8"])
    assert result.exit_code == 1
    assert "this workspace holds a simulation with other settings: seed=7 (asked 8)" in result.output
    assert "Traceback" not in result.output
    cat_path = demo_workspace / DEMO_FACILITY / "catalogue.gpkg"
    with open_catalogue(cat_path, "EPSG:32652") as cat:
        assert len(cat.captures()) == 6


def test_run_command_prints_json_summary(demo_workspace: Path) -> None:
    result = CliRunner().invoke(main, ["run", DEMO_FACILITY, "--workspace", str(demo_workspace),
                                       "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["facility_id"] == DEMO_FACILITY and payload["captures"] == 6
    assert set(payload["outputs"]) >= {"catalogue", "report_html", "timeline_csv"}
    assert 0.0 <= payload["demo_validation"]["recall"] <= 1.0


def test_run_on_an_empty_workspace_names_what_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", DEMO_FACILITY, "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    assert "no grid resolution recorded yet" in result.output


@pytest.mark.parametrize("fid", ["no-such-camp"])
def test_run_unknown_facility(tmp_path: Path, fid: str) -> None:
    result = CliRunner().invoke(main, ["run", fid, "--workspace", str(tmp_path)])
    assert result.exit_code == 1 and "no facility with id 'no-such-camp'" in result.output


def test_demo_writes_the_pdf_and_the_viewer(demo_workspace: Path) -> None:
    fdir = demo_workspace / DEMO_FACILITY
    pdf = fdir / "report" / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    index = fdir / "viewer" / "index.html"
    assert "SIMULATED" in index.read_text(encoding="utf-8")
    manifest = json.loads((fdir / "viewer" / "viewer.json").read_text(encoding="utf-8"))
    with open_catalogue(fdir / "catalogue.gpkg", "EPSG:32652") as cat:
        usable = {c.capture_id for c in cat.captures() if c.usable}
    assert {c["id"] for c in manifest["captures"]} == usable
    assert all(c["tile_count"] > 0 and c["simulated"] for c in manifest["captures"])


def test_demo_reports_progress_stage_by_stage(demo_workspace: Path) -> None:
    calls: list[tuple[str, int, int]] = []

    def factory(stage: str):  # type: ignore[no-untyped-def]
        return lambda done, total: calls.append((stage, done, total))

    _, outputs, _ = run_demo(demo_workspace, captures=6, resolution=4.0, vhr_gsd_m=2.0, seed=7,
                             progress=factory)
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages[-3:] == ["report", "pdf", "viewer"]
    assert "detect" in stages and stages.index("detect") < stages.index("report")
    for stage in stages:
        last = [(d, t) for s, d, t in calls if s == stage][-1]
        assert last[0] == last[1] > 0, stage
    assert Path(outputs["report_pdf"]).is_file() and Path(outputs["viewer"]).is_file()


def test_one_process_gives_the_same_catalogue_as_two(demo_workspace: Path, tmp_path: Path) -> None:
    # the session's demo ran with DEMO_WORKERS (2 on CI): simulate, ingest and pairs in
    # worker processes; one process must find the same captures, changes and events
    run_demo(tmp_path, captures=6, resolution=4.0, vhr_gsd_m=2.0, seed=7, workers=1)

    def content(root: Path) -> tuple[object, ...]:
        with open_catalogue(root / DEMO_FACILITY / "catalogue.gpkg", "EPSG:32652") as cat:
            return (sorted((c.capture_id, c.raster_sha256, c.usable) for c in cat.captures()),
                    sorted((c.change_id, c.area_m2) for c in cat.changes()),
                    sorted(e.event_id for e in cat.events()))

    assert content(tmp_path) == content(demo_workspace)
