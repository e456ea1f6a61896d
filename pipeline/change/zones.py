"""Attribute change polygons to a facility's zones (pure geometry)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from facilities.grid import to_grid_crs
from facilities.model import Facility


@dataclass(frozen=True)
class GridZone:
    """A zone outline in the facility grid CRS."""

    zone_id: str
    """Zone id."""
    zone_type: str
    """Zone type."""
    name: str
    """Label."""
    geometry: Polygon
    """Outline in the grid CRS."""


def grid_zones(facility: Facility, crs: str) -> list[GridZone]:
    """The facility's zones reprojected into ``crs``.

    Example:
        >>> # [z.zone_id for z in grid_zones(facility, "EPSG:32652")]
    """
    return [
        GridZone(z.id, z.zone_type, z.name, to_grid_crs(z.geometry, crs)) for z in facility.zones
    ]


def attribute_zone(geometry: BaseGeometry, zones: list[GridZone]) -> GridZone | None:
    """The zone a change polygon falls in.

    The zone covering the largest share of the polygon wins; when several
    cover the same share (nested zones: a housing block inside the perimeter),
    the smallest, most specific zone wins. None when no zone touches it.

    Example:
        >>> from shapely.geometry import box
        >>> outer = GridZone("p", "perimeter", "P", box(0, 0, 100, 100))
        >>> inner = GridZone("h", "housing", "H", box(10, 10, 40, 40))
        >>> attribute_zone(box(12, 12, 20, 20), [outer, inner]).zone_id
        'h'
    """
    best: tuple[float, float, GridZone] | None = None
    area = geometry.area
    if area <= 0:
        return None
    for z in zones:
        share = z.geometry.intersection(geometry).area / area
        if share <= 0:
            continue
        key = (round(share, 3), -z.geometry.area, z)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def split_by_zone(geometry: BaseGeometry, zones: Sequence[GridZone]) -> dict[str, float]:
    """The area (m²) of a change polygon inside each zone it touches, by zone id.

    A change object is attributed to one zone (:func:`attribute_zone`), but the area a
    zone reports is only the part of the object inside it: a zone's changed area never
    exceeds its own area, however large an object crossing it is.

    Example:
        >>> from shapely.geometry import box
        >>> small = GridZone("s", "housing", "S", box(0, 0, 10, 10))
        >>> split_by_zone(box(5, 0, 1005, 1000), [small])
        {'s': 50.0}
    """
    out: dict[str, float] = {}
    for z in zones:
        if not z.geometry.intersects(geometry):
            continue
        inside = z.geometry.intersection(geometry).area
        if inside > 0:
            out[z.zone_id] = float(inside)
    return out
