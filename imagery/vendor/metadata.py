"""Acquisition metadata of a delivered raster: GeoTIFF tags, vendor sidecars, CLI overrides.

Where each value comes from, highest priority first:

1. the CLI overrides (``--date``, ``--sensor``, ``--credit``, ``--gsd``);
2. campwatch's own GeoTIFF tags (``ACQUISITION_DATETIME``, ``SENSOR``, ``GSD_M``, ``CREDIT``,
   ``OFF_NADIR_DEG``, ``SUN_ELEVATION_DEG``, ``SIMULATED``), written by the simulated archive;
3. the vendor sidecars beside the raster (:func:`find_sidecars`), in the order Maxar
   ``.IMD``/``.XML``, Airbus ``DIM_*.XML``, Planet JSON, Planet XML, Maxar README;
4. GDAL's ``IMAGERY`` metadata domain (acquisition time and satellite only), which covers
   vendor formats parsed by GDAL but not here.

``TIFFTAG_DATETIME`` is never taken as the acquisition time: TIFF defines it as the time the
file was written. It is quoted in the error when the acquisition time is missing.

Credit line, highest priority first: ``--credit``; the ``CREDIT`` tag; the vendor's own dated
copyright line in the delivery (Maxar README ``copyrightText``, DIMAP ``COPYRIGHT``); else a
line built from the vendor and the acquisition year, naming today's rights holder:
Maxar/DigitalGlobe "© YEAR Maxar Technologies"; Pléiades 1A/1B "© CNES YEAR, Distribution
Airbus DS"; Pléiades Neo and SPOT "© Airbus DS YEAR"; Planet "© YEAR Planet Labs PBC".
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import rasterio
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader

from imagery.errors import IngestError
from imagery.store import sha256_file
from imagery.vendor import airbus as sidecar_airbus
from imagery.vendor import maxar as sidecar_maxar
from imagery.vendor import planet as sidecar_planet
from imagery.vendor.common import (
    SidecarFields,
    dated_statement,
    load_xml,
    local,
    normalise_sensor,
    parse_float,
    parse_time,
    positive,
)
from imagery.vendor.find import find_sidecars

log = logging.getLogger(__name__)

__all__ = [
    "Overrides",
    "VendorMetadata",
    "date_from_name",
    "find_sidecars",
    "overrides_for",
    "overrides_from_cli",
    "read_vendor_metadata",
]

T = TypeVar("T")

_KIND_ORDER = (
    "maxar-imd",
    "maxar-xml",
    "dimap",
    "planet-json",
    "planet-xml",
    "maxar-readme",
    "planet-manifest",
)
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


@dataclass(frozen=True)
class Overrides:
    """Values given on the command line; each one wins over every file."""

    date: datetime | None = None
    """Acquisition time (``--date``), timezone-aware UTC."""
    sensor: str | None = None
    """Sensor (``--sensor``), normalised like the files' codes ("WV02" -> "WorldView-2")."""
    credit: str | None = None
    """Credit or licence line (``--credit``)."""
    gsd: float | None = None
    """Ground sample distance in metres (``--gsd``)."""


@dataclass(frozen=True)
class VendorMetadata:
    """The acquisition metadata of one delivered raster, with where it came from."""

    acquired: datetime | None
    """Acquisition (start) time, timezone-aware UTC."""
    sensor: str | None
    """Citable sensor name, e.g. "WorldView-2", "Pléiades Neo 4", "SkySat-C6"."""
    gsd_m: float | None
    """Ground sample distance of the acquisition in metres."""
    off_nadir_deg: float | None
    """Off-nadir (satellite view) angle in degrees."""
    sun_elevation_deg: float | None
    """Sun elevation in degrees."""
    credit: str | None
    """Credit or licence line (see the module docstring for the rule)."""
    vendor: str | None
    """"maxar", "airbus" or "planet"; None when only tags or overrides were used."""
    product_id: str | None
    """The vendor's id of the product or item (Maxar order product, DIMAP dataset, Planet item)."""
    sidecar_path: Path | None
    """The sidecar that gave the acquisition time (else the first one read), or None."""
    sidecar_sha256: str | None
    """SHA-256 of :attr:`sidecar_path`."""
    simulated: bool
    """True when the raster's ``SIMULATED`` tag says so: never evidence."""


def overrides_from_cli(
    date: str | None,
    sensor: str | None,
    credit: str | None,
    gsd: str | float | None,
) -> Overrides:
    """Build :class:`Overrides` from CLI strings; a bad value names its flag.

    ``--date`` takes ISO 8601: a date (midnight UTC) or a date-time; a time without a zone
    is taken as UTC.

    Raises:
        IngestError: e.g. ``--date '2019-13-01' is not an ISO 8601 date or date-time …``.

    Example:
        >>> overrides_from_cli("2018-10-01T02:26:04Z", "WV02", None, "0.5").sensor
        'WorldView-2'
    """
    when: datetime | None = None
    if date is not None:
        try:
            when = parse_time(date, where="--date")
        except IngestError:
            raise IngestError(
                f"--date {date!r} is not an ISO 8601 date or date-time "
                "(e.g. 2018-10-01 or 2018-10-01T02:26:04Z)"
            ) from None
    size: float | None = None
    if gsd is not None:
        try:
            size = float(gsd)
        except ValueError:
            raise IngestError(f"--gsd {gsd!r} is not a number of metres") from None
        if not size > 0 or size == float("inf"):
            raise IngestError(f"--gsd {gsd!r} is not a positive number of metres")
    if sensor is not None and not sensor.strip():
        raise IngestError("--sensor '' is empty")
    return Overrides(
        date=when,
        sensor=normalise_sensor(sensor) if sensor is not None else None,
        credit=" ".join(credit.split()) if credit is not None else None,
        gsd=size,
    )


_NAME_FORMATS = ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d%H%M%S", "%Y%m%d", "%Y-%m-%d")


def date_from_name(path: Path, pattern: str) -> datetime:
    r"""The acquisition date in a file's name: ``pattern`` is a regular expression whose
    group ``date`` (else its first group, else the whole match) holds the date, as
    ``YYYYMMDD``, ``YYYY-MM-DD``, ``YYYYMMDDTHHMMSS`` or ISO 8601; taken as UTC.

    Raises:
        IngestError: the pattern is not a regular expression, does not match the name, or
            what it matches is not a date; the message names the file, pattern and value.

    Example:
        >>> date_from_name(Path("bercy_20161130.tif"), r"_(\d{8})").isoformat()
        '2016-11-30T00:00:00+00:00'
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise IngestError(
            f"--date-from-name {pattern!r} is not a regular expression: {exc}"
        ) from None
    match = regex.search(path.name)
    if match is None:
        raise IngestError(f"{path}: name {path.name!r} does not match --date-from-name "
                          f"{pattern!r}")
    text = (match.group("date") if "date" in regex.groupindex
            else match.group(1) if regex.groups else match.group(0))
    for fmt in _NAME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        return parse_time(text, where=f"{path}: --date-from-name")
    except IngestError:
        raise IngestError(
            f"{path}: --date-from-name {pattern!r} matched {text!r}, which is not a date "
            "(YYYYMMDD, YYYY-MM-DD, YYYYMMDDTHHMMSS or ISO 8601)"
        ) from None


def overrides_for(path: Path, overrides: Overrides | None, pattern: str | None) -> Overrides:
    r"""The overrides of one file: ``overrides`` plus, with ``pattern``, its own date from its
    name (:func:`date_from_name`).

    Example:
        >>> overrides_for(Path("x_20170829.tif"), None, r"(\d{8})").date.year
        2017
    """
    base = overrides or Overrides()
    if pattern is None:
        return base
    return dataclasses.replace(base, date=date_from_name(path, pattern))


def _parse(path: Path) -> SidecarFields | None:
    """Parse one sidecar by content; None for files that carry no acquisition metadata."""
    suffix = path.suffix.lower()
    if suffix == ".imd":
        return sidecar_maxar.parse_imd(path)
    if suffix == ".txt" and path.stem.lower().endswith("readme"):
        return sidecar_maxar.parse_readme(path)
    if suffix == ".json":
        doc = sidecar_planet.load_json(path)
        if sidecar_planet.is_manifest(doc):
            return sidecar_planet.parse_manifest(path, doc)
        if sidecar_planet.is_item_json(doc):
            return sidecar_planet.parse_item_json(path, doc)
        log.info("%s: JSON that is neither a Planet item nor a manifest; ignored", path)
        return None
    if suffix == ".xml":
        root = load_xml(path)
        tag = local(root.tag)
        if tag.lower() == "isd":
            return sidecar_maxar.parse_isd_xml(path)
        if sidecar_airbus.is_dimap(root):
            return sidecar_airbus.parse_dimap(path)
        if sidecar_planet.is_product_xml(root):
            return sidecar_planet.parse_product_xml(path)
        log.info("%s: XML <%s> is not a known vendor sidecar; ignored", path, tag)
    return None


def _tag_fields(path: Path, tags: Mapping[str, str]) -> SidecarFields:
    """campwatch's own GeoTIFF tags (case-insensitive names)."""
    upper = {k.upper(): v for k, v in tags.items()}
    where = f"{path}: tag"

    def number(name: str) -> float | None:
        text = upper.get(name)
        return parse_float(text, where=f"{where} {name}") if text not in (None, "") else None

    stamp = upper.get("ACQUISITION_DATETIME")
    flag = upper.get("SIMULATED")
    simulated: bool | None = None
    if flag is not None:
        if flag.strip().lower() not in _TRUE | _FALSE:
            raise IngestError(f"{where} SIMULATED: {flag!r} is not true/false")
        simulated = flag.strip().lower() in _TRUE
    sensor = upper.get("SENSOR")
    return SidecarFields(
        path=path,
        kind="geotiff-tags",
        acquired=parse_time(stamp, where=f"{where} ACQUISITION_DATETIME") if stamp else None,
        sensor=normalise_sensor(sensor) if sensor and sensor.strip() else None,
        gsd_m=positive(number("GSD_M"), where=f"{where} GSD_M"),
        off_nadir_deg=number("OFF_NADIR_DEG"),
        sun_elevation_deg=number("SUN_ELEVATION_DEG"),
        credit=" ".join(upper["CREDIT"].split()) if upper.get("CREDIT", "").strip() else None,
        simulated=simulated,
    )


def _gdal_fields(path: Path, imagery: Mapping[str, str]) -> SidecarFields:
    """GDAL's IMAGERY domain: ACQUISITIONDATETIME and SATELLITEID (lowest priority)."""
    stamp = imagery.get("ACQUISITIONDATETIME")
    acquired = None
    if stamp:
        try:
            acquired = parse_time(stamp, where=f"{path}: GDAL IMAGERY ACQUISITIONDATETIME")
        except IngestError:
            log.warning("%s: GDAL IMAGERY ACQUISITIONDATETIME %r unreadable; ignored", path, stamp)
    sat = imagery.get("SATELLITEID")
    return SidecarFields(
        path=path,
        kind="gdal-imagery",
        acquired=acquired,
        sensor=normalise_sensor(sat) if sat else None,
    )


def _built_credit(vendor: str | None, sensor: str | None, year: int) -> str | None:
    if vendor == "maxar":
        return f"© {year} Maxar Technologies"
    if vendor == "airbus":
        if sensor and sensor.startswith("Pléiades-"):
            return f"© CNES {year}, Distribution Airbus DS"
        return f"© Airbus DS {year}"
    if vendor == "planet":
        return f"© {year} Planet Labs PBC"
    return None


def _first(sources: list[SidecarFields], get: Callable[[SidecarFields], T | None]) -> T | None:
    for source in sources:
        value = get(source)
        if value is not None:
            return value
    return None


def _read_tags(raster_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    try:
        with rasterio.open(raster_path) as src:
            return dict(src.tags()), dict(src.tags(ns="IMAGERY"))
    except (RasterioError, OSError) as exc:
        raise IngestError(f"{raster_path}: cannot open raster: {exc}") from None


def _check_manifest(raster_path: Path, parsed: list[SidecarFields]) -> None:
    for source in parsed:
        expected = source.digests.get(raster_path.name)
        if expected is None:
            continue
        actual = sha256_file(raster_path)
        if actual != expected:
            raise IngestError(
                f"{raster_path}: SHA-256 {actual} differs from {expected} listed in "
                f"{source.path}: the file is not the one delivered"
            )


def read_vendor_metadata(
    raster_path: Path, *, overrides: Overrides, src: DatasetReader | None = None
) -> VendorMetadata:
    """Read a delivered raster's acquisition metadata from its tags, sidecars and overrides.

    Pass ``src`` (the raster already open) to read its tags without opening it again.

    Raises:
        IngestError: the raster or a sidecar cannot be read, a Planet manifest's SHA-256
            does not match the raster, or the acquisition time, sensor or GSD cannot be
            found; the message names the raster, what is missing, the files looked at and
            the flag that supplies each value.

    Example:
        >>> # meta = read_vendor_metadata(Path("18OCT01022604-M1BS-502541638020_01_P003.TIF"),
        >>> #                             overrides=Overrides())
        >>> # meta.sensor, meta.gsd_m -> ('WorldView-2', 2.836)
    """
    raster_path = Path(raster_path)
    if not raster_path.is_file():
        raise IngestError(f"{raster_path}: raster not found")
    if src is None:
        tags, imagery = _read_tags(raster_path)
    else:
        tags, imagery = dict(src.tags()), dict(src.tags(ns="IMAGERY"))
    sidecar_paths = find_sidecars(raster_path)
    parsed = [f for f in (_parse(p) for p in sidecar_paths) if f is not None]
    _check_manifest(raster_path, parsed)
    parsed.sort(key=lambda f: _KIND_ORDER.index(f.kind))
    tag_fields = _tag_fields(raster_path, tags)
    sources = [tag_fields, *parsed, _gdal_fields(raster_path, imagery)]

    acquired = overrides.date or _first(sources, lambda f: f.acquired)
    sensor = overrides.sensor or _first(sources, lambda f: f.sensor)
    gsd = overrides.gsd or _first(sources, lambda f: f.gsd_m)
    _warn_disagreement(raster_path, sources)

    missing = [
        (label, flag)
        for label, flag, value in (
            ("acquisition time", "--date", acquired),
            ("sensor", "--sensor", sensor),
            ("GSD", "--gsd", gsd),
        )
        if value is None
    ]
    if missing:
        looked = ", ".join(["GeoTIFF tags", *(p.name for p in sidecar_paths)])
        if not sidecar_paths:
            looked += " (no sidecar files found beside it)"
        hint = ""
        written = tags.get("TIFFTAG_DATETIME")
        if acquired is None and written:
            hint = f" TIFFTAG_DATETIME {written!r} is when the file was written, not acquired."
        raise IngestError(
            f"{raster_path}: missing "
            + ", ".join(f"{label} ({flag})" for label, flag in missing)
            + f"; looked at {looked}. Supply "
            + " and ".join(flag for _, flag in missing)
            + "."
            + hint
        )
    assert acquired is not None and sensor is not None and gsd is not None

    primary = next((f for f in parsed if f.acquired is not None), parsed[0] if parsed else None)
    vendor = primary.vendor if primary else None
    credit = (
        overrides.credit
        or tag_fields.credit
        or _first(parsed, lambda f: dated_statement(f.credit))
        or _built_credit(vendor, sensor, acquired.astimezone(UTC).year)
    )
    return VendorMetadata(
        acquired=acquired.astimezone(UTC),
        sensor=sensor,
        gsd_m=float(gsd),
        off_nadir_deg=_first(sources, lambda f: f.off_nadir_deg),
        sun_elevation_deg=_first(sources, lambda f: f.sun_elevation_deg),
        credit=credit,
        vendor=vendor,
        product_id=_first(parsed, lambda f: f.product_id),
        sidecar_path=primary.path if primary else None,
        sidecar_sha256=sha256_file(primary.path) if primary else None,
        simulated=bool(tag_fields.simulated),
    )


def _warn_disagreement(raster_path: Path, sources: list[SidecarFields]) -> None:
    """Log when two files give acquisition times more than 2 s apart (the first one wins)."""
    times = [(f.path.name, f.acquired) for f in sources if f.acquired is not None]
    for name, when in times[1:]:
        if abs((when - times[0][1]).total_seconds()) > 2:
            log.warning(
                "%s: %s says acquired %s but %s says %s; using %s",
                raster_path,
                times[0][0],
                times[0][1].isoformat(),
                name,
                when.isoformat(),
                times[0][1].isoformat(),
            )
