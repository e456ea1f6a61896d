"""Row and table digests of the catalogue, and the strictly read-only opener (issue #12)."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from shapely.geometry import box

from imagery.capture import Capture
from imagery.catalogue import open_catalogue, read_catalogue

CRS = "EPSG:32652"


def _capture(cid: str, gsd: float = 10) -> Capture:
    return Capture(cid, "f", datetime(2020, 1, 1, tzinfo=UTC), "S2A", gsd, box(0, 0, 1, 1),
                   "local", "/x.tif", "ab", usable=True, clear_fraction=1.0)


def test_digests_hold_through_sqlite_type_affinity(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    with open_catalogue(path, CRS) as cat:
        cat.add_capture(_capture("a", gsd=10))  # an int in a REAL column comes back 10.0
        cat.add_capture(_capture("b", gsd=0.5))
    with read_catalogue(path) as cat:
        assert cat.integrity_problems() == []


def test_hot_wal_is_read_without_writing_the_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    with open_catalogue(path, CRS) as cat:
        cat.add_capture(_capture("a"))
    with open_catalogue(path, CRS) as writer:  # a writer still open: its commits are in -wal
        writer.add_capture(_capture("b"))
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        with read_catalogue(path) as cat:
            assert [c.capture_id for c in cat.captures()] == ["a", "b"]
            assert cat.integrity_problems() == []
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_catalogue_older_than_digests_is_sealed_on_first_open(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    with open_catalogue(path, CRS) as cat:
        cat.add_capture(_capture("a"))
    conn = sqlite3.connect(path)  # make it look like an older campwatch's file
    conn.execute('ALTER TABLE captures DROP COLUMN "row_sha256"')
    conn.execute("DROP TABLE catalogue_digests")
    conn.commit()
    conn.close()
    with read_catalogue(path) as cat:
        assert cat.integrity_problems() == [
            "captures: written before row digests; open it once with campwatch to seal it"
        ]
    with open_catalogue(path, CRS):
        pass
    with read_catalogue(path) as cat:
        assert cat.integrity_problems() == []


def test_an_edited_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    with open_catalogue(path, CRS) as cat:
        cat.add_capture(_capture("a"))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE captures SET gsd_m = 0.3")
    conn.commit()
    conn.close()
    with read_catalogue(path) as cat:
        assert cat.integrity_problems() == [
            "captures row capture_id='a': values differ from the row's digest (edited)",
        ]
