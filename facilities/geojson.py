"""GeoJSON Polygon geometries of facility definitions: parsed, range-checked and validated.

Pure: JSON-like values in, a shapely polygon (WGS 84 lon/lat) or a :class:`GeometryProblem` out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import Polygon


@dataclass(frozen=True)
class GeometryProblem:
    """Why a GeoJSON geometry is not a usable WGS 84 polygon."""

    field: str
    """The offending member, e.g. "geometry.type" or "geometry.coordinates[0][3]"."""
    value: object
    """The offending value (a type name, a position, shapely's validity reason)."""
    problem: str
    """What is wrong, in words."""


def _position_problem(x: float, y: float) -> str | None:
    """Why (x, y) is not a WGS 84 (lon, lat) position, or None."""
    if -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0:
        return None
    if -90.0 <= x <= 90.0 and -180.0 <= y <= 180.0:
        return (
            f"latitude {y!r} is outside [-90, 90]: lon/lat look swapped "
            "(GeoJSON positions are [lon, lat])"
        )
    if max(abs(x), abs(y)) > 1000.0:
        return "outside WGS 84 lon/lat range: projected metres? definitions must be in WGS 84"
    return "outside WGS 84 range (lon in [-180, 180], lat in [-90, 90])"


def polygon_from_geojson(geom: Any) -> Polygon | GeometryProblem:
    """A WGS 84 GeoJSON Polygon geometry as a valid shapely polygon, or the first problem.

    Checks the type, the ring structure (at least 4 positions, closed), every position's range
    (naming swapped lon/lat and projected metres) and validity (reason and location).

    Example:
        >>> ring = [[126.0, 39.0], [126.1, 39.0], [126.1, 39.1], [126.0, 39.0]]
        >>> polygon_from_geojson({"type": "Polygon", "coordinates": [ring]}).is_valid
        True
        >>> polygon_from_geojson({"type": "Point", "coordinates": [126.0, 39.0]}).problem
        "must be 'Polygon'"
    """
    if geom is None:
        return GeometryProblem("geometry", None, "missing geometry: must be a Polygon")
    if not isinstance(geom, dict):
        return GeometryProblem("geometry", geom, "must be a GeoJSON geometry object")
    gtype = geom.get("type")
    if gtype != "Polygon":
        return GeometryProblem("geometry.type", gtype, "must be 'Polygon'")
    rings = geom.get("coordinates")
    if not isinstance(rings, list):
        return GeometryProblem("geometry.coordinates", rings, "must be a list of linear rings")
    if not rings:
        return GeometryProblem("geometry.coordinates", rings, "empty geometry")
    parsed: list[list[tuple[float, float]]] = []
    for r, ring in enumerate(rings):
        if not isinstance(ring, list):
            return GeometryProblem(
                f"geometry.coordinates[{r}]", ring, "must be a list of positions"
            )
        pts: list[tuple[float, float]] = []
        for v, pos in enumerate(ring):
            ok = (
                isinstance(pos, list)
                and len(pos) >= 2
                and all(isinstance(c, int | float) and not isinstance(c, bool) for c in pos)
                and all(math.isfinite(c) for c in pos)
            )
            if not ok:
                return GeometryProblem(
                    f"geometry.coordinates[{r}][{v}]", pos, "not a [lon, lat] position"
                )
            why = _position_problem(float(pos[0]), float(pos[1]))
            if why is not None:
                return GeometryProblem(f"geometry.coordinates[{r}][{v}]", pos, why)
            pts.append((float(pos[0]), float(pos[1])))
        if len(pts) < 4:
            return GeometryProblem(
                f"geometry.coordinates[{r}]",
                len(pts),
                "a polygon ring needs at least 4 positions",
            )
        if pts[0] != pts[-1]:
            return GeometryProblem(
                f"geometry.coordinates[{r}]",
                [list(pts[0]), list(pts[-1])],
                "ring is not closed: first and last positions differ",
            )
        parsed.append(pts)
    poly = Polygon(parsed[0], parsed[1:])
    if not poly.is_valid:
        reason = shapely.is_valid_reason(poly)
        m = re.fullmatch(r"(.*)\[(\S+) (\S+)\]", reason)
        where = f" at lon={m.group(2)}, lat={m.group(3)}" if m else ""
        what = m.group(1) if m else reason
        return GeometryProblem("geometry", reason, f"invalid polygon: {what}{where}")
    if poly.area == 0.0:
        return GeometryProblem("geometry", poly.wkt[:80], "empty geometry (zero area)")
    return poly
