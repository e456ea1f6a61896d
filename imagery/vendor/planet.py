"""Planet metadata: Data API / order ``*_metadata.json``, ``ps:EarthObservation`` XML, manifest.

Fields read:

- JSON (a Data API item, or the ``<item_id>_metadata.json`` of an order): ``acquired``;
  sensor from ``provider``/``instrument``/``satellite_id`` (PlanetScope by instrument
  generation, e.g. "PSB.SD" -> "PlanetScope SuperDove (PSB.SD)"; SkySat by satellite,
  "SSC6" -> "SkySat-C6"); GSD ``gsd`` (the acquisition's), else ``pixel_resolution``;
  off-nadir ``view_angle``; sun elevation ``sun_elevation``; product id ``id``.
- XML (``*_metadata.xml``): ``ps:acquisitionDateTime``; sensor from the platform and
  instrument short names; GSD ``eop:resolution``; off-nadir ``ps:spaceCraftViewAngle``;
  sun elevation ``opt:illuminationElevationAngle``; product id ``eop:identifier``.
- ``manifest.json`` of an order: the SHA-256 of every delivered file, so the raster
  can be checked against what Planet shipped.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from imagery.errors import IngestError
from imagery.vendor.common import (
    SidecarFields,
    find_text,
    load_xml,
    local,
    normalise_sensor,
    parse_float,
    parse_time,
    positive,
)


def load_json(path: Path) -> Any:
    """Parse a JSON file; malformed JSON raises :class:`IngestError` naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}: malformed JSON: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path}: cannot read sidecar: {exc}") from None


def _planet_sensor(provider: str | None, instrument: str | None, satellite: str | None) -> str:
    provider = (provider or "").lower()
    if provider == "skysat" or (satellite or "").upper().startswith("SS"):
        return normalise_sensor(satellite) if satellite else "SkySat"
    if instrument:
        return normalise_sensor(instrument)
    return "PlanetScope"


def is_item_json(doc: Any) -> bool:
    """Whether a JSON document is a Planet item (has ``properties.acquired``)."""
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("properties"), dict)
        and "acquired" in doc["properties"]
        and ("item_type" in doc["properties"] or "provider" in doc["properties"])
    )


def is_manifest(doc: Any) -> bool:
    """Whether a JSON document is a Planet order ``manifest.json``."""
    return isinstance(doc, dict) and isinstance(doc.get("files"), list)


def parse_item_json(path: Path, doc: Any | None = None) -> SidecarFields:
    """Read a Planet item JSON (Data API search result or order ``*_metadata.json``).

    Example:
        >>> # parse_item_json(Path("20220125_075509_67_1061_metadata.json")).gsd_m
        >>> # 3.6
    """
    doc = load_json(path) if doc is None else doc
    if not is_item_json(doc):
        raise IngestError(f"{path}: not a Planet item JSON (no properties.acquired)")
    props: dict[str, Any] = doc["properties"]
    where = str(path)

    def number(key: str) -> float | None:
        value = props.get(key)
        return None if value is None else parse_float(value, where=f"{where}: {key}")

    gsd = number("gsd")
    if gsd is None:
        gsd = number("pixel_resolution")
    return SidecarFields(
        path=path,
        kind="planet-json",
        vendor="planet",
        acquired=parse_time(str(props["acquired"]), where=f"{where}: acquired"),
        sensor=_planet_sensor(
            props.get("provider"), props.get("instrument"), props.get("satellite_id")
        ),
        gsd_m=positive(gsd, where=where),
        off_nadir_deg=number("view_angle"),
        sun_elevation_deg=number("sun_elevation"),
        product_id=str(doc["id"]) if doc.get("id") is not None else None,
    )


def is_product_xml(root: ET.Element) -> bool:
    """Whether a parsed XML document is a Planet ``ps:EarthObservation`` product XML."""
    return local(root.tag) == "EarthObservation" and "planet.com" in root.tag


def _platform_text(root: ET.Element, block: str) -> str | None:
    for el in root.iter():
        if local(el.tag) == block:
            return find_text(el, "shortName")
    return None


def parse_product_xml(path: Path) -> SidecarFields:
    """Read a Planet ``*_metadata.xml`` (``ps:EarthObservation``) product document.

    Example:
        >>> # parse_product_xml(Path("20181001_015434_1027_3B_AnalyticMS_metadata.xml")).sensor
        >>> # 'PlanetScope Dove Classic (PS2)'
    """
    root = load_xml(path)
    if not is_product_xml(root):
        raise IngestError(f"{path}: not a Planet product XML (root <{local(root.tag)}>)")
    where = str(path)
    stamp = find_text(root, "acquisitionDateTime", "beginPosition")
    platform = _platform_text(root, "Platform")
    instrument = _platform_text(root, "Instrument")
    serial = None
    for el in root.iter():
        if local(el.tag) == "Platform":
            serial = find_text(el, "serialIdentifier")
            break
    provider = "skysat" if (platform or "").lower().startswith("skysat") else "planetscope"
    resolution = find_text(root, "resolution")
    view = find_text(root, "spaceCraftViewAngle")
    sun = find_text(root, "illuminationElevationAngle")
    return SidecarFields(
        path=path,
        kind="planet-xml",
        vendor="planet",
        acquired=parse_time(stamp, where=f"{where}: acquisitionDateTime") if stamp else None,
        sensor=_planet_sensor(provider, instrument, serial if provider == "skysat" else None),
        gsd_m=positive(parse_float(resolution, where=f"{where}: resolution"), where=where)
        if resolution
        else None,
        off_nadir_deg=parse_float(view, where=f"{where}: spaceCraftViewAngle") if view else None,
        sun_elevation_deg=parse_float(sun, where=f"{where}: illuminationElevationAngle")
        if sun
        else None,
        product_id=find_text(root, "identifier"),
    )


def manifest_lists(path: Path, name: str) -> bool:
    """Whether an order ``manifest.json`` lists a file called ``name`` (False if unreadable)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not is_manifest(doc):
        return False
    return any(
        isinstance(entry, dict) and Path(str(entry.get("path", ""))).name == name
        for entry in doc["files"]
    )


def parse_manifest(path: Path, doc: Any | None = None) -> SidecarFields:
    """Read a Planet order ``manifest.json``: SHA-256 per delivered file name.

    Example:
        >>> # parse_manifest(Path("manifest.json")).digests["x_3B_Visual.tif"] -> '5898…'
    """
    doc = load_json(path) if doc is None else doc
    if not is_manifest(doc):
        raise IngestError(f"{path}: not a Planet order manifest (no 'files' list)")
    digests: dict[str, str] = {}
    for entry in doc["files"]:
        if isinstance(entry, dict) and "path" in entry:
            sha = (entry.get("digests") or {}).get("sha256")
            if sha:
                digests[Path(str(entry["path"])).name] = str(sha).lower()
    return SidecarFields(path=path, kind="planet-manifest", vendor="planet", digests=digests)
