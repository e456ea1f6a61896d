"""Airbus DIMAP v2 product documents (``DIM_*.XML``): Pléiades, Pléiades Neo, SPOT 6/7.

Fields read:

- acquisition time: ``Strip_Source`` ``IMAGING_DATE`` + ``IMAGING_TIME`` (UTC, as GDAL's
  Pléiades reader does), else the ``Center`` ``Located_Geometric_Values/TIME``;
- sensor: ``MISSION`` + ``MISSION_INDEX`` ("PHR" + "1A" -> "Pléiades-1A"), else the mission
  code in ``DATASET_NAME`` or the file name (Airbus names files ``DIM_<mission>_…``);
- GSD: mean of ``GSD_ACROSS_TRACK`` and ``GSD_ALONG_TRACK`` at the scene ``Center`` (the
  acquisition's ground sample distance), else ``RESAMPLING_SPACING`` (the product pixel);
- off-nadir: ``VIEWING_ANGLE`` at the ``Center``; sun elevation: ``SUN_ELEVATION`` there;
- credit: ``Legal_Constraints/COPYRIGHT`` when it names a year;
- product id: ``DATASET_NAME``, else the file name without ``DIM_`` and extension.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from imagery.errors import IngestError
from imagery.vendor.common import (
    SidecarFields,
    dated_statement,
    find_text,
    load_xml,
    local,
    normalise_sensor,
    parse_float,
    parse_time,
    positive,
)

_MISSION_CODE = re.compile(r"(PHR1[AB]|PNEO\d|SPOT\d)", re.IGNORECASE)
_MISSIONS = {"PHR": "PHR", "PNEO": "PNEO", "SPOT": "SPOT"}


def is_dimap(root: ET.Element) -> bool:
    """Whether a parsed XML document is a DIMAP product (not a volume index)."""
    if local(root.tag) != "Dimap_Document":
        return False
    profile = find_text(root, "METADATA_PROFILE") or ""
    return profile.upper() != "VOLUME"


def _centre(root: ET.Element) -> ET.Element | None:
    """The ``Located_Geometric_Values`` of the scene centre (the first one if none says so)."""
    found = [el for el in root.iter() if local(el.tag) == "Located_Geometric_Values"]
    for el in found:
        if (find_text(el, "LOCATION_TYPE") or "").replace(" ", "").lower() == "center":
            return el
    return found[0] if found else None


def _sensor(root: ET.Element, path: Path) -> str | None:
    for strip in (el for el in root.iter() if local(el.tag) == "Strip_Source"):
        mission = find_text(strip, "MISSION")
        index = find_text(strip, "MISSION_INDEX")
        if mission and index:
            return normalise_sensor(_MISSIONS.get(mission.upper(), mission) + index)
    for text in (find_text(root, "DATASET_NAME") or "", path.name):
        if m := _MISSION_CODE.search(text):
            return normalise_sensor(m.group(1).upper())
    return None


def _acquired(root: ET.Element, centre: ET.Element | None, where: str) -> datetime | None:
    for strip in (el for el in root.iter() if local(el.tag) == "Strip_Source"):
        day = find_text(strip, "IMAGING_DATE")
        time = find_text(strip, "IMAGING_TIME")
        if day and time:
            return parse_time(f"{day}T{time}", where=f"{where}: IMAGING_DATE/IMAGING_TIME")
    if centre is not None and (stamp := find_text(centre, "TIME")):
        return parse_time(stamp, where=f"{where}: Located_Geometric_Values/TIME")
    return None


def parse_dimap(path: Path) -> SidecarFields:
    """Read an Airbus DIMAP v2 ``DIM_*.XML`` product document.

    Example:
        >>> # parse_dimap(Path("DIM_PHR1A_PMS_202108151541301_ORT_5881313101.XML")).sensor
        >>> # 'Pléiades-1A'
    """
    root = load_xml(path)
    if not is_dimap(root):
        raise IngestError(f"{path}: not a DIMAP product document (root <{local(root.tag)}>)")
    where = str(path)
    centre = _centre(root)
    gsd: float | None = None
    off_nadir = sun = None
    if centre is not None:
        across = find_text(centre, "GSD_ACROSS_TRACK")
        along = find_text(centre, "GSD_ALONG_TRACK")
        if across and along:
            gsd = (
                parse_float(across, where=f"{where}: GSD_ACROSS_TRACK")
                + parse_float(along, where=f"{where}: GSD_ALONG_TRACK")
            ) / 2
        if view := find_text(centre, "VIEWING_ANGLE"):
            off_nadir = parse_float(view, where=f"{where}: VIEWING_ANGLE")
        if elev := find_text(centre, "SUN_ELEVATION"):
            sun = parse_float(elev, where=f"{where}: SUN_ELEVATION")
    if gsd is None and (spacing := find_text(root, "RESAMPLING_SPACING")):
        gsd = parse_float(spacing, where=f"{where}: RESAMPLING_SPACING")
    acquired = _acquired(root, centre, where)
    stem = path.stem
    product = find_text(root, "DATASET_NAME") or stem[stem.upper().find("DIM_") + 4 :]
    return SidecarFields(
        path=path,
        kind="dimap",
        vendor="airbus",
        acquired=acquired,
        sensor=_sensor(root, path),
        gsd_m=positive(gsd, where=where),
        off_nadir_deg=off_nadir,
        sun_elevation_deg=sun,
        credit=dated_statement(find_text(root, "COPYRIGHT")),
        product_id=product,
    )


def data_files(path: Path) -> list[str]:
    """Image file names a DIMAP document lists (``DATA_FILE_PATH href``); [] if unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return []
    return [
        Path(el.attrib["href"]).name
        for el in root.iter()
        if local(el.tag) == "DATA_FILE_PATH" and "href" in el.attrib
    ]
