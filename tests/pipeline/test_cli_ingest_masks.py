"""`campwatch ingest --mask / --cloud-threshold`: an analyst's mask on any CRS, the model's
threshold, both recorded in the capture; bad masks named by file, field and value, and
nothing stored when one is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner, Result
from pyproj import Transformer
from rasterio.warp import transform_bounds

from facilities.grid import facility_grid
from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from pipeline.cli.main import main

FID = "kangdong-kyohwaso-4"
GRID = facility_grid(load_facility_by_id(FID), 10.0)
TAGS = {"SENSOR": "WorldView-2", "GSD_M": "0.5", "ACQUISITION_DATETIME": "2016-05-03T02:05:47Z"}


def delivery(path: Path, *, tags: dict[str, str] | None = None, bands: int = 4) -> Path:
    data = np.full((bands, GRID.height, GRID.width), 800, np.uint16)
    data[3] = 3000
    with rasterio.open(path, "w", driver="GTiff", width=GRID.width, height=GRID.height,
                       count=bands, dtype="uint16", crs=GRID.crs, nodata=0,
                       transform=GRID.transform) as dst:
        dst.write(data)
        if bands == 6:
            for i, name in enumerate(("blue", "green", "red", "nir", "swir16", "swir22"), 1):
                dst.set_band_description(i, name)
        dst.update_tags(**(tags or TAGS))
    return path


def lonlat_mask(path: Path, *, north_half_bad: bool = True, cover: float = 1.0,
                bands: int = 1, crs: str | None = "EPSG:4326") -> Path:
    """A mask in geographic coordinates over the grid (``cover`` of its width from the west)."""
    w, s, e, n = transform_bounds(GRID.crs, "EPSG:4326", *GRID.bounds)
    pad = 0.002
    w, s, n = w - pad, s - pad, n + pad
    e = w + (e + pad - w) * cover if cover < 1 else e + pad
    h, wid = 400, 400
    data = np.zeros((bands, h, wid), np.uint8)
    if north_half_bad:
        # rows north of the grid's middle latitude are not usable
        mid = (transform_bounds(GRID.crs, "EPSG:4326", *GRID.bounds)[1]
               + transform_bounds(GRID.crs, "EPSG:4326", *GRID.bounds)[3]) / 2
        data[:, : int(round((n - mid) / (n - s) * h))] = 7
    kwargs = {"crs": crs} if crs else {}
    with rasterio.open(path, "w", driver="GTiff", width=wid, height=h, count=bands,
                       dtype="uint8", transform=Affine((e - w) / wid, 0, w, 0, -(n - s) / h, n),
                       **kwargs) as dst:
        dst.write(data)
    return path


def ingest(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["ingest", FID, *args, "--workspace", str(tmp_path / "ws"),
                                     "--resolution", "10", "--json"])


def nothing_stored(tmp_path: Path) -> None:
    ws = tmp_path / "ws" / FID
    for sub in ("captures", "masks"):
        assert not list((ws / sub).glob("*.tif")) if (ws / sub).exists() else True
    if (ws / "catalogue.gpkg").exists():
        with open_catalogue(ws / "catalogue.gpkg", GRID.crs) as cat:
            assert cat.captures() == []


def test_analyst_mask_on_another_crs_is_warped_and_recorded(tmp_path: Path) -> None:
    mask = lonlat_mask(tmp_path / "analyst.tif")
    result = ingest(tmp_path, str(delivery(tmp_path / "scene.tif")), "--mask", str(mask))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    (cid,) = payload["added"]
    rec = payload["masks"][cid]
    assert rec["method"] == "analyst" and rec["cloud_threshold"] is None
    assert str(mask.resolve()) in rec["detail"] and "sha256 " in rec["detail"]
    ws = tmp_path / "ws" / FID
    with open_catalogue(ws / "catalogue.gpkg", GRID.crs) as cat:
        cap = cat.get_capture(cid)
    assert cap is not None and cap.mask_detail == rec["detail"]
    with rasterio.open(ws / cap.mask_path) as m:
        clear = m.read(1).astype(bool)
    # usable exactly south of the mask's middle latitude (the UTM grid is turned against it)
    cols, rows = np.meshgrid(np.arange(GRID.width) + 0.5, np.arange(GRID.height) + 0.5)
    x, y = GRID.transform @ (cols, rows)
    _, lat = Transformer.from_crs(GRID.crs, "EPSG:4326", always_xy=True).transform(x, y)
    bounds = transform_bounds(GRID.crs, "EPSG:4326", *GRID.bounds)
    south = lat < (bounds[1] + bounds[3]) / 2
    assert (clear == south).mean() > 0.99 and 0.4 < clear.mean() < 0.6


def test_cloud_threshold_is_recorded_for_a_sentinel2_file(tmp_path: Path) -> None:
    src = delivery(tmp_path / "S2A_MSIL2A_scene.tif", bands=6, tags={
        "SENSOR": "Sentinel-2A", "GSD_M": "10", "ACQUISITION_DATETIME": "2020-05-03T02:05:47Z"})
    result = ingest(tmp_path, str(src), "--cloud-threshold", "0.35")
    assert result.exit_code == 0, result.output
    rec = next(iter(json.loads(result.output)["masks"].values()))
    assert rec["method"] == "model" and rec["cloud_threshold"] == 0.35
    assert "6BL2A" in rec["detail"] and ">= 0.35" in rec["detail"]


def test_threshold_on_vendor_imagery_is_said_unused(tmp_path: Path) -> None:
    result = ingest(tmp_path, str(delivery(tmp_path / "scene.tif")), "--cloud-threshold", "0.4")
    assert result.exit_code == 0, result.output
    rec = next(iter(json.loads(result.output)["masks"].values()))
    assert rec["method"] == "rules" and rec["cloud_threshold"] is None
    assert "'WorldView-2' is not Sentinel-2 or Landsat" in rec["detail"]
    assert "--cloud-threshold 0.4 not used" in rec["detail"]


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.2", "high"])
def test_threshold_out_of_range_is_a_usage_error(tmp_path: Path, value: str) -> None:
    result = ingest(tmp_path, str(delivery(tmp_path / "scene.tif")), "--cloud-threshold", value)
    assert result.exit_code == 2 and "--cloud-threshold" in result.output
    assert value in result.output
    nothing_stored(tmp_path)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: lonlat_mask(p, crs=None), "field CRS: none"),
    (lambda p: lonlat_mask(p, bands=2), "field band count: 2"),
    (lambda p: lonlat_mask(p, north_half_bad=False, cover=0.5),
     "field extent: covers 5"),
    (lambda p: (p.write_text("not a raster"), p)[1], "cannot be read as a raster"),
])
def test_bad_analyst_mask_is_named_and_nothing_is_stored(
    tmp_path: Path, make: object, expected: str
) -> None:
    assert callable(make)
    mask = make(tmp_path / "analyst.tif")
    result = ingest(tmp_path, str(delivery(tmp_path / "scene.tif")), "--mask", str(mask))
    assert result.exit_code == 1, result.output
    assert str(mask) in result.output and expected in result.output
    assert "Traceback" not in result.output
    nothing_stored(tmp_path)


def test_one_mask_for_two_files_or_with_a_threshold_is_refused(tmp_path: Path) -> None:
    mask = lonlat_mask(tmp_path / "analyst.tif")
    a, b = delivery(tmp_path / "a.tif"), delivery(tmp_path / "b.tif", tags={
        **TAGS, "ACQUISITION_DATETIME": "2017-05-03T02:05:47Z"})
    two = ingest(tmp_path, str(a), str(b), "--mask", str(mask))
    assert two.exit_code == 1 and "given for 2 files" in two.output
    both = ingest(tmp_path, str(a), "--mask", str(mask), "--cloud-threshold", "0.3")
    assert both.exit_code == 1 and "give one or the other" in both.output
    nothing_stored(tmp_path)


def test_a_mask_asked_for_a_catalogued_file_is_refused_not_ignored(tmp_path: Path) -> None:
    src = delivery(tmp_path / "scene.tif")
    assert ingest(tmp_path, str(src)).exit_code == 0
    mask = lonlat_mask(tmp_path / "analyst.tif")
    again = ingest(tmp_path, str(src), "--mask", str(mask))
    assert again.exit_code == 1 and "already capture" in again.output
    assert f"--mask {mask}" in again.output and "catalogued mask: rules" in again.output


def test_simulated_captures_keep_the_rules_and_say_so(demo_workspace: Path) -> None:
    """The demo's captures (SIM-S2 among them) are masked by the rules, never the model."""
    with open_catalogue(demo_workspace / FID / "catalogue.gpkg", GRID.crs) as cat:
        caps = cat.captures()
    assert caps and {c.mask_method for c in caps} == {"rules"}
    assert all("simulated capture" in (c.mask_detail or "") for c in caps)
    assert all(c.cloud_threshold is None for c in caps)
