"""The facility model: frozen records built from a definition file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shapely.geometry import Point, Polygon

from facilities.types import FacilityType, ZoneType


@dataclass(frozen=True)
class Names:
    """The names a facility is known by."""

    english: str
    """English name, e.g. "Kyo-hwa-so No. 4, Kangdong"."""
    korean: str | None = None
    """Korean name in hangul."""
    mccune_reischauer: str | None = None
    """McCune–Reischauer romanization."""
    revised_romanization: str | None = None
    """Revised Romanization of Korean."""
    aliases: tuple[str, ...] = ()
    """Other names used in reports, e.g. "Chaek-kol"."""


@dataclass(frozen=True)
class ReportedPoint:
    """Where a published source places the facility (WGS 84)."""

    lat: float
    """Latitude in decimal degrees."""
    lon: float
    """Longitude in decimal degrees."""
    citation: str
    """The published source of the coordinates."""

    @property
    def point(self) -> Point:
        """The point as a shapely geometry in (lon, lat) order."""
        return Point(self.lon, self.lat)


@dataclass(frozen=True)
class Zone:
    """A typed part of a facility (housing, guard post, quarry, ...)."""

    id: str
    """Zone id, unique within its facility."""
    zone_type: ZoneType
    """What the zone is."""
    name: str
    """Human-readable label drawn on figures."""
    geometry: Polygon
    """Zone outline in WGS 84 (lon, lat)."""
    source: str
    """Where the outline comes from (a report figure, an analyst, the simulation)."""
    simulated: bool = False
    """True when the outline was drawn for the simulated demo scene and is not evidence."""


@dataclass(frozen=True)
class Facility:
    """A detention facility to watch."""

    id: str
    """Safe slug, unique across the registry; used in paths."""
    names: Names
    """Names and aliases."""
    facility_type: FacilityType
    """Facility category."""
    country: str
    """ISO 3166-1 alpha-3 country code, e.g. "PRK"."""
    reported_point: ReportedPoint
    """Published location with its citation."""
    aoi: Polygon
    """Area of interest in WGS 84 (lon, lat)."""
    aoi_method: str
    """How the AOI was drawn (e.g. "1000 m buffer around the reported point")."""
    zones: tuple[Zone, ...] = ()
    """Typed zones inside the AOI."""
    source_path: Path | None = field(default=None, compare=False)
    """The definition file the facility was loaded from."""

    @property
    def has_simulated_zones(self) -> bool:
        """True when any zone was drawn for the simulated demo scene."""
        return any(z.simulated for z in self.zones)
