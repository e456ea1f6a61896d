"""Where a facility's files live inside a workspace directory."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from facilities.errors import FacilityError
from facilities.grid import FacilityGrid, facility_grid
from facilities.model import Facility
from imagery.errors import ImageryError


@dataclass(frozen=True)
class FacilityWorkspace:
    """The per-facility part of a workspace: ``ROOT/<facility_id>/``.

    Example:
        >>> ws = FacilityWorkspace(Path("/tmp/ws"), "kangdong-kyohwaso-4")
        >>> ws.catalogue_path.name
        'catalogue.gpkg'
    """

    root: Path
    """The workspace directory the user named."""
    facility_id: str
    """The facility (a safe slug, so it can be a directory name)."""

    @property
    def dir(self) -> Path:
        """The facility's directory; stored paths in the catalogue are relative to it."""
        return self.root / self.facility_id

    @property
    def catalogue_path(self) -> Path:
        """The capture catalogue (GeoPackage)."""
        return self.dir / "catalogue.gpkg"

    @property
    def captures_dir(self) -> Path:
        """Reflectance rasters on the facility grid."""
        return self.dir / "captures"

    @property
    def masks_dir(self) -> Path:
        """Clear-sky masks on the facility grid."""
        return self.dir / "masks"

    @property
    def changes_dir(self) -> Path:
        """Change masks per capture pair."""
        return self.dir / "changes"

    @property
    def report_dir(self) -> Path:
        """Report, timeline exports and figures."""
        return self.dir / "report"

    @property
    def cache_dir(self) -> Path:
        """Cached search results."""
        return self.dir / "cache"

    @property
    def originals_dir(self) -> Path:
        """Incoming originals (e.g. the simulated archive's deliveries)."""
        return self.dir / "originals"

    def relative(self, path: Path) -> str:
        """``path`` relative to :attr:`dir`, as stored in the catalogue."""
        return path.resolve().relative_to(self.dir.resolve()).as_posix()

    def absolute(self, stored: str) -> Path:
        """The absolute path of a catalogue-relative path."""
        return self.dir / stored


GRID_FILE = "grid.json"

MAX_GRID_PIXELS = 400_000_000
"""Largest facility grid (pixels) a workspace accepts: 20,000 × 20,000, the largest grid the
tiled detection is measured on; a finer resolution is refused before anything is written."""


def checked_grid(ws: FacilityWorkspace, facility: Facility, resolution: float) -> FacilityGrid:
    """The facility grid at ``resolution``, or an error naming the value; writes nothing.

    Commands call it before they create anything, so a bad ``--resolution`` leaves no trace.

    Raises:
        ImageryError: naming ``grid.json``, the field and the value.

    Example:
        >>> # checked_grid(ws, facility, 1e-9)  # ImageryError: ... gives a ... px grid
    """
    try:
        grid = facility_grid(facility, resolution)
    except FacilityError as exc:
        raise ImageryError(
            f"{ws.dir / GRID_FILE}: field 'resolution' = {resolution!r}: {exc}"
        ) from exc
    if grid.width * grid.height > MAX_GRID_PIXELS:
        raise ImageryError(
            f"{ws.dir / GRID_FILE}: field 'resolution' = {resolution!r} m gives a "
            f"{grid.width} × {grid.height} px grid for {facility.id}, more than "
            f"{MAX_GRID_PIXELS:,} px; choose a coarser resolution (e.g. 0.5)"
        )
    return grid


def workspace_grid(
    ws: FacilityWorkspace, facility: Facility, resolution: float | None
) -> FacilityGrid:
    """The facility grid of a workspace, fixed by the first run that created it.

    The first call must name ``resolution``; it is stored in ``grid.json``. Later
    calls may omit it, and naming a different one is an error: a workspace never
    mixes grids, and a resolution is never guessed.

    Example:
        >>> # grid = workspace_grid(ws, facility, 1.0)   # first run
        >>> # grid = workspace_grid(ws, facility, None)  # later runs
    """
    path = ws.dir / GRID_FILE
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            stored_res = float(stored["resolution"])
            stored_crs = str(stored["crs"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ImageryError(f"{path}: unreadable grid record: {exc}") from exc
        if resolution is not None and abs(resolution - stored_res) > 1e-9:
            raise ImageryError(
                f"{path}: workspace grid resolution is {stored_res} m, but {resolution} m was "
                "asked for; use another workspace for another resolution"
            )
        grid = facility_grid(facility, stored_res)
        if grid.crs != stored_crs:
            raise ImageryError(f"{path}: stored grid CRS {stored_crs} != facility CRS {grid.crs}")
        for name in ("west", "north", "width", "height"):
            if name in stored and stored[name] != getattr(grid, name):
                raise ImageryError(
                    f"{path}: field '{name}' = {stored[name]!r}, but the facility definition now "
                    f"gives {getattr(grid, name)!r} (was its AOI changed?); the stored captures "
                    "are on the old grid: use another workspace for the new AOI"
                )
        return grid
    if resolution is None:
        raise ImageryError(
            f"{ws.dir}: no grid resolution recorded yet; name one (e.g. --resolution 1.0)"
        )
    grid = checked_grid(ws, facility, resolution)
    ws.dir.mkdir(parents=True, exist_ok=True)
    record = {
        "facility_id": facility.id,
        "crs": grid.crs,
        "resolution": grid.resolution,
        "west": grid.west,
        "north": grid.north,
        "width": grid.width,
        "height": grid.height,
    }
    tmp = path.with_name(f".{GRID_FILE}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return grid
