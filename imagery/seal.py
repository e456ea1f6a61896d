"""Seal a facility's derived files: record their SHA-256 in the catalogue's ``files`` table.

Captures and masks are vouched for by their capture's row, written in the same
transaction as the raster. Everything else a command writes into a facility's
directory (change masks, the report and its figures, timeline exports, the viewer,
state files) is sealed by the command itself when it releases the workspace lock
(:func:`pipeline.lock.workspace_lock`): the files it created or replaced while it
held the lock get their hash recorded; files changed by anyone else keep the hash
recorded before, so ``campwatch verify`` still reports them. A file is "replaced
while the lock was held" when its inode change time (which ``touch`` cannot set) is
not older than the moment the lock was taken.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from imagery.catalogue import open_catalogue
from imagery.records import StoredFile
from imagery.store import sha256_file
from imagery.workspace import FacilityWorkspace

log = logging.getLogger(__name__)

VOUCHED_BY_ROWS = ("captures", "masks")
"""Folders whose files the captures' rows vouch for (not sealed again)."""
NOT_EVIDENCE = ("cache",)
"""Folders of disposable files (cached search results)."""
CATALOGUE_FILES = ("catalogue.gpkg", "catalogue.gpkg-wal", "catalogue.gpkg-shm",
                   "catalogue.gpkg-journal")
"""The catalogue itself (checked row by row, not by file hash)."""
CLOCK_MARGIN_NS = 2_000_000_000
"""File times are coarser than the clock: a file changed this soon before the lock was taken
counts as written by the holder."""


@dataclass(frozen=True)
class FileState:
    """What the sealer needs to know about one derived file on disk."""

    size: int
    """Bytes."""
    mtime_ns: int
    """Modification time."""
    ctime_ns: int
    """Inode change time (set by every write and rename, not settable by users)."""


def derived_files(ws: FacilityWorkspace) -> dict[str, FileState]:
    """Derived files of a facility directory (relative POSIX path -> state), hidden ones and
    temporaries excluded.

    Example:
        >>> derived_files(FacilityWorkspace(Path("/nonexistent"), "f"))
        {}
    """
    out: dict[str, FileState] = {}
    base = ws.dir
    if not base.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = Path(dirpath).relative_to(base)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in VOUCHED_BY_ROWS + NOT_EVIDENCE]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or (rel_dir == Path(".") and name in CATALOGUE_FILES):
                continue
            p = Path(dirpath) / name
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out[(rel_dir / name).as_posix()] = FileState(st.st_size, st.st_mtime_ns,
                                                         st.st_ctime_ns)
    return out


def seal_facility(
    ws: FacilityWorkspace, crs: str, command: str, *, since_ns: int, before: set[str]
) -> int:
    """Seal the derived files a lock holder wrote; return how many were (re)sealed.

    Args:
        ws: the facility workspace.
        crs: its catalogue CRS.
        command: the lock holder's command (recorded as ``sealed_by``).
        since_ns: when the lock was taken (``time.time_ns()``).
        before: the derived files (relative paths) present when the lock was taken.

    Example:
        >>> # seal_facility(ws, "EPSG:32652", "campwatch run", since_ns=t0, before=paths)
    """
    current = derived_files(ws)
    with open_catalogue(ws.catalogue_path, crs) as cat:
        recorded = {f.path: f for f in cat.files()}
    stamp = datetime.now(UTC)
    sealed: list[StoredFile] = []
    for rel, state in sorted(current.items()):
        written = rel not in before or state.ctime_ns >= since_ns - CLOCK_MARGIN_NS
        if not written:
            continue  # changed by someone else (or not at all): keep what was recorded
        rec = recorded.get(rel)
        try:
            digest = sha256_file(ws.dir / rel)
        except OSError as exc:
            log.warning("%s: cannot be sealed: %s", ws.dir / rel, exc)
            continue
        if rec is not None and rec.sha256 == digest and rec.size == state.size:
            continue
        top = rel.split("/", 1)[0] if "/" in rel else ""
        sealed.append(StoredFile(rel, top, digest, state.size, state.mtime_ns, command, stamp))
    removed = [rel for rel in recorded if rel not in current and rel in before]
    if sealed or removed:
        with open_catalogue(ws.catalogue_path, crs) as cat:
            cat.seal_files(sealed, removed)
        log.info("%s: sealed %d file(s), forgot %d deleted", ws.dir, len(sealed), len(removed))
    return len(sealed)
