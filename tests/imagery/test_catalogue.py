"""The capture catalogue: GeoPackage validity, idempotency, transactions, bad input."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import MultiPolygon, box

from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.errors import CatalogueError
from imagery.gpkg import decode_geometry, encode_geometry
from imagery.records import StoredChange, TimelineRow

CRS = "EPSG:32652"


def capture(i: int = 0, **kw: object) -> Capture:
    base = dict(
        capture_id=f"cap-{i}",
        facility_id="fac",
        acquired=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=30 * i),
        sensor="WorldView-2",
        gsd_m=0.5,
        footprint=box(252500, 4320600, 253000, 4321000),
        provider="local",
        source_path="/data/x.tif",
        source_sha256="ab" * 32,
        zone_clear={"housing-1": 0.9},
        asset_hrefs=("a.tif", "b.tif"),
        usable=True,
    )
    base.update(kw)
    return Capture(**base)  # type: ignore[arg-type]


def change(i: int, before: Capture, after: Capture) -> StoredChange:
    return StoredChange(
        change_id=f"ch-{i}", facility_id="fac", before_id=before.capture_id,
        after_id=after.capture_id, before_acquired=before.acquired, after_acquired=after.acquired,
        geometry=box(252600 + i, 4320700, 252650 + i, 4320750), area_m2=2500.0,
        change_type="new_or_brighter", confidence=0.8, confidence_label="high",
        zone_id="housing-1", zone_type="housing", method="cva",
    )


def test_geometry_blob_round_trip() -> None:
    for geom in (box(1, 2, 3, 4), MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)])):
        blob = encode_geometry(geom, 32652)
        assert blob is not None and blob[:2] == b"GP"
        assert decode_geometry(blob).equals(geom)  # type: ignore[union-attr]


def test_captures_round_trip_and_geopandas_reads_layers(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.gpkg"
    c0, c1 = capture(0), capture(1)
    with open_catalogue(path, CRS) as cat:
        assert cat.add_capture(c1) and cat.add_capture(c0)
        assert cat.captures() == [c0, c1]
        assert cat.get_capture("cap-0") is not None
        assert cat.captures()[0].zone_clear == {"housing-1": 0.9}
        cat.replace_changes("cap-0", "cap-1", [change(1, c0, c1)])
    gdf = gpd.read_file(path, layer="captures")
    assert gdf.crs.to_epsg() == 32652
    assert gdf.geometry.is_valid.all() and len(gdf) == 2
    changes = gpd.read_file(path, layer="changes")
    assert changes.crs.to_epsg() == 32652 and changes.geometry.is_valid.all()
    assert changes.loc[0, "zone_type"] == "housing"


def test_rerun_adds_no_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.gpkg"
    c0, c1 = capture(0), capture(1)
    rows = [
        TimelineRow("fac", "cap-1", c1.acquired, "WV2", 0.5, "vhr", "aoi", "aoi", 1.0, True,
                    "cap-0", 10.0, 1)
    ]
    for _ in range(2):
        with open_catalogue(path, CRS) as cat:
            cat.add_capture(c0)
            cat.add_capture(c1)
            cat.replace_changes("cap-0", "cap-1", [change(1, c0, c1), change(2, c0, c1)])
            cat.replace_timeline(rows)
    with open_catalogue(path, CRS) as cat:
        assert len(cat.captures()) == 2
        assert len(cat.changes()) == 2
        assert len(cat.timeline()) == 1


def test_failed_write_rolls_back_and_keeps_stored_rows(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.gpkg"
    c0, c1 = capture(0), capture(1)
    with open_catalogue(path, CRS) as cat:
        cat.add_capture(c0)
        cat.add_capture(c1)
        cat.replace_changes("cap-0", "cap-1", [change(1, c0, c1)])
        wrong = change(2, c1, c0)  # belongs to another pair
        with pytest.raises(CatalogueError, match="belongs to pair cap-1->cap-0, not cap-0->cap-1"):
            cat.replace_changes("cap-0", "cap-1", [change(3, c0, c1), wrong])
        assert [c.change_id for c in cat.changes()] == ["ch-1"]


def test_update_capture_of_unknown_id_is_an_error(tmp_path: Path) -> None:
    with (
        open_catalogue(tmp_path / "c.gpkg", CRS) as cat,
        pytest.raises(CatalogueError, match="capture_id 'cap-7' is not in the catalogue"),
    ):
        cat.update_capture(capture(7))


def test_crs_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    with open_catalogue(path, CRS) as cat:
        cat.add_capture(capture(0))
    with (
        pytest.raises(CatalogueError, match="catalogue CRS is EPSG:32652, but the facility grid is EPSG:32651"),
        open_catalogue(path, "EPSG:32651"),
    ):
        pass
    with open_catalogue(path, CRS) as cat:
        assert len(cat.captures()) == 1


def test_not_a_geopackage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CatalogueError, match="not a GeoPackage catalogue"), open_catalogue(path, CRS):
        pass
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_concurrent_reader_sees_committed_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    with open_catalogue(path, CRS) as cat:
        cat.add_capture(capture(0))
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("SELECT count(*) FROM captures").fetchone()[0] == 1
        finally:
            conn.close()


def test_catalogue_from_an_older_schema_gains_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    with open_catalogue(path, CRS) as cat:
        cat.add_capture(capture(0))
    conn = sqlite3.connect(path)
    try:
        conn.execute('ALTER TABLE captures DROP COLUMN "radiometry"')
        conn.commit()
    finally:
        conn.close()
    with open_catalogue(path, CRS) as cat:
        (old,) = cat.captures()
        assert old.capture_id == "cap-0" and old.radiometry is None
        assert cat.add_capture(capture(1, radiometry="DN / 10000"))
        assert cat.get_capture("cap-1").radiometry == "DN / 10000"  # type: ignore[union-attr]
