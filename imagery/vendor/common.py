"""What every vendor sidecar parser shares: the partial record, sensor names, value parsing.

Each vendor module (:mod:`imagery.vendor.maxar`, :mod:`imagery.vendor.airbus`,
:mod:`imagery.vendor.planet`) turns one file into a :class:`SidecarFields`;
:mod:`imagery.vendor.metadata` merges them with the GeoTIFF tags and the CLI overrides.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from imagery.errors import IngestError

# Satellite codes used in vendor file names and metadata -> the names analysts cite.
_SENSOR_NAMES: dict[str, str] = {
    # Maxar / DigitalGlobe (IMD satId)
    "WV01": "WorldView-1",
    "WV02": "WorldView-2",
    "WV03": "WorldView-3",
    "WV04": "WorldView-4",
    "GE01": "GeoEye-1",
    "QB02": "QuickBird-2",
    "IK02": "IKONOS",
    # Airbus (DIMAP MISSION + MISSION_INDEX)
    "PHR1A": "Pléiades-1A",
    "PHR1B": "Pléiades-1B",
    "PNEO3": "Pléiades Neo 3",
    "PNEO4": "Pléiades Neo 4",
    "SPOT6": "SPOT-6",
    "SPOT7": "SPOT-7",
    # Planet PlanetScope instrument generations (Data API ``instrument``)
    "PS2": "PlanetScope Dove Classic (PS2)",
    "PS2.SD": "PlanetScope Dove-R (PS2.SD)",
    "PSB.SD": "PlanetScope SuperDove (PSB.SD)",
}
_LEGION = re.compile(r"^LG0?(\d)$")
_SKYSAT_C = re.compile(r"^SSC(\d+)$")
_KNOWN_NAMES = {v.casefold(): v for v in _SENSOR_NAMES.values()}


def normalise_sensor(code: str) -> str:
    """The citable sensor name for a vendor code; unknown codes are returned trimmed.

    Example:
        >>> normalise_sensor("WV02"), normalise_sensor("PHR1A"), normalise_sensor("ssc6")
        ('WorldView-2', 'Pléiades-1A', 'SkySat-C6')
    """
    text = " ".join(code.split())
    key = text.upper()
    if key in _SENSOR_NAMES:
        return _SENSOR_NAMES[key]
    if text.casefold() in _KNOWN_NAMES:
        return _KNOWN_NAMES[text.casefold()]
    if m := _LEGION.match(key):
        return f"WorldView Legion {m.group(1)}"
    if m := _SKYSAT_C.match(key):
        return f"SkySat-C{int(m.group(1))}"
    return text


@dataclass(frozen=True)
class SidecarFields:
    """What one metadata file says about one acquisition (every field optional)."""

    path: Path
    """The file these fields came from."""
    kind: str
    """Format, e.g. "maxar-imd", "maxar-xml", "maxar-readme", "dimap", "planet-json",
    "planet-xml", "planet-manifest", "geotiff-tags", "gdal-imagery"."""
    vendor: str | None = None
    """"maxar", "airbus" or "planet"; None when the file does not say."""
    acquired: datetime | None = None
    """Acquisition (start) time, timezone-aware UTC."""
    sensor: str | None = None
    """Normalised sensor name (see :func:`normalise_sensor`)."""
    gsd_m: float | None = None
    """Ground sample distance of the acquisition in metres."""
    off_nadir_deg: float | None = None
    """Off-nadir (satellite view) angle in degrees."""
    sun_elevation_deg: float | None = None
    """Sun elevation in degrees."""
    credit: str | None = None
    """The vendor's own dated copyright line, when the file carries one."""
    product_id: str | None = None
    """The vendor's id of the delivered product or item."""
    simulated: bool | None = None
    """True when the file marks the data as simulated (campwatch's SIMULATED tag)."""
    digests: dict[str, str] = field(default_factory=dict, compare=False)
    """SHA-256 per delivered file name (from a Planet order manifest)."""


def parse_time(text: str, *, where: str) -> datetime:
    """Parse an ISO 8601 time as timezone-aware UTC; times without a zone are taken as UTC.

    Every vendor format here declares UTC (DIMAP's ``Temporal_CRS`` is UTC even where
    Pléiades Neo drops the trailing ``Z``).

    Example:
        >>> parse_time("2023-07-26T07:22:04.4", where="x").isoformat()
        '2023-07-26T07:22:04.400000+00:00'
    """
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise IngestError(f"{where}: cannot read time {value!r} (expected ISO 8601)") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_float(text: str | float | int, *, where: str) -> float:
    """Parse a finite number, or raise :class:`IngestError` naming ``where`` and the value.

    Example:
        >>> parse_float(" 2.836", where="x")
        2.836
    """
    try:
        value = float(str(text).strip())
    except ValueError:
        raise IngestError(f"{where}: {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise IngestError(f"{where}: {text!r} is not a finite number")
    return value


def positive(value: float | None, *, where: str) -> float | None:
    """``value`` if it is None or > 0, else :class:`IngestError` (a GSD must be positive)."""
    if value is not None and value <= 0:
        raise IngestError(f"{where}: GSD {value!r} is not a positive number of metres")
    return value


def load_xml(path: Path) -> ET.Element:
    """Parse an XML file; malformed XML raises :class:`IngestError` naming the file.

    The standard library parser does not fetch external entities, and expat
    (>= 2.4) limits entity expansion, so untrusted vendor files are safe to read.
    """
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise IngestError(f"{path}: malformed XML: {exc}") from None
    except OSError as exc:
        raise IngestError(f"{path}: cannot read sidecar: {exc.strerror or exc}") from None


def local(tag: str) -> str:
    """An XML tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def find_text(root: ET.Element, *names: str) -> str | None:
    """Text of the first descendant whose local tag is one of ``names`` (in that order)."""
    for name in names:
        for el in root.iter():
            if local(el.tag) == name and el.text is not None and el.text.strip():
                return el.text.strip()
    return None


def dated_statement(text: str | None) -> str | None:
    """A copyright statement collapsed to one line, or None when it names no year.

    A credit line without a year is not a usable copyright notice, so such
    statements fall back to the built credit line.

    Example:
        >>> dated_statement("COPYRIGHT AIRBUS DS, France") is None
        True
    """
    if not text:
        return None
    line = " ".join(text.split())
    return line if re.search(r"(?<!\d)(19|20)\d\d(?!\d)", line) else None
