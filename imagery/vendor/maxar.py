"""Maxar / DigitalGlobe image support data: ``.IMD`` (ODL text), ``.XML`` (``<isd>``), README.

Fields read (the IMD names; the XML uses the same names in upper case):

- acquisition time: ``IMAGE_1.firstLineTime`` (as GDAL's DigitalGlobe reader does),
  else ``MAP_PROJECTED_PRODUCT.earliestAcqTime``;
- sensor: ``IMAGE_1.satId`` (e.g. "WV02" -> "WorldView-2");
- GSD: ``meanProductGSD``, else ``meanCollectedGSD``;
- off-nadir: ``meanOffNadirViewAngle``; sun elevation: ``meanSunEl``;
- product id: ``productOrderId``;
- the delivery README's ``copyrightText`` (first sentence) as the vendor's own credit line.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

from imagery.errors import IngestError
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

log = logging.getLogger(__name__)


def _statements(text: str, path: Path) -> list[tuple[int, str]]:
    """Split ODL text into ``(line number, statement)``; BEGIN/END_GROUP lines stand alone."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    depth = 0
    quoted = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not buf:
            if not line:
                continue
            start = number
            head = line.split("=", 1)[0].strip().upper()
            if head in ("BEGIN_GROUP", "END_GROUP") or line.rstrip(";").strip().upper() == "END":
                out.append((number, line.rstrip(";").strip()))
                continue
        buf.append(line)
        for ch in line:
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch == "(":
                depth += 1
            elif not quoted and ch == ")":
                depth -= 1
        if not quoted and depth == 0 and line.endswith(";"):
            out.append((start, " ".join(buf)[:-1].strip()))
            buf = []
    if buf:
        raise IngestError(f"{path}: malformed IMD: statement at line {start} never ends with ';'")
    return out


def parse_odl(path: Path) -> dict[str, str]:
    """Flatten a DigitalGlobe ODL file (``.IMD``, ``.TIL``, README) to ``GROUP.key -> value``.

    Keys are lower-cased; quotes around string values are removed.

    Example:
        >>> # parse_odl(Path("x.IMD"))["image_1.satid"] -> 'WV02'
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise IngestError(f"{path}: cannot read sidecar: {exc.strerror or exc}") from None
    values: dict[str, str] = {}
    groups: list[str] = []
    for number, statement in _statements(text, path):
        if statement.upper() == "END":
            break
        if "=" not in statement:
            raise IngestError(
                f"{path}: malformed IMD at line {number}: {statement[:60]!r} is not 'key = value;'"
            )
        key, value = (part.strip() for part in statement.split("=", 1))
        if key.upper() == "BEGIN_GROUP":
            groups.append(value)
            continue
        if key.upper() == "END_GROUP":
            if not groups or groups[-1] != value:
                raise IngestError(f"{path}: malformed IMD at line {number}: unmatched END_GROUP")
            groups.pop()
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        values[".".join([*groups, key]).lower()] = value
    if groups:
        raise IngestError(f"{path}: malformed IMD: group {groups[-1]!r} is never closed")
    return values


def _image_value(values: dict[str, str], name: str) -> str | None:
    """``name`` from the first IMAGE group (``image_1.`` in IMD, ``image.`` in XML)."""
    name = name.lower()
    for prefix in ("image_1.", "image."):
        if prefix + name in values:
            return values[prefix + name]
    for key, value in values.items():
        if key.startswith("image") and key.endswith("." + name):
            return value
    return None


def _fields(values: dict[str, str], path: Path, kind: str) -> SidecarFields:
    where = str(path)
    first = _image_value(values, "firstLineTime") or values.get(
        "map_projected_product.earliestacqtime"
    )
    acquired = parse_time(first, where=f"{where}: firstLineTime") if first else None
    sat = _image_value(values, "satId")
    gsd_text = _image_value(values, "meanProductGSD") or _image_value(values, "meanCollectedGSD")
    gsd = positive(parse_float(gsd_text, where=f"{where}: GSD"), where=where) if gsd_text else None
    nadir = _image_value(values, "meanOffNadirViewAngle")
    sun = _image_value(values, "meanSunEl")
    return SidecarFields(
        path=path,
        kind=kind,
        vendor="maxar",
        acquired=acquired,
        sensor=normalise_sensor(sat) if sat else None,
        gsd_m=gsd,
        off_nadir_deg=parse_float(nadir, where=f"{where}: meanOffNadirViewAngle")
        if nadir
        else None,
        sun_elevation_deg=parse_float(sun, where=f"{where}: meanSunEl") if sun else None,
        product_id=values.get("productorderid"),
    )


def parse_imd(path: Path) -> SidecarFields:
    """Read a DigitalGlobe/Maxar ``.IMD`` file.

    Example:
        >>> # parse_imd(Path("18OCT01022604-M1BS-502541638020_01_P003.IMD")).sensor
        >>> # 'WorldView-2'
    """
    return _fields(parse_odl(path), path, "maxar-imd")


def parse_isd_xml(path: Path) -> SidecarFields:
    """Read a DigitalGlobe/Maxar product ``.XML`` (``<isd><IMD>…``); only the IMD part is used.

    Example:
        >>> # parse_isd_xml(Path("13MAY08000330-P1BS-500063426010_01_P001.XML")).gsd_m
        >>> # 0.512
    """
    root = load_xml(path)
    imd = next((el for el in root if local(el.tag).upper() == "IMD"), None)
    if local(root.tag).lower() != "isd" or imd is None:
        raise IngestError(f"{path}: not a Maxar product XML (no <isd><IMD>)")
    values: dict[str, str] = {}

    def walk(el: ET.Element, prefix: str) -> None:
        for child in el:
            name = local(child.tag).lower()
            key = f"{prefix}{name}"
            if len(child):
                walk(child, key + ".")
            elif child.text and child.text.strip():
                values.setdefault(key, child.text.strip())

    walk(imd, "")
    return _fields(values, path, "maxar-xml")


def parse_readme(path: Path) -> SidecarFields:
    """Read a DigitalGlobe delivery ``*_README.TXT``: its ``copyrightText`` first sentence.

    Example:
        >>> # parse_readme(p).credit -> '(C) COPYRIGHT 2018 DigitalGlobe, Inc., Longmont …'
    """
    text = parse_odl(path).get("copyrighttext")
    credit = None
    if text:
        credit = dated_statement(text.split(". ", 1)[0].rstrip("."))
    return SidecarFields(path=path, kind="maxar-readme", vendor="maxar", credit=credit)
