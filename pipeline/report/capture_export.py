"""Annotated exports of one capture (optionally beside an earlier one) from a workspace.

Gathers what :mod:`pipeline.report.figures` and :mod:`pipeline.report.exports` draw: the
stored reflectance of the capture(s) on the facility grid, the zone outlines,
the change objects detected between the two captures (or, without a before
capture, those ending at the capture) and the events among them. Files go to
``report/exports/`` named after the capture(s); none is replaced unless
``overwrite`` is true, and nothing is written when any would be.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from facilities.grid import FacilityGrid
from facilities.model import Facility
from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.records import StoredChange
from imagery.workspace import FacilityWorkspace
from pipeline.change.zones import grid_zones
from pipeline.errors import PipelineError
from pipeline.report.exports import export_geojson, export_geotiff, export_kmz
from pipeline.report.figures import FigureImage, Overlay, render_figure
from pipeline.report.report_figures import facility_caption, read_figure_image

log = logging.getLogger(__name__)

FORMATS = ("png", "geotiff", "geojson", "kmz")
"""Export formats, in the order they are written."""
SUFFIX = {"png": ".png", "geotiff": ".tif", "geojson": ".geojson", "kmz": ".kmz"}
"""File suffix per format."""


def parse_formats(text: str) -> tuple[str, ...]:
    """``"png,kmz"`` -> ``("png", "kmz")``; unknown names raise :class:`PipelineError`.

    Example:
        >>> parse_formats("kmz, png")
        ('png', 'kmz')
    """
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise PipelineError(
            f"--format {text!r}: unknown format {', '.join(bad) or '(none)'}; "
            f"choose from {','.join(FORMATS)}"
        )
    return tuple(f for f in FORMATS if f in names)


def _capture(captures: Sequence[Capture], capture_id: str, path: Path) -> Capture:
    for c in captures:
        if c.capture_id == capture_id:
            return c
    known = ", ".join(c.capture_id for c in captures[:8])
    raise PipelineError(f"{path}: no capture {capture_id!r} in the catalogue (have: {known})")


def _changes_between(
    changes: Sequence[StoredChange], before: Capture | None, after: Capture
) -> list[StoredChange]:
    if before is None:
        return [c for c in changes if c.after_id == after.capture_id]
    return [
        c for c in changes
        if before.acquired <= c.before_acquired and c.after_acquired <= after.acquired
    ]


def export_capture(
    facility: Facility,
    ws: FacilityWorkspace,
    grid: FacilityGrid,
    capture_id: str,
    *,
    before_id: str | None = None,
    formats: Sequence[str] = FORMATS,
    dpi: int = 300,
    out_dir: Path | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the annotated capture in each format; return the files written.

    The PNG shows before and after side by side when ``before_id`` is given;
    the GeoTIFF, GeoJSON and KMZ carry the (after) capture with the same
    outlines. Change objects in the interval are dashed, events solid.

    Raises:
        PipelineError: unknown capture or format, a before capture not earlier than
            the capture, no image data, or existing files without ``overwrite``.

    Example:
        >>> # export_capture(facility, ws, grid, "20230101T0213_sim", formats=("png", "kmz"))
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise PipelineError(f"unknown export format {bad or '(none)'}; choose from {FORMATS}")
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        captures = cat.captures()
        changes = cat.changes()
        event_ids = {e.event_id for e in cat.events()}
    after = _capture(captures, capture_id, ws.catalogue_path)
    before = _capture(captures, before_id, ws.catalogue_path) if before_id else None
    if before is not None and before.acquired >= after.acquired:
        raise PipelineError(
            f"--before {before.capture_id} ({before.acquired:%Y-%m-%d}) is not earlier than "
            f"--capture {after.capture_id} ({after.acquired:%Y-%m-%d})"
        )
    stem = f"{before.capture_id}__{after.capture_id}" if before else after.capture_id
    target = Path(out_dir) if out_dir is not None else ws.report_dir / "exports"
    paths = {f: target / f"{stem}{SUFFIX[f]}" for f in formats}
    existing = [p for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise PipelineError(
            f"{', '.join(str(p) for p in existing)} already exists; use --overwrite to replace"
        )
    after_img = read_figure_image(ws, after, grid, grid.bounds, facility_caption(facility, after))
    before_img = (
        read_figure_image(ws, before, grid, grid.bounds, facility_caption(facility, before))
        if before else None
    )
    if after_img is None or (before is not None and before_img is None):
        empty = after.capture_id if after_img is None else before_id
        raise PipelineError(f"capture {empty!r} has no image data on the facility grid")
    shown = _changes_between(changes, before, after)
    overlays = _overlays(facility, grid, event_ids, shown)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt, path in paths.items():
        if fmt == "png":
            render_figure(after_img, overlays, path, before=before_img, dpi=dpi,
                          aoi_lonlat=facility.aoi)
        elif fmt == "geotiff":
            export_geotiff(after_img, overlays, path, scale=_scale(after_img, grid))
        elif fmt == "geojson":
            export_geojson(overlays, path, crs=grid.crs, caption=after_img.caption)
        else:
            export_kmz(after_img, overlays, path)
        written.append(path)
    log.info("exported %s: %s", stem, ", ".join(p.name for p in written))
    return written


def _scale(image: FigureImage, grid: FacilityGrid) -> int:
    """Output pixels per grid pixel for legible burned-in labels (about 0.5 m pixels)."""
    return max(1, min(4, round(grid.resolution / 0.5)))


MAX_EVENT_LABELS = 8
"""Events are labelled (type and area) only when there are at most this many."""


def _overlays(
    facility: Facility, grid: FacilityGrid, event_ids: set[str], shown: Sequence[StoredChange],
) -> list[Overlay]:
    overlays = [Overlay(z.geometry, z.name, f"zone:{z.zone_type}")
                for z in grid_zones(facility, grid.crs)]
    events = [c for c in shown if c.change_id in event_ids]
    label = len(events) <= MAX_EVENT_LABELS
    for ch in sorted(shown, key=lambda c: -c.area_m2):
        if ch.change_id in event_ids:
            text = f"{ch.change_type.replace('_', ' ')}, {ch.area_m2:,.0f} m²" if label else ""
            overlays.append(Overlay(ch.geometry, text, "event"))
        else:
            overlays.append(Overlay(ch.geometry, "", f"change:{ch.change_type}"))
    return overlays
