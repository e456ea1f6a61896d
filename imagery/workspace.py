"""Where a facility's files live inside a workspace directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
