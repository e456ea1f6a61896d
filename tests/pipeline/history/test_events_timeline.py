"""Pairs, zone attribution, events and the timeline (pure, on hand-made records)."""

from __future__ import annotations

from datetime import UTC, datetime

from shapely.geometry import Polygon, box

from facilities.load import load_facility_by_id
from imagery.capture import Capture
from imagery.records import StoredChange
from pipeline.change.pairs import capture_pairs, series_of
from pipeline.change.zones import GridZone, attribute_zone, grid_zones
from pipeline.history.events import find_events
from pipeline.history.timeline import build_timeline

FAC = load_facility_by_id("kangdong-kyohwaso-4")


def cap(cid: str, year: int, gsd: float = 0.5, usable: bool = True) -> Capture:
    return Capture(cid, FAC.id, datetime(year, 6, 1, tzinfo=UTC), "WV" if gsd < 5 else "S2",
                   gsd, Polygon(), "local", "", "", usable=usable, clear_fraction=1.0,
                   zone_clear={"housing-1": 1.0})


def chg(cid: str, before: Capture, after: Capture, geom: Polygon, kind: str,
        zone: tuple[str, str] = ("housing-1", "housing")) -> StoredChange:
    return StoredChange(cid, FAC.id, before.capture_id, after.capture_id, before.acquired,
                        after.acquired, geom, geom.area, kind, 0.9, "high", zone[0], zone[1], "t")


def test_pairs_are_consecutive_usable_captures_within_a_series() -> None:
    caps = [cap("a", 2010), cap("s1", 2011, 10.0), cap("b", 2012, usable=False), cap("c", 2013),
            cap("s2", 2014, 10.0), cap("d", 2015)]
    assert [series_of(c) for c in caps] == ["vhr", "medium", "vhr", "vhr", "medium", "vhr"]
    pairs = [(p.before.capture_id, p.after.capture_id, p.series) for p in capture_pairs(caps)]
    assert pairs == [("a", "c", "vhr"), ("s1", "s2", "medium"), ("c", "d", "vhr")]


def test_most_specific_zone_wins() -> None:
    zones = grid_zones(FAC, "EPSG:32652")
    housing = next(z for z in zones if z.zone_id == "housing-1")
    inner = housing.geometry.centroid.buffer(5)
    assert attribute_zone(inner, zones).zone_id == "housing-1"  # type: ignore[union-attr]
    far = box(0, 0, 10, 10)
    assert attribute_zone(far, zones) is None


def test_share_beats_size() -> None:
    a = GridZone("a", "housing", "A", box(0, 0, 10, 10))
    b = GridZone("b", "quarry", "B", box(10, 0, 100, 10))
    assert attribute_zone(box(5, 0, 30, 10), [a, b]).zone_id == "b"  # type: ignore[union-attr]


def test_events_persist_transients_revert() -> None:
    a, b, c, d = cap("a", 2010), cap("b", 2011), cap("c", 2012), cap("d", 2013)
    built = chg("built", a, b, box(0, 0, 20, 20), "new_or_brighter")
    truck = chg("truck", a, b, box(100, 0, 110, 5), "new_or_brighter")
    truck_gone = chg("truck-gone", b, c, box(100, 0, 110, 5), "removed_or_darker")
    crops = chg("crops", b, c, box(300, 0, 400, 100), "vegetation_loss",
                ("fields-south", "agriculture"))
    late = chg("late", c, d, box(500, 0, 520, 20), "new_or_brighter")
    events = find_events([a, b, c, d], [built, truck, truck_gone, crops, late])
    got = {(e.change.change_id, e.status, e.before.capture_id, e.after.capture_id) for e in events}
    assert got == {("built", "confirmed", "a", "b"), ("truck-gone", "confirmed", "b", "c"),
                   ("late", "unconfirmed", "c", "d")}
    statement = next(e for e in events if e.change.change_id == "built").statement()
    assert statement == (
        "New or brighter structure, 400 m², housing zone: appeared between 2010-06-01 (WV, 0.5 m)"
        " and 2011-06-01 (WV, 0.5 m), confidence high; persistent (a later capture still shows it)"
    )


def test_timeline_rows_per_capture_and_zone() -> None:
    a, b = cap("a", 2010), cap("b", 2011)
    zones = grid_zones(FAC, "EPSG:32652")
    # both objects lie inside housing-1: a zone's changed area is what lies inside it
    hx, hy = next(z for z in zones if z.zone_id == "housing-1").geometry.centroid.coords[0]
    changes = [chg("x", a, b, box(hx, hy, hx + 10, hy + 10), "new_or_brighter"),
               chg("y", a, b, box(hx, hy + 20, hx + 10, hy + 25), "removed_or_darker")]
    rows = build_timeline(FAC, [a, b], changes, zones, {"b": {"fields-south": {"median_ndvi": 0.6}}})
    assert len(rows) == 2 * (1 + len(zones))
    hb = next(r for r in rows if r.capture_id == "b" and r.zone_id == "housing-1")
    assert (hb.previous_capture_id, hb.change_count, hb.changed_area_m2) == ("a", 2, 150.0)
    assert hb.changed_by_type == {"new_or_brighter": 100.0, "removed_or_darker": 50.0}
    fb = next(r for r in rows if r.capture_id == "b" and r.zone_id == "fields-south")
    assert fb.metrics == {"median_ndvi": 0.6} and fb.change_count == 0
    first = next(r for r in rows if r.capture_id == "a" and r.zone_id == "aoi")
    assert first.previous_capture_id == "" and first.changed_area_m2 == 0.0


def test_gap_pairs_look_past_a_partly_clear_capture() -> None:
    from pipeline.change.pairs import gap_pairs

    a, b, c = cap("a", 2010), cap("b", 2011), cap("c", 2012)
    b = Capture(**{**b.__dict__, "clear_fraction": 0.7})
    (gap,) = gap_pairs([a, b, c])
    assert (gap.before.capture_id, gap.after.capture_id, gap.gap_of.capture_id) == ("a", "c", "b")  # type: ignore[union-attr]
    assert gap_pairs([a, cap("b2", 2011), c]) == []  # a fully clear capture leaves no gap


def test_reverted_by_next_capture_is_not_an_event() -> None:
    a, b, c = cap("a", 2010), cap("b", 2011), cap("c", 2012)
    shadow = chg("shadow", a, b, box(0, 0, 20, 20), "removed_or_darker")
    shadow = StoredChange(**{**shadow.__dict__, "extra": {"persistence": "reverted"}})
    kept = chg("kept", a, b, box(50, 0, 70, 20), "new_or_brighter")
    kept = StoredChange(**{**kept.__dict__, "extra": {"persistence": "persisted"}})
    events = find_events([a, b, c], [shadow, kept])
    assert [e.change.change_id for e in events] == ["kept"]


def test_a_change_the_series_explains_is_not_an_event() -> None:
    a, b, c = cap("a", 2010), cap("b", 2011), cap("c", 2012)
    seen = chg("seen", a, b, box(0, 0, 20, 20), "new_or_brighter")
    seen = StoredChange(**{**seen.__dict__, "extra": {
        "persistence": "persisted", "evidence": {"verdict": "seen_before", "label": "low"}}})
    new = chg("new", a, b, box(50, 0, 70, 20), "new_or_brighter")
    new = StoredChange(**{**new.__dict__, "extra": {
        "persistence": "persisted", "evidence": {"verdict": "", "label": "high"}}})
    assert [e.change.change_id for e in find_events([a, b, c], [seen, new])] == ["new"]


def test_vegetation_change_is_an_event_only_inside_camp_zones() -> None:
    a, b, c = cap("a", 2010), cap("b", 2011), cap("c", 2012)
    post = chg("post", a, b, box(0, 0, 8, 8), "vegetation_loss", ("guard-ne", "guard_post"))
    forest = chg("forest", a, b, box(900, 0, 990, 90), "vegetation_loss", ("", ""))
    field = chg("field", a, b, box(500, 0, 590, 90), "vegetation_gain", ("fields-south", "agriculture"))
    assert [e.change.change_id for e in find_events([a, b, c], [post, forest, field])] == ["post"]


def test_unknown_persistence_is_unconfirmed_not_confirmed() -> None:
    a, b, c = cap("a", 2010), cap("b", 2011), cap("c", 2012)
    hidden = chg("hidden", a, b, box(0, 0, 20, 20), "new_or_brighter")
    hidden = StoredChange(**{**hidden.__dict__, "extra": {"persistence": "unknown"}})
    (event,) = find_events([a, b, c], [hidden])
    assert event.status == "unconfirmed"
    assert event.statement().endswith("(unconfirmed: no later clear capture yet)")


def test_a_zone_never_reports_more_change_than_its_area() -> None:
    """A 1 km² object touching a small zone gives the zone only the part inside it."""
    a, b = cap("a", 2010), cap("b", 2011)
    zones = grid_zones(FAC, "EPSG:32652")
    post = next(z for z in zones if z.zone_id == "guard-nw")
    x0, y0, _, _ = post.geometry.bounds
    huge = box(x0 + 2, y0 + 2, x0 + 1002, y0 + 1002)
    rows = build_timeline(FAC, [a, b], [chg("h", a, b, huge, "removed_or_darker",
                                            ("guard-nw", "guard_post"))], zones, {})
    by_zone = {r.zone_id: r for r in rows if r.capture_id == "b"}
    for z in zones:
        assert by_zone[z.zone_id].changed_area_m2 <= z.geometry.area + 1e-6, z.zone_id
    inside = post.geometry.intersection(huge).area
    assert by_zone["guard-nw"].changed_area_m2 == round(inside, 2) < huge.area
    assert by_zone["aoi"].changed_area_m2 == huge.area
