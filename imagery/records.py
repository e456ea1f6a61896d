"""Records the catalogue stores besides captures: change polygons and timeline rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from shapely.geometry import MultiPolygon, Polygon

from imagery.types import (
    ChangeType,
    ConfidenceLabel,
    EventStatus,
    LandCover,
    ReviewDecision,
    ReviewStatus,
    Series,
)


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
    change_type: ChangeType
    """new_or_brighter, removed_or_darker, vegetation_gain, vegetation_loss or earthworks."""
    confidence: float
    """Detector confidence, 0..1."""
    confidence_label: ConfidenceLabel
    """low, medium or high."""
    zone_id: str
    """Zone the change falls in most ("" when outside every zone)."""
    zone_type: str
    """Type of that zone ("" when outside every zone)."""
    method: str
    """Detection method and its recorded co-registration/normalisation."""
    series: Series | Literal[""] = ""
    """The capture series the pair belongs to (e.g. "vhr", "medium")."""
    extra: dict[str, object] = field(default_factory=dict, compare=False)
    """Further attributes (stored as JSON)."""
    track_id: str = ""
    """Identity of the physical change, independent of the pair it was seen in: the id of the
    change that first showed it, inherited by every later detection of it (same kind,
    overlapping outline and bracket; see :mod:`pipeline.history.tracks`). "" before tracks."""


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


@dataclass(frozen=True)
class StoredEvent:
    """A persistent change with its bracket and review state (the ``events`` layer)."""

    event_id: str
    """Id of the event: the id of its change object."""
    facility_id: str
    """The facility."""
    before_id: str
    """Last usable capture before the event."""
    after_id: str
    """First usable capture showing it."""
    before_acquired: datetime
    """Acquisition time of the capture before."""
    after_acquired: datetime
    """Acquisition time of the capture after."""
    geometry: Polygon | MultiPolygon
    """Outline in the facility grid CRS."""
    area_m2: float
    """Area in square metres."""
    change_type: ChangeType
    """Change type of the change object."""
    confidence: float
    """Detector confidence, 0..1."""
    confidence_label: ConfidenceLabel
    """low, medium or high."""
    zone_id: str
    """Zone the event falls in most ("" outside every zone)."""
    zone_type: str
    """Type of that zone ("" outside every zone)."""
    series: Series | Literal[""]
    """Capture series of the bracket ("vhr" or "medium")."""
    status: EventStatus
    """"confirmed" (not reverted by the next usable capture) or "unconfirmed" (no next one)."""
    review: ReviewStatus
    """Analyst decision in force: "pending", "accepted", "rejected" or "needs_vhr"."""
    statement: str
    """The event as one sentence, bracketed by the two capture dates."""
    track_id: str = ""
    """Identity of the physical change (see :attr:`StoredChange.track_id`)."""
    land_cover: LandCover | None = None
    """What the event did to the ground, measured from its two captures by the run
    (:mod:`pipeline.history.landcover`); None in catalogues written before it existed."""
    land_cover_note: str | None = None
    """The measured values behind :attr:`land_cover` (e.g. "NDVI 0.61 → 0.08"), or why
    nothing was measured."""


@dataclass(frozen=True)
class Review:
    """One analyst decision about a change object (the ``reviews`` layer; never overwritten)."""

    change_id: str
    """The change object decided on (its id when the decision was made)."""
    facility_id: str
    """The facility."""
    before_id: str
    """Earlier capture of the change's pair."""
    after_id: str
    """Later capture of the change's pair."""
    geometry: Polygon | MultiPolygon
    """The change's outline when decided, so a re-detected, slightly moved change keeps it."""
    change_type: ChangeType
    """The change's type when decided."""
    decision: ReviewDecision
    """"accepted", "rejected" or "needs_vhr" (needs very-high-resolution imagery)."""
    decided_at: datetime
    """When the decision was recorded (UTC)."""
    analyst: str = ""
    """Who decided."""
    note: str = ""
    """Free-text reason."""
    track_id: str = ""
    """Identity of the physical change decided on (see :attr:`StoredChange.track_id`), so the
    decision follows it when a backfilled capture re-brackets it under another change id."""


@dataclass(frozen=True)
class StoredTile:
    """One tile of a facility grid's tile index (the ``tiles`` layer)."""

    tile_id: str
    """Stable id, e.g. "r002c005@50cm-480m" (see :mod:`imagery.tiles`)."""
    facility_id: str
    """The facility."""
    row: int
    """Tile row, 0 at the north of the grid."""
    col: int
    """Tile column, 0 at the west of the grid."""
    resolution_m: float
    """Pixel size of the grid the tile belongs to, metres."""
    geometry: Polygon
    """The tile core's outline in the facility grid CRS."""
    zone_ids: tuple[str, ...] = ()
    """Zones whose outline shares area with the core, in the facility's order."""


@dataclass(frozen=True)
class TileStatus:
    """Whether one capture has valid pixels in one tile (the ``tile_status`` table)."""

    capture_id: str
    """The capture."""
    tile_id: str
    """The tile."""
    valid_pixels: int
    """Clear, valid pixels of the capture in the tile core (0: the tile is skipped)."""
    total_pixels: int
    """Pixels of the tile core."""


@dataclass(frozen=True)
class StoredFile:
    """A derived file the workspace vouches for (the ``files`` table), sealed by its writer.

    Captures and masks are vouched for by their capture's row; this table covers the rest
    of a facility's directory: change masks, report files and figures, timeline exports,
    viewer files and state files.
    """

    path: str
    """Path relative to the facility directory (POSIX separators)."""
    role: str
    """The top folder it lives in ("changes", "report", "viewer", …; "" at the top)."""
    sha256: str
    """SHA-256 of the file when sealed."""
    size: int
    """Size in bytes when sealed."""
    mtime_ns: int
    """Modification time when sealed (nanoseconds since the epoch)."""
    sealed_by: str
    """The command that wrote it (as in the workspace lock, e.g. "campwatch run")."""
    sealed_at: datetime
    """When it was sealed (UTC)."""
