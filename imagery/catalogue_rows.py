"""How records map onto SQLite rows of the catalogue, and the digests that seal those rows.

Every row carries ``row_sha256``: the SHA-256 of its values as SQLite stores them
(canonical JSON of column name -> value, geometry blobs as hex). Each table's rows
are summed up in ``catalogue_digests`` (row count and the SHA-256 of the sorted row
digests), updated in the same transaction as every write. ``campwatch verify``
recomputes both from the stored values: an edited value names its row, a deleted
or added row changes its table's digest.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sqlite3
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from imagery.capture import Capture
from imagery.errors import CatalogueError
from imagery.records import (
    Review,
    StoredChange,
    StoredEvent,
    StoredFile,
    StoredTile,
    TileStatus,
    TimelineRow,
)

ROW_DIGEST = "row_sha256"
"""The column holding each row's digest."""
DIGESTS_TABLE = "catalogue_digests"
"""One row per table: (table_name, rows, sha256)."""


@dataclasses.dataclass(frozen=True)
class _Table:
    """How one record type maps onto one GeoPackage table."""

    name: str
    cls: type
    key: tuple[str, ...]
    geometry: str | None
    description: str
    geometry_type: str = "POLYGON"


_TABLES = (
    _Table("captures", Capture, ("capture_id",), "footprint", "Captures of the facility"),
    _Table(
        "changes",
        StoredChange,
        ("change_id",),
        "geometry",
        "Change polygons between captures",
        "GEOMETRY",  # a change object may be a multipart polygon
    ),
    _Table("timeline", TimelineRow, ("capture_id", "zone_id"), None, "Per-zone activity timeline"),
    _Table("events", StoredEvent, ("event_id",), "geometry", "Persistent changes (events)",
           "GEOMETRY"),
    _Table("reviews", Review, ("change_id", "decided_at"), "geometry",
           "Analyst decisions on changes (history, never overwritten)", "GEOMETRY"),
    _Table("tiles", StoredTile, ("tile_id",), "geometry", "Tile index of the facility grid"),
    _Table("tile_status", TileStatus, ("capture_id", "tile_id"), None,
           "Valid pixels of each capture in each tile"),
    _Table("files", StoredFile, ("path",), None,
           "SHA-256 of every derived file of the facility directory, sealed by its writer"),
)
_BY_CLS = {t.cls: t for t in _TABLES}


def catalogue_crs(path: Path) -> str:
    """The CRS ("EPSG:n") of a catalogue's ``captures`` layer, read without writing.

    Raises:
        CatalogueError: the file is not a campwatch catalogue.
    """
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT srs_id FROM gpkg_geometry_columns WHERE table_name = 'captures'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CatalogueError(f"{path}: not a GeoPackage catalogue: {exc}") from None
    if row is None:
        raise CatalogueError(f"{path}: no 'captures' layer in the catalogue")
    return f"EPSG:{row[0]}"



def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """SQLite's integrity check, then every table's row and table digests (read only)."""
    try:
        found = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return [f"SQLite integrity check failed: {exc}"]
    if found != ["ok"]:
        lines = [ln.strip() for m in found for ln in m.splitlines() if ln.strip()]
        return [f"SQLite integrity check: {ln}" for ln in lines[:20]]
    problems = []
    for t in _TABLES:
        try:
            problems += check_table(conn, t.name, t.cls, t.geometry, t.key)
        except sqlite3.DatabaseError as exc:
            problems.append(f"{t.name}: cannot be read: {exc}")
    return problems


@functools.cache
def columns(cls: type) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def base_type(tp: Any) -> Any:
    """``X | None`` -> ``X``; generic aliases -> their origin."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0]
    return typing.get_origin(tp) or tp


def sql_type(tp: Any) -> str:
    base = base_type(tp)
    if base is bool or base is int:
        return "INTEGER"
    if base is float:
        return "REAL"
    return "TEXT"


def to_sql(value: Any, tp: Any) -> Any:
    if value is None:
        return None
    base = base_type(tp)
    if base is datetime:
        return value.isoformat()
    if base in (tuple, list, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if base is bool:
        return int(value)
    return value


def from_sql(value: Any, tp: Any) -> Any:
    if value is None:
        return None
    base = base_type(tp)
    if base is datetime:
        return datetime.fromisoformat(value)
    if base is tuple:
        return tuple(json.loads(value))
    if base in (list, dict):
        return json.loads(value)
    if base is bool:
        return bool(value)
    return value



def _canonical(value: Any, sql_type: str) -> Any:
    """A value as SQLite returns it from a column of ``sql_type`` (type affinity)."""
    if value is None:
        return None
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if sql_type == "REAL" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if sql_type == "INTEGER" and isinstance(value, float) and value.is_integer():
        return int(value)
    if sql_type == "INTEGER" and isinstance(value, bool):
        return int(value)
    return value


def row_digest(row: dict[str, Any], sql_types: dict[str, str]) -> str:
    """SHA-256 of a row's stored values (``sql_types``: column -> declared SQL type).

    Example:
        >>> row_digest({"a": 1, "b": None}, {"a": "REAL", "b": "TEXT"}) == row_digest(
        ...     {"a": 1.0}, {"a": "REAL"})
        True
    """
    # NULLs are left out, so a column added later (NULL in old rows) keeps old digests valid
    canon = {
        k: _canonical(v, sql_types.get(k, "BLOB"))
        for k, v in row.items()
        if k != ROW_DIGEST and v is not None
    }
    text = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def sql_types(cls: type, geometry: str | None) -> dict[str, str]:
    """Column -> declared SQL type of a record class's table (geometry as BLOB ``geom``)."""
    out = {}
    for name, tp in columns(cls):
        out["geom" if name == geometry else name] = "BLOB" if name == geometry else sql_type(tp)
    return out


def table_digest(conn: sqlite3.Connection, table: str) -> tuple[int, str]:
    """(rows, SHA-256 of the sorted row digests) of one table, as stored now."""
    digests = [
        r[0] or "" for r in conn.execute(f'SELECT "{ROW_DIGEST}" FROM "{table}" ORDER BY 1')
    ]
    return len(digests), hashlib.sha256("\n".join(digests).encode()).hexdigest()


def create_digests_table(conn: sqlite3.Connection) -> None:
    """Create ``catalogue_digests`` if missing."""
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{DIGESTS_TABLE}" (table_name TEXT PRIMARY KEY, '
        "rows INTEGER NOT NULL, sha256 TEXT NOT NULL)"
    )


def store_table_digest(conn: sqlite3.Connection, table: str) -> None:
    """Record a table's current digest (inside the write transaction)."""
    rows, digest = table_digest(conn, table)
    conn.execute(
        f'INSERT OR REPLACE INTO "{DIGESTS_TABLE}" (table_name, rows, sha256) VALUES (?, ?, ?)',
        (table, rows, digest),
    )


def check_table(
    conn: sqlite3.Connection, table: str, cls: type, geometry: str | None,
    key: tuple[str, ...],
) -> list[str]:
    """Problems of one table's seal: rows whose values no longer match their digest, and a
    table whose rows no longer add up to its recorded digest (a row deleted or added).

    Example:
        >>> # check_table(conn, "events", StoredEvent, "geometry", ("event_id",))
        >>> # ["events row event_id='e1': values differ from the row's digest (edited)"]
    """
    types_ = sql_types(cls, geometry)
    have = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
    if not have:
        return []
    if ROW_DIGEST not in have:
        return [f"{table}: written before row digests; open it once with campwatch to seal it"]
    cols = [c for c in types_ if c in have]
    names = ", ".join(f'"{c}"' for c in cols)
    problems = []
    for r in conn.execute(f'SELECT {names}, "{ROW_DIGEST}" FROM "{table}" ORDER BY fid'):
        values = dict(zip(cols, r[: len(cols)], strict=True))
        which = ", ".join(f"{k}={values.get(k)!r}" for k in key)
        stored = r[len(cols)]
        if not stored:
            problems.append(f"{table} row {which}: no digest recorded (unsealed row)")
        elif row_digest(values, types_) != stored:
            problems.append(f"{table} row {which}: values differ from the row's digest (edited)")
    rows, digest = table_digest(conn, table)
    try:
        rec = conn.execute(
            f'SELECT rows, sha256 FROM "{DIGESTS_TABLE}" WHERE table_name = ?', (table,)
        ).fetchone()
    except sqlite3.OperationalError:
        rec = None
    if rec is None:
        if rows:
            problems.append(f"{table}: {rows} row(s) but no table digest recorded")
    elif (rows, digest) != (rec[0], rec[1]):
        problems.append(
            f"{table}: {rows} row(s) with digest {digest[:16]}…, but {rec[0]} row(s) with "
            f"digest {str(rec[1])[:16]}… recorded (a row was deleted, added or replaced)"
        )
    return problems
