"""Fixtures of the report tests: a private copy of the session demo workspace (reviews
write to its catalogue), reviewed and reported once per module."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from facilities.grid import FacilityGrid
from facilities.load import load_facility_by_id
from facilities.model import Facility
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.demo import DEMO_FACILITY


@dataclass(frozen=True)
class DemoCopy:
    """A writable copy of the demo workspace."""

    root: Path
    facility: Facility
    ws: FacilityWorkspace
    grid: FacilityGrid


def copy_demo(demo_workspace: Path, dest: Path) -> DemoCopy:
    """Copy the demo workspace (without the simulated originals' rasters) to ``dest``."""

    def skip_originals(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if n.endswith(".tif") and "originals" in directory]

    shutil.copytree(demo_workspace, dest, ignore=skip_originals)
    facility = load_facility_by_id(DEMO_FACILITY)
    ws = FacilityWorkspace(dest, facility.id)
    return DemoCopy(dest, facility, ws, workspace_grid(ws, facility, None))


@pytest.fixture(scope="module")
def demo_copy(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> DemoCopy:
    """A private, writable copy of the session demo workspace (one per test module)."""
    return copy_demo(demo_workspace, tmp_path_factory.mktemp("report") / "ws")
