"""The simulated capture archive: offline demo imagery of a facility, with ground truth.

:func:`simulate_archive` writes one 4-band GeoTIFF per capture (uint16 DN = reflectance x
10000, nodata 0, bands blue, green, red, nir, 512 px tiles) as a vendor would deliver it, and
``truth.json`` with every event. VHR captures are uncompressed, as commercial ortho products
often are delivered; Sentinel-2-like ones DEFLATE with horizontal differencing (see
:data:`CODECS`). VHR captures are
on a UTM grid that is not aligned to the facility grid (and every fourth one in EPSG:4326);
Sentinel-2-like captures are 10 m area averages on a 10 m-aligned UTM grid. Everything is
marked SIMULATED: none of it is evidence.

The scene (:mod:`imagery.simulate.scene`) and the conditions of each capture
(:mod:`imagery.simulate.schedule`) are planned from the seed; pixels are painted by
:mod:`imagery.simulate.render`. Same parameters, same bytes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.warp import Resampling, reproject

from facilities.model import Facility
from imagery.capture import BANDS, safe_id
from imagery.errors import SimulationError
from imagery.simulate.records import (
    CREDIT,
    S2_GSD_M,
    SENSOR_S2,
    SIMULATED_NOTE,
    SimulatedArchive,
    SimulatedCapture,
    SimulationParams,
    TruthEvent,
)
from imagery.simulate.render import (
    MARGIN_PX,
    SceneRasters,
    block_mean,
    cloud_field,
    coverage_mask,
    labels_for,
    prepare_rasters,
    render_reflectance,
)
from imagery.simulate.scene import Scene, plan_scene
from imagery.simulate.schedule import GEOGRAPHIC_CRS, CapturePlan, date_events, plan_captures

__all__ = [
    "SimulatedArchive",
    "SimulatedCapture",
    "SimulationError",
    "SimulationParams",
    "TruthEvent",
    "read_truth",
    "simulate_archive",
]

log = logging.getLogger(__name__)

TRUTH_FILE = "truth.json"
"""Name of the ground-truth file in the archive directory."""

TRUTH_VERSION = 1
"""Format version of ``truth.json``."""

_PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "dtype": "uint16",
    "count": 4,
    "nodata": 0,
    "tiled": True,
    "blockxsize": 512,
    "blockysize": 512,
}

_DEFLATE: dict[str, Any] = {"compress": "deflate", "zlevel": 1, "predictor": 2}

CODECS: dict[str, dict[str, Any]] = {SENSOR_S2: _DEFLATE}
"""GeoTIFF compression by sensor; a sensor not listed is written uncompressed. Vendors deliver
LZW, DEFLATE or none; the simulated 0.5 m captures (noise-textured, so DEFLATE shrank them only
to 60 % at level 1) are written as none: encoding them was half of the simulation's CPU and
decoding them (the ingest's Adler-32 check, then the warp) another 1.6 s each. The small
Sentinel-2-like captures keep DEFLATE, so the demo's ingest still checks deflate blocks."""


def capture_filename(acquired: datetime, sensor: str) -> str:
    """``<YYYYMMDDTHHMMSS>_<sensor-slug>.tif``.

    Example:
        >>> from datetime import UTC
        >>> capture_filename(datetime(2014, 5, 2, 2, 13, 9, tzinfo=UTC), "SIM-VHR-1")
        '20140502T021309_sim-vhr-1.tif'
    """
    return f"{acquired:%Y%m%dT%H%M%S}_{safe_id(sensor).lower()}.tif"


def simulate_archive(
    facility: Facility,
    out_dir: Path,
    params: SimulationParams = SimulationParams(),  # noqa: B008 (frozen, immutable)
    progress: Callable[[int, int], None] | None = None,
    *,
    overwrite: bool = False,
    workers: int = 1,
    pool: Executor | None = None,
    written: Callable[[SimulatedCapture], None] | None = None,
) -> SimulatedArchive:
    """Write a simulated capture archive of ``facility`` into ``out_dir``.

    Args:
        facility: the facility; its zones lay the scene out.
        out_dir: directory for the GeoTIFFs and ``truth.json`` (created if missing).
        params: what to simulate.
        progress: called with (captures done, captures total) after each capture.
        overwrite: replace an existing archive's files; without it an existing
            ``truth.json`` or capture file is an error.
        workers: render the captures in this many processes (same bytes as one).
        pool: render them in this process pool instead (the caller's, shared with other
            work: the demo ingests each capture there as soon as it is written).
        written: called with each capture once its file is written (in this process).

    Raises:
        SimulationError: bad parameters, or files that would be overwritten.

    Example:
        >>> from facilities.load import load_facility_by_id
        >>> import tempfile
        >>> fac = load_facility_by_id("kangdong-kyohwaso-4")
        >>> arc = simulate_archive(fac, Path(tempfile.mkdtemp()),
        ...                        SimulationParams(captures=3, size_m=200.0, vhr_gsd_m=2.0))
        >>> len(arc.captures), arc.crs
        (3, 'EPSG:32652')
    """
    out_dir = Path(out_dir)
    scene = plan_scene(facility, params)
    plans = plan_captures(params, scene.lon, scene.lat)
    dated = date_events(scene.events, plans, params.seed)
    names = [capture_filename(p.acquired, p.sensor) for p in plans]
    truth_path = out_dir / TRUTH_FILE
    if not overwrite:
        for existing in [truth_path, *(out_dir / n for n in names)]:
            if existing.exists():
                raise SimulationError(
                    f"{existing} already exists: pass overwrite=True to replace the archive"
                )
    out_dir.mkdir(parents=True, exist_ok=True)
    log.info(
        "simulating %d captures of %s (%d x %d px at %.2f m) into %s",
        len(plans),
        facility.id,
        scene.grid.width,
        scene.grid.height,
        scene.grid.resolution,
        out_dir,
    )
    if pool is not None or (workers > 1 and len(plans) > 1):
        # "spawn": fresh interpreters; each plans the same scene from the seed (once per
        # process) and renders the captures it is given: the same bytes as one process writes
        done: dict[int, SimulatedCapture] = {}
        with contextlib.ExitStack() as stack:
            if pool is None:
                ctx = multiprocessing.get_context("spawn")
                pool = stack.enter_context(
                    ProcessPoolExecutor(min(workers, len(plans)), mp_context=ctx))
            futures = [pool.submit(_render_share, facility, out_dir, params, [i])
                       for i in range(len(plans))]
            for future in as_completed(futures):
                share = future.result()
                done.update(share)
                if written is not None:
                    for capture in share.values():
                        written(capture)
                if progress is not None:
                    progress(len(done), len(plans))
        captures = [done[i] for i in range(len(plans))]
    else:
        try:
            captures = list(
                _render_share(facility, out_dir, params, range(len(plans)), progress).values()
            )
        finally:
            _PREPARED.clear()  # the rasters are large: not kept past this archive
        if written is not None:
            for capture in captures:
                written(capture)
    events = _truth_events(scene, dated)
    archive = SimulatedArchive(out_dir, tuple(captures), events, scene.grid.crs, truth_path)
    _write_truth(archive, facility, scene, params)
    return archive


_PREPARED: dict[
    tuple[str, SimulationParams],
    tuple[Scene, tuple[CapturePlan, ...], list[tuple[Any, date]], SceneRasters],
] = {}
"""The scene, plans, dated events and static rasters of the archive a process is rendering
(a worker process renders several captures of one archive)."""


def _render_share(
    facility: Facility,
    out_dir: Path,
    params: SimulationParams,
    indices: Sequence[int],
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, SimulatedCapture]:
    """Render and write the captures at ``indices`` (of the plan, in order); by index."""
    key = (facility.id, params)
    if key not in _PREPARED:
        _PREPARED.clear()  # one archive at a time: the rasters are large
        scene = plan_scene(facility, params)
        plans = plan_captures(params, scene.lon, scene.lat)
        _PREPARED[key] = (scene, plans, date_events(scene.events, plans, params.seed),
                          prepare_rasters(scene))
    scene, plans, dated, rasters = _PREPARED[key]
    out: dict[int, SimulatedCapture] = {}
    labels: np.ndarray | None = None
    state: frozenset[str] | None = None
    work: dict[str, np.ndarray] = {}
    for i in indices:
        plan = plans[i]
        happened = frozenset(ev.key for ev, day in dated if day < plan.acquired.date())
        if labels is None or happened != state:
            labels, state = labels_for(scene, rasters, happened), happened
        name = capture_filename(plan.acquired, plan.sensor)
        out[i] = _write_capture(scene, rasters, plan, labels, happened, out_dir / name, work)
        log.debug("wrote %s (%s)", name, ", ".join(plan.nuisances))
        if progress is not None:
            progress(len(out), len(indices))
    return out


def _capture_window(scene: Scene, plan: CapturePlan) -> tuple[tuple[int, int, int, int], Affine]:
    """Render-grid window and the transform the capture claims (misregistered, off-grid)."""
    g = scene.grid
    if plan.sensor == SENSOR_S2:
        return (MARGIN_PX, MARGIN_PX, g.height, g.width), g.transform
    sx, sy = plan.shift_px
    col = round(MARGIN_PX - 1 - sx)
    row = round(MARGIN_PX - 1 - sy)
    res = g.resolution
    west = g.west - MARGIN_PX * res + (col + sx) * res
    north = g.north + MARGIN_PX * res - (row + sy) * res
    return (row, col, g.height + 2, g.width + 2), Affine(res, 0, west, 0, -res, north)


def _to_dn(refl: np.ndarray) -> np.ndarray:
    refl *= np.float32(10000.0)
    np.rint(refl, out=refl)
    np.clip(refl, 1, 65535, out=refl)
    return refl.astype(np.uint16)


def _write_capture(
    scene: Scene,
    rasters: SceneRasters,
    plan: CapturePlan,
    labels: np.ndarray,
    happened: frozenset[str],
    path: Path,
    work: dict[str, np.ndarray],
) -> SimulatedCapture:
    window, claimed = _capture_window(scene, plan)
    row, col, h, w = window
    refl = render_reflectance(scene, rasters, plan, labels, happened, work)[
        :, row : row + h, col : col + w
    ]
    true_transform = rasters.grid.transform @ Affine.translation(col, row)
    clouds = cloud_field(scene, plan)
    cloud_fraction = clouds.fraction if clouds is not None else 0.0
    crs = scene.grid.crs
    coverage = 1.0
    if plan.sensor == SENSOR_S2:
        factor = int(round(S2_GSD_M / scene.grid.resolution))
        dn = _to_dn(block_mean(refl, factor).astype(np.float32))
        transform = Affine(S2_GSD_M, 0, claimed.c, 0, -S2_GSD_M, claimed.f)
    else:
        dn = _to_dn(refl)
        mask, coverage = coverage_mask(plan, scene.grid, true_transform, (h, w))
        if coverage < 1.0:
            dn *= mask
        transform = claimed
    del refl
    if plan.geographic:
        dn, transform = _to_geographic(dn, transform, crs)
        crs = GEOGRAPHIC_CRS
    acquired = plan.acquired
    tags = {
        "TIFFTAG_DATETIME": f"{acquired:%Y:%m:%d %H:%M:%S}",
        "ACQUISITION_DATETIME": f"{acquired:%Y-%m-%dT%H:%M:%S}Z",
        "SENSOR": plan.sensor,
        "GSD_M": f"{plan.gsd_m:g}",
        "CREDIT": CREDIT,
        "SIMULATED": "true",
        "OFF_NADIR_DEG": f"{plan.off_nadir_deg:.1f}",
        "SUN_ELEVATION_DEG": f"{plan.sun_elevation_deg:.2f}",
        "SUN_AZIMUTH_DEG": f"{plan.sun_azimuth_deg:.2f}",
    }
    profile = dict(_PROFILE, **CODECS.get(plan.sensor, {}), width=dn.shape[2],
                   height=dn.shape[1], crs=crs, transform=transform)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn)
        for i, band in enumerate(BANDS, start=1):
            dst.set_band_description(i, band)
        # say what the DN mean, as a calibrated product does: reflectance = DN x 1e-4
        dst.scales = (1e-4,) * len(BANDS)
        dst.offsets = (0.0,) * len(BANDS)
        dst.update_tags(**tags)
    return SimulatedCapture(
        path=path,
        acquired=acquired,
        sensor=plan.sensor,
        gsd_m=plan.gsd_m,
        credit=CREDIT,
        nuisances=plan.nuisances,
        crs=crs,
        cloud_fraction=round(cloud_fraction, 4),
        coverage_fraction=round(coverage, 4),
        sun_elevation_deg=plan.sun_elevation_deg,
        sun_azimuth_deg=plan.sun_azimuth_deg,
        off_nadir_deg=plan.off_nadir_deg,
    )


def _to_geographic(dn: np.ndarray, transform: Affine, crs: str) -> tuple[np.ndarray, Affine]:
    """Reproject a UTM capture to EPSG:4326 as some vendors deliver it.

    Nearest neighbour keeps DNs and the nodata edge of partial strips clean (and is an
    order of magnitude faster than bilinear with a source nodata value).
    """
    _, h, w = dn.shape
    west, north = transform @ (0, 0)
    east, south = transform @ (w, h)
    to_geo = Transformer.from_crs(crs, GEOGRAPHIC_CRS, always_xy=True)
    lon0, lat0, lon1, lat1 = to_geo.transform_bounds(west, south, east, north, densify_pts=21)
    # square pixels in degrees, as fine as the source north-south
    res = abs(transform.e) / 111_320.0
    dst_w = int(math.ceil((lon1 - lon0) / res))
    dst_h = int(math.ceil((lat1 - lat0) / res))
    dst_transform = Affine(res, 0.0, lon0, 0.0, -res, lat1)
    out = np.zeros((dn.shape[0], dst_h, dst_w), dtype=np.uint16)
    reproject(
        dn,
        out,
        src_transform=transform,
        src_crs=crs,
        src_nodata=0,
        dst_transform=dst_transform,
        dst_crs=GEOGRAPHIC_CRS,
        dst_nodata=0,
        resampling=Resampling.nearest,
    )
    return out, dst_transform


def _truth_events(scene: Scene, dated: list[tuple[Any, date]]) -> tuple[TruthEvent, ...]:
    kept = sorted(
        ((ev, day) for ev, day in dated if ev.key in scene.observable), key=lambda item: item[1]
    )
    return tuple(
        TruthEvent(
            event_id=f"E{n:02d}",
            kind=ev.kind,
            zone_id=ev.zone.id,
            zone_type=ev.zone.zone_type,
            date=day,
            geometry=ev.geometry,
            area_m2=round(float(ev.geometry.area), 2),
        )
        for n, (ev, day) in enumerate(kept, start=1)
    )


def _write_truth(
    archive: SimulatedArchive, facility: Facility, scene: Scene, params: SimulationParams
) -> None:
    g = scene.grid
    doc = {
        "note": SIMULATED_NOTE,
        "simulated": True,
        "version": TRUTH_VERSION,
        "facility_id": facility.id,
        "seed": params.seed,
        "params": asdict(params),
        "crs": archive.crs,
        "scene": {
            "bounds": list(g.bounds),
            "vhr_gsd_m": g.resolution,
            "width": g.width,
            "height": g.height,
        },
        "minimum_event_area_m2": min((e.area_m2 for e in archive.events), default=None),
        "captures": [
            dict(
                asdict(c),
                path=c.path.name,
                acquired=c.acquired.isoformat().replace("+00:00", "Z"),
                nuisances=list(c.nuisances),
            )
            for c in archive.captures
        ],
        "events": [
            dict(
                asdict(e),
                date=e.date.isoformat(),
                geometry=shapely.to_wkt(e.geometry, rounding_precision=-1),
            )
            for e in archive.events
        ],
    }
    tmp = archive.truth_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(archive.truth_path)


def read_truth(path: Path) -> SimulatedArchive:
    """Read a ``truth.json`` back into a :class:`SimulatedArchive`.

    Capture paths are resolved next to the truth file, so an archive can be moved.

    Raises:
        SimulationError: naming the file and the field that is missing or bad.

    Example:
        >>> from facilities.load import load_facility_by_id
        >>> import tempfile
        >>> fac = load_facility_by_id("kangdong-kyohwaso-4")
        >>> arc = simulate_archive(fac, Path(tempfile.mkdtemp()),
        ...                        SimulationParams(captures=2, size_m=100.0, vhr_gsd_m=2.0))
        >>> read_truth(arc.truth_path) == arc
        True
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SimulationError(f"{path}: cannot read the truth file: {exc}") from exc
    field = "-"
    try:
        field = "captures"
        captures = tuple(
            SimulatedCapture(
                **dict(
                    c,
                    path=path.parent / c["path"],
                    acquired=datetime.fromisoformat(c["acquired"]),
                    nuisances=tuple(c["nuisances"]),
                )
            )
            for c in doc["captures"]
        )
        field = "events"
        events = tuple(
            TruthEvent(
                **dict(
                    e, date=date.fromisoformat(e["date"]), geometry=shapely.from_wkt(e["geometry"])
                )
            )
            for e in doc["events"]
        )
        field = "crs"
        crs = str(doc["crs"])
    except (KeyError, TypeError, ValueError, shapely.errors.ShapelyError) as exc:
        raise SimulationError(f"{path}: field '{field}': {exc!r}") from exc
    return SimulatedArchive(path.parent, captures, events, crs, path)


def truth_params(path: Path) -> SimulationParams:
    """The parameters recorded in a ``truth.json``."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return replace(SimulationParams(), **doc["params"])
