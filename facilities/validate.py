"""Validate a facility definition (a GeoJSON FeatureCollection) and build the :class:`Facility`.

A definition holds exactly one ``feature_type: "facility"`` feature (the AOI polygon and the
facility's names, type, country, reported point and citation) and any number of
``feature_type: "zone"`` features (typed polygons inside the AOI, each with a source note).

Every problem is a :class:`~facilities.errors.FacilityValidationError` naming the file, the
feature (facility id, zone id, or ``features[i]`` when the feature has no usable id), the field
and the offending value. :func:`check_collection` collects *all* problems of a definition;
:func:`facility_from_collection` raises the first.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, cast

from shapely.geometry import Point, Polygon

from facilities.errors import FacilityValidationError
from facilities.geojson import GeometryProblem, polygon_from_geojson
from facilities.grid import to_grid_crs, utm_crs_for
from facilities.model import Extent, Facility, Names, ReportedPoint, Source, StatusReport, Zone
from facilities.provenance import (
    check_extent,
    check_reported_source,
    check_sources,
    check_status,
    check_strict,
)
from facilities.types import FACILITY_TYPES, ZONE_TYPES, FacilityType, ZoneType

SLUG_PATTERN = r"[a-z0-9][a-z0-9-]{1,62}"
"""Facility and zone ids: lower-case letters, digits and hyphens; safe in any path."""

COUNTRY_PATTERN = r"[A-Z]{3}"
"""ISO 3166-1 alpha-3 country code."""

REPORTED_POINT_TOLERANCE_M = 250.0
"""How far outside the AOI the reported point may lie (published points are approximate)."""

ZONE_TOLERANCE_M = 1.0
"""How far a zone may reach outside the AOI (digitising and rounding noise)."""

MAX_AOI_SPAN_M = 100_000.0
"""An AOI wider or taller than this is refused (the largest camps are about 30 km across)."""

_WGS84_NAMES = ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4326", "EPSG:4326")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")


class _Problems:
    """Collects the problems of one definition file."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = path
        self.items: list[FacilityValidationError] = []

    def add(self, feature: str, field: str, value: object, problem: str) -> None:
        self.items.append(FacilityValidationError(self.path, feature, field, value, problem))


def _label(props: dict[str, Any], key: str, index: int) -> str:
    """The feature's name in messages: its id when that is a safe slug, else its index."""
    value = props.get(key)
    if isinstance(value, str) and re.fullmatch(SLUG_PATTERN, value):
        return value
    return f"features[{index}]"


def _text(
    props: dict[str, Any], field: str, label: str, out: _Problems, *, required: bool = True
) -> str | None:
    """A string property; missing, non-string or blank values are problems when required."""
    if field not in props or props[field] is None:
        if required:
            out.add(label, field, None, "missing (required)")
        return None
    value = props[field]
    if not isinstance(value, str):
        out.add(label, field, value, f"must be a string, got {type(value).__name__}")
        return None
    if not value.strip():
        if required:
            out.add(label, field, value, "empty (required)")
        return None
    return value


def _number(props: dict[str, Any], field: str, label: str, out: _Problems) -> float | None:
    """A required finite number property (booleans are not numbers here)."""
    value = props.get(field)
    if value is None:
        out.add(label, field, None, "missing (required)")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        out.add(label, field, value, f"must be a number, got {type(value).__name__}")
        return None
    if not math.isfinite(value):
        out.add(label, field, value, "must be a finite number")
        return None
    return float(value)


def _slug(props: dict[str, Any], field: str, label: str, out: _Problems) -> str | None:
    value = _text(props, field, label, out)
    if value is not None and not re.fullmatch(SLUG_PATTERN, value):
        out.add(
            label,
            field,
            value,
            f"not a safe slug: must match ^{SLUG_PATTERN}$ (lower-case letters, digits and "
            "hyphens, 2-63 characters; no path separators, dots or spaces)",
        )
        return None
    return value


def _polygon(feat: dict[str, Any], label: str, out: _Problems) -> Polygon | None:
    """The feature's Polygon geometry, or None after recording why it is unusable."""
    result = polygon_from_geojson(feat.get("geometry"))
    if isinstance(result, GeometryProblem):
        out.add(label, result.field, result.value, result.problem)
        return None
    return result


def _check_crs(data: dict[str, Any], out: _Problems) -> None:
    """A legacy GeoJSON ``crs`` member must name WGS 84 lon/lat (RFC 7946 has none)."""
    crs = data.get("crs")
    if crs is None:
        return
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if name not in _WGS84_NAMES:
        out.add("-", "crs", name if name is not None else crs, "definitions must be WGS 84 lon/lat")


def _check_location(
    aoi: Polygon, lat: float, lon: float, label: str, out: _Problems
) -> tuple[Polygon, str] | None:
    """Check the AOI's size and that the reported point lies in it; returns the AOI in UTM."""
    crs = utm_crs_for(lon, lat)
    aoi_m = to_grid_crs(aoi, crs)
    minx, miny, maxx, maxy = aoi_m.bounds
    if max(maxx - minx, maxy - miny) > MAX_AOI_SPAN_M:
        out.add(
            label,
            "geometry",
            f"{(maxx - minx) / 1000:.1f} km x {(maxy - miny) / 1000:.1f} km",
            f"AOI is larger than {MAX_AOI_SPAN_M / 1000:.0f} km across: is it the right polygon?",
        )
        return None
    point_m = cast(Point, to_grid_crs(cast(Polygon, Point(lon, lat)), crs))
    dist = aoi_m.distance(point_m)
    if dist <= REPORTED_POINT_TOLERANCE_M:
        return aoi_m, crs
    field, value = "reported_lat, reported_lon", [lat, lon]
    if -90.0 <= lon <= 90.0 and aoi.contains(Point(lat, lon)):
        out.add(
            label,
            field,
            value,
            "lon/lat look swapped: the point lies in the AOI when latitude and longitude are "
            "exchanged (check reported_lat/reported_lon, and that AOI positions are [lon, lat])",
        )
    else:
        out.add(
            label,
            field,
            value,
            f"reported point lies {dist:.0f} m outside the AOI "
            f"(tolerance {REPORTED_POINT_TOLERANCE_M:.0f} m)",
        )
    return None


def _check_reported_point(
    props: dict[str, Any], label: str, out: _Problems
) -> tuple[float, float] | None:
    lat = _number(props, "reported_lat", label, out)
    lon = _number(props, "reported_lon", label, out)
    bad = False
    if lat is not None and not -90.0 <= lat <= 90.0:
        bad = True
        if lon is not None and -90.0 <= lon <= 90.0 and -180.0 <= lat <= 180.0:
            why = f"looks swapped with reported_lon={lon!r}: a latitude must be within [-90, 90]"
        else:
            why = "out of range: a latitude must be within [-90, 90]"
        out.add(label, "reported_lat", lat, why)
    if lon is not None and not -180.0 <= lon <= 180.0:
        bad = True
        out.add(label, "reported_lon", lon, "out of range: a longitude must be within [-180, 180]")
    if lat is None or lon is None or bad:
        return None
    return lat, lon


def _check_facility(
    feat: dict[str, Any], index: int, out: _Problems
) -> tuple[dict[str, Any], Polygon | None, tuple[float, float] | None, str]:
    props = feat["properties"]
    label = _label(props, "id", index)
    _slug(props, "id", label, out)
    _text(props, "name_en", label, out)
    ko = _text(props, "name_ko", label, out, required=False)
    if ko is not None and not _HANGUL.search(ko):
        out.add(label, "name_ko", ko, "must be written in hangul")
    for field in ("name_mr", "name_rr"):
        _text(props, field, label, out, required=False)
    aliases = props.get("aliases", [])
    if aliases is not None and (
        not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases)
    ):
        out.add(label, "aliases", aliases, "must be a list of non-empty strings")
    ftype = props.get("type")
    if ftype is None:
        out.add(label, "type", None, "missing (required)")
    elif ftype not in FACILITY_TYPES:
        expected = ", ".join(FACILITY_TYPES)
        out.add(label, "type", ftype, f"unknown facility type; expected one of {expected}")
    country = _text(props, "country", label, out)
    if country is not None and not re.fullmatch(COUNTRY_PATTERN, country):
        out.add(label, "country", country, "must be an ISO 3166-1 alpha-3 code such as 'PRK'")
    _text(props, "reported_citation", label, out)
    _text(props, "aoi_method", label, out)
    point = _check_reported_point(props, label, out)
    aoi = _polygon(feat, label, out)
    return props, aoi, point, label


def _check_zone(
    feat: dict[str, Any],
    index: int,
    seen: dict[str, str],
    aoi_m: tuple[Polygon, str] | None,
    out: _Problems,
) -> Polygon | None:
    props = feat["properties"]
    label = _label(props, "zone_id", index)
    zid = _slug(props, "zone_id", label, out)
    if zid is not None:
        if zid in seen:
            out.add(label, "zone_id", zid, f"duplicate zone_id: {seen[zid]} has the same id")
        else:
            seen[zid] = f"features[{index}]"
    ztype = props.get("zone_type")
    if ztype is None:
        out.add(label, "zone_type", None, "missing (required)")
    elif ztype not in ZONE_TYPES:
        out.add(
            label, "zone_type", ztype, f"unknown zone type; expected one of {', '.join(ZONE_TYPES)}"
        )
    _text(props, "name", label, out)
    _text(props, "source", label, out)
    sim = props.get("simulated", False)
    if not isinstance(sim, bool):
        out.add(label, "simulated", sim, "must be true or false")
    geom = _polygon(feat, label, out)
    if geom is not None and aoi_m is not None:
        aoi, crs = aoi_m
        zone = to_grid_crs(geom, crs)
        if not aoi.buffer(ZONE_TOLERANCE_M).covers(zone):
            outside = zone.difference(aoi)
            dists = [aoi.distance(Point(xy)) for xy in zone.exterior.coords]
            k = max(range(len(dists)), key=dists.__getitem__)
            far, worst = geom.exterior.coords[k], dists[k]
            out.add(
                label,
                "geometry",
                [round(far[0], 7), round(far[1], 7)],
                f"zone is not inside the facility AOI: this vertex lies {worst:.0f} m outside "
                f"({outside.area:.0f} m² outside; tolerance {ZONE_TOLERANCE_M:g} m)",
            )
    return geom


Provenance = tuple[tuple[Source, ...], str | None, StatusReport | None, Extent | None]


def _check_provenance(
    props: dict[str, Any],
    point: tuple[float, float] | None,
    label: str,
    out: _Problems,
    strict: bool,
) -> Provenance:
    """Sources (each location quote checked), reported source, status and extent."""
    sources = check_sources(props, label, out.add)
    ok = sources or ()
    reported = check_reported_source(props, ok, point, label, out.add)
    status = check_status(props, ok, label, out.add)
    extent = check_extent(props, ok, label, out.add)
    names_source = props.get("names_source")
    if names_source is not None and not (
        isinstance(names_source, str) and re.match(r"https?://\S+$", names_source)
    ):
        out.add(label, "names_source", names_source, "must be an http(s) URL")
    if strict:
        check_strict(props, sources, label, out.add)
    return ok, reported, status, extent


def check_collection(
    data: Any, path: Path | str | None = None, *, strict: bool = False
) -> tuple[Facility | None, list[FacilityValidationError]]:
    """Validate a parsed definition; return the facility (None if any problem) and all problems.

    ``strict`` also requires the provenance fields (sources, reported_source, status) that
    older private definitions may lack (see :mod:`facilities.provenance`).

    Example:
        >>> fac, problems = check_collection({"type": "Feature"}, "x.geojson")
        >>> fac is None, str(problems[0])
        (True, "x.geojson: feature -: field 'type' = 'Feature': must be 'FeatureCollection'")
    """
    out = _Problems(path)
    if not isinstance(data, dict):
        out.add("-", "type", type(data).__name__, "must be a GeoJSON FeatureCollection object")
        return None, out.items
    if data.get("type") != "FeatureCollection":
        out.add("-", "type", data.get("type"), "must be 'FeatureCollection'")
        return None, out.items
    _check_crs(data, out)
    feats = data.get("features")
    if not isinstance(feats, list):
        out.add("-", "features", feats, "must be a list of features")
        return None, out.items
    facility_idx: list[int] = []
    zone_idx: list[int] = []
    for i, feat in enumerate(feats):
        where = f"features[{i}]"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            got = feat.get("type") if isinstance(feat, dict) else type(feat).__name__
            out.add(where, "type", got, "must be 'Feature'")
            continue
        props = feat.get("properties")
        if not isinstance(props, dict):
            out.add(where, "properties", props, "must be an object")
            continue
        ftype = props.get("feature_type")
        if ftype == "facility":
            facility_idx.append(i)
        elif ftype == "zone":
            zone_idx.append(i)
        else:
            out.add(where, "feature_type", ftype, "must be 'facility' or 'zone'")
    if not facility_idx:
        out.add("-", "feature_type", "facility", "no facility feature (exactly one is required)")
        return None, out.items
    for i in facility_idx[1:]:
        out.add(
            f"features[{i}]",
            "feature_type",
            "facility",
            f"second facility feature (features[{facility_idx[0]}] is the first; "
            "exactly one is required)",
        )
    props, aoi, point, label = _check_facility(feats[facility_idx[0]], facility_idx[0], out)
    aoi_m = _check_location(aoi, point[0], point[1], label, out) if aoi and point else None
    prov = _check_provenance(props, point, label, out, strict)
    seen: dict[str, str] = {}
    zone_geoms = [_check_zone(feats[i], i, seen, aoi_m, out) for i in zone_idx]
    if out.items:
        return None, out.items
    assert aoi is not None and point is not None
    zones = tuple(
        Zone(
            id=feats[i]["properties"]["zone_id"],
            zone_type=cast(ZoneType, feats[i]["properties"]["zone_type"]),
            name=feats[i]["properties"]["name"],
            geometry=cast(Polygon, g),
            source=feats[i]["properties"]["source"],
            simulated=feats[i]["properties"].get("simulated", False),
        )
        for i, g in zip(zone_idx, zone_geoms, strict=True)
    )

    def opt(key: str) -> str | None:
        value = props.get(key)
        return value if isinstance(value, str) and value.strip() else None

    facility = Facility(
        id=props["id"],
        names=Names(
            english=props["name_en"],
            korean=opt("name_ko"),
            mccune_reischauer=opt("name_mr"),
            revised_romanization=opt("name_rr"),
            aliases=tuple(props.get("aliases") or ()),
        ),
        facility_type=cast(FacilityType, props["type"]),
        country=props["country"],
        reported_point=ReportedPoint(point[0], point[1], props["reported_citation"], prov[1]),
        aoi=aoi,
        aoi_method=props["aoi_method"],
        zones=zones,
        sources=prov[0],
        status=prov[2],
        extent=prov[3],
        names_source=opt("names_source"),
        source_path=Path(path) if path is not None else None,
    )
    return facility, []


def facility_from_collection(data: Any, path: Path | str | None = None) -> Facility:
    """Build a facility from a parsed GeoJSON FeatureCollection.

    Raises:
        FacilityValidationError: the first problem found (see :func:`check_collection`).

    Example:
        >>> from facilities.load import BUNDLED_DIR
        >>> p = BUNDLED_DIR / "kangdong-kyohwaso-4.geojson"
        >>> facility_from_collection(json.loads(p.read_text("utf-8")), p).facility_type
        'kyohwaso'
    """
    facility, problems = check_collection(data, path)
    if problems:
        raise problems[0]
    assert facility is not None
    return facility


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}: the second value would silently win")
        out[key] = value
    return out


def check_definition(
    path: Path | str, *, strict: bool = False
) -> tuple[Facility | None, list[FacilityValidationError]]:
    """Read and validate one definition file; never raises for bad content.

    ``strict`` requires the provenance fields too (see :func:`check_collection`).

    Example:
        >>> from facilities.load import BUNDLED_DIR
        >>> fac, problems = check_definition(BUNDLED_DIR / "kangdong-kyohwaso-4.geojson")
        >>> fac.id, problems
        ('kangdong-kyohwaso-4', [])
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [FacilityValidationError(p, "-", "file", str(p), f"cannot be read: {exc}")]
    try:
        data = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        return None, [FacilityValidationError(p, "-", "json", where, f"invalid JSON: {exc.msg}")]
    except ValueError as exc:
        return None, [FacilityValidationError(p, "-", "json", str(p), f"invalid JSON: {exc}")]
    return check_collection(data, p, strict=strict)


def validate_definition(path: Path | str, *, strict: bool = False) -> list[FacilityValidationError]:
    """Every problem of one definition file (empty when it is valid).

    Example:
        >>> from facilities.load import BUNDLED_DIR
        >>> validate_definition(BUNDLED_DIR / "kangdong-kyohwaso-4.geojson")
        []
    """
    return check_definition(path, strict=strict)[1]
