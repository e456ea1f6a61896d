"""The report a publication could print, from real imagery (issue #13).

Two real Sentinel-2 L1C captures of Bercy (OSCD, ``../shared/data``) are ingested with one
``campwatch ingest --date-from-name`` into a facility whose one zone is marked simulated, then
``campwatch run`` writes the report (HTML and PDF). The report is read as its author would:
rendered in headless Chromium and through pdftoppm. Set ``CAMPWATCH_TEST_ARTIFACTS=DIR`` to
keep the screenshot and PDF pages for a person to look at.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from PIL import Image

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.types import LandCover
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.change.zones import grid_zones
from pipeline.cli.main import _summary_lines, main
from pipeline.history.events import STRUCTURE_MAX_M2, read_events
from pipeline.history.review import review_events
from pipeline.report import report_figures
from pipeline.report.report_figures import MIN_FIGURE_PIXELS, event_bounds
from pipeline.watch.alerts import score_event
from tests.chromium import headless_chromium
from tests.pipeline.report.real_bercy import (
    CREDIT,
    FACILITY_ID,
    stack_deliveries,
    write_facility,
)

DATE_PATTERN = r"_(\d{8})\.tif$"
LAND_COVERS = get_args(LandCover)


@dataclass(frozen=True)
class RealRun:
    """The workspace of the real-imagery run and what the commands printed."""

    root: Path
    fac_dir: Path
    deliveries: list[Path]
    ws: FacilityWorkspace
    ingest: dict[str, Any]
    run: dict[str, Any]
    run_text: str


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def real(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    root = tmp_path_factory.mktemp("real")
    deliveries = stack_deliveries(shared_data, root / "deliveries")
    fac_dir = root / "facilities"
    write_facility(shared_data, fac_dir)
    ws_root = root / "ws"
    common = ["--workspace", str(ws_root), "--facilities", str(fac_dir)]
    old = os.umask(0o022)
    try:
        ingest = invoke("ingest", FACILITY_ID, str(root / "deliveries"), *common,
                        "--resolution", "10", "--date-from-name", DATE_PATTERN,
                        "--sensor", "Sentinel-2A", "--gsd", "10", "--credit", CREDIT, "--json")
        assert ingest.exit_code == 0, ingest.output
        ran = invoke("run", FACILITY_ID, *common, "--json")
        assert ran.exit_code == 0, ran.output
    finally:
        os.umask(old)
    payload = json.loads(ran.output)
    text = "\n".join(_summary_lines(payload))  # what `campwatch run` prints without --json
    return RealRun(root, fac_dir, deliveries, FacilityWorkspace(ws_root, FACILITY_ID),
                   json.loads(ingest.output), payload, text)


def _html(real: RealRun) -> str:
    return (real.ws.report_dir / "report.html").read_text(encoding="utf-8")


def _artifacts() -> Path | None:
    where = os.environ.get("CAMPWATCH_TEST_ARTIFACTS")
    if not where:
        return None
    out = Path(where)
    out.mkdir(parents=True, exist_ok=True)
    return out


# -- 1. "simulated" said of exactly what is simulated ------------------------------------------


def test_real_imagery_is_never_bannered_simulated(real: RealRun) -> None:
    html = _html(real)
    assert "SIMULATED IMAGERY" not in html
    assert "All imagery in this report is simulated" not in html
    assert 'id="simulated-banner"' not in html
    note = re.search(r'<p id="simulated-zones">(.*?)</p>', html, re.S)
    assert note is not None
    assert "<code>yard</code>" in note.group(1) and "The imagery itself is real" in note.group(1)
    for png in (real.ws.report_dir / "figures").glob("*.png"):
        title = Image.open(png).text.get("Title", "")
        assert "SIMULATED" not in title, png.name


# -- 2. wording follows evidence -----------------------------------------------------------------


def test_two_captures_give_only_unconfirmed_events_counted_apart(real: RealRun) -> None:
    grid = workspace_grid(real.ws, load_facility_by_id(FACILITY_ID, [real.fac_dir]), None)
    with open_catalogue(real.ws.catalogue_path, grid.crs) as cat:
        events = read_events(cat)
    assert events and all(e.status == "unconfirmed" for e in events)
    assert real.run["persistent"] == 0 and real.run["unconfirmed"] == len(events)
    assert f"0 persistent (a later capture confirmed them), {len(events)} unconfirmed" in (
        real.run_text)
    counts = re.search(r'<p id="summary-counts">(.*?)</p>', _html(real), re.S)
    assert counts is not None
    assert "<strong>0 persistent</strong>" in counts.group(1)
    assert f"<strong>{len(events)} unconfirmed</strong>" in counts.group(1)
    others = real.run["changes"] - len(events)  # change objects the series did not support
    assert others > 0 and f"; the other {others} are not, because a later capture" in (
        counts.group(1))
    assert "persist (events)" not in _html(real)
    for e in events:
        s = e.statement()
        assert "unconfirmed" in s and "persistent" not in s
        if e.change.area_m2 > STRUCTURE_MAX_M2:
            assert "structure," not in s, s  # a large change is not "a structure"


def test_land_cover_is_measured_once_and_shapes_each_statement(real: RealRun) -> None:
    """Sentinel-2 has a near-infrared band: every event's land cover is measured by the run,
    stored with it, exported, and worded together with its size."""
    grid = workspace_grid(real.ws, load_facility_by_id(FACILITY_ID, [real.fac_dir]), None)
    with open_catalogue(real.ws.catalogue_path, grid.crs) as cat:
        stored = {e.event_id: e for e in cat.events()}
        events = read_events(cat)
    assert stored and all(e.land_cover in LAND_COVERS for e in stored.values())
    assert all(e.land_cover != "not_measured" and e.land_cover_note for e in stored.values())
    # no open water in the rail yard: dark November ground (NDWI ~0.23) is not water
    assert not any(e.land_cover == "water" and e.zone_id == "yard" for e in stored.values())
    for ev in events:
        s = ev.statement()
        assert ev.land_cover is not None and ev.land_cover.note in s
        assert s == stored[ev.change.change_id].statement  # readers read what the run stored
        if ev.change.area_m2 > STRUCTURE_MAX_M2 and ev.land_cover.label in (
                "vegetation_cleared", "vegetation_grown"):
            assert s.startswith(ev.land_cover.label.replace("_", " ").capitalize()), s
    doc = json.loads((real.ws.report_dir / "events.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["land_cover"] for f in doc["features"]} <= set(LAND_COVERS)
    table = _html(real)
    assert "land cover: " in table or "measured NDVI" in table


# -- 3. event figures ------------------------------------------------------------------------------


def test_event_figures_show_context_and_say_where_and_when(real: RealRun) -> None:
    facility = load_facility_by_id(FACILITY_ID, [real.fac_dir])
    grid = workspace_grid(real.ws, facility, None)
    with open_catalogue(real.ws.catalogue_path, grid.crs) as cat:
        events = {e.change.change_id: e for e in read_events(cat)}
    figures = sorted((real.ws.report_dir / "figures").glob("event-*.png"))
    assert figures
    for png in figures:
        ev = events[png.stem.rsplit("-", 1)[1]]
        w, s, e, n = event_bounds(ev.change.geometry, grid, 10.0)
        assert e - w >= MIN_FIGURE_PIXELS * 10.0 and n - s >= MIN_FIGURE_PIXELS * 10.0
        title = Image.open(png).text["Title"]
        centre = ev.change.geometry.centroid
        assert f"event centre, UTM 31N {centre.x:,.0f} E {centre.y:,.0f} N" in title
        assert "change between 2016-11-30 and 2017-08-29" in title
        assert "Sentinel-2A, 10 m" in title and CREDIT in title
        assert "00:00" not in title  # dated by day: no invented time
        rp = facility.reported_point
        assert f"{rp.lat:.4f}° N {rp.lon:.4f}° E" not in title  # not the facility's point


# -- 4. overview ----------------------------------------------------------------------------------


def test_overview_caption_is_true_to_the_series(real: RealRun) -> None:
    html = _html(real)
    caption = re.search(r'<figcaption id="overview-caption">(.*?)</figcaption>', html, re.S)
    assert caption is not None
    assert "medium-resolution" in caption.group(1) and "Sentinel-2A, 10 m, 2017-08-29" in (
        caption.group(1))
    assert "most recent usable very-high-resolution capture" not in html
    coverage = html[html.index('id="coverage"'):html.index('id="zones"')]
    assert "00:00" not in coverage and "2016-11-30" in coverage


def test_overview_locator_names_the_nearest_towns(real: RealRun) -> None:
    towns = re.search(r'<span id="overview-towns">(.*?)</span>', _html(real), re.S)
    assert towns is not None
    assert "Paris, 3 km NW; Versailles, 19 km W" in towns.group(1)
    assert "Natural Earth" in towns.group(1)


def test_overview_summarises_the_rest_as_a_density_layer(
    real: RealRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for fewer outlines than detections, the rest become changed area per cell.

    The series evidence (#11) leaves few events on this two-capture pair, so the room is one
    outline fewer than the events (at most 3).
    """
    facility = load_facility_by_id(FACILITY_ID, [real.fac_dir])
    grid = workspace_grid(real.ws, facility, None)
    with open_catalogue(real.ws.catalogue_path, grid.crs) as cat:
        reviewed = review_events(read_events(cat), cat.reviews())
        captures = cat.captures()
    pending = [(f"U{i + 1}", r) for i, r in enumerate(reviewed)]
    assert len(pending) >= 2
    room = min(3, len(pending) - 1)
    monkeypatch.setattr(report_figures, "OVERVIEW_DETECTIONS", room)
    cap = report_figures.overview_capture([c for c in captures if c.usable])
    assert cap is not None
    fig = report_figures.overview_figure(facility, real.ws, grid, cap, [], pending, tmp_path)
    assert fig is not None and fig.density is not None
    assert fig.not_drawn == fig.density.count == len(pending) - room and len(fig.drawn) == room
    ranked = sorted(pending, key=lambda p: -score_event(p[1].event)[0])  # as the alerts rank
    assert set(fig.drawn) == {r.event.change.change_id for _, r in ranked[:room]}
    rest = shapely.union_all([r.event.change.geometry for _, r in ranked[room:]])
    assert fig.density.values.sum() == pytest.approx(rest.area, rel=0.15)
    assert 0 < fig.simplify_m <= grid.resolution
    drawn = np.asarray(Image.open(fig.path).convert("RGB")).astype(int)
    plain = np.asarray(Image.open(real.ws.report_dir / "figures" / "overview.png")
                       .convert("RGB")).astype(int)
    assert drawn.shape == plain.shape and np.abs(drawn - plain).mean() > 0.5
    keep = _artifacts()
    if keep:
        shutil.copy(fig.path, keep / "real-overview-density.png")


# -- 5. a zone's changed area never exceeds its area --------------------------------------------


def test_zone_changed_area_never_exceeds_the_zone(real: RealRun) -> None:
    facility = load_facility_by_id(FACILITY_ID, [real.fac_dir])
    grid = workspace_grid(real.ws, facility, None)
    zones = {z.zone_id: z.geometry.area for z in grid_zones(facility, grid.crs)}
    with open_catalogue(real.ws.catalogue_path, grid.crs) as cat:
        rows = cat.timeline()
    assert any(r.zone_id == "yard" and r.changed_area_m2 > 0 for r in rows)
    for r in rows:
        if r.zone_id in zones:
            assert r.changed_area_m2 <= zones[r.zone_id] + 1e-6, r


# -- 6. run writes the PDF; outputs follow the umask --------------------------------------------


def test_run_writes_a_pdf_that_pdftoppm_renders(real: RealRun, tmp_path: Path) -> None:
    pdf = real.ws.report_dir / "report.pdf"
    assert real.run["outputs"]["report_pdf"] == str(pdf) and pdf.is_file()
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("needs pdftoppm (apt-get install -y poppler-utils)")
    subprocess.run([pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "3", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3
    first = np.asarray(Image.open(pages[0]).convert("RGB")).astype(int)
    assert first.std() > 10
    # no red simulated-imagery banner in the top margin of a real-imagery report
    top = first[: first.shape[0] // 12]
    red = (top[..., 0] > 150) & (top[..., 1] < 60) & (top[..., 2] < 60)
    assert red.mean() < 0.01
    keep = _artifacts()
    if keep:
        for p in pages:
            shutil.copy(p, keep / f"real-{p.name}")
    text = subprocess.run([shutil.which("pdftotext") or "pdftotext", str(pdf), "-"],
                          capture_output=True, text=True, check=True, timeout=120).stdout
    assert "SIMULATED IMAGERY" not in text and "unconfirmed" in text
    assert "Paris, 3 km NW" in text and ("land cover: " in text or "measured NDVI" in text)


def test_outputs_are_created_with_the_process_umask(real: RealRun) -> None:
    ws = real.ws
    files = [*ws.captures_dir.glob("*.tif"), *ws.masks_dir.glob("*.tif"),
             *ws.changes_dir.glob("*.tif"), *(ws.report_dir / "figures").glob("*.png"),
             ws.report_dir / "report.pdf", ws.report_dir / "report.html",
             ws.report_dir / "timeline.csv"]
    assert len(files) > 8
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


# -- 7. ingest and review --list ----------------------------------------------------------------


def test_each_file_is_dated_from_its_own_name(real: RealRun) -> None:
    added = sorted(real.ingest["added"])
    assert [a[:8] for a in added] == ["20161130", "20170829"]


def test_one_date_for_several_files_is_refused(real: RealRun, tmp_path: Path) -> None:
    result = invoke("ingest", FACILITY_ID, *map(str, real.deliveries), "--workspace",
                    str(tmp_path / "ws"), "--facilities", str(real.fac_dir), "--resolution",
                    "10", "--date", "2016-11-30", "--sensor", "Sentinel-2A", "--gsd", "10")
    assert result.exit_code == 1
    assert "--date 2016-11-30T00:00:00+00:00 given for 2 files" in result.output
    assert result.output.count("given for 2 files") == 1
    assert not (tmp_path / "ws" / FACILITY_ID / "catalogue.gpkg").exists()


def test_a_grid_much_finer_than_the_imagery_needs_a_flag(real: RealRun, tmp_path: Path) -> None:
    args = ["ingest", FACILITY_ID, str(real.deliveries[0]), "--workspace", str(tmp_path / "ws"),
            "--facilities", str(real.fac_dir), "--resolution", "1", "--date-from-name",
            DATE_PATTERN, "--sensor", "Sentinel-2A", "--gsd", "10"]
    refused = invoke(*args)
    assert refused.exit_code == 1
    assert "GSD 10 m but the grid resolution is 1 m" in refused.output
    assert "--allow-fine-grid" in refused.output and refused.output.count("GSD 10 m") == 1
    assert not (tmp_path / "ws" / FACILITY_ID / "grid.json").exists()


def test_review_list_is_ranked_and_shows_area_confidence_zone_and_centre(real: RealRun) -> None:
    common = ["--workspace", str(real.ws.root), "--facilities", str(real.fac_dir)]
    ranked = json.loads(invoke("review", FACILITY_ID, *common, "--list", "--json").output)
    assert ranked and [r["position"] for r in ranked] == list(range(1, len(ranked) + 1))
    keys = [(r["rank"], -r["score"]) for r in ranked]
    assert keys == sorted(keys)
    for r in ranked:
        assert r["area_m2"] > 0 and r["confidence_label"] and r["zone"]
        assert 48.8 < r["lat"] < 48.9 and 2.3 < r["lon"] < 2.45
    by_area = json.loads(invoke("review", FACILITY_ID, *common, "--list", "--sort", "area",
                                "--json").output)
    areas = [r["area_m2"] for r in by_area]
    assert areas == sorted(areas, reverse=True)
    text = invoke("review", FACILITY_ID, *common, "--list").output.strip().splitlines()
    assert text[-1] == f"{len(ranked)} pending" and "m²" in text[0] and "confidence" in text[0]
    accepted = json.loads(invoke("review", FACILITY_ID, *common, "--list", "--status",
                                 "accepted", "--json").output)
    assert accepted == []


# -- 8. the HTML in headless Chromium ---------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with headless_chromium(
        tmp_path_factory.mktemp("chromium-real"), window_size="1200,1600"
    ) as driver:
        yield driver


def test_real_report_in_chromium(real: RealRun, browser: Any) -> None:
    browser.get((real.ws.report_dir / "report.html").as_uri())
    images = browser.execute_script(
        "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth]);"
    )
    assert len(images) >= 3 and all(done and w > 0 for _, done, w in images), images
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert browser.find_elements("id", "simulated-banner") == []
    zones_note = browser.find_element("id", "simulated-zones")
    assert zones_note.is_displayed() and "drawn without evidence" in zones_note.text
    summary = browser.find_element("id", "summary-counts").text
    assert "0 persistent" in summary and "unconfirmed" in summary
    towns = browser.find_element("id", "overview-towns")
    assert towns.is_displayed() and "Paris, 3 km NW" in towns.text
    png = browser.get_screenshot_as_png()
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert shot.std() > 20
    keep = _artifacts()
    if keep:
        (keep / "real-report.png").write_bytes(png)


def test_a_failed_file_is_reported_once(real: RealRun, tmp_path: Path) -> None:
    bad = tmp_path / "broken_20170101.tif"
    bad.write_bytes(b"not a tiff")
    result = invoke("ingest", FACILITY_ID, str(bad), "--workspace", str(tmp_path / "ws"),
                    "--facilities", str(real.fac_dir), "--resolution", "10",
                    "--date-from-name", DATE_PATTERN, "--sensor", "Sentinel-2A", "--gsd", "10")
    assert result.exit_code == 1
    assert result.output.count("cannot be read as a raster") == 1, result.output
