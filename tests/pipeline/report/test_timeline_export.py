"""Timeline CSV/Parquet, events GeoJSON, the housing structure metric and the timeline plot."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry import box, shape

from imagery.capture import Capture
from imagery.records import StoredChange, TimelineRow
from pipeline.history.events import find_events, stored_event
from pipeline.history.timeline import zone_metrics
from pipeline.report.plots import plot_timeline
from pipeline.report.tables import write_events_geojson, write_timeline


def row(cid: str, year: int, zone: str, ztype: str, **kw: object) -> TimelineRow:
    base: dict[str, object] = dict(
        facility_id="camp", capture_id=cid, acquired=datetime(year, 6, 1, 2, 13, tzinfo=UTC),
        sensor="WV", gsd_m=0.5, series="vhr", zone_id=zone, zone_type=ztype,
        clear_fraction=1.0, usable=True, previous_capture_id="", changed_area_m2=0.0,
        change_count=0,
    )
    base.update(kw)
    return TimelineRow(**base)  # type: ignore[arg-type]


ROWS = [
    row("a", 2010, "fields", "agriculture", metrics={"median_ndvi": 0.61}),
    row("a", 2010, "housing-1", "housing",
        metrics={"structure_footprint_m2": 800.0, "structure_count": 2.0}),
    row("b", 2012, "housing-1", "housing", previous_capture_id="a", changed_area_m2=420.0,
        change_count=1, changed_by_type={"new_or_brighter": 420.0},
        metrics={"structure_footprint_m2": 1220.0, "structure_count": 3.0}),
]


def test_timeline_csv_and_parquet_are_flat_and_typed(tmp_path: Path) -> None:
    write_timeline(ROWS, tmp_path / "t.csv", tmp_path / "t.parquet")
    csv = pd.read_csv(tmp_path / "t.csv")
    pq = pd.read_parquet(tmp_path / "t.parquet")
    for frame in (csv, pq):
        assert list(frame.columns[-4:]) == [
            "changed_new_or_brighter_m2", "metric_median_ndvi", "metric_structure_count",
            "metric_structure_footprint_m2",
        ]
        assert frame["changed_new_or_brighter_m2"].tolist() == [0.0, 0.0, 420.0]
        assert frame["metric_structure_count"].tolist()[1:] == [2.0, 3.0]
        assert math.isnan(frame["metric_median_ndvi"].iloc[1])
    assert csv["acquired"].iloc[0] == "2010-06-01T02:13:00+00:00"
    assert str(pq["acquired"].dtype) == "datetime64[ns, UTC]" or str(pq["acquired"].dtype).startswith("datetime64")
    assert pq["usable"].dtype == bool
    assert (tmp_path / "t.csv").stat().st_mode & 0o044 == 0o044  # readable by others


def test_events_geojson_is_wgs84_with_brackets(tmp_path: Path) -> None:
    a = Capture("a", "camp", datetime(2010, 6, 1, tzinfo=UTC), "WV-2", 0.5, box(0, 0, 1, 1),
                "local", "", "", usable=True)
    b = Capture("b", "camp", datetime(2012, 6, 1, tzinfo=UTC), "GE-1", 0.5, box(0, 0, 1, 1),
                "local", "", "", usable=True)
    geom = box(252_600, 4_321_000, 252_620, 4_321_021)
    ch = StoredChange("x1", "camp", "a", "b", a.acquired, b.acquired, geom, 420.0,
                      "new_or_brighter", 0.9, "high", "housing-1", "housing", "t")
    (ev,) = find_events([a, b], [ch])
    out = write_events_geojson([stored_event(ev, "accepted")], tmp_path / "e.geojson",
                               crs="EPSG:32652")
    (feat,) = json.loads(out.read_text(encoding="utf-8"))["features"]
    lon, lat = shape(feat["geometry"]).centroid.coords[0]
    assert 126.0 < lon < 126.3 and 38.9 < lat < 39.1
    props = feat["properties"]
    assert props["review"] == "accepted" and props["status"] == "unconfirmed"
    assert props["before_acquired"] == "2010-06-01T00:00:00+00:00"
    assert props["statement"].startswith(
        "New or brighter structure, 420 m², housing zone: appeared between 2010-06-01 (WV-2, 0.5 m)"
        " and 2012-06-01 (GE-1, 0.5 m)"
    )


def test_housing_zone_counts_roofs_and_their_footprint() -> None:
    img = np.empty((4, 40, 40), np.float32)
    img[:] = np.array([0.11, 0.14, 0.17, 0.22], np.float32)[:, None, None]  # yard
    img[:, 5:10, 5:15] = np.array([0.33, 0.35, 0.36, 0.37], np.float32)[:, None, None]  # bright
    img[:, 20:26, 20:30] = np.array([0.17, 0.13, 0.07, 0.10], np.float32)[:, None, None]  # blue
    img[:, 30:32, 2:3] = 0.35  # 2 px speck: too small
    zone = np.ones((40, 40), bool)
    m = zone_metrics(img, zone, {"h": zone}, {"h": "housing"}, 1.0)
    assert m["h"] == {"structure_footprint_m2": 110.0, "structure_count": 2.0}
    cloudy = zone_metrics(img, np.zeros_like(zone), {"h": zone}, {"h": "housing"}, 1.0)
    assert cloudy == {}


def test_timeline_plot_has_a_track_per_zone_and_marks_events(tmp_path: Path) -> None:
    a = Capture("a", "camp", datetime(2010, 6, 1, tzinfo=UTC), "WV", 0.5, box(0, 0, 1, 1),
                "local", "", "", usable=True)
    b = Capture("b", "camp", datetime(2012, 6, 1, tzinfo=UTC), "WV", 0.5, box(0, 0, 1, 1),
                "local", "", "", usable=True)
    ch = StoredChange("x1", "camp", "a", "b", a.acquired, b.acquired, box(0, 0, 20, 21), 420.0,
                      "new_or_brighter", 0.9, "high", "", "", "t")
    events = find_events([a, b], [ch])
    png, svg = plot_timeline(ROWS, events, [tmp_path / "t.png", tmp_path / "t.svg"],
                             title="Camp", simulated=True, statuses={"x1": "accepted"})
    assert png.read_bytes()[:4] == b"\x89PNG"
    text = svg.read_text(encoding="utf-8")
    for label in ("fields (agriculture)", "housing-1 (housing)", "outside the zones",
                  "event, accepted (finding)", "SIMULATED IMAGERY"):
        assert label in text, label
