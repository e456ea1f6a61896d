"""The report on the demo workspace: reviews change what it states; HTML in headless
Chromium, PDF through pdftoppm; the export, report and review commands."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imagery.catalogue import open_catalogue
from pipeline.cli.main import main
from pipeline.demo import DEMO_FACILITY
from pipeline.history.events import find_events, read_events
from pipeline.history.review import record_review, review_events
from pipeline.report.html import ReportOutputs, report_facility
from pipeline.run import run_facility
from tests.chromium import headless_chromium
from tests.pipeline.report.conftest import DemoCopy


@pytest.fixture(scope="module")
def reviewed(demo_copy: DemoCopy) -> tuple[DemoCopy, list[str], str]:
    """Accept the first event, reject the second; return (copy, [accepted, rejected], old HTML)."""
    old_html = (demo_copy.ws.report_dir / "report.html").read_text(encoding="utf-8")
    with open_catalogue(demo_copy.ws.catalogue_path, demo_copy.grid.crs) as cat:
        events = find_events(cat.captures(), cat.changes())
        assert len(events) >= 2
        ids = [events[0].change.change_id, events[1].change.change_id]
        record_review(cat, ids[0], "accepted", analyst="Analyst A", note="new roof visible")
        record_review(cat, ids[1], "rejected", analyst="Analyst A", note="shadow")
    return demo_copy, ids, old_html


@pytest.fixture(scope="module")
def report(reviewed: tuple[DemoCopy, list[str], str]) -> ReportOutputs:
    """The report after review, with a PDF when WeasyPrint is importable."""
    copy, _, _ = reviewed
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        pdf = False
    else:
        pdf = True
    return report_facility(copy.facility, copy.ws, copy.grid, pdf=pdf, overwrite=True,
                           max_figures=2)


def section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    nxt = html.find("<h2 ", start + 1)
    return html[start:nxt]


def test_review_decisions_change_what_the_report_states(
    reviewed: tuple[DemoCopy, list[str], str], report: ReportOutputs
) -> None:
    copy, (accepted, rejected), old_html = reviewed
    html = report.html.read_text(encoding="utf-8")
    with open_catalogue(copy.ws.catalogue_path, copy.grid.crs) as cat:
        # the events the run stored (with their land cover), as the report reads them
        events = {e.change.change_id: e for e in read_events(cat)}
    findings, unreviewed = section(html, "findings"), section(html, "unreviewed")
    old_findings = section(old_html, "findings")
    statement = events[accepted].statement()
    assert "No findings" in old_findings and statement not in old_findings
    assert "<strong>F1.</strong> " + statement.replace("'", "&#39;") in findings
    assert "by Analyst A" in findings and "new roof visible" in findings
    assert "F2." not in findings  # the rejected one is not a finding
    assert accepted not in unreviewed.split("Rejected by the analyst")[0]
    assert rejected in unreviewed.split("Rejected by the analyst")[1]
    pending = len(events) - 2
    assert f"{pending} unreviewed detections" in html and "<strong>1 finding</strong>" in html
    assert html.count("SIMULATED IMAGERY") >= 2 and "Demo validation" not in html


def test_report_is_self_contained_and_has_every_section(report: ReportOutputs) -> None:
    html = report.html.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:|//|file:)', html)
    assert "<link" not in html and "<script" not in html
    for anchor in ("summary", "location", "coverage", "zones", "timeline", "findings",
                   "unreviewed", "assessment", "methodology", "provenance", "references"):
        assert f'id="{anchor}"' in html, anchor
    assert "campwatch verify --workspace" in html and "IoU ≥ 0.5" in html
    # the methodology quotes the series evidence's rules from their constants
    assert "sun within 5° of elevation, or within 45 days of the year" in html
    assert "contrast moved by 65 % or more, and the series rules out the light" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 2 + 2  # overview, timeline
    for f in (report.events_geojson, report.timeline_csv, report.timeline_parquet,
              report.timeline_svg):
        assert f is not None and f.is_file()


def test_events_layer_matches_the_reviews(
    reviewed: tuple[DemoCopy, list[str], str], report: ReportOutputs
) -> None:
    copy, (accepted, rejected), _ = reviewed
    layer = gpd.read_file(copy.ws.catalogue_path, layer="events")
    status = dict(zip(layer["event_id"], layer["review"], strict=True))
    assert status[accepted] == "accepted" and status[rejected] == "rejected"
    assert set(status.values()) == {"accepted", "rejected", "pending"}
    assert layer.crs.to_epsg() == 32652 and layer.geometry.is_valid.all()


def test_reviews_survive_rerunning_detection(
    reviewed: tuple[DemoCopy, list[str], str], report: ReportOutputs
) -> None:
    copy, (accepted, rejected), _ = reviewed
    run_facility(copy.facility, copy.ws, copy.grid)
    with open_catalogue(copy.ws.catalogue_path, copy.grid.crs) as cat:
        got = {r.event.change.change_id: r.status
               for r in review_events(find_events(cat.captures(), cat.changes()), cat.reviews())}
        assert len(cat.reviews()) == 2
    assert got[accepted] == "accepted" and got[rejected] == "rejected"


# -- the PDF ---------------------------------------------------------------------------------


def test_pdf_first_page_has_the_banner(report: ReportOutputs, tmp_path: Path) -> None:
    if report.pdf is None:
        pytest.skip("needs WeasyPrint and Pango: pip install weasyprint; apt-get install "
                    "libpango-1.0-0 libpangoft2-1.0-0")
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("needs pdftoppm and pdftotext: apt-get install poppler-utils")
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", "-singlefile",
                    str(report.pdf), str(tmp_path / "page1")], check=True, timeout=60)
    page = np.asarray(Image.open(tmp_path / "page1.png").convert("RGB")).astype(int)
    top = page[: page.shape[0] // 10]
    red = (top[..., 0] > 150) & (top[..., 1] < 60) & (top[..., 2] < 80)
    assert red.mean() > 0.05  # the red simulated banner across the top margin
    text = subprocess.run(["pdftotext", "-layout", str(report.pdf), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    pages = text.split("\f")[:-1]
    assert len(pages) >= 3
    assert all("SIMULATED IMAGERY" in p for p in pages)  # the banner on every page
    assert "Findings (accepted events)" in text and "page 1 of" in pages[0]


# -- the HTML in headless Chromium -----------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with headless_chromium(
        tmp_path_factory.mktemp("chromium-report"), window_size="1200,900"
    ) as driver:
        yield driver


def test_report_renders_in_chromium_without_errors(
    report: ReportOutputs, browser: Any, tmp_path: Path
) -> None:
    browser.get(report.html.as_uri())
    images = browser.execute_script(
        "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth]);"
    )
    assert len(images) == 4
    assert all(done and width > 0 for _, done, width in images), images
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    banner = browser.find_element("id", "simulated-banner")
    assert "SIMULATED IMAGERY" in banner.text and banner.is_displayed()
    png = browser.get_screenshot_as_png()
    (tmp_path / "report.png").write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert shot.std() > 20  # not a blank page
    # the sticky banner stays on screen after scrolling to the findings
    browser.execute_script("document.getElementById('findings').scrollIntoView()")
    assert browser.execute_script(
        "return document.getElementById('simulated-banner').getBoundingClientRect().top"
    ) == 0


# -- the commands ----------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_report_command_never_clobbers(reviewed: tuple[DemoCopy, list[str], str],
                                       report: ReportOutputs) -> None:
    copy, _, _ = reviewed
    before = report.html.stat().st_mtime_ns
    result = invoke("report", DEMO_FACILITY, "--workspace", str(copy.root))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {report.html} already exists; use --overwrite to replace"
    )
    assert report.html.stat().st_mtime_ns == before


def test_review_command_lists_records_and_names_bad_input(
    reviewed: tuple[DemoCopy, list[str], str], report: ReportOutputs
) -> None:
    copy, (accepted, _), _ = reviewed
    ws = ["--workspace", str(copy.root)]
    listed = invoke("review", DEMO_FACILITY, *ws, "--list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert accepted not in listed.output and lines[-1] == f"{len(lines) - 1} pending"
    target = lines[0].split()[0]
    done = invoke("review", DEMO_FACILITY, *ws, "--change", target[:10], "--needs-vhr",
                  "--analyst", "B", "--note", "too coarse")
    assert done.exit_code == 0 and done.output.startswith(f"{target}: needs_vhr at ")
    again = invoke("review", DEMO_FACILITY, *ws, "--list")
    assert target not in again.output
    assert again.output.strip().splitlines()[-1] == f"{len(lines) - 2} pending"
    unknown = invoke("review", DEMO_FACILITY, *ws, "--change", "nosuch", "--accept")
    assert unknown.exit_code == 1 and unknown.output.strip() == (
        f"Error: {copy.ws.catalogue_path}: no change with id 'nosuch' in the catalogue"
    )
    undecided = invoke("review", DEMO_FACILITY, *ws, "--change", target)
    assert undecided.exit_code == 2
    assert "--change needs one of --accept, --reject or --needs-vhr" in undecided.output


def test_export_command_writes_every_format_once(
    reviewed: tuple[DemoCopy, list[str], str], tmp_path: Path
) -> None:
    copy, _, _ = reviewed
    with open_catalogue(copy.ws.catalogue_path, copy.grid.crs) as cat:
        usable = [c.capture_id for c in cat.captures() if c.usable]
    out = tmp_path / "exports"
    args = ["export", DEMO_FACILITY, "--workspace", str(copy.root), "--capture", usable[1],
            "--before", usable[0], "--dpi", "60", "--out", str(out)]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    stem = f"{usable[0]}__{usable[1]}"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{stem}{s}" for s in (".png", ".tif", ".geojson", ".kmz"))
    with Image.open(out / f"{stem}.png") as im:
        assert im.size[0] > im.size[1]  # before and after side by side
    again = invoke(*args)
    assert again.exit_code == 1
    assert f"{out / (stem + '.png')}, " in again.output and "use --overwrite" in again.output
    bad = invoke("export", DEMO_FACILITY, "--workspace", str(copy.root), "--capture",
                 usable[0], "--format", "png,jpeg")
    assert bad.exit_code == 1 and bad.output.strip() == (
        "Error: --format 'png,jpeg': unknown format jpeg; choose from png,geotiff,geojson,kmz"
    )
    backwards = invoke("export", DEMO_FACILITY, "--workspace", str(copy.root), "--capture",
                       usable[0], "--before", usable[1], "--format", "geojson")
    assert backwards.exit_code == 1 and "is not earlier than --capture" in backwards.output


def test_review_decision_waits_for_no_writer_but_the_list_reads(
    reviewed: tuple[DemoCopy, list[str], str]
) -> None:
    """A decision is refused while another writer holds the workspace lock, naming the
    holder, and stores nothing; listing only reads, so it still works."""
    from pipeline.lock import workspace_lock

    copy, _, _ = reviewed
    ws = ["--workspace", str(copy.root)]
    with open_catalogue(copy.ws.catalogue_path, copy.grid.crs) as cat:
        before = cat.reviews()
    with workspace_lock(copy.root, "campwatch run (test holder)"):
        listed = invoke("review", DEMO_FACILITY, *ws, "--list")
        target = listed.output.strip().splitlines()[0].split()[0]
        refused = invoke("review", DEMO_FACILITY, *ws, "--change", target, "--reject")
    assert listed.exit_code == 0, listed.output
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "campwatch run (test holder)" in refused.output
    with open_catalogue(copy.ws.catalogue_path, copy.grid.crs) as cat:
        assert cat.reviews() == before
    done = invoke("review", DEMO_FACILITY, *ws, "--change", target, "--reject")
    assert done.exit_code == 0, done.output
