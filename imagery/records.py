"""Records the catalogue stores besides captures: change polygons and timeline rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shapely.geometry import MultiPolygon, Polygon


@dataclass(frozen=True)
class StoredChange:
    """A change polygon between two captures, as stored in the ``changes`` layer."""

    change_id: str
    """Deterministic id: the same detection on a rerun gets the same id."""
    facility_id: str
    """The facility."""
    before_id: str
    """Capture id of the earlier capture of the pair."""
    after_id: str
    """Capture id of the later capture of the pair."""
    before_acquired: datetime
    """Acquisition time of the earlier capture."""
    after_acquired: datetime
    """Acquisition time of the later capture."""
    geometry: Polygon | MultiPolygon
    """Outline in the facility grid CRS."""
    area_m2: float
    """Area in square metres."""
    change_type: str
    """new_or_brighter, removed_or_darker, vegetation_gain, vegetation_loss or earthworks."""
    confidence: float
    """Detector confidence, 0..1."""
    confidence_label: str
    """low, medium or high."""
    zone_id: str
    """Zone the change falls in most ("" when outside every zone)."""
    zone_type: str
    """Type of that zone ("" when outside every zone)."""
    method: str
    """Detection method and its recorded co-registration/normalisation."""
    series: str = ""
    """The capture series the pair belongs to (e.g. "vhr", "medium")."""
    extra: dict[str, object] = field(default_factory=dict, compare=False)
    """Further attributes (stored as JSON)."""


@dataclass(frozen=True)
class TimelineRow:
    """One capture × zone row of a facility's activity timeline (the ``timeline`` table)."""

    facility_id: str
    """The facility."""
    capture_id: str
    """The capture."""
    acquired: datetime
    """Its acquisition time."""
    sensor: str
    """Its sensor."""
    gsd_m: float
    """Its ground sample distance."""
    series: str
    """The series it belongs to."""
    zone_id: str
    """Zone id, or "aoi" for the whole area of interest."""
    zone_type: str
    """Zone type, or "aoi"."""
    clear_fraction: float
    """Fraction of the zone that is clear in this capture."""
    usable: bool
    """Whether the capture was used for detection."""
    previous_capture_id: str
    """The previous usable capture of the series ("" for the first)."""
    changed_area_m2: float
    """Changed area since the previous usable capture."""
    change_count: int
    """Number of change objects since the previous usable capture."""
    changed_by_type: dict[str, float] = field(default_factory=dict, compare=False)
    """Changed area per change type, m²."""
    metrics: dict[str, float] = field(default_factory=dict, compare=False)
    """Zone metrics such as median NDVI or bright/bare area."""
