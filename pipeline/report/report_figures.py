"""The report's imagery figures: the overview map and one before/after figure per event.

Reads captures from the workspace (decimated on large grids) and hands arrays and records
to :func:`pipeline.report.figures.render_figure`. What each figure says follows the
evidence: an event figure is captioned with the event's own centre (lon/lat and UTM), its
date bracket, each capture's sensor, GSD and credit; its extent is at least
:data:`MIN_FIGURE_PIXELS` source pixels a side, so a 10 m figure shows context; before and
after share one stretch. The overview draws the findings and the top-ranked detections
(ranked like the alerts), each change type in its own colour, with outlines simplified to the
figure's pixel scale, and summarises the rest as a density layer of changed area per coarse
cell; so its cost stays bounded however many detections a run finds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.windows import from_bounds
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from facilities.grid import FacilityGrid, to_grid_crs
from facilities.model import Facility, Zone
from imagery.capture import Capture
from imagery.workspace import FacilityWorkspace
from pipeline.change.pairs import VHR_MAX_GSD_M
from pipeline.history.events import CONFIDENCE_ORDER, Event
from pipeline.history.review import ReviewedEvent
from pipeline.report.figure_records import Caption, Density, FigureImage, Overlay, format_when
from pipeline.report.figures import compose_figure, render_figure, save_figure
from pipeline.watch.alerts import score_event

log = logging.getLogger(__name__)

EVENT_CONTEXT_M = 60.0
"""Smallest margin around an event in its figure (metres)."""
EVENT_CONTEXT_PX = 8
"""Smallest margin around an event in its figure (source pixels)."""
MIN_FIGURE_SIDE_M = 160.0
"""Smallest side of an event figure (metres)."""
MIN_FIGURE_PIXELS = 48
"""Smallest side of an event figure in source pixels: a 10 m figure spans 480 m."""
MAX_FIGURE_PX = 2048
"""Largest side of the image drawn in a figure, pixels."""
OVERVIEW_LABELS = 8
"""Findings labelled on the overview map (largest first); other outlines stay unlabelled."""
OVERVIEW_DETECTIONS = 12
"""Unreviewed detections drawn on the overview (highest ranked first); the rest are counted."""
OVERVIEW_DETECTION_LABELS = 5
"""Of those, how many carry their U# label."""
OVERVIEW_FINDINGS = 40
"""Findings outlined on the overview (largest first); more go into the density layer."""
OVERVIEW_PANEL_PX = 572
"""Width of the overview's image panel in figure pixels (5.2 in at 110 dpi)."""
DENSITY_CELLS = 24
"""Cells of the density layer along the longer side of the grid (about)."""
DENSITY_SUBCELLS = 16
"""Sub-cells per cell side when rasterising detections for the density layer."""
_NICE_M = (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)


@dataclass(frozen=True)
class OverviewFigure:
    """The overview map and what it shows."""

    path: Path
    """The PNG."""
    capture: Capture
    """The capture drawn."""
    drawn: tuple[str, ...]
    """Change ids of the detections and findings drawn."""
    not_drawn: int
    """Detections (and findings beyond :data:`OVERVIEW_FINDINGS`) not outlined one by one:
    the density layer summarises them."""
    density: Density | None = None
    """The density layer of those, or None when every detection is outlined."""
    simplify_m: float = 0.0
    """Tolerance (metres) the drawn outlines were simplified with: half a figure pixel."""
    towns: tuple[str, ...] = ()
    """The nearest towns the locator names, e.g. ("Pyongyang, 35 km W", ...)."""


def grid_reference(crs: str, x: float, y: float) -> str:
    """A grid reference of a point of the facility grid: "UTM 31N 452,345 E 5,409,876 N".

    Example:
        >>> grid_reference("EPSG:32631", 452345.4, 5409876.0)
        'UTM 31N 452,345 E 5,409,876 N'
    """
    zone = CRS.from_user_input(crs).utm_zone
    name = f"UTM {zone}" if zone else crs
    return f"{name} {x:,.0f} E {y:,.0f} N"


def _lonlat(crs: str, x: float, y: float) -> tuple[float, float]:
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def facility_caption(facility: Facility, cap: Capture) -> Caption:
    """Caption of a whole-facility figure: the facility's reported point."""
    rp = facility.reported_point
    return Caption(facility.names.english, cap.acquired, cap.sensor, cap.gsd_m, rp.lat, rp.lon,
                   cap.credit, cap.simulated)


def event_caption(ev: Event, cap: Capture, grid: FacilityGrid, facility: Facility) -> Caption:
    """Caption of one panel of an event figure: the event's own centre and date bracket."""
    centre = ev.change.geometry.centroid
    lon, lat = _lonlat(grid.crs, centre.x, centre.y)
    return Caption(
        facility.names.english, cap.acquired, cap.sensor, cap.gsd_m, lat, lon, cap.credit,
        cap.simulated,
        place=f"event centre, {grid_reference(grid.crs, centre.x, centre.y)}",
        bracket=f"change between {format_when(ev.before.acquired)} and "
                f"{format_when(ev.after.acquired)}",
    )


def read_figure_image(
    ws: FacilityWorkspace, cap: Capture, grid: FacilityGrid,
    bounds: tuple[float, float, float, float], caption: Caption,
) -> FigureImage | None:
    """A capture's stored reflectance over ``bounds`` (snapped to the grid), or None if empty.

    Example:
        >>> # image = read_figure_image(ws, capture, grid, grid.bounds, caption)
    """
    with rasterio.open(ws.absolute(cap.raster_path)) as src:
        window = from_bounds(*bounds, transform=grid.transform).round_offsets().round_lengths()
        # a figure never needs more than MAX_FIGURE_PX a side: read large windows decimated
        # (from the COG's overviews), so memory does not grow with the AOI
        f = max(1, int(np.ceil(max(window.width, window.height) / MAX_FIGURE_PX)))
        shape = (src.count, max(1, int(window.height) // f), max(1, int(window.width) // f))
        # a boundless read goes through a warped VRT (slow, and the whole window at full
        # resolution): only a window reaching off the raster needs it
        inside = (window.col_off >= 0 and window.row_off >= 0
                  and window.col_off + window.width <= src.width
                  and window.row_off + window.height <= src.height)
        arr = src.read(window=window, out_shape=shape, boundless=not inside,
                       fill_value=np.nan if not inside else None,
                       resampling=Resampling.average).astype(np.float32)
        transform = src.window_transform(window) @ Affine.scale(
            window.width / shape[2], window.height / shape[1]
        )
    if not np.isfinite(arr).any():
        return None
    return FigureImage(arr, transform, grid.crs, caption)


def event_bounds(
    geom: BaseGeometry, grid: FacilityGrid, source_gsd_m: float
) -> tuple[float, float, float, float]:
    """A square extent around ``geom``: at least :data:`MIN_FIGURE_PIXELS` source pixels
    and :data:`MIN_FIGURE_SIDE_M` a side, snapped to the grid, moved (not cut) to stay on it.

    Example:
        >>> # event_bounds(change.geometry, grid, 10.0)  -> a 480 m square at 10 m
    """
    pixel = max(source_gsd_m, grid.resolution)
    # the bounds of the buffer, without buffering: a large event outline (thousands of
    # vertices) took minutes and gigabytes to buffer only to read its bounds
    margin = max(EVENT_CONTEXT_M, EVENT_CONTEXT_PX * pixel)
    gx0, gy0, gx1, gy1 = geom.bounds
    minx, miny, maxx, maxy = gx0 - margin, gy0 - margin, gx1 + margin, gy1 + margin
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    r = grid.resolution
    side = max(maxx - minx, maxy - miny, MIN_FIGURE_SIDE_M, MIN_FIGURE_PIXELS * pixel)
    side = float(np.ceil(side / r) * r)
    west, south, east, north = grid.bounds
    side = min(side, east - west, north - south)
    x0 = west + np.floor((cx - side / 2 - west) / r) * r
    y1 = north - np.floor((north - (cy + side / 2)) / r) * r
    x0 = min(max(x0, west), east - side)
    y1 = max(min(y1, north), south + side)
    return (float(x0), float(y1 - side), float(x0 + side), float(y1))


def zone_label(zone: Zone) -> str:
    """A zone's label on a figure; zones drawn without evidence say so."""
    if zone.simulated and "simulated" not in zone.name.lower():
        return f"{zone.name} [drawn without evidence]"
    return zone.name


def event_figure(
    ev: Event, label: str, facility: Facility, ws: FacilityWorkspace, grid: FacilityGrid,
    out_dir: Path,
) -> Path | None:
    """Before/after figure of one event, or None when a capture has no data there.

    Example:
        >>> # event_figure(event, "U1", facility, ws, grid, ws.report_dir / "figures")
    """
    gsd = max(ev.before.gsd_m, ev.after.gsd_m)
    bounds = event_bounds(ev.change.geometry, grid, gsd)
    images = []
    for cap in (ev.before, ev.after):
        fi = read_figure_image(ws, cap, grid, bounds, event_caption(ev, cap, grid, facility))
        if fi is None:
            return None
        images.append(fi)
    view = box(*bounds)
    overlays = []
    for z in facility.zones:
        part = to_grid_crs(z.geometry, grid.crs).intersection(view)
        if (
            z.zone_type != "perimeter"
            and isinstance(part, Polygon | MultiPolygon)
            and not part.is_empty
        ):
            overlays.append(Overlay(part, zone_label(z), f"zone:{z.zone_type}"))
    overlays.append(
        Overlay(ev.change.geometry, f"{label}: {ev.change.change_type.replace('_', ' ')}", "event")
    )
    out = out_dir / f"event-{label}-{ev.change.change_id}.png"
    return render_figure(
        images[1], overlays, out, before=images[0], dpi=110, aoi_lonlat=facility.aoi
    )


def overview_capture(usable: Sequence[Capture]) -> Capture | None:
    """The capture the overview is drawn on: the most recent very-high-resolution one,
    else the most recent one."""
    if not usable:
        return None
    return max(usable, key=lambda c: (c.gsd_m <= VHR_MAX_GSD_M, c.acquired))


def overview_caption(cap: Capture) -> str:
    """What the overview shows, true to the series it is drawn from."""
    series = ("very-high-resolution" if cap.gsd_m <= VHR_MAX_GSD_M
              else "medium-resolution (no very-high-resolution capture is usable)")
    return (f"Drawn on the most recent usable {series} capture: {cap.sensor}, {cap.gsd_m:g} m, "
            f"{format_when(cap.acquired)}.")


def simplified(geom: BaseGeometry, tolerance_m: float) -> Polygon | MultiPolygon:
    """``geom`` simplified to ``tolerance_m`` (topology kept); the original when that fails.

    Example:
        >>> simplified(box(0, 0, 10, 10), 1.0).area
        100.0
    """
    out = geom.simplify(tolerance_m, preserve_topology=True) if tolerance_m > 0 else geom
    if isinstance(out, Polygon | MultiPolygon) and not out.is_empty:
        return out
    assert isinstance(geom, Polygon | MultiPolygon)
    return geom


def detection_density(
    geoms: Sequence[BaseGeometry], bounds: tuple[float, float, float, float],
    cells: int = DENSITY_CELLS,
) -> Density:
    """Changed area (m²) per coarse cell of the union of ``geoms`` over ``bounds``.

    The cell side is a round number of metres near the longer side / ``cells``. Outlines are
    rasterised at :data:`DENSITY_SUBCELLS` sub-cells per cell side and counted; an outline
    smaller than a sub-cell adds its area to the cell of its centroid.

    Example:
        >>> d = detection_density([box(0, 0, 100, 100)], (0, 0, 1000, 1000), cells=10)
        >>> d.values.shape, float(d.values.sum()), d.count
        ((10, 10), 10000.0, 1)
    """
    west, south, east, north = bounds
    raw = max(east - west, north - south) / cells
    side = float(min(_NICE_M, key=lambda m: abs(m - raw)))
    ncols = max(1, int(np.ceil((east - west) / side)))
    nrows = max(1, int(np.ceil((north - south) / side)))
    sub = side / DENSITY_SUBCELLS
    values = np.zeros((nrows, ncols), dtype=np.float64)
    transform = Affine(sub, 0, west, 0, -sub, north)
    big = [g for g in geoms if g.area >= sub * sub]
    if big:
        fine = rasterize(big, out_shape=(nrows * DENSITY_SUBCELLS, ncols * DENSITY_SUBCELLS),
                         transform=transform, fill=0, default_value=1, dtype="uint8")
        values += fine.reshape(nrows, DENSITY_SUBCELLS, ncols, DENSITY_SUBCELLS).sum(
            axis=(1, 3)) * sub * sub
    for g in geoms:
        if g.area < sub * sub:
            c = g.centroid
            r, k = int((north - c.y) // side), int((c.x - west) // side)
            if 0 <= r < nrows and 0 <= k < ncols:
                values[r, k] += g.area
    return Density(values, (west, north - nrows * side, west + ncols * side, north), len(geoms))


def overview_figure(
    facility: Facility, ws: FacilityWorkspace, grid: FacilityGrid, cap: Capture,
    findings: Sequence[tuple[str, ReviewedEvent]], pending: Sequence[tuple[str, ReviewedEvent]],
    out_dir: Path,
) -> OverviewFigure | None:
    """The whole grid with zones; findings outlined (the largest few labelled); the
    top-ranked unreviewed detections (ranked like the alerts) dashed in their change type's
    colour; the rest summarised as a density layer with its own legend entry. Outlines are
    simplified to half a figure pixel, and at most :data:`OVERVIEW_FINDINGS` +
    :data:`OVERVIEW_DETECTIONS` are drawn, so the map stays readable and cheap to draw.

    Example:
        >>> # overview_figure(facility, ws, grid, cap, findings, pending, out_dir)
    """
    image = read_figure_image(ws, cap, grid, grid.bounds, facility_caption(facility, cap))
    if image is None:
        return None
    west, south, east, north = grid.bounds
    tol = 0.5 * max(east - west, north - south) / OVERVIEW_PANEL_PX
    overlays = [Overlay(to_grid_crs(z.geometry, grid.crs), zone_label(z), f"zone:{z.zone_type}")
                for z in facility.zones]
    overlays.append(Overlay(to_grid_crs(facility.aoi, grid.crs), "", "aoi"))
    by_size = sorted(findings, key=lambda f: -f[1].event.change.area_m2)
    outlined = by_size[:OVERVIEW_FINDINGS]
    labelled = {f[1].event.change.change_id for f in by_size[:OVERVIEW_LABELS]}
    drawn: list[str] = []
    for label, rev in outlined:
        ch = rev.event.change
        overlays.append(Overlay(simplified(ch.geometry, tol),
                                label if ch.change_id in labelled else "", "event"))
        drawn.append(ch.change_id)
    ranked = sorted(pending, key=lambda p: (
        CONFIDENCE_ORDER.get(p[1].event.change.confidence_label, 3), -score_event(p[1].event)[0]))
    for i, (label, rev) in enumerate(ranked[:OVERVIEW_DETECTIONS]):
        ch = rev.event.change
        text = label if i < OVERVIEW_DETECTION_LABELS else ""
        overlays.append(Overlay(simplified(ch.geometry, tol), text, f"change:{ch.change_type}"))
        drawn.append(ch.change_id)
    rest = [r.event.change.geometry for _, r in ranked[OVERVIEW_DETECTIONS:]]
    rest += [r.event.change.geometry for _, r in by_size[OVERVIEW_FINDINGS:]]
    density = detection_density(rest, grid.bounds) if rest else None
    path = out_dir / "overview.png"
    composed = compose_figure(image, overlays, dpi=110, aoi_lonlat=facility.aoi,
                              density=density)
    save_figure(composed, path, image.caption.text(), dpi=110)
    return OverviewFigure(path, cap, tuple(drawn), len(rest), density, tol,
                          tuple(composed.towns))
