"""The facility model: frozen records built from a definition file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shapely.geometry import Point, Polygon

from facilities.types import FacilityStatus, FacilityType, ZoneType


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
    source_id: str | None = None
    """Id of the :class:`Source` that prints these coordinates (None in older definitions)."""

    @property
    def point(self) -> Point:
        """The point as a shapely geometry in (lon, lat) order."""
        return Point(self.lon, self.lat)


@dataclass(frozen=True)
class Source:
    """A public document that says something about a facility, with the words it says it in."""

    id: str
    """Slug, unique within the facility; the status, extent and reported point refer to it."""
    title: str
    """Title as published."""
    authors: tuple[str, ...]
    """Authors as published; empty when the document names none (the publisher is then the
    author)."""
    publisher: str
    """Organisation that published the document, e.g. "Committee for Human Rights in North
    Korea (HRNK)"."""
    date: str
    """Publication date, ISO 8601 to the precision published (YYYY, YYYY-MM or YYYY-MM-DD), or
    "n.d." for an undated page."""
    url: str
    """Stable URL of the document."""
    quote: str
    """Text quoted exactly from the document (whitespace normalised): what this source is cited
    for. When the source gives a location, the quote states it."""
    read_at: str | None = None
    """URL of the copy that was actually read, when it is not ``url`` (a mirror, an archive)."""
    lat: float | None = None
    """Latitude this source prints for the facility (None when it gives no location)."""
    lon: float | None = None
    """Longitude this source prints for the facility (None when it gives no location)."""
    note: str | None = None
    """Caveats: what the source does not say, how it was read, where it disagrees."""

    @property
    def has_point(self) -> bool:
        """True when the source prints a location."""
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True)
class StatusReport:
    """Whether a facility operates, according to a published source at a date."""

    status: FacilityStatus
    """active, closed, reported-closed or unknown."""
    as_of: str | None = None
    """The date the statement describes (ISO 8601 to the precision known); None when unknown."""
    source_id: str | None = None
    """Id of the :class:`Source` that says so (None only for "unknown")."""
    quote: str | None = None
    """The source's words (None only for "unknown")."""
    note: str | None = None
    """Caveats, e.g. a second source that says otherwise."""


@dataclass(frozen=True)
class Extent:
    """The size of a facility as a source publishes it."""

    source_id: str
    """Id of the :class:`Source` that gives the size."""
    quote: str
    """The source's words."""
    area_m2: float | None = None
    """Published area in square metres."""
    length_m: float | None = None
    """Published longer side in metres."""
    width_m: float | None = None
    """Published shorter side in metres."""


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
    sources: tuple[Source, ...] = ()
    """Published sources (empty in definitions that predate sourced registries)."""
    status: StatusReport | None = None
    """Operating status with its date and source (None in older definitions)."""
    extent: Extent | None = None
    """Published size, when a source gives one."""
    names_source: str | None = None
    """URL of the page the hangul and romanised names were taken from."""
    source_path: Path | None = field(default=None, compare=False)
    """The definition file the facility was loaded from."""

    def source(self, source_id: str | None) -> Source | None:
        """The source with this id, or None.

        Example:
            >>> from facilities.load import load_facility_by_id
            >>> f = load_facility_by_id("kangdong-kyohwaso-4")
            >>> f.source(f.reported_point.source_id).publisher[:9]
            'Committee'
        """
        return next((s for s in self.sources if s.id == source_id), None)

    @property
    def has_simulated_zones(self) -> bool:
        """True when any zone was drawn for the simulated demo scene."""
        return any(z.simulated for z in self.zones)
