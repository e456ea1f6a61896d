"""verify_workspace and ``campwatch verify`` on a tiny workspace built with the catalogue API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from facilities.grid import FacilityGrid
from imagery.capture import BANDS, Capture
from imagery.catalogue import open_catalogue
from imagery.errors import ImageryError
from imagery.store import sha256_file, write_grid_raster
from imagery.verify import VerifyProblem, verify_workspace
from imagery.workspace import FacilityWorkspace
from pipeline.cli.verify import verify

FACILITY = "test-camp"
GRID = FacilityGrid(
    crs="EPSG:32652", resolution=10.0, west=360000.0, north=4330020.0, width=8, height=6
)


def build_workspace(root: Path, *, remote_capture: bool = True) -> FacilityWorkspace:
    """One local capture (raster, mask, vendor original) and one STAC capture (no original)."""
    ws = FacilityWorkspace(root, FACILITY)
    original = root / "delivery" / "scene.tif"
    original.parent.mkdir(parents=True)
    original.write_bytes(b"vendor original bytes")
    rng = np.random.default_rng(3)
    captures = []
    for n, cid in enumerate(["20190602T010203-WorldView-2-abcd1234", "20200101T020304-S2A-x"]):
        reflectance = rng.random((len(BANDS), GRID.height, GRID.width), dtype=np.float32)
        mask = np.ones((1, GRID.height, GRID.width), dtype=np.uint8)
        raster_path = ws.captures_dir / f"{cid}.tif"
        mask_path = ws.masks_dir / f"{cid}.tif"
        raster_sha = write_grid_raster(
            raster_path, reflectance, GRID, nodata=np.nan, band_names=BANDS
        )
        mask_sha = write_grid_raster(mask_path, mask, GRID, nodata=None, band_names=("clear",))
        local = n == 0
        captures.append(
            Capture(
                capture_id=cid,
                facility_id=FACILITY,
                acquired=datetime(2019 + n, 6, 2, tzinfo=UTC),
                sensor="WorldView-2" if local else "Sentinel-2A",
                gsd_m=0.5 if local else 10.0,
                footprint=box(*GRID.bounds),
                provider="local" if local else "earth-search",
                source_path=str(original) if local else "https://example.test/items/x",
                source_sha256=sha256_file(original) if local else "",
                raster_path=ws.relative(raster_path),
                raster_sha256=raster_sha,
                mask_path=ws.relative(mask_path),
                mask_sha256=mask_sha,
            )
        )
    with open_catalogue(ws.catalogue_path, GRID.crs) as cat:
        for capture in captures[: 2 if remote_capture else 1]:
            assert cat.add_capture(capture)
    return ws


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_clean_workspace_verifies(tmp_path: Path) -> None:
    build_workspace(tmp_path)
    seen: list[tuple[int, int]] = []
    report = verify_workspace(tmp_path, progress=lambda i, n: seen.append((i, n)))
    assert report.problems == ()
    assert (report.checked, report.catalogues, report.ok) == (
        5,
        1,
        True,
    )  # 2 rasters, 2 masks, 1 original
    assert seen[-1] == (5, 5)


def test_single_flipped_byte_in_a_stored_raster_is_caught(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path)
    raster = ws.captures_dir / "20190602T010203-WorldView-2-abcd1234.tif"
    expected = sha256_file(raster)
    flip_byte(raster, raster.stat().st_size // 2)
    report = verify_workspace(tmp_path)
    assert report.ok is False
    assert report.problems == (
        VerifyProblem(
            FACILITY,
            "20190602T010203-WorldView-2-abcd1234",
            "raster",
            raster,
            "mismatch",
            expected,
            sha256_file(raster),
        ),
    )


def test_missing_mask_and_changed_original(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path, remote_capture=False)
    mask = ws.masks_dir / "20190602T010203-WorldView-2-abcd1234.tif"
    mask.unlink()
    original = tmp_path / "delivery" / "scene.tif"
    before = sha256_file(original)
    flip_byte(original, 0)
    problems = verify_workspace(tmp_path).problems
    assert [(p.role, p.problem, p.path) for p in problems] == [
        ("mask", "missing", mask),
        ("source", "mismatch", original),
    ]
    assert problems[1].expected == before
    assert problems[0].describe() == (
        f"MISSING {FACILITY}/20190602T010203-WorldView-2-abcd1234 mask {mask}: "
        f"expected sha256 {problems[0].expected}, file not found"
    )


def test_not_a_catalogue_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "other-camp" / "catalogue.gpkg"
    bad.parent.mkdir()
    bad.write_text("not sqlite")
    report = verify_workspace(tmp_path)
    assert report.catalogues == 0
    assert [(p.facility_id, p.role, p.problem) for p in report.problems] == [
        ("other-camp", "catalogue", "unreadable")
    ]


def test_workspace_not_found(tmp_path: Path) -> None:
    with pytest.raises(ImageryError) as err:
        verify_workspace(tmp_path / "nope")
    assert str(err.value) == f"{tmp_path / 'nope'}: workspace directory not found"


def test_cli_clean_then_flipped(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(verify, ["--workspace", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert ok.output == f"{tmp_path}: 1 catalogue(s), 5 file(s) checked, 0 problem(s)\n"

    raster = ws.captures_dir / "20200101T020304-S2A-x.tif"
    expected = sha256_file(raster)
    flip_byte(raster, raster.stat().st_size - 1)
    actual = sha256_file(raster)
    bad = runner.invoke(verify, ["--workspace", str(tmp_path)])
    assert bad.exit_code == 1
    assert bad.output.splitlines() == [
        f"MISMATCH {FACILITY}/20200101T020304-S2A-x raster {raster}: "
        f"expected sha256 {expected}, actual {actual}",
        f"{tmp_path}: 1 catalogue(s), 5 file(s) checked, 1 problem(s)",
    ]

    as_json = runner.invoke(verify, ["--workspace", str(tmp_path), "--json"])
    assert as_json.exit_code == 1
    payload = json.loads(as_json.stdout)
    assert (payload["ok"], payload["checked"]) == (False, 5)
    assert payload["problems"] == [
        {
            "facility_id": FACILITY,
            "capture_id": "20200101T020304-S2A-x",
            "role": "raster",
            "path": str(raster),
            "problem": "mismatch",
            "expected_sha256": expected,
            "actual_sha256": actual,
        }
    ]


def test_cli_empty_and_missing_workspace(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(verify, ["--workspace", str(tmp_path)])
    assert empty.exit_code == 1
    assert f"{tmp_path}: no facility catalogue (*/catalogue.gpkg) found" in empty.output
    missing = runner.invoke(verify, ["--workspace", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert missing.output == f"Error: {tmp_path / 'nope'}: workspace directory not found\n"
