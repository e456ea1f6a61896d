"""Validate a facility definition and build the :class:`Facility` record.

FIRST VERSION: builds the record with minimal checks. The facilities helper
replaces this with the full rule set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from shapely.geometry import Polygon, shape

from facilities.model import Facility, Names, ReportedPoint, Zone
from facilities.types import FacilityType, ZoneType


def facility_from_collection(data: Any, path: Path | None = None) -> Facility:
    """Build a facility from a parsed GeoJSON FeatureCollection."""
    feats = data["features"]
    fac = next(f for f in feats if f["properties"].get("feature_type") == "facility")
    p = fac["properties"]
    zones = tuple(
        Zone(
            id=z["properties"]["zone_id"],
            zone_type=cast(ZoneType, z["properties"]["zone_type"]),
            name=z["properties"]["name"],
            geometry=cast(Polygon, shape(z["geometry"])),
            source=z["properties"]["source"],
            simulated=bool(z["properties"].get("simulated", False)),
        )
        for z in feats
        if z["properties"].get("feature_type") == "zone"
    )
    return Facility(
        id=p["id"],
        names=Names(
            english=p["name_en"],
            korean=p.get("name_ko"),
            mccune_reischauer=p.get("name_mr"),
            revised_romanization=p.get("name_rr"),
            aliases=tuple(p.get("aliases") or ()),
        ),
        facility_type=cast(FacilityType, p["type"]),
        country=p["country"],
        reported_point=ReportedPoint(p["reported_lat"], p["reported_lon"], p["reported_citation"]),
        aoi=cast(Polygon, shape(fac["geometry"])),
        aoi_method=p["aoi_method"],
        zones=zones,
        source_path=path,
    )
