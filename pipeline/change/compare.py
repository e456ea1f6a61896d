"""Detect change between one capture pair on the facility grid (reads the stored rasters)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace

import shapely

from facilities.grid import FacilityGrid
from imagery.capture import BANDS
from imagery.records import StoredChange
from imagery.store import grid_raster_writer
from imagery.workspace import FacilityWorkspace
from pipeline.change.detect import ChangeParams
from pipeline.change.pairs import CapturePair
from pipeline.change.tiled import (
    PairFiles,
    calibrate_pair,
    pair_reader,
    pools_thresholds,
    tiled_change,
)
from pipeline.change.zones import GridZone, attribute_zone
from pipeline.errors import NoClearPixelsError

log = logging.getLogger(__name__)

TILE_SIZE = 1024
"""Largest tile core, pixels: detection reads one tile's halo window at a time, so peak
memory is bounded by this, not by the AOI (see :mod:`pipeline.change.tiled`)."""


@dataclass(frozen=True)
class PairResult:
    """What detection found for one pair."""

    before_id: str
    """Earlier capture."""
    after_id: str
    """Later capture."""
    series: str
    """Series of the pair."""
    changes: tuple[StoredChange, ...]
    """Change polygons, attributed to zones."""
    mask_path: str
    """Change mask (1 change, 0 none, 255 nodata), relative to the facility workspace."""
    mask_sha256: str
    """SHA-256 of the change mask."""
    method: str
    """Detection method with co-registration and normalisation notes."""


def pair_params(pair: CapturePair, grid: FacilityGrid, base: ChangeParams) -> ChangeParams:
    """Detection parameters for a pair: ``base`` with the grid's pixel size, the bands and a
    minimum mapping unit of at least three source pixels of the coarser capture.

    Every other field of ``base`` is kept (it once rebuilt the parameters field by field and
    dropped ``calibration_tiles`` and the detector settings: the runner asked for 4
    calibration tiles and got 16).

    Example:
        >>> # params = pair_params(pair, grid, ChangeParams(calibration_tiles=4))
    """
    gsd = max(pair.before.gsd_m, pair.after.gsd_m, grid.resolution)
    return replace(
        base,
        pixel_size_m=grid.resolution,
        bands=BANDS,
        min_area_m2=max(base.min_area_m2, 3.0 * gsd * gsd),
    )


def change_id(pair: CapturePair, geometry: shapely.Geometry) -> str:
    """Deterministic id of a change polygon: the same detection gets the same id."""
    h = hashlib.sha256(f"{pair.key}|".encode())
    h.update(shapely.to_wkb(shapely.set_precision(geometry, 0.01), byte_order=1))
    return h.hexdigest()[:16]


def compare_pair(
    pair: CapturePair,
    ws: FacilityWorkspace,
    grid: FacilityGrid,
    zones: list[GridZone],
    base: ChangeParams,
) -> PairResult:
    """Detect, polygonise and attribute the change between the two captures of ``pair``.

    Tile by tile (:func:`pipeline.change.tiled.tiled_change`) with one calibration per pair; the
    change mask COG is written core by core, objects crossing tile edges come out whole.

    Example:
        >>> # result = compare_pair(pair, ws, grid, grid_zones(facility, grid.crs), ChangeParams())
    """
    params = pair_params(pair, grid, base)
    files = PairFiles(
        before=ws.absolute(pair.before.raster_path),
        after=ws.absolute(pair.after.raster_path),
        before_mask=ws.absolute(pair.before.mask_path),
        after_mask=ws.absolute(pair.after.mask_path),
        # only what the capture in between did not see clearly
        gap_mask=ws.absolute(pair.gap_of.mask_path) if pair.gap_of is not None else None,
    )
    # a small grid's pair is read whole once; calibration and tiles take views of it, and
    # the thresholds are pooled from the tiles' statistics (pipeline.change.pooled)
    read_window = pair_reader(files, grid)
    try:
        cal = calibrate_pair(files, grid.shape, params, read_window,
                             with_thresholds=not pools_thresholds(read_window))
    except NoClearPixelsError:
        return PairResult(pair.before.capture_id, pair.after.capture_id, pair.series, (), "",
                          "", "no pixel clear in both captures")
    mask_file = ws.changes_dir / f"{pair.key}.tif"
    with grid_raster_writer(
        mask_file, grid, count=1, dtype="uint8", nodata=255, band_names=("change",),
        tags={"BEFORE": pair.before.capture_id, "AFTER": pair.after.capture_id,
              "METHOD": params.method, "VALUES": "1 change, 0 no change, 255 no data"},
    ) as sink:
        result = tiled_change(files, grid, params, sink, tile_size=TILE_SIZE, calibration=cal,
                              read_window=read_window)
    shift = (
        f"shift ({cal.shift_px[0]:+.2f}, {cal.shift_px[1]:+.2f}) px"
        if cal.shift_px is not None
        else "no shift applied"
    )
    method = (f"{params.method}; {shift} ({cal.registration_note}); "
              f"{cal.normalisation.method}")
    objects = result.objects
    changes = []
    for obj in objects:
        zone = attribute_zone(obj.geometry, zones)
        changes.append(
            StoredChange(
                change_id=change_id(pair, obj.geometry),
                facility_id=pair.after.facility_id,
                before_id=pair.before.capture_id,
                after_id=pair.after.capture_id,
                before_acquired=pair.before.acquired,
                after_acquired=pair.after.acquired,
                geometry=obj.geometry,
                area_m2=round(obj.area_m2, 2),
                change_type=obj.change_type,
                confidence=round(obj.confidence, 4),
                confidence_label=obj.confidence_label,
                zone_id=zone.zone_id if zone else "",
                zone_type=zone.zone_type if zone else "",
                method=method,
                series=pair.series,
            )
        )
    log.info("%s: %d change objects (%s)", pair.key, len(changes), method)
    return PairResult(
        pair.before.capture_id,
        pair.after.capture_id,
        pair.series,
        tuple(changes),
        ws.relative(mask_file),
        sink.sha256,
        method,
    )
