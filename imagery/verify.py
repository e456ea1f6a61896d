"""Check everything a workspace vouches for (the evidence trail check), without writing.

For every facility catalogue under a workspace (``ROOT/<facility_id>/catalogue.gpkg``):

* the catalogue itself, opened read-only (it stays byte-identical; a read-only copy
  works): SQLite's integrity check, each row against its digest (an edited area or
  date names its row) and each table against its recorded digest (a deleted event);
* every capture's stored raster and mask against the SHA-256 in its row;
* every derived file sealed in the ``files`` table (change masks, report and figures,
  timeline exports, events, viewer) against its SHA-256, and every derived file on disk
  that no command sealed ("unrecorded");
* every capture's vendor original: inside the workspace it is hashed (paths are relative
  to the facility directory, so a moved or copied workspace checks its own copy);
  outside, it is hashed when present and reported "outside, unchecked" when absent.

Sealing lives here too: :func:`seal_facility` records the SHA-256 of a facility's derived
files in the catalogue's ``files`` table. Captures and masks are vouched for by their
capture's row, written in the same transaction as the raster. Everything else a command
writes into a facility's directory (change masks, the report and its figures, timeline
exports, the viewer, state files) is sealed by the command itself when it releases the
workspace lock (:func:`pipeline.lock.workspace_lock`): the files it created or replaced
while it held the lock get their hash recorded; files changed by anyone else keep the hash
recorded before, so ``campwatch verify`` still reports them. A file is "replaced while the
lock was held" when its inode change time (which ``touch`` cannot set) is not older than the
moment the lock was taken.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from imagery.capture import Capture
from imagery.catalogue import open_catalogue, read_catalogue
from imagery.errors import CatalogueError, ImageryError
from imagery.records import StoredFile
from imagery.store import sha256_file
from imagery.workspace import FacilityWorkspace

log = logging.getLogger(__name__)

_REMOTE_PREFIXES = ("http://", "https://", "s3://", "gs://", "az://", "/vsi", "ftp://")


@dataclass(frozen=True)
class VerifyProblem:
    """One file that does not match the catalogue (or could not be checked)."""

    facility_id: str
    """The facility whose catalogue lists the file."""
    capture_id: str
    """The capture the file belongs to ("" for a problem with the catalogue itself)."""
    role: str
    """"raster", "mask", "source", "catalogue" or the derived file's folder ("changes",
    "report", …)."""
    path: Path
    """The file (absolute)."""
    problem: str
    """"mismatch", "missing", "unreadable", "unrecorded" (no recorded hash) or "tampered"
    (catalogue rows or tables that do not match their digests)."""
    expected: str
    """The SHA-256 recorded in the catalogue ("" when none)."""
    actual: str
    """The SHA-256 of the file now ("" when it could not be read)."""

    def describe(self) -> str:
        """One line for humans, naming the file and both hashes.

        Example:
            >>> VerifyProblem("f", "c", "raster", Path("/w/f/captures/c.tif"), "missing",
            ...               "ab", "").describe()
            'MISSING f/c raster /w/f/captures/c.tif: expected sha256 ab, file not found'
        """
        head = (
            f"{self.problem.upper()} {self.facility_id}/{self.capture_id} {self.role} {self.path}"
        )
        if self.problem == "mismatch":
            return f"{head}: expected sha256 {self.expected}, actual {self.actual}"
        if self.problem == "missing":
            return f"{head}: expected sha256 {self.expected}, file not found"
        if self.problem == "unrecorded":
            return f"{head}: no sha256 recorded in the catalogue (actual {self.actual})"
        if self.problem == "tampered":
            return f"{head}: {self.actual}"
        return f"{head}: expected sha256 {self.expected}, cannot read: {self.actual}"


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify_workspace`."""

    checked: int
    """Number of files hashed and compared."""
    problems: tuple[VerifyProblem, ...]
    """Every mismatch, missing or unreadable file, in catalogue order."""
    catalogues: int = 0
    """Number of facility catalogues found."""
    unchecked: tuple[str, ...] = ()
    """Vendor originals outside the workspace that are absent ("outside, unchecked")."""

    @property
    def ok(self) -> bool:
        """True when at least one catalogue was checked and nothing is wrong."""
        return self.catalogues > 0 and not self.problems


def _is_remote(source: str) -> bool:
    return source.startswith(_REMOTE_PREFIXES) or "://" in source


def _source(ws: FacilityWorkspace, stored: str) -> tuple[Path, bool]:
    """Where a capture's original is now, and whether it is inside the workspace.

    Relative paths are relative to the facility directory. An absolute path into a
    facility directory of the same id (a workspace moved or copied since) is looked for
    in this workspace first, so a copy checks its own originals, not the old ones.
    """
    path = Path(stored)
    if not path.is_absolute():
        return ws.dir / path, True
    parts = PurePosixPath(path.as_posix()).parts
    if ws.facility_id in parts:
        i = len(parts) - 1 - parts[::-1].index(ws.facility_id)
        tail = parts[i + 1 :]
        if tail and tail[0] not in ("..",):
            here = ws.dir.joinpath(*tail)
            if here.exists() or not path.exists():
                return here, here.exists()
    try:
        path.resolve().relative_to(ws.dir.resolve())
        return path, True
    except ValueError:
        return path, False


def _files(ws: FacilityWorkspace, capture: Capture) -> list[tuple[str, Path, str, bool]]:
    """(role, path, recorded sha256, inside the workspace) of the files a capture vouches for."""
    out: list[tuple[str, Path, str, bool]] = []
    if capture.raster_path:
        out.append(("raster", ws.absolute(capture.raster_path), capture.raster_sha256, True))
    if capture.mask_path:
        out.append(("mask", ws.absolute(capture.mask_path), capture.mask_sha256, True))
    if capture.source_path and capture.source_sha256 and not _is_remote(capture.source_path):
        source, inside = _source(ws, capture.source_path)
        out.append(("source", source, capture.source_sha256, inside))
    return out


def _check(
    facility_id: str, capture_id: str, role: str, path: Path, expected: str
) -> VerifyProblem | None:
    def problem(kind: str, actual: str) -> VerifyProblem:
        return VerifyProblem(facility_id, capture_id, role, path, kind, expected, actual)

    if not path.is_file():
        return problem("missing", "")
    try:
        actual = sha256_file(path)
    except OSError as exc:
        return problem("unreadable", exc.strerror or str(exc))
    if not expected:
        return problem("unrecorded", actual)
    if actual != expected.lower():
        return problem("mismatch", actual)
    return None


def verify_workspace(
    root: Path, *, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check every catalogue, stored file and sealed derived file of every facility.

    Never writes: catalogues are opened read-only and stay byte-identical.

    Args:
        root: the workspace directory (holding one folder per facility).
        progress: called with (files done, files total) after each file.

    Raises:
        ImageryError: ``root`` is not a directory.

    Example:
        >>> # report = verify_workspace(Path("workspace"))
        >>> # report.ok, report.checked -> (True, 42)
    """
    root = Path(root)
    if not root.is_dir():
        raise ImageryError(f"{root}: workspace directory not found")
    todo: list[tuple[str, str, str, Path, str]] = []
    problems: list[VerifyProblem] = []
    unchecked: list[str] = []
    catalogues = 0
    for path in sorted(root.glob("*/catalogue.gpkg")):
        facility_id = path.parent.name
        ws = FacilityWorkspace(root, facility_id)
        try:
            with read_catalogue(path) as cat:
                found = cat.integrity_problems()
                captures = cat.captures()
                sealed = cat.files()
        except CatalogueError as exc:
            problems.append(
                VerifyProblem(facility_id, "", "catalogue", path, "unreadable", "", str(exc))
            )
            continue
        catalogues += 1
        for text in found:
            problem = VerifyProblem(facility_id, "", "catalogue", path, "tampered", "", text)
            log.warning("%s", problem.describe())
            problems.append(problem)
        for capture in captures:
            for role, file, expected, inside in _files(ws, capture):
                if not inside and not file.exists():
                    unchecked.append(
                        f"{facility_id}/{capture.capture_id} source {file}: outside the "
                        f"workspace, unchecked (recorded sha256 {expected})"
                    )
                    continue
                todo.append((facility_id, capture.capture_id, role, file, expected))
        recorded = {f.path for f in sealed}
        for capture in captures:  # an original inside the workspace is vouched for by its row
            for role, file, _, inside in _files(ws, capture):
                if role == "source" and inside:
                    with contextlib.suppress(ValueError):
                        recorded.add(file.resolve().relative_to(ws.dir.resolve()).as_posix())
        for f in sealed:
            todo.append((facility_id, "", f.role or "file", ws.dir / f.path, f.sha256))
        for rel in sorted(set(derived_files(ws)) - recorded):
            role = rel.split("/", 1)[0] if "/" in rel else "file"
            todo.append((facility_id, "", role, ws.dir / rel, ""))
    checked = 0
    for i, (facility_id, capture_id, role, file, expected) in enumerate(todo, start=1):
        found_problem = _check(facility_id, capture_id, role, file, expected)
        if found_problem is None or found_problem.problem in ("mismatch", "unrecorded"):
            checked += 1
        if found_problem is not None:
            log.warning("%s", found_problem.describe())
            problems.append(found_problem)
        if progress is not None:
            progress(i, len(todo))
    return VerifyReport(checked=checked, problems=tuple(problems), catalogues=catalogues,
                        unchecked=tuple(unchecked))


# ------------------------------------------------------------------ sealing derived files
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
