"""What a facility workspace shows in the viewer: usable captures, zones, changes, events."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from facilities.grid import FacilityGrid, to_grid_crs
from facilities.model import Facility
from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.records import StoredChange
from imagery.workspace import FacilityWorkspace
from pipeline.errors import ViewerError
from pipeline.history.events import Event, read_events
from pipeline.viewer.build import PropertyValue, ViewerCapture, ViewerFeature

log = logging.getLogger(__name__)

UNREVIEWED = "unreviewed"
"""Review status of a machine detection no analyst has looked at yet."""


def _change_properties(change: StoredChange) -> dict[str, PropertyValue]:
    review = change.extra.get("review_status", UNREVIEWED)
    return {
        "change_id": change.change_id,
        "change_type": change.change_type,
        "area_m2": round(float(change.area_m2), 1),
        "before_date": change.before_acquired.date().isoformat(),
        "after_date": change.after_acquired.date().isoformat(),
        "before_id": change.before_id,
        "after_id": change.after_id,
        "review_status": str(review) if review is not None else UNREVIEWED,
        "label": change.change_type.replace("_", " "),
        "confidence": change.confidence_label,
        "zone_id": change.zone_id or None,
        "method": change.method,
    }


def viewer_inputs(
    facility: Facility, ws: FacilityWorkspace, grid: FacilityGrid
) -> tuple[list[ViewerCapture], list[ViewerFeature]]:
    """Read a workspace's catalogue into the viewer's captures and overlay features.

    Captures are the usable ones with a stored raster. Overlays are the facility's zones,
    every stored change and the events the run stored (changes the series supports, see
    :func:`pipeline.history.events.read_events`) between usable captures. Changes carry
    ``review_status`` from their ``extra`` attributes, "unreviewed" when absent.

    Raises:
        ViewerError: when no usable capture has a raster (naming the catalogue).

    Example:
        >>> # caps, feats = viewer_inputs(facility, FacilityWorkspace(root, facility.id), grid)
    """
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        all_captures = cat.captures()
        changes = cat.changes()
        events = read_events(cat)
    usable: list[Capture] = [c for c in all_captures if c.usable and c.raster_path]
    if not usable:
        raise ViewerError(
            f"{ws.catalogue_path}: no usable capture with a stored raster among "
            f"{len(all_captures)} catalogued; ingest or fetch imagery and run detection first"
        )
    captures = [
        ViewerCapture(
            capture_id=c.capture_id,
            acquired=c.acquired,
            sensor=c.sensor,
            gsd_m=c.gsd_m,
            raster=ws.absolute(c.raster_path),
            simulated=c.simulated,
        )
        for c in usable
    ]
    features: list[ViewerFeature] = [
        ViewerFeature(
            to_grid_crs(z.geometry, grid.crs),
            "zones",
            {
                "zone_id": z.id,
                "zone_type": z.zone_type,
                "name": z.name,
                "source": z.source + (" (simulated outline)" if z.simulated else ""),
            },
        )
        for z in facility.zones
    ]
    features += [ViewerFeature(ch.geometry, "changes", _change_properties(ch)) for ch in changes]
    features += _event_features(usable, events)
    log.info(
        "%s: %d usable captures, %d zones, %d changes",
        facility.id,
        len(captures),
        len(facility.zones),
        len(changes),
    )
    return captures, features


def _event_features(usable: Sequence[Capture], events: Sequence[Event]) -> list[ViewerFeature]:
    shown = {c.capture_id for c in usable}
    features = []
    for event in events:
        if event.before.capture_id not in shown or event.after.capture_id not in shown:
            continue
        props = _change_properties(event.change)
        props["event_status"] = event.status
        props["label"] = f"Event: {event.change.change_type.replace('_', ' ')}"
        props["statement"] = event.statement()
        features.append(ViewerFeature(event.change.geometry, "events", props))
    return features
