"""A small real workspace for the evidence tests: local deliveries ingested and run through
the CLI (10 m, three captures of Kangdong with a planted building and earthworks)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner, Result

from pipeline.cli.main import main
from tests.pipeline.watch.conftest import CRS, DATES, FACILITY_ID, KEYS, ORIGIN, SIZE, scene

MIN_AREA_M2 = 2000
"""Minimum mapping unit of the test runs: the planted building (6,000 m²) and earthworks
(15,000 m²) are found, 10 m sensor noise is not."""


def delivery(path: Path, name: str) -> Path:
    """Capture ``name`` (A..D of the watch scenes) as a vendor-like float GeoTIFF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=4,
                       dtype="float32", crs=CRS, nodata=None, tiled=True, blockxsize=128,
                       blockysize=128, compress="zstd",
                       transform=Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1])) as dst:
        dst.write(scene(name))
        for i, key in enumerate(KEYS, start=1):
            dst.set_band_description(i, key)
        dst.update_tags(ACQUISITION_DATETIME=DATES[name], SENSOR="Sentinel-2A", GSD_M="10",
                        CREDIT="synthetic test scene")
    return path


def cli(*args: object) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def build(ws: Path, names: str, originals: Path) -> Path:
    """Ingest deliveries ``names`` (e.g. "ACD") from ``originals`` and run; return ws."""
    paths = [delivery(originals / f"{n}.tif", n) for n in names]
    cli("ingest", FACILITY_ID, *paths, "--workspace", ws, "--resolution", "10")
    cli("run", FACILITY_ID, "--workspace", ws, "--min-area", MIN_AREA_M2)
    return ws


@pytest.fixture(scope="session")
def evidence_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace of captures A, B, C run end to end, originals inside the workspace."""
    root = tmp_path_factory.mktemp("evidence")
    ws = root / "ws"
    return build(ws, "ABC", ws / FACILITY_ID / "originals" / "deliveries")


@pytest.fixture
def ws_copy(evidence_ws: Path, tmp_path: Path) -> Path:
    """A fresh copy of :func:`evidence_ws` to tamper with."""
    dst = tmp_path / "copy"
    shutil.copytree(evidence_ws, dst)
    return dst
