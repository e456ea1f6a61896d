"""A minimal GeoPackage writer/reader on the standard library's sqlite3 (an I/O module).

GDAL's GeoPackage driver writes one layer per call and cannot give us a
transaction across layers, a UNIQUE constraint or an upsert. The catalogue needs
all three (idempotent reruns, nothing half-written), so it keeps the GeoPackage
in SQLite directly, following OGC 12-128r18: the ``gpkg_spatial_ref_sys``,
``gpkg_contents`` and ``gpkg_geometry_columns`` tables and the GeoPackage
geometry blob (header + ISO WKB). GDAL, QGIS and geopandas read the file as any
GeoPackage.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence

import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from imagery.errors import CatalogueError

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10400

_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


_METADATA_DDL = (
    """
    CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
      srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY,
      organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
      definition TEXT NOT NULL, description TEXT)
    """,
    """
    CREATE TABLE IF NOT EXISTS gpkg_contents (
      table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
      identifier TEXT UNIQUE, description TEXT DEFAULT '',
      last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
      min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
      CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))
    """,
    """
    CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
      table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
      srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
      CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
      CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
      CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))
    """,
)


def encode_geometry(geom: BaseGeometry | None, srs_id: int) -> bytes | None:
    """Encode a shapely geometry as a GeoPackage geometry blob (little-endian, XY envelope).

    Example:
        >>> from shapely.geometry import box
        >>> blob = encode_geometry(box(0, 0, 1, 1), 32652)
        >>> blob[:2]
        b'GP'
    """
    if geom is None:
        return None
    if geom.is_empty:
        flags = 0b0001_0001  # empty, no envelope, little endian
        return b"GP" + bytes([0, flags]) + struct.pack("<i", srs_id) + shapely.to_wkb(
            geom, byte_order=1, flavor="iso"
        )
    minx, miny, maxx, maxy = geom.bounds
    flags = 0b0000_0011  # envelope [minx, maxx, miny, maxy], little endian
    header = b"GP" + bytes([0, flags]) + struct.pack("<i4d", srs_id, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geom, byte_order=1, flavor="iso")


def decode_geometry(blob: bytes | None) -> BaseGeometry | None:
    """Decode a GeoPackage geometry blob into a shapely geometry."""
    if blob is None:
        return None
    if blob[:2] != b"GP":
        raise CatalogueError(f"not a GeoPackage geometry blob (starts with {blob[:2]!r})")
    flags = blob[3]
    envelope = _ENVELOPE_BYTES.get((flags >> 1) & 0b111)
    if envelope is None:
        raise CatalogueError(f"GeoPackage geometry blob has a bad envelope flag {flags:#x}")
    geom: BaseGeometry = shapely.from_wkb(blob[8 + envelope :])
    return geom


def initialise(conn: sqlite3.Connection, crs: str) -> int:
    """Create the GeoPackage metadata tables and register ``crs``; return its srs_id."""
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {USER_VERSION}")
    for statement in _METADATA_DDL:
        conn.execute(statement)
    base = [
        ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
        ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt("WKT1_GDAL"), ""),
    ]
    parsed = CRS.from_user_input(crs)
    epsg = parsed.to_epsg()
    if epsg is None:
        raise CatalogueError(f"catalogue CRS {crs!r} has no EPSG code")
    base.append((parsed.name, epsg, "EPSG", epsg, parsed.to_wkt("WKT1_GDAL"), ""))
    conn.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", base)
    return epsg


def register_table(
    conn: sqlite3.Connection,
    table: str,
    *,
    srs_id: int | None,
    geometry_type: str | None,
    description: str,
) -> None:
    """Declare a table in ``gpkg_contents`` (and its geometry column, for feature tables)."""
    data_type = "features" if geometry_type else "attributes"
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description,"
        " srs_id) VALUES (?, ?, ?, ?, ?)",
        (table, data_type, table, description, srs_id),
    )
    if geometry_type:
        conn.execute(
            "INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
            (table, geometry_type, srs_id),
        )


def update_extent(conn: sqlite3.Connection, table: str, bounds: Sequence[float] | None) -> None:
    """Record a feature table's extent in ``gpkg_contents``."""
    if bounds is None:
        return
    conn.execute(
        "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?,"
        " last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
        (*bounds, table),
    )
