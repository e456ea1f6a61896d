"""The per-zone activity timeline (pure: records and arrays in, rows out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from facilities.model import Facility
from imagery.capture import Capture
from imagery.records import StoredChange, TimelineRow
from pipeline.change.pairs import capture_pairs, series_of
from pipeline.change.zones import GridZone, split_by_zone

BRIGHT_BARE_MIN = 0.22
"""Mean visible reflectance above which a quarry pixel counts as bright (bare rock, spoil)."""
BARE_NDVI_MAX = 0.2
"""NDVI below which a pixel counts as bare."""
STRUCTURE_BRIGHTER = 0.06
"""A housing pixel brighter than the zone's median by this (mean visible) may be a roof."""
STRUCTURE_BLUE = 0.03
"""A housing pixel whose blue exceeds its red by this (blue-painted roof) may be a roof."""
STRUCTURE_RED_RATIO = 2.0
"""A housing pixel whose red is this many times its blue (red-painted roof) may be a roof."""
STRUCTURE_MIN_M2 = 20.0
"""Smallest roof object counted as a structure (and never fewer than 3 pixels)."""


def structure_metrics(
    reflectance: np.ndarray, zone: np.ndarray, ndvi: np.ndarray, pixel_area_m2: float
) -> dict[str, float]:
    """Roof footprint (m²) and structure count in one zone's clear pixels.

    A roof pixel is not vegetated and either brighter than the zone's median
    ground or distinctly blue or red (painted roofs); 8-connected roof objects of
    at least :data:`STRUCTURE_MIN_M2` count as structures. Dark roofs blend with
    shadows and are missed: an indicator of change, not a building census.

    Example:
        >>> import numpy as np
        >>> img = np.full((4, 8, 8), 0.12, np.float32); img[3] = 0.2
        >>> img[:3, 2:5, 2:5] = 0.35; img[3, 2:5, 2:5] = 0.37
        >>> ndvi = (img[3] - img[2]) / (img[3] + img[2])
        >>> structure_metrics(img, np.ones((8, 8), bool), ndvi, 4.0)
        {'structure_footprint_m2': 36.0, 'structure_count': 1.0}
    """
    vis = reflectance[:3].mean(axis=0)
    ground = float(np.median(vis[zone]))
    blue, red = reflectance[0], reflectance[2]
    tint = (blue >= red + STRUCTURE_BLUE) | (red >= STRUCTURE_RED_RATIO * blue)
    roof = zone & (ndvi < BARE_NDVI_MAX) & ((vis >= ground + STRUCTURE_BRIGHTER) | tint)
    labels, n = ndimage.label(roof, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    min_px = max(3, int(np.ceil(STRUCTURE_MIN_M2 / pixel_area_m2)))
    kept = sizes[sizes >= min_px]
    return {
        "structure_footprint_m2": float(kept.sum()) * pixel_area_m2,
        "structure_count": float(kept.size),
    }


def zone_metrics(
    reflectance: np.ndarray,
    clear: np.ndarray,
    regions: Mapping[str, np.ndarray],
    zone_types: Mapping[str, str],
    pixel_area_m2: float,
) -> dict[str, dict[str, float]]:
    """Per-zone indicators of one capture, over its clear pixels.

    Agriculture zones get the median NDVI; quarry zones the bright, bare area
    in m²; housing zones the roof footprint in m² and the structure count
    (:func:`structure_metrics`). Zones with no clear pixel get nothing.

    Example:
        >>> import numpy as np
        >>> img = np.zeros((4, 2, 2), np.float32); img[2] = 0.1; img[3] = 0.5
        >>> m = zone_metrics(img, np.ones((2, 2), bool), {"f": np.ones((2, 2), bool)},
        ...                  {"f": "agriculture"}, 1.0)
        >>> round(m["f"]["median_ndvi"], 2)
        0.67
    """
    red, nir = reflectance[2], reflectance[3]
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
    out: dict[str, dict[str, float]] = {}
    for zone_id, zone_type in zone_types.items():
        region = regions[zone_id] & clear & np.isfinite(ndvi)
        if not region.any():
            continue
        if zone_type == "agriculture":
            out[zone_id] = {"median_ndvi": round(float(np.median(ndvi[region])), 4)}
        elif zone_type == "quarry":
            bright = reflectance[:3, region].mean(axis=0) > BRIGHT_BARE_MIN
            bare = ndvi[region] < BARE_NDVI_MAX
            out[zone_id] = {"bright_bare_m2": float((bright & bare).sum()) * pixel_area_m2}
        elif zone_type == "housing":
            out[zone_id] = structure_metrics(reflectance, region, ndvi, pixel_area_m2)
    return out


def build_timeline(
    facility: Facility,
    captures: Sequence[Capture],
    changes: Sequence[StoredChange],
    zones: Sequence[GridZone],
    metrics: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> list[TimelineRow]:
    """One row per capture and zone (plus the whole AOI as zone ``"aoi"``).

    Changed area and count are those of the pair that ends at the capture
    (since the previous usable capture of its series); unusable captures get
    zero change and their reason stays in the catalogue.

    Example:
        >>> # rows = build_timeline(facility, cat.captures(), cat.changes(), zones, metrics)
    """
    previous = {p.after.capture_id: p.before.capture_id for p in capture_pairs(list(captures))}
    by_pair: dict[str, list[StoredChange]] = {}
    for ch in changes:
        by_pair.setdefault(ch.after_id, []).append(ch)
    areas = ["aoi", *[z.zone_id for z in zones]]
    types = {"aoi": "aoi"} | {z.zone_id: z.zone_type for z in zones}
    rows: list[TimelineRow] = []
    for cap in sorted(captures, key=lambda c: (c.acquired, c.capture_id)):
        prev = previous.get(cap.capture_id, "")
        pair_changes = [c for c in by_pair.get(cap.capture_id, []) if c.before_id == prev]
        # each object's area split by zone: a zone reports only what lies inside it
        shares = {c.change_id: split_by_zone(c.geometry, zones) for c in pair_changes}
        for area in areas:
            in_zone = (
                pair_changes if area == "aoi"
                else [c for c in pair_changes if area in shares[c.change_id]]
            )
            by_type: dict[str, float] = {}
            for c in in_zone:
                part = c.area_m2 if area == "aoi" else shares[c.change_id][area]
                by_type[c.change_type] = round(by_type.get(c.change_type, 0.0) + part, 2)
            clear = cap.clear_fraction if area == "aoi" else cap.zone_clear.get(area, 0.0)
            rows.append(
                TimelineRow(
                    facility_id=facility.id,
                    capture_id=cap.capture_id,
                    acquired=cap.acquired,
                    sensor=cap.sensor,
                    gsd_m=cap.gsd_m,
                    series=series_of(cap),
                    zone_id=area,
                    zone_type=types[area],
                    clear_fraction=float(clear or 0.0),
                    usable=bool(cap.usable),
                    previous_capture_id=prev,
                    changed_area_m2=round(sum(by_type.values()), 2),
                    change_count=len(in_zone),
                    changed_by_type=by_type,
                    metrics=dict(metrics.get(cap.capture_id, {}).get(area, {})),
                )
            )
    return rows
