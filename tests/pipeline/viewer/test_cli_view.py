"""``campwatch view``: reads a workspace catalogue and writes the viewer page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from facilities.grid import FacilityGrid
from facilities.load import load_facility_by_id
from imagery.capture import BANDS, Capture
from imagery.catalogue import open_catalogue
from imagery.records import StoredChange
from imagery.store import write_grid_raster
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.cli.view import view, viewer_dir

FACILITY = "kangdong-kyohwaso-4"


def _capture(ws: FacilityWorkspace, grid: FacilityGrid, i: int, **kw: Any) -> Capture:
    arr = np.full((4, *grid.shape), 0.08, dtype=np.float32)
    arr[:, 50:150, 60 + 30 * i : 140] = 0.3 + 0.1 * i
    rel = f"captures/cap{i}.tif"
    (ws.dir / "captures").mkdir(parents=True, exist_ok=True)
    sha = write_grid_raster(ws.absolute(rel), arr, grid, nodata=np.nan, band_names=BANDS)
    fields: dict[str, Any] = {
        "capture_id": f"cap{i}",
        "facility_id": FACILITY,
        "acquired": datetime(2016 + i, 5, 1, 2, 0, tzinfo=UTC),
        "sensor": "WorldView-2",
        "gsd_m": 0.5,
        "footprint": grid.polygon(),
        "provider": "simulated",
        "source_path": f"originals/cap{i}.tif",
        "source_sha256": "",
        "raster_path": rel,
        "raster_sha256": sha,
        "usable": True,
        "simulated": True,
    }
    fields.update(kw)
    return Capture(**fields)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Kangdong workspace on a 10 m grid: two usable captures, one unusable, one change."""
    root = tmp_path_factory.mktemp("ws")
    facility = load_facility_by_id(FACILITY)
    ws = FacilityWorkspace(root, FACILITY)
    grid = workspace_grid(ws, facility, 10.0)
    caps = [_capture(ws, grid, 0), _capture(ws, grid, 1), _capture(ws, grid, 2, usable=False)]
    change = StoredChange(
        change_id="c1",
        facility_id=FACILITY,
        before_id="cap0",
        after_id="cap1",
        before_acquired=caps[0].acquired,
        after_acquired=caps[1].acquired,
        geometry=grid.polygon().buffer(-800),
        area_m2=1234.5,
        change_type="removed_or_darker",
        confidence=0.8,
        confidence_label="high",
        zone_id="",
        zone_type="",
        method="test",
    )
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        for c in caps:
            cat.add_capture(c)
        cat.replace_changes("cap0", "cap1", [change])
    return root


def test_view_writes_the_page_and_refuses_to_clobber(workspace: Path) -> None:
    runner = CliRunner()
    args = [FACILITY, "--workspace", str(workspace), "--json"]
    result = runner.invoke(view, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    out = viewer_dir(FacilityWorkspace(workspace, FACILITY))
    assert summary["index"] == str(out / "index.html")
    assert (summary["captures"], summary["changes"], summary["simulated"]) == (2, 1, True)
    assert summary["events"] == 1  # last pair: an unconfirmed event
    assert summary["zones"] == len(load_facility_by_id(FACILITY).zones)
    text = (out / "data.js").read_text()
    data = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert [c["id"] for c in data["captures"]] == ["cap0", "cap1"]
    change = data["layers"]["changes"]["features"][0]["properties"]
    assert change["review_status"] == "unreviewed"
    assert (change["before_date"], change["after_date"], change["area_m2"]) == (
        "2016-05-01",
        "2017-05-01",
        1234.5,
    )
    assert data["layers"]["events"]["features"][0]["properties"]["event_status"] == "unconfirmed"

    again = runner.invoke(view, args)
    assert again.exit_code == 1
    assert f"Error: {out}: exists; pass --overwrite to replace it" in again.output
    assert runner.invoke(view, [*args, "--overwrite"]).exit_code == 0


def test_view_without_a_catalogue_is_a_clean_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(view, [FACILITY, "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        f"Error: {tmp_path / FACILITY / 'catalogue.gpkg'}: no catalogue; ingest, fetch or run "
        "the demo first" in result.output
    )
    assert "Traceback" not in result.output


def test_view_of_an_unknown_facility_is_a_clean_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(view, ["no-such-camp", "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    assert "Error: no facility with id 'no-such-camp'" in result.output
