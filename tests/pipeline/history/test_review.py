"""Analyst review: history kept, decision in force, carry-over to re-detected changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.affinity import translate
from shapely.geometry import Polygon, box

from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.errors import CatalogueError
from imagery.records import Review, StoredChange
from pipeline.errors import ReviewError
from pipeline.history.events import find_events, stored_event
from pipeline.history.review import decisions_for, iou, record_review, review_events

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def cap(cid: str, year: int) -> Capture:
    return Capture(cid, "camp", datetime(year, 6, 1, tzinfo=UTC), "WV", 0.5, box(0, 0, 1, 1),
                   "local", "", "", usable=True, clear_fraction=1.0)


def chg(cid: str, a: Capture, b: Capture, geom: Polygon) -> StoredChange:
    return StoredChange(cid, "camp", a.capture_id, b.capture_id, a.acquired, b.acquired, geom,
                        geom.area, "new_or_brighter", 0.9, "high", "housing-1", "housing", "t")


A, B, C = cap("a", 2010), cap("b", 2012), cap("c", 2014)
HOUSE = box(500_000, 4_300_000, 500_020, 4_300_020)


def test_decisions_are_history_and_the_latest_is_in_force(tmp_path: Path) -> None:
    with open_catalogue(tmp_path / "c.gpkg", "EPSG:32652") as cat:
        cat.replace_changes("a", "b", [chg("house", A, B, HOUSE)])
        record_review(cat, "house", "needs_vhr", analyst="JS", now=T0)
        record_review(cat, "hou", "accepted", analyst="KL", note="roof visible", now=T0 + timedelta(days=1))
        reviews = cat.reviews()
        events = find_events([A, B, C], cat.changes())
    assert [(r.decision, r.analyst) for r in reviews] == [("needs_vhr", "JS"), ("accepted", "KL")]
    (reviewed,) = review_events(events, reviews)
    assert reviewed.status == "accepted" and reviewed.review is not None
    assert reviewed.review.note == "roof visible" and len(reviewed.history) == 2
    layer = gpd.read_file(tmp_path / "c.gpkg", layer="reviews")
    assert layer.crs.to_epsg() == 32652 and len(layer) == 2


def test_same_instant_twice_is_refused_not_overwritten(tmp_path: Path) -> None:
    with open_catalogue(tmp_path / "c.gpkg", "EPSG:32652") as cat:
        cat.replace_changes("a", "b", [chg("house", A, B, HOUSE)])
        record_review(cat, "house", "accepted", now=T0)
        with pytest.raises(CatalogueError) as err:
            record_review(cat, "house", "rejected", now=T0)
        assert [r.decision for r in cat.reviews()] == ["accepted"]
    assert str(err.value).endswith(
        "a review of change 'house' at 2020-01-01T00:00:00+00:00 is already recorded"
    )


def test_bad_review_input_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    with open_catalogue(path, "EPSG:32652") as cat:
        cat.replace_changes("a", "b", [chg("house1", A, B, HOUSE), chg("house2", A, B, box(0, 0, 5, 5))])
        with pytest.raises(ReviewError) as unknown:
            record_review(cat, "barn", "accepted")
        with pytest.raises(ReviewError) as ambiguous:
            record_review(cat, "house", "accepted")
        with pytest.raises(ReviewError) as bad:
            record_review(cat, "house1", "maybe")
    assert str(unknown.value) == f"{path}: no change with id 'barn' in the catalogue"
    assert str(ambiguous.value) == (
        f"{path}: change id prefix 'house' matches 2 changes (house1, house2); give more characters"
    )
    assert str(bad.value) == "decision must be one of accepted, rejected, needs_vhr; got 'maybe'"


def review_of(change: StoredChange, decision: str) -> Review:
    return Review(change.change_id, "camp", change.before_id, change.after_id, change.geometry,
                  change.change_type, decision, T0)


def test_decision_follows_a_slightly_moved_redetection_in_the_same_pair() -> None:
    old = chg("old-id", A, B, HOUSE)
    moved = chg("new-id", A, B, translate(HOUSE, 2.0, 1.0))  # IoU ~0.77
    far = chg("far-id", A, B, translate(HOUSE, 14.0, 0.0))  # IoU ~0.18
    other_pair = chg("other", B, C, HOUSE)
    reviews = [review_of(old, "accepted")]
    assert iou(old.geometry, moved.geometry) > 0.5 > iou(old.geometry, far.geometry)
    assert [r.decision for r in decisions_for(moved, reviews)] == ["accepted"]
    assert decisions_for(far, reviews) == []
    assert decisions_for(other_pair, reviews) == []


def test_events_layer_carries_the_review_state(tmp_path: Path) -> None:
    changes = [chg("house", A, B, HOUSE)]
    (event,) = find_events([A, B, C], changes)
    with open_catalogue(tmp_path / "c.gpkg", "EPSG:32652") as cat:
        cat.replace_events([stored_event(event, "accepted")])
        cat.replace_events([stored_event(event, "rejected")])  # replaced, not duplicated
        (stored,) = cat.events()
    layer = gpd.read_file(tmp_path / "c.gpkg", layer="events")
    assert stored.review == "rejected" and stored.statement == event.statement()
    assert list(layer["review"]) == ["rejected"] and layer.crs.to_epsg() == 32652
    assert layer.geometry.iloc[0].equals(HOUSE)
