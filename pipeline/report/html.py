"""The baseline report: one self-contained HTML file (and optionally a PDF) per facility.

Everything comes from the catalogue: captures, timeline, changes and the
analyst's reviews. Events are read as the run stored them
(:func:`pipeline.history.events.read_events`), their review state is attached,
and the report states only *accepted* events as findings; pending ones are listed
separately as unreviewed detections, rejected ones and those waiting for better imagery
are listed as such. The same pass writes ``events.geojson`` and the timeline plot (PNG and
SVG); ``timeline.csv`` and ``timeline.parquet`` are written by the run, which builds the
timeline.

Figures are inlined as data URIs and also written as PNG files beside the
report for reuse. "Simulated" is said of exactly what is simulated: a report on
simulated captures carries a "SIMULATED IMAGERY" mark (in the PDF on every page);
zones drawn without evidence are noted per zone, and real imagery is never bannered.
"""

from __future__ import annotations

import base64
import logging
import os
import platform
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import rasterio
import shapely

from facilities.grid import FacilityGrid, to_grid_crs
from facilities.model import Facility
from imagery import __version__ as campwatch_version
from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.records import Review, StoredChange, TimelineRow
from imagery.workspace import FacilityWorkspace
from pipeline.change.evidence import (
    CLEAR_SHARE,
    CONTRAST_FLOOR,
    HIGH_STEP,
    LOCAL_RATIO,
    MEDIUM_STEP,
    MIN_GSD_PIXELS,
    NEIGHBOURS,
    SEASON_DAYS,
    SUN_MATCH_DEG,
)
from pipeline.change.pairs import VHR_MAX_GSD_M, capture_pairs, gap_pairs
from pipeline.errors import PipelineError
from pipeline.history.events import (
    CONFIDENCE_ORDER,
    REVERT_SHARE,
    SITE_MAX_M2,
    STRUCTURE_MAX_M2,
    read_events,
)
from pipeline.history.review import MATCH_IOU, ReviewedEvent, review_events
from pipeline.history.timeline import (
    BARE_NDVI_MAX,
    BRIGHT_BARE_MIN,
    STRUCTURE_BRIGHTER,
    STRUCTURE_MIN_M2,
)
from pipeline.history.validation import Validation
from pipeline.report.figure_records import format_when
from pipeline.report.plots import plot_timeline
from pipeline.report.report_figures import (
    event_figure,
    overview_caption,
    overview_capture,
    overview_figure,
)
from pipeline.report.tables import write_events_geojson
from pipeline.run import RunSummary

log = logging.getLogger(__name__)

MAX_EVENT_FIGURES = 12
"""Events drawn with before/after figures (findings first); the rest are listed."""
METRIC_NAMES = {
    "median_ndvi": "median NDVI",
    "bright_bare_m2": "bright/bare m²",
    "structure_footprint_m2": "roof footprint m²",
    "structure_count": "structures",
}
"""Column titles of the zone indicator table."""


@dataclass(frozen=True)
class ReportOutputs:
    """Files the report stage wrote."""

    html: Path
    """The self-contained HTML report."""
    figures: tuple[Path, ...]
    """Annotated PNG figures."""
    timeline_png: Path
    """The timeline plot (PNG)."""
    timeline_svg: Path
    """The timeline plot (SVG)."""
    pdf: Path | None = None
    """The PDF rendering of the report, when asked for."""
    events_geojson: Path | None = None
    """Events as GeoJSON (WGS 84)."""
    timeline_csv: Path | None = None
    """The timeline table as CSV (written by the run; None when it has not run)."""
    timeline_parquet: Path | None = None
    """The timeline table as Parquet (written by the run; None when it has not run)."""


class _EventFigures:
    """The event figures of a report: the first ``budget`` candidates (in priority order)
    that have a figure (:func:`event_figure` is None where a capture has no data). With a
    pool, the first ``budget`` are queued at once and each one that has no figure is
    replaced by the next candidate: the candidates tried are those tried one by one."""

    def __init__(self, candidates: Sequence[tuple[str, ReviewedEvent]], budget: int,
                 where: tuple[Facility, FacilityWorkspace, FacilityGrid, Path],
                 pool: Executor | None) -> None:
        self._todo = iter(candidates)
        self._budget = budget
        self._where = where
        self._pool = pool
        self._queued: list[tuple[str, Future[Path | None]]] = []
        if pool is not None:
            for _ in range(budget):
                self._queue_next()

    def _queue_next(self) -> bool:
        nxt = next(self._todo, None)
        if nxt is None or self._pool is None:
            return False
        label, rev = nxt
        self._queued.append((rev.event.change.change_id,
                             self._pool.submit(event_figure, rev.event, label, *self._where)))
        return True

    def collect(self) -> list[tuple[str, Path]]:
        """(change id, figure) of every event drawn, in priority order."""
        out: list[tuple[str, Path]] = []
        if self._pool is None:
            for label, rev in self._todo:
                if len(out) >= self._budget:
                    break
                fig = event_figure(rev.event, label, *self._where)
                if fig:
                    out.append((rev.event.change.change_id, fig))
            return out
        i = 0
        while i < len(self._queued):
            change_id, future = self._queued[i]
            fig = future.result()
            if fig:
                out.append((change_id, fig))
            else:
                self._queue_next()
            i += 1
        return out


def _data_uri(path: Path) -> str:
    mime = "image/png" if path.suffix == ".png" else "image/svg+xml"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _indicator_table(rows: Sequence[TimelineRow]) -> tuple[list[str], list[list[str]]]:
    """Zone indicators per usable capture: one column per (zone, metric) with values."""
    keys = sorted({(r.zone_id, m) for r in rows for m in r.metrics if m in METRIC_NAMES})
    header = ["Date", "Sensor", "AOI clear", "Changed m²"] + [
        f"{z}: {METRIC_NAMES[m]}" for z, m in keys
    ]
    by_cap: dict[str, dict[str, TimelineRow]] = {}
    for r in rows:
        by_cap.setdefault(r.capture_id, {})[r.zone_id] = r
    table = []
    for zones in sorted(by_cap.values(), key=lambda z: next(iter(z.values())).acquired):
        aoi = zones.get("aoi") or next(iter(zones.values()))
        if not aoi.usable:
            continue
        line = [f"{aoi.acquired:%Y-%m-%d}", aoi.sensor, f"{100 * aoi.clear_fraction:.0f}%",
                f"{aoi.changed_area_m2:,.0f}"]
        for z, m in keys:
            v = zones[z].metrics.get(m) if z in zones else None
            line.append("—" if v is None else (f"{v:.2f}" if m == "median_ndvi" else f"{v:,.0f}"))
        table.append(line)
    return header, table


def _pair_table(
    captures: Sequence[Capture],
    changes: Sequence[StoredChange],
) -> list[dict[str, Any]]:
    """One row per compared pair, from the catalogue alone (run and report agree)."""
    by_pair: dict[tuple[str, str], list[StoredChange]] = {}
    for ch in changes:
        by_pair.setdefault((ch.before_id, ch.after_id), []).append(ch)
    out = []
    compared = capture_pairs(list(captures)) + gap_pairs(list(captures))
    for p in sorted(compared, key=lambda p: (p.after.acquired, p.before.acquired)):
        key = (p.before.capture_id, p.after.capture_id)
        found = by_pair.get(key, [])
        method = found[0].method if found else "not recorded (no changes)"
        series = p.series if p.gap_of is None else (
            f"{p.series}, under the gap of {p.gap_of.capture_id}"
        )
        out.append({"before_id": key[0], "after_id": key[1], "series": series,
                    "changes": len(found), "method": method})
    return out


DEJAVU_SANS_EM = {"U": 1499 / 2048, "digit": 1303 / 2048}
"""Advance widths (em) in DejaVu Sans, the report's font, of the letter U and of a digit
(digits all share one width)."""
DEJAVU_MONO_EM = 1233 / 2048
"""Advance width (em) of every character of DejaVu Sans Mono, the report's code font."""
CODE_SCALE = 0.9
"""The report's ``code`` font size, relative to its table cell's."""
WIDTH_SLACK_EM = 0.01
"""Added to each computed width: the text shaper rounds advances to 1/1024 px, so a width
of exactly the sum of the font's advances can fall short of the shaped text by a few
thousandths of a pixel, and an id would wrap its last character."""


def pending_widths(pending: Sequence[tuple[str, ReviewedEvent]]) -> tuple[float, float]:
    """Content widths (em of the table's font) of the unreviewed-detections table's label and
    change-id columns: the widest label ("U" and digits) and the widest id (monospace).

    The PDF (the print stylesheet only: a browser sets ``code`` in its own monospace size)
    lays the table out with these widths fixed (``table-layout: fixed``): the same
    columns as the automatic layout, which gives a column whose text cannot break its
    max-content width (on the 8160² benchmark report 39.12 and 104.03 px with padding and
    border; these give 0.1 px more, :data:`WIDTH_SLACK_EM`), without measuring every cell
    of hundreds of rows (half the PDF's layout time).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> rev = NS(event=NS(change=NS(change_id="5588930e58881e1a")))
        >>> [round(w, 3) for w in pending_widths([("U252", rev)])]
        [2.651, 8.68]
    """
    label = max((len(lab) - 1 for lab, _ in pending), default=1)
    ids = max((len(r.event.change.change_id) for _, r in pending), default=16)
    return (DEJAVU_SANS_EM["U"] + label * DEJAVU_SANS_EM["digit"] + WIDTH_SLACK_EM,
            ids * DEJAVU_MONO_EM * CODE_SCALE + WIDTH_SLACK_EM)


def _existing_outputs(out_dir: Path, pdf: bool) -> list[Path]:
    names = ["report.html"] + (["report.pdf"] if pdf else [])
    return [out_dir / n for n in names if (out_dir / n).exists()]


def report_facility(
    facility: Facility,
    ws: FacilityWorkspace,
    grid: FacilityGrid,
    *,
    validation: Validation | None = None,
    pdf: bool = False,
    overwrite: bool = False,
    max_figures: int = MAX_EVENT_FIGURES,
    pool: Executor | None = None,
) -> ReportOutputs:
    """Write the report and its exports from the facility's catalogue.

    Writes ``report/report.html`` (and ``report.pdf`` with ``pdf``), the
    figures under ``report/figures/``, ``events.geojson``, ``timeline.csv``,
    ``timeline.parquet`` and the ``events`` layer of the catalogue. At most
    ``max_figures`` events get before/after figures: findings first, then the
    most confident pending detections. With a process ``pool`` (the demo's) the event
    figures are drawn there while this process draws the overview: the same files.

    Raises:
        PipelineError: the report exists and ``overwrite`` is false.

    Example:
        >>> # out = report_facility(facility, ws, workspace_grid(ws, facility, None), pdf=True)
    """
    out_dir = ws.report_dir
    existing = _existing_outputs(out_dir, pdf)
    if existing and not overwrite:
        raise PipelineError(
            f"{', '.join(str(p) for p in existing)} already exists; use --overwrite to replace"
        )
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        captures = cat.captures()
        rows = cat.timeline()
        changes = cat.changes()
        reviews = cat.reviews()
        events = read_events(cat)
        reviewed = review_events(events, reviews)
        stored = cat.events()
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("event-*.png"):
        old.unlink()
    events_geojson = write_events_geojson(stored, out_dir / "events.geojson", crs=grid.crs)
    # the timeline exports belong to the run (the stage that builds the timeline)
    csv_path, parquet_path = out_dir / "timeline.csv", out_dir / "timeline.parquet"
    # "simulated" is said of exactly what is simulated: the imagery (simulator captures),
    # or zones drawn without evidence (noted per zone), never real imagery
    simulated_captures = [c for c in captures if c.simulated]
    simulated = bool(simulated_captures)
    simulated_zones = [z for z in facility.zones if z.simulated]
    statuses = {r.event.change.change_id: r.status for r in reviewed}
    findings = [(f"F{i + 1}", r) for i, r in enumerate(x for x in reviewed
                                                      if x.status == "accepted")]
    pending = [r for r in reviewed if r.status == "pending"]
    pending_labelled = [(f"U{i + 1}", r) for i, r in enumerate(pending)]
    needs_vhr = [r for r in reviewed if r.status == "needs_vhr"]
    rejected = [r for r in reviewed if r.status == "rejected"]
    figures: list[Path] = []
    usable = [c for c in captures if c.usable]
    # figures: every finding first, then the most confident, largest pending detections
    by_priority = findings + sorted(
        pending_labelled,
        key=lambda p: (CONFIDENCE_ORDER.get(p[1].event.change.confidence_label, 3),
                       -p[1].event.change.confidence, -p[1].event.change.area_m2),
    )
    drawn = _EventFigures(by_priority, max_figures, (facility, ws, grid, fig_dir), pool)
    # drawn here while the pool draws the event figures (before them, the pool waited 3 s)
    timeline_png, timeline_svg = plot_timeline(
        rows, events, [fig_dir / "timeline.png", fig_dir / "timeline.svg"],
        title=f"{facility.names.english}: activity timeline", simulated=simulated,
        statuses=statuses,
    )
    base = overview_capture(usable)
    overview = None if base is None else overview_figure(
        facility, ws, grid, base, findings, pending_labelled, fig_dir)
    if overview:
        figures.append(overview.path)
    figure_of: dict[str, str] = {}
    for change_id, fig in drawn.collect():
        figures.append(fig)
        figure_of[change_id] = _data_uri(fig)
    aoi_m = to_grid_crs(facility.aoi, grid.crs)
    minx, miny, maxx, maxy = aoi_m.bounds
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    indicator_header, indicator_rows = _indicator_table(rows)
    all_reviews: list[Review] = sorted(reviews, key=lambda r: r.decided_at)
    html = env.get_template("report.html.j2").render(
        facility=facility,
        grid=grid,
        simulated=simulated,
        simulated_captures=simulated_captures,
        simulated_zones=simulated_zones,
        n_confirmed=sum(e.status == "confirmed" for e in events),
        n_unconfirmed=sum(e.status != "confirmed" for e in events),
        when=format_when,
        structure_max=f"{STRUCTURE_MAX_M2:,.0f}",
        site_max=f"{SITE_MAX_M2:,.0f}",
        # the series evidence's thresholds (log contrast) as percentages of contrast
        evidence_floor=f"{np.expm1(CONTRAST_FLOOR) * 100:.0f}",
        evidence_high=f"{np.expm1(HIGH_STEP) * 100:.0f}",
        evidence_medium=f"{np.expm1(MEDIUM_STEP) * 100:.0f}",
        evidence_pixels=f"{MIN_GSD_PIXELS:.0f}",
        evidence_clear=f"{CLEAR_SHARE * 100:.0f}",
        evidence_local=f"{LOCAL_RATIO:g}",
        evidence_neighbours=f"{NEIGHBOURS}",
        evidence_sun=f"{SUN_MATCH_DEG:g}",
        evidence_season=f"{SEASON_DAYS}",
        overview_caption=overview_caption(overview.capture) if overview else "",
        overview_not_drawn=overview.not_drawn if overview else 0,
        overview_cell=f"{overview.density.cell_m2 ** 0.5:,.0f}" if overview and overview.density
        else "",
        overview_tolerance=f"{overview.simplify_m:,.1f}" if overview else "",
        overview_towns=list(overview.towns) if overview else [],
        report_date=datetime.now(UTC).strftime("%Y-%m-%d"),
        captures=captures,
        usable=usable,
        first=min((c.acquired for c in captures), default=None),
        last=max((c.acquired for c in captures), default=None),
        aoi_area=aoi_m.area,
        aoi_dims=(maxx - minx, maxy - miny),
        zones=[(z, to_grid_crs(z.geometry, grid.crs).area, z.geometry.centroid)
               for z in facility.zones],
        n_changes=len(changes),
        n_events=len(events),
        findings=findings,
        pending=pending_labelled,
        pending_widths=[f"{w:.4f}" for w in pending_widths(pending_labelled)],
        needs_vhr=needs_vhr,
        rejected=rejected,
        figure_of=figure_of,
        overview=_data_uri(overview.path) if overview else None,
        timeline_png=_data_uri(timeline_png),
        indicator_header=indicator_header,
        indicator_rows=indicator_rows,
        validation=validation,
        versions={
            "campwatch": campwatch_version,
            "GDAL": rasterio.__gdal_version__,
            "rasterio": rasterio.__version__,
            "numpy": np.__version__,
            "shapely": shapely.__version__,
            "Python": platform.python_version(),
        },
        parameters={
            "Grid": f"{grid.crs}, {grid.resolution:g} m pixels, {grid.width} × {grid.height}",
            "VHR series": f"captures with GSD ≤ {VHR_MAX_GSD_M:g} m; the rest form the medium "
                          "series",
            "Event persistence": f"not reverted when a later opposite change covers less than "
                                 f"{REVERT_SHARE:.0%} of it",
            "Review carry-over": f"same change id, or same capture pair and IoU ≥ {MATCH_IOU:g}",
            "Quarry bright/bare": f"mean visible reflectance > {BRIGHT_BARE_MIN:g} and NDVI < "
                                  f"{BARE_NDVI_MAX:g}",
            "Housing structures": f"non-vegetated roof objects ≥ {STRUCTURE_MIN_M2:g} m², "
                                  f"brighter than ground by {STRUCTURE_BRIGHTER:g} or painted",
        },
        pairs=_pair_table(captures, changes),
        reviews=all_reviews,
        outputs=[events_geojson.name, csv_path.name, parquet_path.name, "figures/timeline.svg"]
        + (["report.pdf"] if pdf else []),
    )
    path = out_dir / "report.html"
    tmp = path.with_name(".report.html.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    pdf_path = None
    if pdf:
        from pipeline.report.pdf import write_pdf

        pdf_path = write_pdf(path, out_dir / "report.pdf")
    log.info("wrote report %s (%d findings, %d pending)", path, len(findings), len(pending))
    return ReportOutputs(path, tuple(figures), timeline_png, timeline_svg, pdf_path,
                         events_geojson, csv_path if csv_path.exists() else None,
                         parquet_path if parquet_path.exists() else None)


def write_report(
    facility: Facility,
    ws: FacilityWorkspace,
    grid: FacilityGrid,
    summary: RunSummary,
    *,
    validation: Validation | None = None,
    pdf: bool = False,
    pool: Executor | None = None,
) -> ReportOutputs:
    """Write the report right after a run (replacing any earlier one).

    Everything is read from the catalogue the run just wrote, exactly as
    ``campwatch report`` reads it, so both give the same report; ``summary`` is checked
    against the catalogue (same facility).

    Raises:
        PipelineError: ``summary`` belongs to another facility.

    Example:
        >>> # outputs = write_report(facility, ws, grid, summary)
    """
    if summary.facility_id != facility.id:
        raise PipelineError(
            f"run summary of facility {summary.facility_id!r} given for {facility.id!r}"
        )
    return report_facility(facility, ws, grid, validation=validation, overwrite=True, pdf=pdf,
                           pool=pool)
