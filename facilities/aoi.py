"""Search-area AOIs for facilities whose boundary nobody has published.

Most sources print a point and a size, not a boundary. The AOI is then a circle around the
published point whose radius follows from the published size (:func:`radius_for_extent`), drawn
as a 64-gon in the UTM zone of the point (:func:`search_buffer`). It is a search area, and every
definition's ``aoi_method`` says so and says how the radius was chosen.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from shapely.geometry import Point, Polygon

from facilities.grid import utm_crs_for

SEGMENTS = 64
"""Vertices of a search circle."""

ROUND_TO_M = 10.0
"""Radii are rounded up to a multiple of this."""


def radius_for_extent(
    length_m: float | None = None, width_m: float | None = None, area_m2: float | None = None
) -> float:
    """A search radius that holds a facility of the published size around its published point.

    With two published sides the radius is the rectangle's diagonal: every part of such a
    facility is within one diagonal of any point in it, so the facility is inside the circle
    wherever in it the published point lies. With only an area it is the diameter of a circle of
    that area (an elongated facility can reach further). Rounded up to :data:`ROUND_TO_M`.

    Example:
        >>> radius_for_extent(188, 128)
        230.0
        >>> radius_for_extent(area_m2=73e6)
        9650.0
    """
    if length_m is not None and width_m is not None:
        r = math.hypot(length_m, width_m)
    elif area_m2 is not None:
        r = 2.0 * math.sqrt(area_m2 / math.pi)
    else:
        raise ValueError("give two sides or an area")
    return math.ceil(r / ROUND_TO_M - 1e-9) * ROUND_TO_M


def search_buffer(lat: float, lon: float, radius_m: float) -> Polygon:
    """A WGS 84 circle (64-gon) of ``radius_m`` around (lat, lon), drawn in its UTM zone.

    Vertices are rounded to 7 decimals (about 1 cm).

    Example:
        >>> ring = search_buffer(39.008838, 126.153277, 1000.0).exterior.coords
        >>> len(ring)
        65
    """
    crs = CRS.from_user_input(utm_crs_for(lon, lat))
    wgs84 = CRS.from_epsg(4326)
    fwd = Transformer.from_crs(wgs84, crs, always_xy=True)
    inv = Transformer.from_crs(crs, wgs84, always_xy=True)
    x, y = fwd.transform(lon, lat)
    circle = Point(x, y).buffer(radius_m, quad_segs=SEGMENTS // 4)

    def back(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        lo, la = inv.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lo, la]), 7)

    out: Polygon = shapely.transform(circle, back)
    return out
