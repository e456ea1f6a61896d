"""The run loop for one facility: pairs → change → timeline → events → report.

Stages are plain function calls; each stage's output goes to the catalogue in
its own transaction, so a rerun replaces rather than duplicates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import rasterio.windows
from rasterio.io import DatasetReader
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds

from facilities.grid import FacilityGrid
from facilities.model import Facility
from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.quality import region_masks
from imagery.records import StoredChange
from imagery.store import clear_pixels, read_decimated
from imagery.tiles import tile_index
from imagery.warp import grid_blocks
from imagery.workspace import FacilityWorkspace
from pipeline.change.blocks import PlannedReader
from pipeline.change.compare import TILE_SIZE, PairResult, compare_pair
from pipeline.change.detect import ChangeParams
from pipeline.change.evidence import (
    log_contrast,
    neighbour_looks,
    neighbour_offsets,
    temporal_evidence,
)
from pipeline.change.pairs import CapturePair, capture_pairs, gap_pairs, series_of
from pipeline.change.persistence import (
    RING_M,
    burn_objects,
    object_masks,
    object_windows,
    persistence,
)
from pipeline.change.tiled import tile_records, tile_statuses
from pipeline.change.zones import GridZone, grid_zones
from pipeline.history.events import Event, find_events
from pipeline.history.landcover import LandCoverReader
from pipeline.history.review import store_event_reviews
from pipeline.history.timeline import build_timeline, zone_metrics
from pipeline.history.tracks import assign_tracks
from pipeline.report.tables import write_timeline

log = logging.getLogger(__name__)

METRICS_MAX_PX = 2048 * 2048
"""Zone indicators read at most this many pixels of a capture (decimated above): 16 M let
the timeline stage of an 8000 px grid read 4000 px captures (its peak memory 1.5x that of
a 4000 px grid); a 2040 px grid such as the demo's is still read whole."""

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


def metrics_grid(grid: FacilityGrid) -> FacilityGrid:
    """The grid zone indicators are computed on: ``grid`` coarsened by a whole factor to at
    most :data:`METRICS_MAX_PX` pixels (``grid`` itself when it is that small).

    Example:
        >>> metrics_grid(FacilityGrid("EPSG:32652", 0.5, 0.0, 0.0, 8000, 8000)).shape
        (2000, 2000)
        >>> metrics_grid(FacilityGrid("EPSG:32652", 1.0, 0.0, 0.0, 2040, 2040)).shape
        (2040, 2040)
    """
    f = max(1, int(np.ceil(np.sqrt(grid.width * grid.height / METRICS_MAX_PX))))
    if f == 1:
        return grid
    return FacilityGrid(grid.crs, grid.resolution * f, grid.west, grid.north,
                        max(1, grid.width // f), max(1, grid.height // f))


@dataclass(frozen=True)
class PackedMasks:
    """Boolean masks packed eight pixels to a byte (:func:`numpy.packbits`): what a pool's
    task is sent instead of the masks (the demo's twelve region masks are 50 MB as bool, 6 MB
    packed, and were sent once per capture)."""

    shape: tuple[int, int]
    """(rows, cols) of every mask."""
    bits: dict[str, np.ndarray]
    """Packed uint8 bits of each mask, by key."""

    @classmethod
    def pack(cls, masks: dict[str, np.ndarray], shape: tuple[int, int]) -> PackedMasks:
        """Pack bool masks of ``shape``.

        Example:
            >>> m = {"a": np.eye(3, dtype=bool)}
            >>> bool((PackedMasks.pack(m, (3, 3)).unpack()["a"] == m["a"]).all())
            True
        """
        return cls(shape, {k: np.packbits(v) for k, v in masks.items()})

    def unpack(self) -> dict[str, np.ndarray]:
        """The bool masks again."""
        n = self.shape[0] * self.shape[1]
        return {k: np.unpackbits(v, count=n).reshape(self.shape).view(bool)
                for k, v in self.bits.items()}


def _capture_metrics(
    cap: Capture, ws: FacilityWorkspace, grid: FacilityGrid, facility: Facility,
    regions: dict[str, np.ndarray] | PackedMasks,
) -> dict[str, dict[str, float]]:
    # Indicators, not measurements: on a large grid read at most METRICS_MAX_PX pixels
    # (decimated through the COG overviews), so memory does not grow with the AOI.
    # ``regions`` are masks on metrics_grid(grid), rasterised there, not at full size.
    if isinstance(regions, PackedMasks):
        regions = regions.unpack()
    coarse = metrics_grid(grid)
    shape = coarse.shape
    refl, clear = read_decimated(ws.absolute(cap.raster_path), ws.absolute(cap.mask_path), shape)
    f = coarse.resolution / grid.resolution
    types = {z.id: z.zone_type for z in facility.zones}
    return zone_metrics(refl, clear, regions, types, (grid.resolution * f) ** 2)


def _compare_pairs(
    pairs: list[CapturePair], ws: FacilityWorkspace, grid: FacilityGrid, zones: list[GridZone],
    base: ChangeParams, workers: int, progress: Progress | None,
    pool: Executor | None = None, queued: Callable[[Executor], None] | None = None,
) -> list[PairResult]:
    """:func:`compare_pair` of every pair, each with its persistence
    (:func:`_with_persistence`), in order; in ``pool`` when given, else in ``workers``
    processes when > 1. ``queued`` is called with the pool once every pair is queued in it
    (work queued then runs behind the pairs)."""
    following = {p.before.capture_id: p for p in pairs if p.gap_of is None}
    jobs = [(pair, following.get(pair.after.capture_id)) for pair in pairs]
    if pool is None and (workers <= 1 or len(pairs) < 2):
        results = []
        for i, (pair, nxt) in enumerate(jobs):
            results.append(_compare_and_persist(pair, nxt, ws, grid, zones, base))
            if progress:
                progress("detect", i + 1, len(pairs))
        return results
    with contextlib.ExitStack() as stack:
        if pool is None:
            # "spawn": a fresh interpreter per worker, never a fork of a process holding GDAL
            # threads
            ctx = multiprocessing.get_context("spawn")
            pool = stack.enter_context(
                ProcessPoolExecutor(min(workers, len(pairs)), mp_context=ctx))
        # the very-high-resolution pairs (the long ones) first, so no worker idles at the end
        order = sorted(range(len(pairs)), key=lambda i: pairs[i].series != "vhr")
        futures = {i: pool.submit(_compare_and_persist, *jobs[i], ws, grid, zones, base)
                   for i in order}
        if queued is not None:
            queued(pool)
        for i, _ in enumerate(as_completed(futures.values())):
            if progress:
                progress("detect", i + 1, len(pairs))
        return [futures[i].result() for i in range(len(pairs))]


def _compare_and_persist(
    pair: CapturePair, following: CapturePair | None, ws: FacilityWorkspace,
    grid: FacilityGrid, zones: list[GridZone], base: ChangeParams,
) -> PairResult:
    """One pair's :func:`compare_pair` and :func:`_with_persistence` (a pool's unit of work:
    a pair's persistence needs only its own changes and captures, so it runs beside the
    other pairs instead of after all of them)."""
    result = compare_pair(pair, ws, grid, zones, base)
    return _with_persistence(pair, following, result, ws, grid)


PERSISTENCE_BATCH_PX = 2048
"""Change objects are checked in windows of at most this many pixels a side."""


def _with_persistence(
    pair: CapturePair, following: CapturePair | None, result: PairResult,
    ws: FacilityWorkspace, grid: FacilityGrid,
) -> PairResult:
    """Record in each change's ``extra["persistence"]`` whether the next capture of its
    series (the AFTER of ``following``, the pair that starts where ``pair`` ends) confirms
    it (see :mod:`pipeline.change.persistence`)."""
    status: dict[str, str] = {}
    if following is not None and following.series == pair.series and result.changes:
        # only small windows around the changes and their rings, each COG block of each
        # capture decoded once (the whole grid was read three times: a third of the
        # detect stage at 8160 px); the same pixels, masks and verdicts
        here = result.changes
        windows = [(Window(c0, r0, c1 - c0, r1 - r0), members) for (r0, r1, c0, c1), members
                   in object_windows([ch.geometry for ch in here], grid.transform, grid.shape)]
        plan = [w for w, _ in windows]
        with contextlib.ExitStack() as stack:

            def planned(path: str) -> PlannedReader:
                # each file opened once for its many small windows (GDAL's cache keeps
                # their blocks until the files close here, at most GDAL_CACHEMAX)
                src = stack.enter_context(rasterio.open(ws.absolute(path)))
                return stack.enter_context(PlannedReader(src, plan))

            readers = [(planned(x.raster_path), planned(x.mask_path))
                       for x in (pair.before, pair.after, following.after)]
            for read, members in windows:
                a, b, c = (clear_pixels(raster.read(read), mask.read(read)[0])
                           for raster, mask in readers)
                transform = rasterio.windows.transform(read, grid.transform)
                geometries = [here[i].geometry for i in members]
                labels = (burn_objects(geometries, transform, (int(read.height),
                                                               int(read.width)))
                          if len(members) > 1 else None)
                verdicts = persistence(geometries, a, b, c, transform, burnt=labels)
                status |= {here[i].change_id: v for i, v in zip(members, verdicts, strict=True)}
    changes = tuple(
        dataclasses.replace(c, extra={**c.extra, "persistence": status[c.change_id]})
        if c.change_id in status
        else c
        for c in result.changes
    )
    return dataclasses.replace(result, changes=changes)


def _change_blocks(
    grid: FacilityGrid, changes: Sequence[StoredChange], reach: int = 1
) -> Iterator[tuple[Window, list[StoredChange]]]:
    """The grid in blocks, each with the changes whose centroid falls in it and the window to
    read for them: the block padded by ``reach`` times the largest change and its ring of
    ground (2: room to move each outline to its neighbours), so memory follows the block
    size, not the grid."""
    for window in grid_blocks(grid, PERSISTENCE_BATCH_PX):
        core = window_bounds(window, grid.transform)
        here = [ch for ch in changes
                if core[0] <= ch.geometry.centroid.x < core[2]
                and core[1] < ch.geometry.centroid.y <= core[3]]
        if not here:
            continue
        pad = reach * (int(np.ceil((max(
            max(c.geometry.bounds[2] - c.geometry.bounds[0],
                c.geometry.bounds[3] - c.geometry.bounds[1]) for c in here
        ) + 2 * RING_M[1]) / grid.resolution)) + 2)
        read = Window(window.col_off - pad, window.row_off - pad,
                      window.width + 2 * pad, window.height + 2 * pad).intersection(
            Window(0, 0, grid.width, grid.height))
        yield read, here


Looks = dict[str, list[tuple[datetime, np.ndarray | None]]]
"""Each change's log contrast in each capture of its series, by change id."""
NearLooks = dict[str, list[list[np.ndarray | None]]]
"""Each change's outline moved to its neighbours' places, in A and in B, by change id."""


@contextlib.contextmanager
def _open_captures(
    ws: FacilityWorkspace, captures: list[Capture]
) -> Iterator[dict[str, tuple[DatasetReader, DatasetReader]]]:
    """Each capture's raster and clear mask, open for the ``with`` block, by capture id."""
    with contextlib.ExitStack() as files:
        yield {cap.capture_id: (
            files.enter_context(rasterio.open(ws.absolute(cap.raster_path))),
            files.enter_context(rasterio.open(ws.absolute(cap.mask_path))))
            for cap in captures}


def _series_looks(
    grid: FacilityGrid, todo: list[StoredChange], members: list[Capture],
    sources: dict[str, tuple[DatasetReader, DatasetReader]], looks: Looks, near: NearLooks,
) -> None:
    """Measure every change of one series in every capture of it (``sources``: each
    capture's open raster and clear mask), into ``looks`` (and ``near`` for a series of two
    captures).

    Changes are taken block by block (:func:`_change_blocks`, so the boxes of one block share
    GDAL's cached blocks); each object's mask and ring are made in its own box and only that
    box is read from each capture. Reading the padded block whole and cutting the boxes out
    of it (they cover under a tenth of it) was three quarters of this stage's CPU at 8160²
    px, and burning each pair's objects into block-sized labels cost three times as much as
    rasterising each outline in its box: the same masks and pixels."""
    two = len(members) == 2  # the series cannot speak: the neighbourhood must
    shape = (grid.height, grid.width)
    for _, here in _change_blocks(grid, todo, reach=2 if two else 1):
        offsets = {ch.change_id: neighbour_offsets(ch.geometry, grid.resolution)
                   for ch in here} if two else {}
        masks = {ch.change_id: object_masks(
            ch.geometry, grid.transform, shape,
            reach_m=max(abs(v) for o in offsets.get(ch.change_id, [(0, 0)])
                        for v in o) * grid.resolution) for ch in here}
        for cap in members:
            src, clear = sources[cap.capture_id]
            for ch in here:
                m = masks[ch.change_id]
                if m is None:
                    looks.setdefault(ch.change_id, []).append((cap.acquired, None))
                    continue
                rows, cols = m[0]
                box_window = Window(cols.start, rows.start,
                                    cols.stop - cols.start, rows.stop - rows.start)
                box = clear_pixels(src.read(window=box_window),
                                   clear.read(1, window=box_window))
                looks.setdefault(ch.change_id, []).append(
                    (cap.acquired, log_contrast(box, m[1], m[2])))
                if two:
                    near.setdefault(ch.change_id, []).append(
                        neighbour_looks(box, m[1], m[2], offsets[ch.change_id]))


def _with_evidence(
    pairs: list[CapturePair], results: list[PairResult], captures: list[Capture],
    ws: FacilityWorkspace, grid: FacilityGrid,
) -> list[PairResult]:
    """Judge every change against the whole series (see :mod:`pipeline.change.evidence`):
    ``extra["evidence"]`` records the verdict and the confidence label replaces the
    detector's. Each change is measured in each capture of its series
    (:func:`_series_looks`), each capture's files opened once. In a series of two captures,
    each outline is also measured at its neighbours' places."""
    looks: Looks = {}
    near: NearLooks = {}
    for series in ("vhr", "medium"):
        members = [c for c in captures if c.usable and series_of(c) == series]
        todo = [ch for p, r in zip(pairs, results, strict=True) if p.series == series
                for ch in r.changes]
        if not todo:
            continue
        with _open_captures(ws, members) as sources:
            _series_looks(grid, todo, members, sources, looks, near)
    sun = {c.acquired: c.sun_elevation_deg for c in captures}
    out = []
    for pair, result in zip(pairs, results, strict=True):
        gsd = max(pair.before.gsd_m, pair.after.gsd_m)
        changes = []
        for ch in result.changes:
            sides = near.get(ch.change_id, [])
            ev = temporal_evidence(looks.get(ch.change_id, []), pair.before.acquired,
                                   pair.after.acquired, ch.area_m2, gsd,
                                   list(zip(*sides, strict=True)) if len(sides) == 2 else (),
                                   sun)
            changes.append(dataclasses.replace(
                ch, confidence_label=ev.label, extra={**ch.extra, "evidence": ev.as_extra()}))
        out.append(dataclasses.replace(result, changes=tuple(changes)))
    return out


def run_facility(
    facility: Facility,
    ws: FacilityWorkspace,
    grid: FacilityGrid,
    *,
    params: ChangeParams | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    pool: Executor | None = None,
    queued: Callable[[Executor], None] | None = None,
) -> RunSummary:
    """Run detection, timeline and events on the captures already in a workspace.

    ``workers`` > 1 compares that many pairs at once, each in its own process (pairs are
    independent: each writes only its own change mask); the results are the same. A
    ``pool`` (the demo's) is used instead of starting one; ``queued`` is then called with it
    once every pair is queued, to queue work that runs behind them.

    Example:
        >>> # summary = run_facility(facility, ws, workspace_grid(ws, facility, None))
    """
    base = params or ChangeParams()
    zones = grid_zones(facility, grid.crs)
    tiles = tile_index(grid, tile_size=TILE_SIZE)
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        captures = cat.captures()
        previous = cat.changes()  # their tracks continue in the new pairs (backfill)
        cat.replace_tiles(tile_records(facility, grid, tiles))
        recorded = {s.capture_id for s in cat.tile_status()}
    for cap in captures:  # which tiles each capture sees clearly (skipped when it sees none)
        if cap.capture_id not in recorded:
            statuses = tile_statuses(cap.capture_id, ws.absolute(cap.mask_path), tiles)
            with open_catalogue(ws.catalogue_path, grid.crs) as cat:
                cat.replace_tile_status(cap.capture_id, statuses)
    pairs = capture_pairs(captures) + gap_pairs(captures)
    coarse = metrics_grid(grid)
    regions = region_masks(facility, coarse)
    usable = [c for c in captures if c.usable]
    # Zone indicators need only the captures: with a pool they are queued behind the pairs
    # (and before ``queued``'s work), so this process does not compute them after the series
    # evidence while a core idles.
    metric_jobs: list[Future[dict[str, dict[str, float]]]] = []

    def queue_metrics(pool: Executor) -> None:
        packed = PackedMasks.pack(regions, coarse.shape)
        metric_jobs.extend(pool.submit(_capture_metrics, cap, ws, grid, facility, packed)
                           for cap in usable)
        if queued is not None:
            queued(pool)

    results = _compare_pairs(pairs, ws, grid, zones, base, workers, progress, pool,
                             queue_metrics)
    if progress:
        progress("evidence", 1, 2)
    results = _with_evidence(pairs, results, captures, ws, grid)
    if progress:
        progress("evidence", 2, 2)
    # A change keeps its identity when a backfilled capture re-brackets it: decisions and
    # alert keys follow the track, not the pair (see pipeline.history.tracks).
    results = [
        dataclasses.replace(r, changes=tuple(assign_tracks(r.changes, previous))) for r in results
    ]
    for pair, result in zip(pairs, results, strict=True):
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            cat.replace_changes(pair.before.capture_id, pair.after.capture_id, result.changes)
    metrics = {}
    for i, cap in enumerate(usable):
        metrics[cap.capture_id] = (metric_jobs[i].result() if metric_jobs
                                   else _capture_metrics(cap, ws, grid, facility, regions))
        if progress:
            progress("metrics", i + 1, len(usable))
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        cat.delete_changes_except((p.before.capture_id, p.after.capture_id) for p in pairs)
        changes = cat.changes()
        rows = build_timeline(facility, captures, changes, zones, metrics)
        cat.replace_timeline(rows)
        # what each event did to the ground, measured once here and stored with it
        found = find_events(captures, changes)
        events = []
        with LandCoverReader(ws, grid) as land_cover:
            for i, ev in enumerate(found):
                events.append(dataclasses.replace(ev, land_cover=land_cover.measure(
                    ev.before, ev.after, ev.change.geometry)))
                if progress:
                    progress("events", i + 1, len(found))
        store_event_reviews(cat, events)
    csv_path = ws.report_dir / "timeline.csv"
    write_timeline(rows, csv_path, csv_path.with_suffix(".parquet"))
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
