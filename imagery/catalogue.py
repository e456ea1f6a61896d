"""The capture catalogue: one GeoPackage per facility workspace (an I/O module).

Layers ``captures``, ``changes``, ``events``, ``reviews`` and ``tiles`` (polygons in
the facility grid CRS) and the attribute tables ``timeline``, ``tile_status`` and
``files`` (sealed derived files, :mod:`imagery.verify`). Reviews are history: rows are only
ever added, never replaced or deleted. Every write is one SQLite transaction: a crash
leaves the catalogue as it was before the write, never half-written. Keys are UNIQUE, so
rerunning a stage replaces its rows instead of duplicating them. Every row carries a
digest of its values and ``catalogue_digests`` a digest of every table, updated in the
same transaction (:mod:`imagery.catalogue_rows`); :func:`read_catalogue` opens a
catalogue strictly read-only for ``campwatch verify``."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from imagery import gpkg
from imagery.capture import Capture
from imagery.catalogue_rows import (
    _BY_CLS,
    _TABLES,
    DIGESTS_TABLE,
    ROW_DIGEST,
    _Table,
    catalogue_crs,
    columns,
    create_digests_table,
    from_sql,
    integrity_problems,
    row_digest,
    sql_type,
    sql_types,
    store_table_digest,
    to_sql,
)
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

__all__ = ["Catalogue", "catalogue_crs", "open_catalogue", "read_catalogue"]

log = logging.getLogger(__name__)

T = TypeVar("T")




class Catalogue:
    """An open catalogue. Use :func:`open_catalogue` rather than the constructor."""

    def __init__(self, conn: sqlite3.Connection, path: Path, crs: str, srs_id: int) -> None:
        self._conn = conn
        self.path = path
        """The GeoPackage file."""
        self.crs = crs
        """The facility grid CRS of every layer."""
        self.srs_id = srs_id

    # -- generic ---------------------------------------------------------------------------
    def _create(self) -> None:
        create_digests_table(self._conn)
        gpkg.register_table(self._conn, DIGESTS_TABLE, srs_id=None, geometry_type=None,
                            description="Row count and digest of every catalogue table")
        for table in _TABLES:
            cols = []
            for name, tp in columns(table.cls):
                if name == table.geometry:
                    cols.append(f"geom {table.geometry_type}")
                else:
                    cols.append(f'"{name}" {sql_type(tp)}')
            key = ", ".join(f'"{k}"' for k in table.key)
            self._conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{table.name}" (fid INTEGER PRIMARY KEY '
                f"AUTOINCREMENT, {', '.join(cols)}, UNIQUE ({key}))"
            )
            # A catalogue written by an older campwatch lacks newer fields: add them
            # (NULL in old rows) rather than refuse the file or rewrite it.
            have = {r[1] for r in self._conn.execute(f'PRAGMA table_info("{table.name}")')}
            for name, tp in columns(table.cls):
                if name != table.geometry and name not in have:
                    log.info("%s: adding column %s.%s", self.path, table.name, name)
                    self._conn.execute(
                        f'ALTER TABLE "{table.name}" ADD COLUMN "{name}" {sql_type(tp)}'
                    )
            if ROW_DIGEST not in have:
                # a catalogue older than row digests: its rows are sealed as they are now
                self._conn.execute(f'ALTER TABLE "{table.name}" ADD COLUMN "{ROW_DIGEST}" TEXT')
                self._backfill_digests(table)
            gpkg.register_table(
                self._conn,
                table.name,
                srs_id=self.srs_id if table.geometry else None,
                geometry_type=table.geometry_type if table.geometry else None,
                description=table.description,
            )

    def _backfill_digests(self, table: _Table) -> None:
        types_ = sql_types(table.cls, table.geometry)
        names = ", ".join(f'"{k}"' for k in types_)
        rows = self._conn.execute(
            f'SELECT fid, {names} FROM "{table.name}" WHERE "{ROW_DIGEST}" IS NULL'
        ).fetchall()
        for r in rows:
            values = {k: r[k] for k in types_}
            self._conn.execute(
                f'UPDATE "{table.name}" SET "{ROW_DIGEST}" = ? WHERE fid = ?',
                (row_digest(values, types_), r["fid"]),
            )
        if rows:
            log.info("%s: sealed %d older row(s) of %s", self.path, len(rows), table.name)
            store_table_digest(self._conn, table.name)

    def _row(self, table: _Table, record: Any) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name, tp in columns(table.cls):
            value = getattr(record, name)
            if name == table.geometry:
                row["geom"] = gpkg.encode_geometry(value, self.srs_id)
            else:
                row[name] = to_sql(value, tp)
        row[ROW_DIGEST] = row_digest(row, sql_types(table.cls, table.geometry))
        return row

    def _record(self, table: _Table, row: sqlite3.Row) -> Any:
        kwargs: dict[str, Any] = {}
        have = set(row.keys())
        for name, tp in columns(table.cls):
            if name == table.geometry:
                kwargs[name] = gpkg.decode_geometry(row["geom"])
            elif name in have:  # a read-only catalogue may predate newer fields
                kwargs[name] = from_sql(row[name], tp)
        return table.cls(**kwargs)

    def _insert(self, table: _Table, records: Iterable[Any], *, replace: bool) -> int:
        n = 0
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        for record in records:
            row = self._row(table, record)
            names = ", ".join(f'"{k}"' for k in row)
            marks = ", ".join("?" for _ in row)
            cur = self._conn.execute(
                f'{verb} INTO "{table.name}" ({names}) VALUES ({marks})', list(row.values())
            )
            n += cur.rowcount
        return n

    def _select(
        self, table: _Table, where: str = "", params: Sequence[Any] = (), order: str = ""
    ) -> list[Any]:
        sql = f'SELECT * FROM "{table.name}"' + (f" WHERE {where}" if where else "")
        sql += f" ORDER BY {order}" if order else ""
        return [self._record(table, r) for r in self._conn.execute(sql, list(params))]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: everything inside commits together or not at all."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            for table in _TABLES:  # every table's digest, in the same transaction
                store_table_digest(self._conn, table.name)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _refresh_extent(self, table: _Table) -> None:
        sql = f'SELECT geom FROM "{table.name}" WHERE geom IS NOT NULL'
        row = self._conn.execute(sql).fetchall()
        geoms = [g for g in (gpkg.decode_geometry(r[0]) for r in row) if g is not None]
        if geoms:
            bounds = [
                min(g.bounds[0] for g in geoms),
                min(g.bounds[1] for g in geoms),
                max(g.bounds[2] for g in geoms),
                max(g.bounds[3] for g in geoms),
            ]
            gpkg.update_extent(self._conn, table.name, bounds)

    # -- captures --------------------------------------------------------------------------
    def add_capture(self, capture: Capture) -> bool:
        """Add a capture in one transaction; False (and no change) if its id is already there.

        Example:
            >>> # with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            >>> #     cat.add_capture(capture)
            True
        """
        table = _BY_CLS[Capture]
        with self.transaction():
            added = self._insert(table, [capture], replace=False) == 1
            if added:
                self._refresh_extent(table)
        return added

    def update_capture(self, capture: Capture) -> None:
        """Replace the row of a capture already in the catalogue."""
        table = _BY_CLS[Capture]
        with self.transaction():
            if self.get_capture(capture.capture_id) is None:
                raise CatalogueError(
                    f"{self.path}: capture_id {capture.capture_id!r} is not in the catalogue"
                )
            self._insert(table, [capture], replace=True)

    def captures(self) -> list[Capture]:
        """Every capture, oldest first."""
        rows: list[Capture] = self._select(_BY_CLS[Capture])
        return sorted(rows, key=lambda c: (c.acquired, c.capture_id))

    def get_capture(self, capture_id: str) -> Capture | None:
        """One capture by id, or None."""
        rows: list[Capture] = self._select(_BY_CLS[Capture], "capture_id = ?", [capture_id])
        return rows[0] if rows else None

    def captures_of_source(self, source_sha256: str) -> list[Capture]:
        """Captures made from the original file with this SHA-256 (one file, one capture).

        Example:
            >>> # cat.captures_of_source(sha256_file(path))
        """
        rows: list[Capture] = self._select(
            _BY_CLS[Capture], "source_sha256 = ?", [source_sha256.lower()]
        )
        return rows

    # -- changes ---------------------------------------------------------------------------
    def replace_changes(
        self, before_id: str, after_id: str, changes: Sequence[StoredChange]
    ) -> None:
        """Replace all change polygons of one capture pair in one transaction."""
        for c in changes:
            if (c.before_id, c.after_id) != (before_id, after_id):
                raise CatalogueError(
                    f"{self.path}: change {c.change_id!r} belongs to pair "
                    f"{c.before_id}->{c.after_id}, not {before_id}->{after_id}"
                )
        table = _BY_CLS[StoredChange]
        with self.transaction():
            self._conn.execute(
                'DELETE FROM "changes" WHERE before_id = ? AND after_id = ?', (before_id, after_id)
            )
            self._insert(table, changes, replace=True)
            self._refresh_extent(table)

    def delete_changes_except(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Delete change polygons of pairs not in ``pairs`` (stale after a capture was dropped)."""
        keep = set(pairs)
        stale = [
            (b, a)
            for b, a in self._conn.execute('SELECT DISTINCT before_id, after_id FROM "changes"')
            if (b, a) not in keep
        ]
        with self.transaction():
            for b, a in stale:
                self._conn.execute(
                    'DELETE FROM "changes" WHERE before_id = ? AND after_id = ?', (b, a)
                )
        return len(stale)

    def changes(self) -> list[StoredChange]:
        """Every change polygon, by pair then id."""
        rows: list[StoredChange] = self._select(_BY_CLS[StoredChange])
        return sorted(rows, key=lambda c: (c.after_acquired, c.change_id))

    # -- timeline --------------------------------------------------------------------------
    def replace_timeline(self, rows: Sequence[TimelineRow]) -> None:
        """Replace the whole timeline in one transaction."""
        with self.transaction():
            self._conn.execute('DELETE FROM "timeline"')
            self._insert(_BY_CLS[TimelineRow], rows, replace=True)

    def timeline(self) -> list[TimelineRow]:
        """Every timeline row, by time then zone."""
        rows: list[TimelineRow] = self._select(_BY_CLS[TimelineRow])
        return sorted(rows, key=lambda r: (r.acquired, r.zone_id))

    # -- events ----------------------------------------------------------------------------
    def replace_events(self, events: Sequence[StoredEvent]) -> None:
        """Replace the whole ``events`` layer in one transaction."""
        table = _BY_CLS[StoredEvent]
        with self.transaction():
            self._conn.execute('DELETE FROM "events"')
            self._insert(table, events, replace=True)
            self._refresh_extent(table)

    def events(self) -> list[StoredEvent]:
        """Every stored event, in the order the run found them (oldest bracket first)."""
        rows: list[StoredEvent] = self._select(_BY_CLS[StoredEvent], order="fid")
        return rows

    # -- reviews ---------------------------------------------------------------------------
    def add_review(self, review: Review) -> None:
        """Append one analyst decision in one transaction (earlier ones stay as history).

        Raises:
            CatalogueError: a decision on the same change at the same instant exists.
        """
        table = _BY_CLS[Review]
        with self.transaction():
            if self._insert(table, [review], replace=False) != 1:
                raise CatalogueError(
                    f"{self.path}: a review of change {review.change_id!r} at "
                    f"{review.decided_at.isoformat()} is already recorded"
                )
            self._refresh_extent(table)

    def reviews(self) -> list[Review]:
        """Every analyst decision, oldest first."""
        rows: list[Review] = self._select(_BY_CLS[Review])
        return sorted(rows, key=lambda r: (r.decided_at, r.change_id))


    # -- integrity -------------------------------------------------------------------------
    def integrity_problems(self) -> list[str]:
        """SQLite's integrity check, then every table's row and table digests (read only).

        Example:
            >>> # with read_catalogue(path) as cat: cat.integrity_problems()
            []
        """
        return integrity_problems(self._conn)

    # -- sealed files ----------------------------------------------------------------------
    def seal_files(self, sealed: Sequence[StoredFile], removed: Iterable[str] = ()) -> None:
        """Record derived files' hashes and forget deleted ones, in one transaction.

        Example:
            >>> # cat.seal_files([StoredFile("report/report.html", "report", sha, ...)])
        """
        with self.transaction():
            for path in removed:
                self._conn.execute('DELETE FROM "files" WHERE path = ?', (path,))
            self._insert(_BY_CLS[StoredFile], sealed, replace=True)

    def files(self) -> list[StoredFile]:
        """Every sealed derived file, by path."""
        rows: list[StoredFile] = self._select(_BY_CLS[StoredFile], order="path")
        return rows

    # -- tiles -----------------------------------------------------------------------------
    def replace_tiles(self, tiles: Sequence[StoredTile]) -> None:
        """Replace the tile index of one grid (its resolution) in one transaction.

        Tiles of other resolutions stay: their ids never collide.

        Example:
            >>> # cat.replace_tiles(records)
        """
        table = _BY_CLS[StoredTile]
        with self.transaction():
            for res in sorted({t.resolution_m for t in tiles}):
                self._conn.execute('DELETE FROM "tiles" WHERE resolution_m = ?', (res,))
            self._insert(table, tiles, replace=True)
            self._refresh_extent(table)

    def tiles(self) -> list[StoredTile]:
        """Every tile, by resolution then row and column."""
        rows: list[StoredTile] = self._select(_BY_CLS[StoredTile])
        return sorted(rows, key=lambda t: (t.resolution_m, t.row, t.col))

    def replace_tile_status(self, capture_id: str, statuses: Sequence[TileStatus]) -> None:
        """Replace every tile status of one capture in one transaction.

        Raises:
            CatalogueError: a status belongs to another capture.
        """
        for st in statuses:
            if st.capture_id != capture_id:
                raise CatalogueError(
                    f"{self.path}: tile status of {st.tile_id!r} belongs to capture "
                    f"{st.capture_id!r}, not {capture_id!r}"
                )
        with self.transaction():
            self._conn.execute('DELETE FROM "tile_status" WHERE capture_id = ?', (capture_id,))
            self._insert(_BY_CLS[TileStatus], statuses, replace=True)

    def tile_status(self, capture_id: str | None = None) -> list[TileStatus]:
        """Tile statuses (of one capture, or all), by capture then tile."""
        where, params = ("capture_id = ?", [capture_id]) if capture_id is not None else ("", [])
        rows: list[TileStatus] = self._select(_BY_CLS[TileStatus], where, params)
        return sorted(rows, key=lambda r: (r.capture_id, r.tile_id))


@contextmanager
def read_catalogue(path: Path) -> Iterator[Catalogue]:
    """Open a catalogue strictly read-only: it stays byte-identical, and a read-only copy
    (a write-protected directory, a mounted evidence copy) can be read.

    Without a write-ahead log beside it the file is opened immutable; with one (a run
    was killed before SQLite checkpointed) it is opened read-only so the log is read too.

    Raises:
        CatalogueError: not a campwatch catalogue, or unreadable.

    Example:
        >>> # with read_catalogue(ws.catalogue_path) as cat: cat.captures()
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogueError(f"{path}: catalogue not found")
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.is_file() and wal.stat().st_size > 0 else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
    except sqlite3.Error as exc:
        raise CatalogueError(f"{path}: cannot open catalogue read-only: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        try:
            row = conn.execute(
                "SELECT srs_id FROM gpkg_geometry_columns WHERE table_name = 'captures'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise CatalogueError(f"{path}: not a GeoPackage catalogue: {exc}") from exc
        if row is None:
            raise CatalogueError(f"{path}: no 'captures' layer in the catalogue")
        yield Catalogue(conn, path, f"EPSG:{row[0]}", int(row[0]))
    finally:
        conn.close()


@contextmanager
def open_catalogue(path: Path, crs: str) -> Iterator[Catalogue]:
    """Open (creating if needed) a facility's catalogue GeoPackage.

    Raises:
        CatalogueError: the file is not a GeoPackage, or its CRS differs from ``crs``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "catalogue.gpkg"
        >>> with open_catalogue(p, "EPSG:32652") as cat:
        ...     cat.captures()
        []
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    except sqlite3.Error as exc:
        raise CatalogueError(f"{path}: cannot open catalogue: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            existing = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError as exc:
            raise CatalogueError(f"{path}: not a GeoPackage catalogue: {exc}") from exc
        conn.execute("BEGIN IMMEDIATE")
        try:
            srs_id = gpkg.initialise(conn, crs)
            if "captures" in existing:
                stored = conn.execute(
                    "SELECT srs_id FROM gpkg_geometry_columns WHERE table_name = 'captures'"
                ).fetchone()
                if stored is not None and stored[0] != srs_id:
                    raise CatalogueError(
                        f"{path}: catalogue CRS is EPSG:{stored[0]}, but the facility grid is {crs}"
                    )
            cat = Catalogue(conn, path, crs, srs_id)
            cat._create()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        yield cat
    finally:
        conn.close()

