"""`campwatch ingest` through the CLI: JSON summary, reruns, bad flags, the workspace lock."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from click.testing import CliRunner

from facilities.grid import facility_grid
from facilities.load import load_facility_by_id
from pipeline.cli.main import main
from pipeline.lock import workspace_lock

FID = "kangdong-kyohwaso-4"


def delivery(path: Path, *, tags: dict[str, str]) -> Path:
    grid = facility_grid(load_facility_by_id(FID), 10.0)
    data = np.full((4, grid.height, grid.width), 800, np.uint16)
    data[3] = 3000
    with rasterio.open(path, "w", driver="GTiff", width=grid.width, height=grid.height, count=4,
                       dtype="uint16", crs=grid.crs, nodata=0,
                       transform=Affine(10, 0, grid.west, 0, -10, grid.north)) as dst:
        dst.write(data)
        dst.update_tags(**tags)
    return path


def test_ingest_json_then_rerun_skips(tmp_path: Path) -> None:
    src = delivery(tmp_path / "scene.tif", tags={"SENSOR": "WorldView-2", "GSD_M": "0.5"})
    args = ["ingest", FID, str(src), "--workspace", str(tmp_path / "ws"), "--resolution", "10",
            "--date", "2016-05-03T02:05:47Z", "--credit", "© 2016 DigitalGlobe", "--json"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    payload = json.loads(first.output)
    assert payload["added"][0].startswith("20160503T020547-WorldView-2-")
    second = CliRunner().invoke(main, args)
    assert json.loads(second.output)["skipped"] == [
        [str(src), f"already catalogued as {payload['added'][0]} (same sha256)"]
    ]


def test_bad_date_flag_is_named(tmp_path: Path) -> None:
    src = delivery(tmp_path / "scene.tif", tags={"SENSOR": "WorldView-2", "GSD_M": "0.5"})
    result = CliRunner().invoke(main, ["ingest", FID, str(src), "--workspace", str(tmp_path),
                                       "--resolution", "10", "--date", "2016-13-01"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "--date '2016-13-01' is not an ISO 8601 date" in result.output


def test_second_writer_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    src = delivery(tmp_path / "scene.tif", tags={"SENSOR": "WorldView-2", "GSD_M": "0.5",
                                                  "ACQUISITION_DATETIME": "2016-05-03T02:05:47Z"})
    ws = tmp_path / "ws"
    with workspace_lock(ws, "test holder"):
        result = CliRunner().invoke(main, ["ingest", FID, str(src), "--workspace", str(ws),
                                           "--resolution", "10"])
    assert result.exit_code == 1
    assert "test holder" in result.output
    assert not (ws / FID / "catalogue.gpkg").exists()
