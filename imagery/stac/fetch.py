"""Fetch captures of a facility from a STAC provider into its workspace.

For each item the search returns and the catalogue does not hold yet: check its
footprint against the AOI, read only the facility window of its assets onto
the facility grid, convert to reflectance, build the clear-sky mask, measure
clear fractions in the AOI and each zone, write raster and mask (atomic COGs),
then add the capture with its full provenance in ONE catalogue transaction.
A capture that fails leaves nothing behind (its files are removed) and its
reason goes into the report; a capture below the clear threshold is kept,
``usable=False``, with its reason.

GDAL options are the caller's: wrap the call in ``rasterio.Env(**gdal_env_options())``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import rasterio
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from facilities.grid import FacilityGrid, to_grid_crs
from facilities.model import Facility
from imagery import __version__ as campwatch_version
from imagery.capture import BANDS, Capture, safe_id
from imagery.catalogue import Catalogue, open_catalogue
from imagery.errors import ImageryError
from imagery.quality import DEFAULT_MIN_CLEAR, assess_quality, region_masks
from imagery.stac.bands import BandMap
from imagery.stac.item import CandidateItem
from imagery.stac.providers import ImageryProvider
from imagery.stac.read import ItemPixels
from imagery.store import write_grid_raster
from imagery.workspace import FacilityWorkspace, workspace_grid

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""Called as ``progress(done, total, message)`` after each item."""


@dataclass(frozen=True)
class ItemOutcome:
    """What happened to one item."""

    item_id: str
    """STAC item id."""
    capture_id: str
    """Capture id it was (or would have been) catalogued under."""
    status: str
    """"added", "exists" (already catalogued), "skipped" or "failed"."""
    reason: str = ""
    """Why it was skipped or failed, or why an added capture is not usable."""
    clear_fraction: float | None = None
    """AOI clear fraction of an added capture."""
    usable: bool | None = None
    """Whether an added capture is usable for detection."""
    seconds: float = 0.0
    """Wall time spent on the item."""


@dataclass(frozen=True)
class FetchReport:
    """What a fetch did, item by item."""

    provider: str
    """Provider name."""
    collection: str
    """STAC collection id."""
    found: int
    """Items the search returned (after client-side filtering and de-duplication)."""
    outcomes: tuple[ItemOutcome, ...] = ()
    """One outcome per item, oldest first."""
    duplicates: int = 0
    """Items the server returned more than once (kept once)."""
    filtered: tuple[tuple[str, str], ...] = field(default=())
    """(item id, reason) of items the search dropped on the client."""
    seconds: float = 0.0
    """Wall time of the whole fetch."""

    def by_status(self, status: str) -> list[ItemOutcome]:
        """Outcomes with ``status``."""
        return [o for o in self.outcomes if o.status == status]

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return not self.by_status("failed")


def capture_id_for(item: CandidateItem) -> str:
    """The capture id of a STAC item: provider, collection and item id, file-name safe.

    Example:
        >>> # capture_id_for(item) -> 'earth-search_sentinel-2-l2a_S2A_52SDG_20240101_0_L2A'
    """
    return safe_id(f"{item.provider}_{item.collection}_{item.item_id}")


def _sensor(item: CandidateItem, family: str) -> str:
    platform = str(item.properties.get("platform") or "").strip()
    if not platform:
        return "Sentinel-2" if family == "sentinel-2" else "Landsat"
    name, _, rest = platform.replace("_", "-").partition("-")
    return f"{name.capitalize()}-{rest.upper()}" if rest else name.capitalize()


def _credit(item: CandidateItem, family: str, sensor: str) -> str:
    year = item.acquired.year
    if family == "sentinel-2":
        return f"Contains modified Copernicus Sentinel data {year}"
    return f"{sensor} image {year} courtesy of the U.S. Geological Survey"


def _gsd(item: CandidateItem, bands: BandMap) -> float:
    gsd = item.properties.get("gsd")
    if isinstance(gsd, int | float):
        return float(gsd)
    asset = item.assets.get(bands.reflectance[0], {})
    if isinstance(asset.get("gsd"), int | float):
        return float(asset["gsd"])
    rb = asset.get("raster:bands") or [{}]
    if isinstance(rb[0].get("spatial_resolution"), int | float):
        return float(rb[0]["spatial_resolution"])
    transform = asset.get("proj:transform") or item.properties.get("proj:transform")
    if isinstance(transform, list) and transform:
        return abs(float(transform[0]))
    raise ImageryError(
        f"{item.provider} {item.collection}/{item.item_id}: no 'gsd' on the item or asset "
        f"{bands.reflectance[0]!r}"
    )


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _sun_elevation(item: CandidateItem) -> float | None:
    elev = _float(item.properties.get("view:sun_elevation"))
    if elev is None:
        zenith = _float(item.properties.get("s2:mean_solar_zenith"))
        elev = None if zenith is None else round(90.0 - zenith, 6)
    return elev


def _footprint(item: CandidateItem, grid: FacilityGrid) -> Polygon:
    """The item's footprint inside the grid extent, in the grid CRS (one polygon)."""
    geom: BaseGeometry = item.footprint
    if geom.geom_type == "MultiPolygon" or geom.geom_type == "Polygon":
        parts = getattr(geom, "geoms", [geom])
        projected = shapely.union_all([to_grid_crs(p, grid.crs) for p in parts])
    else:
        projected = to_grid_crs(geom, grid.crs)  # type: ignore[arg-type]
    clipped = projected.intersection(grid.polygon())
    if isinstance(clipped, Polygon) and not clipped.is_empty:
        return clipped
    hull = clipped.convex_hull
    return hull if isinstance(hull, Polygon) else grid.polygon()


def _remove(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def fetch_captures(
    facility: Facility,
    provider: ImageryProvider,
    collection: str,
    start: date,
    end: date,
    workspace: FacilityWorkspace,
    *,
    resolution: float | None = None,
    max_cloud: float | None = None,
    min_clear: float = DEFAULT_MIN_CLEAR,
    progress: Progress | None = None,
) -> FetchReport:
    """Search ``provider`` and catalogue every new item of ``collection`` over the facility.

    Args:
        facility: the facility (AOI and zones).
        provider: where to search and read (e.g. :func:`imagery.stac.providers.make_provider`).
        collection: STAC collection id.
        start, end: inclusive acquisition dates.
        workspace: the facility's workspace (catalogue, captures, masks, cache).
        resolution: grid resolution in metres; None uses the workspace's recorded grid.
        max_cloud: skip items whose scene ``eo:cloud_cover`` exceeds this (percent).
        min_clear: AOI clear fraction below which a capture is catalogued not usable.
        progress: called after each item.

    Raises:
        ProviderError: the search failed (per-item read failures go into the report).

    Example:
        >>> # with rasterio.Env(**gdal_env_options()):
        >>> #     report = fetch_captures(facility, make_provider("earth-search"),
        >>> #                             "sentinel-2-l2a", date(2024, 1, 1), date(2024, 6, 30),
        >>> #                             FacilityWorkspace(Path("ws"), facility.id),
        >>> #                             resolution=10.0)
    """
    t_start = time.perf_counter()
    grid = workspace_grid(workspace, facility, resolution)
    items = provider.search(facility, start, end, collection, max_cloud)
    last = getattr(provider, "last_search", None)
    regions = region_masks(facility, grid)
    aoi_grid = to_grid_crs(facility.aoi, grid.crs)
    outcomes: list[ItemOutcome] = []
    with open_catalogue(workspace.catalogue_path, grid.crs) as cat:
        for n, item in enumerate(items, start=1):
            t0 = time.perf_counter()
            cid = capture_id_for(item)
            if cat.get_capture(cid) is not None:
                outcome = ItemOutcome(item.item_id, cid, "exists", "already in the catalogue")
            else:
                outcome = _fetch_one(
                    item, cid, provider, grid, regions, aoi_grid, workspace, cat, min_clear
                )
            outcome = ItemOutcome(**{**outcome.__dict__, "seconds": time.perf_counter() - t0})
            outcomes.append(outcome)
            log.info("%s: %s %s", cid, outcome.status, outcome.reason)
            if progress:
                progress(n, len(items), f"{cid}: {outcome.status}")
    return FetchReport(
        provider=getattr(provider, "name", type(provider).__name__),
        collection=collection,
        found=len(items),
        outcomes=tuple(outcomes),
        duplicates=getattr(last, "duplicates", 0),
        filtered=tuple(getattr(last, "filtered", ())),
        seconds=time.perf_counter() - t_start,
    )


def _fetch_one(
    item: CandidateItem,
    cid: str,
    provider: ImageryProvider,
    grid: FacilityGrid,
    regions: dict[str, np.ndarray],
    aoi_grid: Polygon,
    workspace: FacilityWorkspace,
    cat: Catalogue,
    min_clear: float,
) -> ItemOutcome:
    try:
        footprint = _footprint(item, grid)
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        return ItemOutcome(item.item_id, cid, "skipped", f"footprint unusable: {exc}")
    if not footprint.intersects(aoi_grid):
        return ItemOutcome(item.item_id, cid, "skipped", "item footprint misses the AOI")
    try:
        pixels: ItemPixels = provider.read(item, grid)
    except ImageryError as exc:
        return ItemOutcome(item.item_id, cid, "failed", str(exc))
    if not (pixels.valid & regions["aoi"]).any():
        return ItemOutcome(item.item_id, cid, "skipped", "no valid pixels inside the AOI")
    quality = assess_quality(pixels.clear, regions, min_clear=min_clear)
    bands = pixels.bands
    sensor = _sensor(item, bands.family)
    raster_path = workspace.captures_dir / f"{cid}.tif"
    mask_path = workspace.masks_dir / f"{cid}.tif"
    radiometry = "; ".join(f"{b}: {r.rule}" for b, r in zip(BANDS, pixels.radiometry, strict=True))
    try:
        raster_sha = write_grid_raster(
            raster_path,
            pixels.reflectance,
            grid,
            nodata=float("nan"),
            band_names=BANDS,
            tags={
                "CAPTURE_ID": cid,
                "RADIOMETRY": radiometry,
                "STAC_ITEM": item.self_href,
                "UNITS": "surface reflectance",
            },
        )
        mask_sha = write_grid_raster(
            mask_path,
            pixels.clear.astype(np.uint8)[None],
            grid,
            nodata=None,
            band_names=("clear",),
            tags={"CAPTURE_ID": cid, "VALUES": "1 = clear, 0 = not clear or no data"},
        )
        capture = Capture(
            capture_id=cid,
            facility_id=workspace.facility_id,
            acquired=item.acquired,
            sensor=sensor,
            gsd_m=_gsd(item, bands),
            footprint=footprint,
            provider=item.provider,
            source_path=item.self_href or f"{item.collection}/{item.item_id}",
            source_sha256="",
            credit=_credit(item, bands.family, sensor),
            platform=str(item.properties.get("platform") or "") or None,
            collection=item.collection,
            item_id=item.item_id,
            processing_baseline=(
                str(item.properties["s2:processing_baseline"])
                if item.properties.get("s2:processing_baseline") is not None
                else None
            ),
            off_nadir_deg=_float(item.properties.get("view:off_nadir")),
            sun_elevation_deg=_sun_elevation(item),
            asset_hrefs=pixels.hrefs,
            raster_path=workspace.relative(raster_path),
            raster_sha256=raster_sha,
            mask_path=workspace.relative(mask_path),
            mask_sha256=mask_sha,
            clear_fraction=quality.clear_fraction,
            zone_clear=dict(quality.zone_clear),
            usable=quality.usable,
            reason=quality.reason,
            fetched_at=datetime.now(UTC),
            campwatch_version=campwatch_version,
            gdal_version=rasterio.__gdal_version__,
        )
        added = cat.add_capture(capture)
    except BaseException as exc:
        _remove(raster_path, mask_path)
        if isinstance(exc, ImageryError | OSError | rasterio.errors.RasterioError):
            return ItemOutcome(item.item_id, cid, "failed", f"cannot store the capture: {exc}")
        raise
    if not added:
        return ItemOutcome(item.item_id, cid, "exists", "already in the catalogue")
    return ItemOutcome(
        item.item_id, cid, "added", quality.reason, quality.clear_fraction, quality.usable
    )
