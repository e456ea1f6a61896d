"""Re-hash every file a workspace's catalogues vouch for (the evidence trail check).

For every facility catalogue under a workspace (``ROOT/<facility_id>/catalogue.gpkg``),
every capture's stored raster, stored mask and local vendor original is hashed again and
compared with the SHA-256 recorded when it was catalogued.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.errors import CatalogueError, ImageryError
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
    """"raster", "mask", "source" or "catalogue"."""
    path: Path
    """The file (absolute)."""
    problem: str
    """"mismatch", "missing", "unreadable" or "unrecorded" (a path with no recorded hash)."""
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

    @property
    def ok(self) -> bool:
        """True when at least one catalogue was checked and nothing is wrong."""
        return self.catalogues > 0 and not self.problems


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


def _is_remote(source: str) -> bool:
    return source.startswith(_REMOTE_PREFIXES) or "://" in source


def _files(ws: FacilityWorkspace, capture: Capture) -> list[tuple[str, Path, str]]:
    """(role, absolute path, recorded sha256) of every local file the capture vouches for."""
    out: list[tuple[str, Path, str]] = []
    if capture.raster_path:
        out.append(("raster", ws.absolute(capture.raster_path), capture.raster_sha256))
    if capture.mask_path:
        out.append(("mask", ws.absolute(capture.mask_path), capture.mask_sha256))
    if capture.source_path and capture.source_sha256 and not _is_remote(capture.source_path):
        source = Path(capture.source_path)
        out.append(
            ("source", source if source.is_absolute() else ws.dir / source, capture.source_sha256)
        )
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
    """Re-hash every stored raster, mask and local vendor original of every facility.

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
    catalogues = 0
    for path in sorted(root.glob("*/catalogue.gpkg")):
        facility_id = path.parent.name
        ws = FacilityWorkspace(root, facility_id)
        try:
            with open_catalogue(path, catalogue_crs(path)) as cat:
                captures = cat.captures()
        except CatalogueError as exc:
            problems.append(
                VerifyProblem(facility_id, "", "catalogue", path, "unreadable", "", str(exc))
            )
            continue
        catalogues += 1
        for capture in captures:
            for role, file, expected in _files(ws, capture):
                todo.append((facility_id, capture.capture_id, role, file, expected))
    checked = 0
    for i, (facility_id, capture_id, role, file, expected) in enumerate(todo, start=1):
        found = _check(facility_id, capture_id, role, file, expected)
        if found is None or found.problem in ("mismatch", "unrecorded"):
            checked += 1
        if found is not None:
            log.warning("%s", found.describe())
            problems.append(found)
        if progress is not None:
            progress(i, len(todo))
    return VerifyReport(checked=checked, problems=tuple(problems), catalogues=catalogues)
