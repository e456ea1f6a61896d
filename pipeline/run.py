"""The run loop for one facility: pairs → change → timeline → events → report.

Stages are plain function calls; each stage's output goes to the catalogue in
its own transaction, so a rerun replaces rather than duplicates.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import rasterio

from facilities.grid import FacilityGrid
from facilities.model import Facility
from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.quality import region_masks
from imagery.tiles import tile_index
from imagery.workspace import FacilityWorkspace
from pipeline.compare import TILE_SIZE, PairResult, compare_pair
from pipeline.detect import ChangeParams
from pipeline.events import Event, find_events
from pipeline.pairs import CapturePair, capture_pairs, gap_pairs
from pipeline.persistence import persistence
from pipeline.tiled import tile_records, tile_statuses
from pipeline.timeline import build_timeline, zone_metrics
from pipeline.timeline_export import write_timeline
from pipeline.zones import grid_zones

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total)."""


@dataclass(frozen=True)
class RunSummary:
    """What a run produced for one facility."""

    facility_id: str
    """The facility."""
    captures: int
    """Captures in the catalogue."""
    usable: int
    """Captures usable for detection."""
    pairs: tuple[PairResult, ...]
    """Pairs compared."""
    events: tuple[Event, ...]
    """Persistent changes."""
    timeline_rows: int
    """Rows in the timeline table."""
    outputs: dict[str, str] = field(default_factory=dict)
    """Named output files."""

    @property
    def changes(self) -> int:
        """Number of change objects over all pairs."""
        return sum(len(p.changes) for p in self.pairs)


def _capture_metrics(
    cap: Capture, ws: FacilityWorkspace, grid: FacilityGrid, facility: Facility,
    regions: dict[str, np.ndarray],
) -> dict[str, dict[str, float]]:
    with rasterio.open(ws.absolute(cap.raster_path)) as src:
        refl = src.read()
    with rasterio.open(ws.absolute(cap.mask_path)) as src:
        clear = src.read(1) == 1
    types = {z.id: z.zone_type for z in facility.zones}
    return zone_metrics(refl, clear, regions, types, grid.resolution**2)


def _read_clear(cap: Capture, ws: FacilityWorkspace) -> np.ndarray:
    with rasterio.open(ws.absolute(cap.raster_path)) as src:
        refl = src.read()
    with rasterio.open(ws.absolute(cap.mask_path)) as src:
        refl[:, src.read(1) != 1] = np.nan
    return refl


def _with_persistence(
    pairs: list[CapturePair], results: list[PairResult], ws: FacilityWorkspace,
    grid: FacilityGrid,
) -> list[PairResult]:
    """Record in each change's ``extra["persistence"]`` whether the next capture of its
    series confirms it (see :mod:`pipeline.persistence`)."""
    following = {p.before.capture_id: p for p in pairs if p.gap_of is None}
    cache: dict[str, np.ndarray] = {}

    def pixels(cap: Capture) -> np.ndarray:
        if cap.capture_id not in cache:
            while len(cache) >= 3:
                cache.pop(next(iter(cache)))
            cache[cap.capture_id] = _read_clear(cap, ws)
        return cache[cap.capture_id]

    out = []
    for pair, result in zip(pairs, results, strict=True):
        nxt = following.get(pair.after.capture_id)
        checked = list(result.changes)
        status: dict[str, str] = {}
        if nxt is not None and nxt.series == pair.series and checked:
            verdicts = persistence(
                [c.geometry for c in checked], pixels(pair.before), pixels(pair.after),
                pixels(nxt.after), grid.transform,
            )
            status = {c.change_id: v for c, v in zip(checked, verdicts, strict=True)}
        changes = tuple(
            dataclasses.replace(c, extra={**c.extra, "persistence": status[c.change_id]})
            if c.change_id in status
            else c
            for c in result.changes
        )
        out.append(dataclasses.replace(result, changes=changes))
    return out


def run_facility(
    facility: Facility,
    ws: FacilityWorkspace,
    grid: FacilityGrid,
    *,
    params: ChangeParams | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Run detection, timeline and events on the captures already in a workspace.

    Example:
        >>> # summary = run_facility(facility, ws, workspace_grid(ws, facility, None))
    """
    base = params or ChangeParams()
    zones = grid_zones(facility, grid.crs)
    tiles = tile_index(grid, tile_size=TILE_SIZE)
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        captures = cat.captures()
        cat.replace_tiles(tile_records(facility, grid, tiles))
        recorded = {s.capture_id for s in cat.tile_status()}
    for cap in captures:  # which tiles each capture sees clearly (skipped when it sees none)
        if cap.capture_id not in recorded:
            statuses = tile_statuses(cap.capture_id, ws.absolute(cap.mask_path), tiles)
            with open_catalogue(ws.catalogue_path, grid.crs) as cat:
                cat.replace_tile_status(cap.capture_id, statuses)
    pairs = capture_pairs(captures) + gap_pairs(captures)
    results: list[PairResult] = []
    for i, pair in enumerate(pairs):
        results.append(compare_pair(pair, ws, grid, zones, base))
        if progress:
            progress("detect", i + 1, len(pairs))
    results = _with_persistence(pairs, results, ws, grid)
    for pair, result in zip(pairs, results, strict=True):
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            cat.replace_changes(pair.before.capture_id, pair.after.capture_id, result.changes)
    regions = region_masks(facility, grid)
    usable = [c for c in captures if c.usable]
    metrics = {}
    for i, cap in enumerate(usable):
        metrics[cap.capture_id] = _capture_metrics(cap, ws, grid, facility, regions)
        if progress:
            progress("metrics", i + 1, len(usable))
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        cat.delete_changes_except((p.before.capture_id, p.after.capture_id) for p in pairs)
        changes = cat.changes()
        rows = build_timeline(facility, captures, changes, zones, metrics)
        cat.replace_timeline(rows)
    csv_path = ws.report_dir / "timeline.csv"
    write_timeline(rows, csv_path, csv_path.with_suffix(".parquet"))
    events = find_events(captures, changes)
    return RunSummary(
        facility_id=facility.id,
        captures=len(captures),
        usable=len(usable),
        pairs=tuple(results),
        events=tuple(events),
        timeline_rows=len(rows),
        outputs={
            "catalogue": str(ws.catalogue_path),
            "timeline_csv": str(csv_path),
            "timeline_parquet": str(csv_path.with_suffix(".parquet")),
        },
    )
