"""A facility's own pixel grid: UTM zone of the reported point, explicit resolution.

The origin is snapped to a multiple of ``snap_m`` (the coarsest resolution the
project nests, 60 m by default: Sentinel-2's coarsest band, a multiple of 30 m
Landsat, 10 m Sentinel-2 and every sub-metre commercial GSD that divides 60 m),
so that grids of the same facility at different resolutions nest exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from shapely.geometry import Polygon, box

from facilities.errors import GridError
from facilities.model import Facility
from facilities.types import EpsgCode

DEFAULT_SNAP_M = 60.0
"""Grid origins and extents are multiples of this many metres."""


@dataclass(frozen=True)
class FacilityGrid:
    """A north-up pixel grid in a projected CRS."""

    crs: EpsgCode
    """Authority string of the projected CRS, e.g. "EPSG:32652"."""
    resolution: float
    """Pixel size in metres (square pixels)."""
    west: float
    """Left edge of the grid in CRS metres (pixel edge, not centre)."""
    north: float
    """Top edge of the grid in CRS metres (pixel edge, not centre)."""
    width: int
    """Number of columns."""
    height: int
    """Number of rows."""

    @property
    def transform(self) -> Affine:
        """Affine transform from pixel (col, row) edges to CRS coordinates."""
        return Affine(self.resolution, 0.0, self.west, 0.0, -self.resolution, self.north)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in CRS metres."""
        return (
            self.west,
            self.north - self.height * self.resolution,
            self.west + self.width * self.resolution,
            self.north,
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) as numpy orders it."""
        return (self.height, self.width)

    def polygon(self) -> Polygon:
        """The grid's extent as a polygon in its CRS."""
        return box(*self.bounds)


def utm_crs_for(lon: float, lat: float) -> EpsgCode:
    """The WGS 84 / UTM zone CRS containing a point.

    Example:
        >>> utm_crs_for(126.153277, 39.008838)
        'EPSG:32652'
    """
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise GridError(f"point lon={lon!r}, lat={lat!r} is outside WGS 84 bounds")
    zone = math.floor((lon + 180.0) / 6.0) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def to_grid_crs(geom: Polygon, crs: EpsgCode) -> Polygon:
    """Reproject a WGS 84 (lon, lat) geometry into ``crs``."""
    tr = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs), always_xy=True)

    def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    out: Polygon = shapely.transform(geom, project)
    return out


def facility_grid(
    facility: Facility, resolution: float, *, snap_m: float = DEFAULT_SNAP_M
) -> FacilityGrid:
    """Build the facility's grid at ``resolution`` metres.

    The extent is the AOI's bounds in the UTM zone of the reported point,
    expanded outwards to multiples of ``snap_m``; the resolution must divide
    ``snap_m`` exactly so that every resolution's grid covers the same extent.

    Example:
        >>> from facilities.load import load_facility_by_id
        >>> g = facility_grid(load_facility_by_id("kangdong-kyohwaso-4"), 10.0)
        >>> g.crs, g.resolution, g.west % 60.0
        ('EPSG:32652', 10.0, 0.0)
    """
    if not (isinstance(resolution, int | float) and math.isfinite(resolution) and resolution > 0):
        raise GridError(f"grid resolution must be a positive number of metres, got {resolution!r}")
    ratio = snap_m / resolution
    if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
        raise GridError(
            f"grid resolution {resolution!r} m does not divide the snap {snap_m!r} m; "
            "grids of different resolutions would not nest"
        )
    rp = facility.reported_point
    crs = utm_crs_for(rp.lon, rp.lat)
    minx, miny, maxx, maxy = to_grid_crs(facility.aoi, crs).bounds
    west = math.floor(minx / snap_m) * snap_m
    south = math.floor(miny / snap_m) * snap_m
    east = math.ceil(maxx / snap_m) * snap_m
    north = math.ceil(maxy / snap_m) * snap_m
    width = round((east - west) / resolution)
    height = round((north - south) / resolution)
    return FacilityGrid(crs, float(resolution), west, north, width, height)
