"""The capture record: one acquisition of a facility, with its provenance."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from shapely.geometry import Polygon

from imagery.types import MaskMethod

BANDS: tuple[str, ...] = ("blue", "green", "red", "nir")
"""Band order of every raster stored on a facility grid."""

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(text: str) -> str:
    """Make ``text`` usable as a file name (no path separators).

    Example:
        >>> safe_id("S2A/2020 01:02")
        'S2A_2020_01_02'
    """
    return _SAFE.sub("_", text).strip("_")


@dataclass(frozen=True)
class Capture:
    """One acquisition of a facility, as stored in the catalogue's ``captures`` layer."""

    capture_id: str
    """Unique within the facility and safe as a file name."""
    facility_id: str
    """The facility this capture was catalogued for."""
    acquired: datetime
    """Acquisition time, timezone-aware UTC."""
    sensor: str
    """Sensor or satellite, e.g. "WorldView-2", "Sentinel-2A"."""
    gsd_m: float
    """Ground sample distance of the source in metres."""
    footprint: Polygon
    """Footprint of valid source data, in the facility grid's CRS."""
    provider: str
    """Where it came from: "local", "simulated", "earth-search", "planetary-computer", "stac"."""
    source_path: str
    """Original file path or the item's self link."""
    source_sha256: str
    """SHA-256 of the original file ("" when the source is remote and read by window)."""
    credit: str = ""
    """Credit or licence line, e.g. "© 2015 DigitalGlobe"."""
    platform: str | None = None
    """Platform (STAC ``platform``), when known."""
    collection: str | None = None
    """STAC collection id, when from a STAC API."""
    item_id: str | None = None
    """STAC item id, when from a STAC API."""
    processing_baseline: str | None = None
    """Sentinel-2 processing baseline, e.g. "04.00"."""
    off_nadir_deg: float | None = None
    """Off-nadir (view) angle in degrees."""
    sun_elevation_deg: float | None = None
    """Sun elevation in degrees."""
    asset_hrefs: tuple[str, ...] = ()
    """Asset hrefs read (unsigned), in band order."""
    raster_path: str = ""
    """Stored raster on the facility grid, relative to the facility workspace."""
    raster_sha256: str = ""
    """SHA-256 of the stored raster."""
    mask_path: str = ""
    """Stored validity mask (uint8, 1 = clear) relative to the facility workspace."""
    mask_sha256: str = ""
    """SHA-256 of the stored mask."""
    clear_fraction: float | None = None
    """Fraction of AOI pixels that are clear (valid, not cloud/shadow/snow)."""
    zone_clear: dict[str, float] = field(default_factory=dict, compare=False)
    """Clear fraction per zone id."""
    usable: bool | None = None
    """Whether detection uses this capture (None until quality is assessed)."""
    reason: str = ""
    """Why the capture is not usable (empty when usable)."""
    fetched_at: datetime | None = None
    """When the capture was ingested or fetched (UTC)."""
    campwatch_version: str = ""
    """campwatch version that catalogued it."""
    gdal_version: str = ""
    """GDAL version that read it."""
    simulated: bool = False
    """True for captures from the simulated archive: never evidence."""
    vendor: str | None = None
    """Imagery vendor (Maxar, Airbus, Planet, ...) when known."""
    product_id: str | None = None
    """Vendor product or order id when known."""
    sidecar_path: str | None = None
    """The vendor metadata file the acquisition facts were read from."""
    sidecar_sha256: str | None = None
    """SHA-256 of that sidecar file."""
    radiometry: str = ""
    """How stored values were derived from the source (scale, offset, rule)."""
    mask_method: MaskMethod | None = None
    """How the clear-sky mask was made (None in catalogues written before it was recorded)."""
    mask_detail: str | None = None
    """The mask's recipe: model and version, bands, level, resolution, threshold; or why the
    brightness rules were used instead; or the analyst's mask file and its SHA-256."""
    cloud_threshold: float | None = None
    """P(cloud) + P(cloud shadow) at which the cloud model calls a pixel not clear (model only)."""
