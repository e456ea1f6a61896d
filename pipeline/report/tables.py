"""Timeline and events as files: CSV, Parquet and GeoJSON (an I/O module).

The timeline table is flattened for spreadsheets and dataframes: one row per
capture and zone, one column per change type (``changed_<type>_m2``) and per
zone metric (``metric_<name>``). Events go out as RFC 7946 GeoJSON in WGS 84
with every attribute of the ``events`` layer. Files are written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import mapping

from imagery.records import StoredEvent, TimelineRow
from imagery.store import created_mode

log = logging.getLogger(__name__)

BASE_COLUMNS = (
    "facility_id", "capture_id", "acquired", "sensor", "gsd_m", "series", "zone_id",
    "zone_type", "clear_fraction", "usable", "previous_capture_id", "changed_area_m2",
    "change_count",
)
"""Columns every timeline export has, in order; per-type and metric columns follow."""


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, created_mode())  # the process umask, not mkstemp's 0600
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def timeline_frame(rows: Sequence[TimelineRow]) -> pd.DataFrame:
    """The timeline as a flat DataFrame (missing metrics are NaN, missing types 0).

    Example:
        >>> timeline_frame([]).columns[:3].tolist()
        ['facility_id', 'capture_id', 'acquired']
    """
    types = sorted({k for r in rows for k in r.changed_by_type})
    metrics = sorted({k for r in rows for k in r.metrics})
    records: list[dict[str, Any]] = []
    for r in rows:
        rec: dict[str, Any] = {c: getattr(r, c) for c in BASE_COLUMNS}
        for t in types:
            rec[f"changed_{t}_m2"] = float(r.changed_by_type.get(t, 0.0))
        for m in metrics:
            rec[f"metric_{m}"] = r.metrics.get(m, float("nan"))
        records.append(rec)
    columns = [*BASE_COLUMNS, *(f"changed_{t}_m2" for t in types),
               *(f"metric_{m}" for m in metrics)]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["acquired"] = pd.to_datetime(frame["acquired"], utc=True)
    frame["usable"] = frame["usable"].astype(bool)
    return frame


def write_timeline(rows: Sequence[TimelineRow], csv_path: Path, parquet_path: Path) -> None:
    """Write the timeline as CSV (UTF-8, ISO times) and Parquet (typed, UTC timestamps).

    Example:
        >>> # write_timeline(cat.timeline(), report / "timeline.csv", report / "timeline.parquet")
    """
    frame = timeline_frame(rows)
    with _atomic(csv_path) as tmp:
        out = frame.copy()
        out["acquired"] = out["acquired"].map(lambda t: t.isoformat())
        out.to_csv(tmp, index=False, float_format="%.4f", encoding="utf-8")
    with _atomic(parquet_path) as tmp:
        frame.to_parquet(tmp, engine="pyarrow", index=False)
    log.info("wrote timeline %s and %s (%d rows)", csv_path, parquet_path, len(frame))


def write_events_geojson(events: Sequence[StoredEvent], path: Path, *, crs: str) -> Path:
    """Write events as a GeoJSON FeatureCollection in WGS 84 lon/lat (RFC 7946).

    Properties are the ``events`` layer's attributes (times in ISO 8601 UTC).

    Example:
        >>> import tempfile
        >>> p = write_events_geojson([], Path(tempfile.mkdtemp()) / "e.geojson", crs="EPSG:32652")
        >>> json.loads(p.read_text())["features"]
        []
    """
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform
    features = []
    for ev in events:
        geom = shapely.transform(ev.geometry, to_lonlat, interleaved=False)  # type: ignore[arg-type]
        geom = shapely.orient_polygons(shapely.set_precision(geom, 1e-7), exterior_cw=False)
        props = {
            "event_id": ev.event_id, "facility_id": ev.facility_id,
            "before_id": ev.before_id, "after_id": ev.after_id,
            "before_acquired": ev.before_acquired.isoformat(),
            "after_acquired": ev.after_acquired.isoformat(),
            "area_m2": ev.area_m2, "change_type": ev.change_type, "confidence": ev.confidence,
            "confidence_label": ev.confidence_label, "zone_id": ev.zone_id,
            "zone_type": ev.zone_type, "series": ev.series, "status": ev.status,
            "review": ev.review, "statement": ev.statement,
            "land_cover": ev.land_cover, "land_cover_note": ev.land_cover_note,
        }
        features.append({"type": "Feature", "id": ev.event_id, "geometry": mapping(geom),
                         "properties": props})
    doc = {"type": "FeatureCollection", "features": features}
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    log.info("wrote %d events to %s", len(features), path)
    return path
