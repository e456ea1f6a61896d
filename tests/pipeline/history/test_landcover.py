"""Land cover under an event, from its own two captures (NDVI, NDWI, brightness)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest
from shapely.geometry import box

from imagery.capture import Capture
from imagery.records import StoredChange
from pipeline.history.events import Event, change_noun
from pipeline.history.landcover import (
    LandCoverMeasure,
    classify_land_cover,
    measure_event_land_cover,
)


def px(blue: float, green: float, red: float, nir: float, n: int = 25,
       jitter: float = 0.005) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = np.array([[blue], [green], [red], [nir]], dtype=np.float32).repeat(n, axis=1)
    return base + rng.uniform(-jitter, jitter, base.shape).astype(np.float32)


GRASS = (0.03, 0.08, 0.04, 0.40)
SOIL = (0.14, 0.17, 0.20, 0.25)
ROOF = (0.20, 0.21, 0.22, 0.24)
WATER = (0.06, 0.08, 0.05, 0.02)


@pytest.mark.parametrize(("before", "after", "label"), [
    (GRASS, SOIL, "vegetation_cleared"),
    (SOIL, GRASS, "vegetation_grown"),
    ((0.08, 0.09, 0.10, 0.13), SOIL, "bare_or_excavated"),
    (ROOF, (0.12, 0.13, 0.14, 0.16), "surface_changed"),
    (SOIL, WATER, "water"),
    ((0.05, 0.08, 0.10, 0.16), (0.04, 0.08, 0.05, 0.13), "vegetation_grown"),  # 0.23 -> 0.44
    (GRASS, (0.03, 0.09, 0.05, 0.30), "vegetated_both"),
])
def test_each_class_from_its_indices(before: tuple, after: tuple, label: str) -> None:
    m = classify_land_cover(px(*before), px(*after))
    assert m.label == label, m
    assert m.note  # the measured values are kept with it


def test_no_near_infrared_is_said_not_guessed() -> None:
    rgb_only = px(*GRASS)
    rgb_only[3] = 1.0  # an alpha band in the near-infrared's place
    m = classify_land_cover(rgb_only, px(*SOIL))
    assert m.label == "not_measured" and "near-infrared" in m.note
    empty = px(*GRASS)
    empty[3] = np.nan
    assert classify_land_cover(px(*SOIL), empty).label == "not_measured"


def test_too_few_pixels_is_not_measured() -> None:
    m = classify_land_cover(px(*GRASS, n=2), px(*SOIL, n=2))
    assert m.label == "not_measured" and "fewer than" in m.note


def test_bad_shape_names_the_shape() -> None:
    with pytest.raises(ValueError, match=r"before pixels must have shape \(4, N\); got \(3, 5\)"):
        classify_land_cover(np.zeros((3, 5)), np.zeros((4, 5)))


def _event(area_side: float, change_type: str, cover: LandCoverMeasure | None) -> Event:
    t0, t1 = datetime(2016, 11, 30, tzinfo=UTC), datetime(2017, 8, 29, tzinfo=UTC)
    caps = [Capture(capture_id=f"c{i}", facility_id="f", acquired=t, sensor="Sentinel-2A",
                    gsd_m=10.0, footprint=box(0, 0, 1, 1), provider="local",
                    source_path="x.tif", source_sha256="0" * 64)
            for i, t in enumerate((t0, t1))]
    geom = box(0, 0, area_side, area_side)
    ch = StoredChange(change_id="x", facility_id="f", before_id="c0", after_id="c1",
                      before_acquired=t0, after_acquired=t1, geometry=geom, area_m2=geom.area, change_type=change_type,
                      confidence=0.8, confidence_label="high", zone_id="", zone_type="",
                      method="default", series="medium")
    return Event(ch, caps[0], caps[1], "unconfirmed", cover)


def test_size_and_land_cover_shape_the_statement() -> None:
    cleared = LandCoverMeasure("vegetation_cleared", "NDVI 0.61 → 0.08")
    big = _event(1000, "new_or_brighter", cleared).statement()  # 1 km²
    assert big.startswith("Vegetation cleared over a large area, 100.0 ha, detected as new or "
                          "brighter, outside the defined zones: occurred between 2016-11-30")
    assert "structure" not in big and "; measured NDVI 0.61 → 0.08" in big
    small = _event(20, "new_or_brighter", cleared).statement()  # 400 m²: may be one structure
    assert small.startswith("New or brighter structure, 400 m²")
    assert "appeared between" in small
    assert "; land cover: vegetation cleared (NDVI 0.61 → 0.08)" in small
    unmeasured = LandCoverMeasure("not_measured", "no near-infrared band in a capture")
    s = _event(1000, "new_or_brighter", unmeasured).statement()
    assert s.startswith("Large area brightened (land cover, not a single structure), 100.0 ha")
    assert "; land cover not measured (no near-infrared band in a capture)" in s
    assert "(unconfirmed: no later clear capture yet)" in s


def test_change_noun_without_a_measure_keeps_the_size_rule() -> None:
    assert change_noun("new_or_brighter", 420) == "New or brighter structure, 420 m²"
    assert change_noun("new_or_brighter", 12_000, "surface_changed").startswith("Surface newly")


def test_dark_winter_ground_is_not_called_water() -> None:
    """The OSCD Bercy rail yard in November: NDWI about 0.23 from shadow, not water."""
    shadow = px(0.07, 0.08, 0.07, 0.05)
    m = classify_land_cover(shadow, px(0.12, 0.13, 0.14, 0.16))
    assert m.label != "water", m


def test_eight_bit_relative_brightness_is_not_measured() -> None:
    """An 8-bit product is relative brightness: its NDVI is not comparable between dates."""
    ev = _event(100, "new_or_brighter", None)
    eight_bit = dataclasses.replace(ev.after, radiometry="DN / 255 (8-bit product: relative "
                                    "brightness, not reflectance)", sensor="GeoEye-1")
    m = measure_event_land_cover(None, None, ev.before, eight_bit,  # type: ignore[arg-type]
                                 ev.change.geometry)
    assert m.label == "not_measured" and m.note == (
        "GeoEye-1 is an 8-bit product (relative brightness)")
