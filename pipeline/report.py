"""The HTML baseline report: one self-contained file with its figures inlined.

Figures are also written as PNG files beside the report, for reuse in
publications. Everything derived from simulated captures carries a visible
"SIMULATED IMAGERY" mark.
"""

from __future__ import annotations

import base64
import logging
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import numpy as np
import rasterio
from rasterio.windows import from_bounds
from shapely.geometry import box

from facilities.grid import FacilityGrid, to_grid_crs
from facilities.model import Facility
from imagery import __version__ as campwatch_version
from imagery.capture import Capture
from imagery.records import TimelineRow
from imagery.workspace import FacilityWorkspace
from pipeline.events import Event
from pipeline.figures import Caption, FigureImage, Overlay, render_figure
from pipeline.plots import plot_timeline
from pipeline.run import RunSummary
from pipeline.validation import Validation
from pipeline.zones import grid_zones

log = logging.getLogger(__name__)

MAX_EVENT_FIGURES = 12
"""Events drawn with before/after figures; the rest are listed."""
EVENT_CONTEXT_M = 60.0
"""Margin around an event in its figure."""
MIN_FIGURE_SIDE_M = 160.0
"""Smallest side of an event figure."""


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


def _data_uri(path: Path) -> str:
    mime = "image/png" if path.suffix == ".png" else "image/svg+xml"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _caption(facility: Facility, cap: Capture) -> Caption:
    rp = facility.reported_point
    return Caption(
        facility.names.english, cap.acquired, cap.sensor, cap.gsd_m, rp.lat, rp.lon,
        cap.credit, cap.simulated,
    )


def _read_window(
    facility: Facility, ws: FacilityWorkspace, cap: Capture, grid: FacilityGrid,
    bounds: tuple[float, float, float, float],
) -> FigureImage | None:
    with rasterio.open(ws.absolute(cap.raster_path)) as src:
        window = from_bounds(*bounds, transform=grid.transform).round_offsets().round_lengths()
        arr = src.read(window=window, boundless=True, fill_value=np.nan).astype(np.float32)
        transform = src.window_transform(window)
    if not np.isfinite(arr).any():
        return None
    return FigureImage(arr, transform, grid.crs, _caption(facility, cap))


def _figure_bounds(ev: Event, grid: FacilityGrid) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = ev.change.geometry.buffer(EVENT_CONTEXT_M).bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half = max(maxx - minx, maxy - miny, MIN_FIGURE_SIDE_M) / 2
    r = grid.resolution
    west, south, east, north = grid.bounds
    x0 = max(west, np.floor((cx - half - west) / r) * r + west)
    y1 = min(north, north - np.floor((north - (cy + half)) / r) * r)
    x1 = min(east, x0 + 2 * half)
    y0 = max(south, y1 - 2 * half)
    return (float(x0), float(y0), float(x1), float(y1))


def _event_figure(
    ev: Event, n: int, facility: Facility, ws: FacilityWorkspace, grid: FacilityGrid,
    out_dir: Path,
) -> Path | None:
    bounds = _figure_bounds(ev, grid)
    images = []
    for cap in (ev.before, ev.after):
        fi = _read_window(facility, ws, cap, grid, bounds)
        if fi is None:
            return None
        images.append(fi)
    view = box(*bounds)
    overlays = [
        Overlay(z.geometry.intersection(view), z.name, f"zone:{z.zone_type}")
        for z in grid_zones(facility, grid.crs)
        if z.geometry.intersects(view) and z.zone_type != "perimeter"
    ]
    overlays.append(
        Overlay(ev.change.geometry, f"E{n}: {ev.change.change_type.replace('_', ' ')}", "event")
    )
    out = out_dir / f"event-{n:02d}-{ev.change.change_id}.png"
    return render_figure(
        images[1], overlays, out, before=images[0], dpi=110, aoi_lonlat=facility.aoi
    )


def _overview_figure(
    facility: Facility, ws: FacilityWorkspace, grid: FacilityGrid, cap: Capture,
    events: Sequence[Event], out_dir: Path,
) -> Path | None:
    image = _read_window(facility, ws, cap, grid, grid.bounds)
    if image is None:
        return None
    overlays = [Overlay(z.geometry, z.name, f"zone:{z.zone_type}")
                for z in grid_zones(facility, grid.crs)]
    overlays += [
        Overlay(ev.change.geometry, f"E{i + 1}", "event") for i, ev in enumerate(events)
    ]
    overlays.append(Overlay(to_grid_crs(facility.aoi, grid.crs), "AOI (search area)", "zone:other"))
    return render_figure(image, overlays, out_dir / "overview.png", dpi=110,
                         aoi_lonlat=facility.aoi)


def write_report(
    facility: Facility,
    ws: FacilityWorkspace,
    grid: FacilityGrid,
    captures: Sequence[Capture],
    rows: Sequence[TimelineRow],
    summary: RunSummary,
    *,
    validation: Validation | None = None,
) -> ReportOutputs:
    """Write ``report/report.html`` and its figures into the facility workspace.

    Example:
        >>> # outputs = write_report(facility, ws, grid, captures, rows, summary)
    """
    out_dir = ws.report_dir
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    simulated = any(c.simulated for c in captures) or facility.has_simulated_zones
    events = list(summary.events)
    timeline_png, timeline_svg = plot_timeline(
        rows, events, [fig_dir / "timeline.png", fig_dir / "timeline.svg"],
        title=f"{facility.names.english}: activity timeline", simulated=simulated,
    )
    figures: list[Path] = []
    usable = [c for c in captures if c.usable]
    overview = (
        _overview_figure(facility, ws, grid, max(usable, key=lambda c: (c.gsd_m <= 5, c.acquired)),
                         events, fig_dir)
        if usable
        else None
    )
    if overview:
        figures.append(overview)
    event_items = []
    for i, ev in enumerate(events):
        fig = _event_figure(ev, i + 1, facility, ws, grid, fig_dir) if i < MAX_EVENT_FIGURES else None
        if fig:
            figures.append(fig)
        event_items.append({"n": i + 1, "event": ev, "figure": _data_uri(fig) if fig else None})
    aoi_m = to_grid_crs(facility.aoi, grid.crs)
    minx, miny, maxx, maxy = aoi_m.bounds
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("report.html.j2").render(
        facility=facility,
        grid=grid,
        simulated=simulated,
        report_date=datetime.now(UTC).strftime("%Y-%m-%d"),
        captures=captures,
        usable=usable,
        first=min((c.acquired for c in captures), default=None),
        last=max((c.acquired for c in captures), default=None),
        aoi_area=aoi_m.area,
        aoi_dims=(maxx - minx, maxy - miny),
        zones=[(z, to_grid_crs(z.geometry, grid.crs).area) for z in facility.zones],
        summary=summary,
        events=event_items,
        overview=_data_uri(overview) if overview else None,
        timeline_png=_data_uri(timeline_png),
        validation=validation,
        versions={
            "campwatch": campwatch_version,
            "GDAL": rasterio.__gdal_version__,
            "rasterio": rasterio.__version__,
            "numpy": np.__version__,
            "Python": platform.python_version(),
        },
        pairs=summary.pairs,
    )
    path = out_dir / "report.html"
    tmp = path.with_name(".report.html.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return ReportOutputs(path, tuple(figures), timeline_png, timeline_svg)
