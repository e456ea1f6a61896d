"""A capture backfilled between two others keeps decisions and alert keys on the same physical
change (issue #12, item 1)."""

from __future__ import annotations

from pathlib import Path

from imagery.catalogue import open_catalogue
from imagery.verify import verify_workspace
from pipeline.history.events import read_events
from pipeline.history.review import record_review, review_events
from pipeline.history.tracks import assign_tracks
from pipeline.watch.alerts import alert_for_event
from pipeline.watch.ledger import AlertLedger
from tests.pipeline.evidence.conftest import MIN_AREA_M2, build, cli, delivery
from tests.pipeline.watch.conftest import CRS, FACILITY_ID


def _events(ws: Path) -> list:  # type: ignore[type-arg]
    with open_catalogue(ws / FACILITY_ID / "catalogue.gpkg", CRS) as cat:
        events = read_events(cat)
        return review_events(events, cat.reviews())


def test_backfill_keeps_decisions_findings_and_alert_keys(tmp_path: Path) -> None:
    originals = tmp_path / "deliveries"
    ws = build(tmp_path / "ws", "ACD", originals)
    # the planted earthworks appear between A (January) and C (May), confirmed by D (July)
    first = [r.event for r in _events(ws)
             if (r.event.before.acquired.month, r.event.after.acquired.month) == (1, 5)]
    assert first and all(e.status == "confirmed" for e in first)
    found = first[0]
    assert found.change.track_id == found.change.change_id  # first seen: its own id
    with open_catalogue(ws / FACILITY_ID / "catalogue.gpkg", CRS) as cat:
        record_review(cat, found.change.change_id, "accepted", analyst="JS", note="spoil heap")
    ledger = AlertLedger.in_workspace(ws)
    alerted = ledger.append_new([alert_for_event(FACILITY_ID, r.event) for r in _events(ws)])
    assert found.change.change_id in {a.track_id for a in alerted}

    # B (March) lands between A and C: the pair A->C is gone, A->B brackets the change now
    cli("ingest", FACILITY_ID, delivery(originals / "B.tif", "B"), "--workspace", ws)
    cli("run", FACILITY_ID, "--workspace", ws, "--min-area", MIN_AREA_M2)

    after = [r for r in _events(ws) if r.event.change.track_id == found.change.change_id]
    assert len(after) == 1, "the physical change kept its identity"
    (same,) = after
    assert (same.event.before.acquired.month, same.event.after.acquired.month) == (1, 3)
    assert same.event.change.change_id != found.change.change_id
    assert same.status == "accepted" and same.review is not None
    assert same.review.note == "spoil heap"
    # the same physical change is not alerted again
    again = ledger.append_new([alert_for_event(FACILITY_ID, same.event)])
    assert again == []
    html = (ws / FACILITY_ID / "report" / "report.html").read_text(encoding="utf-8")
    assert "No findings: no event has been accepted by an analyst yet" not in html
    assert same.event.statement() in html
    report = verify_workspace(ws)
    assert report.ok, [p.describe() for p in report.problems]


def test_a_rejection_follows_the_track() -> None:
    from datetime import UTC, datetime

    from shapely.geometry import box

    from imagery.records import Review, StoredChange
    from pipeline.history.review import decisions_for

    geom = box(0, 0, 20, 20)
    t = datetime(2020, 1, 1, tzinfo=UTC)
    moved = StoredChange("new-id", "f", "a", "b", t, t, geom, 400.0, "earthworks", 0.9, "high",
                         "", "", "m", track_id="old-id")
    legacy = Review("old-id", "f", "a", "c", geom, "earthworks", "rejected", t)  # no track
    tracked = Review("x", "f", "a", "c", geom, "earthworks", "accepted", t.replace(year=2021),
                     track_id="old-id")
    assert [r.decision for r in decisions_for(moved, [legacy])] == ["rejected"]
    assert [r.decision for r in decisions_for(moved, [tracked, legacy])] == [
        "rejected", "accepted"]


def test_tracks_match_by_kind_overlap_and_bracket() -> None:
    from datetime import UTC, datetime

    from shapely.affinity import translate
    from shapely.geometry import box

    from imagery.records import StoredChange

    def ch(cid: str, b: int, a: int, geom: object, kind: str = "new_or_brighter") -> StoredChange:
        return StoredChange(cid, "f", f"c{b}", f"c{a}", datetime(2020, b, 1, tzinfo=UTC),
                            datetime(2020, a, 1, tzinfo=UTC), geom, 400.0, kind, 0.9, "high",
                            "", "", "t")  # type: ignore[arg-type]

    house = box(0, 0, 20, 20)
    old = [ch("old", 1, 5, house)]
    (same,) = assign_tracks([ch("new", 1, 3, translate(house, 2, 0))], old)
    assert same.track_id == "old"
    (other_kind,) = assign_tracks([ch("n2", 1, 3, house, "removed_or_darker")], old)
    assert other_kind.track_id == "n2"
    (later,) = assign_tracks([ch("n3", 6, 9, house)], old)  # a later, separate change
    assert later.track_id == "n3"
    (apart,) = assign_tracks([ch("n4", 1, 3, translate(house, 15, 0))], old)
    assert apart.track_id == "n4"
