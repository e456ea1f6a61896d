"""One ``campwatch ingest`` of several files: each file's date, sensor and GSD come from its
own metadata (campwatch GeoTIFF tags, a real Maxar IMD, a real Planet item JSON), never from
one value given for all of them (issue #13, item 7)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner, Result

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.cli.main import main

FACILITY = load_facility_by_id("kangdong-kyohwaso-4")
VM = "vendor-metadata"


def raster(path: Path, tags: dict[str, str] | None = None) -> Path:
    grid = workspace_grid(FacilityWorkspace(path.parent / ".g", FACILITY.id), FACILITY, 10.0)
    data = (np.random.default_rng(len(path.name)).normal(0.1, 0.01, (4, grid.height // 4,
                                                                     grid.width // 4)) * 10000)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=4, dtype="uint16", crs=grid.crs, nodata=0,
                       transform=Affine(10, 0, grid.west + 500, 0, -10, grid.north - 500)) as dst:
        dst.write(data.astype(np.uint16))
        if tags:
            dst.update_tags(**tags)
    return path


@pytest.fixture
def delivery(shared_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "delivery"
    folder.mkdir()
    raster(folder / "tagged.tif", {"ACQUISITION_DATETIME": "2014-06-30T02:13:00Z",
                                   "SENSOR": "WorldView-2", "GSD_M": "0.5"})
    raster(folder / "md_dg.tif")
    shutil.copy(shared_data / VM / "maxar" / "gdal_md_dg.IMD", folder / "md_dg.IMD")
    raster(folder / "20220125_075509_67_1061_3B_AnalyticMS.tif")
    shutil.copy(shared_data / VM / "planet" / "planet-data-api_PSScene_20220125_075509_67_1061.json",
                folder / "20220125_075509_67_1061_metadata.json")
    shutil.rmtree(folder / ".g", ignore_errors=True)
    return folder


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_each_file_dated_and_described_by_its_own_metadata(delivery: Path, tmp_path: Path) -> None:
    ws_root = tmp_path / "ws"
    result = invoke("ingest", FACILITY.id, str(delivery), "--workspace", str(ws_root),
                    "--resolution", "10", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["added"]) == 3
    ws = FacilityWorkspace(ws_root, FACILITY.id)
    with open_catalogue(ws.catalogue_path, workspace_grid(ws, FACILITY, None).crs) as cat:
        got = {Path(c.source_path).name: (c.acquired, c.sensor, c.gsd_m)
               for c in cat.captures()}
    assert got["tagged.tif"] == (datetime(2014, 6, 30, 2, 13, tzinfo=UTC), "WorldView-2", 0.5)
    assert got["md_dg.tif"] == (datetime(2010, 4, 1, 12, tzinfo=UTC), "WorldView-3", 1.301)
    planet = got["20220125_075509_67_1061_3B_AnalyticMS.tif"]
    assert planet[0].date() == datetime(2022, 1, 25).date() and planet[2] == 3.6
    assert planet[1].startswith("PlanetScope")


def test_one_date_for_the_folder_is_refused(delivery: Path, tmp_path: Path) -> None:
    result = invoke("ingest", FACILITY.id, str(delivery), "--workspace", str(tmp_path / "ws"),
                    "--resolution", "10", "--date", "2020-01-01")
    assert result.exit_code == 1
    assert "--date 2020-01-01T00:00:00+00:00 given for 3 files" in result.output
    assert not (tmp_path / "ws" / FACILITY.id / "catalogue.gpkg").exists()


def test_a_grid_finer_than_a_quarter_of_a_files_gsd_needs_the_flag(
    delivery: Path, tmp_path: Path
) -> None:
    args = ["ingest", FACILITY.id, str(delivery), "--workspace", str(tmp_path / "ws"),
            "--resolution", "0.5"]
    refused = invoke(*args)
    assert refused.exit_code == 1
    out = refused.output
    assert "20220125_075509_67_1061_3B_AnalyticMS.tif: GSD 3.6 m but the grid resolution is " \
           "0.5 m" in out and "--allow-fine-grid" in out
    assert not (tmp_path / "ws" / FACILITY.id / "grid.json").exists()
