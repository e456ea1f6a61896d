"""A static before/after map viewer: a web page that works offline, from disk or any server.

The page (``index.html``) shows lossless WebP tiles (WebMercatorQuad XYZ) of every capture in
true colour, zone, change and event overlays, a swipe between a "before" and an
"after" capture picked on a timeline, and a popup per change with its type, area,
bracket dates and review status. Leaflet is vendored in ``pipeline/viewer/static/leaflet``
and copied into the output; overlays and metadata are a ``data.js`` script (not JSON
fetched at run time) so the page also works from ``file://``. Nothing is loaded from
the internet.

Output layout::

    index.html               the page
    data.js                  captures, tile ranges, overlays (GeoJSON, WGS 84)
    viewer.json              manifest: campwatch version, captures, stretch, tile counts
    lib/leaflet/...          vendored Leaflet 1.9.4 (with its LICENSE)
    lib/campwatch/...        the page's own script and style
    tiles/<capture>/{z}/{x}/{y}.webp
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from rasterio.errors import RasterioIOError
from shapely.geometry import MultiPolygon, Polygon, mapping

from imagery.capture import safe_id
from pipeline.errors import OutputExistsError, ViewerError
from pipeline.viewer.tiles import (
    STRETCH_PERCENTILES,
    TILE_EXT,
    Stretch,
    TilePyramid,
    count_tiles,
    gsd_zoom,
    percentile_stretch,
    preview_rgb,
    write_tiles,
    zoom_range,
)

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
"""Package data: vendored Leaflet and the viewer's own script, style and page template."""

LAYERS: tuple[str, ...] = ("zones", "changes", "events")
"""Overlay layers a :class:`ViewerFeature` can belong to."""

MANIFEST = "viewer.json"
"""File marking a directory as a campwatch viewer (only such a directory is replaced)."""

COORD_DECIMALS = 7
"""Decimal places of WGS 84 degrees kept in overlays (about 1 cm)."""

TILE_WORKERS = max(1, min(2, os.cpu_count() or 1))
"""Processes that tile captures side by side (each capture is independent)."""

PARALLEL_MIN_TILES = 400
"""Fewer tiles than this are written in this process: starting workers would cost more."""

Progress = Callable[[int, int], None]
"""Called with (tiles written, tiles in total)."""

PropertyValue = str | float | int | bool | None


@dataclass(frozen=True)
class ViewerCapture:
    """A capture to show: a reflectance raster on the facility grid."""

    capture_id: str
    """Catalogue id; also names the capture's tile directory (made file-name safe)."""
    acquired: datetime
    """Acquisition time (UTC)."""
    sensor: str
    """Sensor or satellite, shown on the timeline."""
    gsd_m: float
    """Ground sample distance of the source, metres."""
    raster: Path
    """Float32 reflectance GeoTIFF on the facility grid: bands blue, green, red, nir; NaN nodata."""
    simulated: bool = False
    """True for simulated imagery: the page then carries a "SIMULATED IMAGERY" banner."""


@dataclass(frozen=True)
class ViewerFeature:
    """An overlay polygon."""

    geometry: Polygon | MultiPolygon
    """Outline in the facility grid CRS."""
    layer: str
    """One of :data:`LAYERS`: "zones", "changes" or "events"."""
    properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    """Shown in the popup. Changes and events carry change_type, area_m2, before_date,
    after_date, review_status and label; zones carry zone_id, zone_type and name."""


def _check_inputs(
    crs: str, captures: Sequence[ViewerCapture], features: Sequence[ViewerFeature]
) -> dict[str, str]:
    """Validate the inputs; return capture id -> tile directory name."""
    if not captures:
        raise ViewerError("no captures to show: the viewer needs at least one capture raster")
    dirs: dict[str, str] = {}
    seen: dict[str, str] = {}
    for cap in captures:
        if cap.capture_id in dirs:
            raise ViewerError(f"capture_id {cap.capture_id!r} appears twice in the captures")
        name = safe_id(cap.capture_id) or "capture"
        if name in seen:
            raise ViewerError(
                f"capture ids {seen[name]!r} and {cap.capture_id!r} map to the same tile "
                f"directory {name!r}"
            )
        seen[name] = cap.capture_id
        dirs[cap.capture_id] = name
        if cap.acquired.tzinfo is None:
            raise ViewerError(
                f"capture {cap.capture_id!r}: acquired {cap.acquired.isoformat()} has no time zone"
            )
    for i, feat in enumerate(features):
        if feat.layer not in LAYERS:
            raise ViewerError(
                f"feature {i}: layer {feat.layer!r} is not one of {', '.join(LAYERS)}"
            )
        if not isinstance(feat.geometry, Polygon | MultiPolygon):
            raise ViewerError(
                f"feature {i} ({feat.layer}): geometry {feat.geometry.geom_type} is not a polygon"
            )
    try:
        CRS.from_user_input(crs)
    except CRSError as exc:  # keep the value in the message
        raise ViewerError(f"crs {crs!r} is not a coordinate reference system: {exc}") from exc
    return dirs


def _clean_value(value: PropertyValue) -> PropertyValue:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _overlays(crs: str, features: Sequence[ViewerFeature]) -> dict[str, dict[str, Any]]:
    """GeoJSON FeatureCollections in WGS 84, one per layer."""
    tr = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)

    def to_lonlat(xy: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), COORD_DECIMALS)

    layers: dict[str, dict[str, Any]] = {
        name: {"type": "FeatureCollection", "features": []} for name in LAYERS
    }
    for i, feat in enumerate(features):
        geom = shapely.transform(feat.geometry, to_lonlat)
        gj = mapping(geom)
        props = {str(k): _clean_value(v) for k, v in feat.properties.items()}
        layers[feat.layer]["features"].append(
            {
                "type": "Feature",
                "id": i,
                "geometry": {"type": gj["type"], "coordinates": gj["coordinates"]},
                "properties": props,
            }
        )
    return layers


def _open_raster(cap: ViewerCapture, crs: str) -> Any:
    try:
        ds = rasterio.open(cap.raster)
    except RasterioIOError as exc:
        raise ViewerError(
            f"capture {cap.capture_id!r}: cannot open raster {cap.raster}: {exc}"
        ) from exc
    if ds.crs is None or CRS.from_user_input(ds.crs.to_wkt()) != CRS.from_user_input(crs):
        ds.close()
        raise ViewerError(
            f"capture {cap.capture_id!r}: raster {cap.raster} is in "
            f"{ds.crs.to_string() if ds.crs else 'no CRS'}, not the facility grid CRS {crs}"
        )
    return ds


def _version() -> str:
    try:
        return metadata.version("campwatch")
    except metadata.PackageNotFoundError:
        return "unknown"


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to replace anything but nothing, an empty directory or an earlier viewer."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir}: exists and is not a directory; not replacing it")
    if any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise OutputExistsError(
            f"{out_dir}: exists, is not empty and has no {MANIFEST}: it is not a campwatch "
            "viewer, so it is not replaced"
        )


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    _check_replaceable(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def _stage(
    out_dir: Path, crs: str, captures: Sequence[ViewerCapture],
    features: Sequence[ViewerFeature], min_zoom: int | None, max_zoom: int | None,
) -> tuple[dict[str, str], tuple[ViewerCapture, ...], Path, Path]:
    """Check the inputs and the zoom range, and make the empty temporary sibling of
    ``out_dir`` the viewer is built in: (tile directory by capture id, captures by date,
    out_dir, temporary directory)."""
    dirs = _check_inputs(crs, captures, features)
    if min_zoom is not None and max_zoom is not None and min_zoom > max_zoom:
        raise ViewerError(f"min_zoom {min_zoom} is above max_zoom {max_zoom}")
    for name, z in (("min_zoom", min_zoom), ("max_zoom", max_zoom)):
        if z is not None and not 0 <= z <= 24:
            raise ViewerError(f"{name} {z} is outside 0..24")
    ordered = tuple(sorted(captures, key=lambda c: (c.acquired, c.capture_id)))
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return dirs, ordered, out_dir, tmp


def build_viewer(
    out_dir: Path,
    facility_name: str,
    crs: str,
    captures: Sequence[ViewerCapture],
    features: Sequence[ViewerFeature],
    *,
    min_zoom: int | None = None,
    max_zoom: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the before/after viewer into ``out_dir`` and return its ``index.html``.

    The page is built in a temporary sibling directory and then moved into place; an
    existing ``out_dir`` is replaced only when it is empty or an earlier viewer (it holds
    ``viewer.json``). Callers decide about ``--overwrite`` before calling.

    Args:
        out_dir: Output directory (created; its parent must be writable).
        facility_name: Shown in the title.
        crs: The facility grid CRS every raster and feature geometry is in.
        captures: Captures to tile, any order (the timeline sorts them by date).
        features: Zone, change and event polygons in ``crs``.
        min_zoom: Lowest zoom to render; default rio-tiler's minzoom of each raster.
        max_zoom: Highest zoom to render; default the native zoom of each raster, or
            the zoom matching the capture's GSD when that is coarser (the page enlarges
            the coarser tiles).
        progress: Called with (tiles written, tiles in total) after each tile.

    Raises:
        ViewerError: bad inputs (naming the capture, file, field and value).
        OutputExistsError: ``out_dir`` exists and is not a campwatch viewer.

    Example:
        >>> # build_viewer(ws.dir / "viewer", "Kyo-hwa-so No. 4", grid.crs,
        >>> #              [ViewerCapture("c1", t1, "WorldView-2", 0.5, Path("c1.tif"))], [])
    """
    dirs, ordered, out_dir, tmp = _stage(out_dir, crs, captures, features, min_zoom, max_zoom)
    try:
        cap_records = _render_captures(tmp, crs, ordered, dirs, min_zoom, max_zoom, progress)
        _write_page(tmp, facility_name, crs, ordered, cap_records, features)
        _replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    log.info("viewer written to %s (%d captures)", out_dir, len(ordered))
    return out_dir / "index.html"


def _tile_capture(
    cap: ViewerCapture, crs: str, out: Path, stretch: Stretch, zooms: range,
    progress: Callable[[int], None] | None = None,
) -> TilePyramid:
    with _open_raster(cap, crs) as ds:
        return write_tiles(ds, out, stretch, zooms, progress=progress)


def _submit_tiling(pool: Executor, cap: ViewerCapture, crs: str, root: Path,
                   dirs: Mapping[str, str], stretch: Stretch, zooms: range
                   ) -> Future[TilePyramid]:
    """Queue one capture's tiles in ``pool``, written under ``root``/tiles/<its directory>."""
    return pool.submit(_tile_capture, cap, crs, root / "tiles" / dirs[cap.capture_id],
                       stretch, zooms)


def _tile_all(
    root: Path,
    crs: str,
    plans: Sequence[tuple[ViewerCapture, range]],
    dirs: Mapping[str, str],
    stretch: Stretch,
    total: int,
    progress: Progress | None,
) -> list[TilePyramid]:
    """Every capture's tiles, in ``plans`` order: in :data:`TILE_WORKERS` processes when
    there are at least :data:`PARALLEL_MIN_TILES` (each capture is independent; the files
    are the same), else in this process with progress after every tile."""
    workers = min(TILE_WORKERS, len(plans))
    if workers > 1 and total >= PARALLEL_MIN_TILES:
        # "spawn": fresh interpreters, never forks of a process holding GDAL threads
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = [_submit_tiling(pool, cap, crs, root, dirs, stretch, zooms)
                       for cap, zooms in plans]
            done = 0
            for future in as_completed(futures):
                done += future.result().count
                if progress is not None:
                    progress(done, total)
            return [f.result() for f in futures]
    pyramids: list[TilePyramid] = []
    done = 0
    for cap, zooms in plans:

        def step(n: int, base: int = done) -> None:
            if progress is not None:
                progress(base + n, total)

        pyramid = _tile_capture(cap, crs, root / "tiles" / dirs[cap.capture_id], stretch,
                                zooms, step)
        done += pyramid.count
        pyramids.append(pyramid)
    return pyramids


def _plan_captures(
    crs: str,
    ordered: Sequence[ViewerCapture],
    min_zoom: int | None,
    max_zoom: int | None,
) -> tuple[list[tuple[ViewerCapture, range]], Stretch, int]:
    """Each capture's zooms, the stretch shared by all of them, and the tiles in total."""
    plans: list[tuple[ViewerCapture, range]] = []
    previews = []
    total = 0
    for cap in ordered:
        with _open_raster(cap, crs) as ds:
            try:
                previews.append(preview_rgb(ds))
            except ViewerError as exc:
                raise ViewerError(f"capture {cap.capture_id!r}: {exc}") from exc
            zmin, zmax = zoom_range(ds)
            lo = zmin if min_zoom is None else min_zoom
            # a 10 m capture stored on a 1 m grid is not tiled at 1 m: the page enlarges it
            hi = min(zmax, gsd_zoom(cap.gsd_m, ds)) if max_zoom is None else max_zoom
            zooms = range(min(lo, hi), hi + 1)
            plans.append((cap, zooms))
            total += count_tiles(ds, zooms)
    return plans, percentile_stretch(previews), total


def _render_captures(
    root: Path,
    crs: str,
    ordered: Sequence[ViewerCapture],
    dirs: Mapping[str, str],
    min_zoom: int | None,
    max_zoom: int | None,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Tile every capture into ``root/tiles``; return the page's capture records."""
    plans, stretch, total = _plan_captures(crs, ordered, min_zoom, max_zoom)
    pyramids = _tile_all(root, crs, plans, dirs, stretch, total, progress)
    return _capture_records(plans, pyramids, dirs, stretch)


def _capture_records(
    plans: Sequence[tuple[ViewerCapture, range]],
    pyramids: Sequence[TilePyramid],
    dirs: Mapping[str, str],
    stretch: Stretch,
) -> list[dict[str, Any]]:
    """The page's record of every tiled capture."""
    records: list[dict[str, Any]] = []
    for (cap, zooms), pyramid in zip(plans, pyramids, strict=True):
        w, s, e, n = pyramid.bounds_lonlat
        records.append(
            {
                "id": cap.capture_id,
                "acquired": cap.acquired.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "date": cap.acquired.astimezone(UTC).date().isoformat(),
                "sensor": cap.sensor,
                "gsd_m": cap.gsd_m,
                "simulated": cap.simulated,
                "tiles": f"tiles/{dirs[cap.capture_id]}/{{z}}/{{x}}/{{y}}.{TILE_EXT}",
                "zooms": {str(z): list(r) for z, r in pyramid.zoom_ranges.items()},
                "min_zoom": min(pyramid.zoom_ranges, default=zooms.start),
                "max_zoom": max(pyramid.zoom_ranges, default=zooms.stop - 1),
                "bounds": [[s, w], [n, e]],
                "stretch": {"low": list(stretch.low), "high": list(stretch.high)},
                "tile_count": pyramid.count,
            }
        )
    return records


def _write_page(
    root: Path,
    facility_name: str,
    crs: str,
    ordered: Sequence[ViewerCapture],
    cap_records: list[dict[str, Any]],
    features: Sequence[ViewerFeature],
) -> None:
    """Copy the static files and write data.js, viewer.json and index.html."""
    lib = root / "lib"
    shutil.copytree(STATIC_DIR / "leaflet", lib / "leaflet")
    (lib / "campwatch").mkdir(parents=True)
    for name in ("viewer.js", "viewer.css"):
        shutil.copy2(STATIC_DIR / "viewer" / name, lib / "campwatch" / name)
    simulated = any(c.simulated for c in ordered)
    data = {
        "facility": facility_name,
        "crs": crs,
        "campwatch_version": _version(),
        "simulated": simulated,
        "stretch_percentiles": list(STRETCH_PERCENTILES),
        "captures": cap_records,
        "layers": _overlays(crs, features),
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # JSON is valid JavaScript; escape "</" so no string can close a script element
    (root / "data.js").write_text(
        "window.CAMPWATCH_VIEWER = " + text.replace("</", "<\\/") + ";\n", encoding="utf-8"
    )
    manifest = {
        "facility": facility_name,
        "crs": crs,
        "campwatch_version": _version(),
        "simulated": simulated,
        "captures": [
            {
                k: r[k]
                for k in (
                    "id",
                    "acquired",
                    "sensor",
                    "gsd_m",
                    "simulated",
                    "stretch",
                    "min_zoom",
                    "max_zoom",
                    "tile_count",
                )
            }
            for r in cap_records
        ],
        "features": {name: len(data["layers"][name]["features"]) for name in LAYERS},  # type: ignore[index]
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(STATIC_DIR / "viewer"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("index.html.j2").render(
        facility=facility_name, simulated=simulated, capture_count=len(ordered)
    )
    (root / "index.html").write_text(html, encoding="utf-8")
