"""Ingest of local rasters: metadata, grid, mask, quality, idempotency and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.errors import ImageryError, IngestError
from imagery.ingest import ingest_file, ingest_paths
from imagery.masks.rules import _nan_coarse_mean, coarse_mean
from imagery.vendor.metadata import Overrides
from imagery.workspace import FacilityWorkspace, workspace_grid

FACILITY = load_facility_by_id("kangdong-kyohwaso-4")


@pytest.fixture
def ws(tmp_path: Path) -> FacilityWorkspace:
    return FacilityWorkspace(tmp_path / "ws", FACILITY.id)


def scene(tmp_path: Path, name: str, *, tags: dict[str, str] | None = None, cloud: bool = False,
          res: float = 10.0, bands: int = 4) -> Path:
    grid = workspace_grid(FacilityWorkspace(tmp_path / "g", FACILITY.id), FACILITY, 10.0)
    h, w = int(grid.height * 10 / res), int(grid.width * 10 / res)
    rng = np.random.default_rng(len(name))
    data = (rng.normal(0.1, 0.01, (bands, h, w)) * 10000).astype(np.uint16)
    data[-1] = 3000  # vegetation-like NIR
    if cloud:
        data[:, : h * 3 // 4, :] = 7000
    path = tmp_path / name
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=bands,
                       dtype="uint16", crs=grid.crs, nodata=0,
                       transform=Affine(res, 0, grid.west + 3, 0, -res, grid.north - 3)) as dst:
        dst.write(data)
        dst.update_tags(**(tags if tags is not None else {
            "ACQUISITION_DATETIME": "2014-06-30T02:13:00Z", "SENSOR": "WorldView-2",
            "GSD_M": "0.5", "CREDIT": "© 2014 DigitalGlobe"}))
    return path


def test_ingest_catalogues_a_capture_on_the_grid(tmp_path: Path, ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    cap = ingest_file(scene(tmp_path, "a.tif"), FACILITY, grid, ws)
    assert cap is not None
    assert cap.capture_id.startswith("20140630T021300-WorldView-2-")
    assert (cap.sensor, cap.gsd_m, cap.credit) == ("WorldView-2", 0.5, "© 2014 DigitalGlobe")
    assert cap.usable and cap.clear_fraction is not None and cap.clear_fraction > 0.9
    assert set(cap.zone_clear) == {z.id for z in FACILITY.zones}
    with rasterio.open(ws.absolute(cap.raster_path)) as src:
        assert src.transform == grid.transform and src.crs.to_string() == grid.crs
        assert src.dtypes[0] == "float32" and src.descriptions == ("blue", "green", "red", "nir")
        assert float(np.nanmedian(src.read(4))) == pytest.approx(0.3, abs=1e-3)
    assert cap.footprint.area > 0.5 * grid.polygon().area


def test_rerun_is_idempotent(tmp_path: Path, ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    src = scene(tmp_path, "a.tif")
    first = ingest_paths([src], FACILITY, grid, ws)
    second = ingest_paths([src], FACILITY, grid, ws)
    assert len(first.added) == 1 and second.added == ()
    assert second.skipped == (
        (str(src), f"already catalogued as {first.added[0].capture_id} (same sha256)"),
    )
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        assert len(cat.captures()) == 1


def test_cloudy_capture_is_kept_but_not_usable(tmp_path: Path, ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    cap = ingest_file(scene(tmp_path, "c.tif", cloud=True), FACILITY, grid, ws)
    assert cap is not None and cap.usable is False
    assert cap.reason.startswith("AOI clear fraction 0.")
    assert "is below the threshold 0.60" in cap.reason


def test_missing_date_names_the_override_flag(tmp_path: Path, ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    good = scene(tmp_path, "good.tif")
    ingest_file(good, FACILITY, grid, ws)
    bad = scene(tmp_path, "nodate.tif", tags={"SENSOR": "WorldView-2", "GSD_M": "0.5"})
    with pytest.raises(
        IngestError,
        match=r"nodate.tif: missing acquisition time \(--date\); looked at GeoTIFF tags "
        r"\(no sidecar files found beside it\)\. Supply --date\.",
    ):
        ingest_file(bad, FACILITY, grid, ws)
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        assert len(cat.captures()) == 1  # nothing already stored is lost
    cap = ingest_file(bad, FACILITY, grid, ws, overrides=Overrides(date=datetime(2015, 1, 2, tzinfo=UTC)))
    assert cap is not None and cap.acquired.year == 2015


def test_too_few_bands_and_unreadable_file_fail_cleanly(tmp_path: Path,
                                                         ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    rgb = scene(tmp_path, "rgb.tif", bands=3)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff")
    report = ingest_paths([rgb, junk], FACILITY, grid, ws)
    reasons = dict(report.failed)
    assert "has 3 band(s) with descriptions [None, None, None]; campwatch needs blue, green, red and near-infrared" in reasons[str(rgb)]
    assert "cannot be read as a raster" in reasons[str(junk)]
    assert not list(ws.captures_dir.glob("*")) if ws.captures_dir.exists() else True


def test_grid_resolution_is_fixed_by_the_first_run(ws: FacilityWorkspace) -> None:
    with pytest.raises(ImageryError, match="no grid resolution recorded yet; name one"):
        workspace_grid(ws, FACILITY, None)
    workspace_grid(ws, FACILITY, 10.0)
    assert workspace_grid(ws, FACILITY, None).resolution == 10.0
    with pytest.raises(ImageryError, match=r"workspace grid resolution is 10\.0 m, but 2\.0 m was asked"):
        workspace_grid(ws, FACILITY, 2.0)


def test_eight_unnamed_bands_are_not_guessed(tmp_path: Path, ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    with pytest.raises(IngestError, match=r"has 8 band\(s\) with descriptions .*band order is not guessed"):
        ingest_file(scene(tmp_path, "wv3.tif", bands=8), FACILITY, grid, ws)


def test_per_band_scales_from_the_file_are_applied(tmp_path: Path, ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    path = scene(tmp_path, "scaled.tif")
    with rasterio.open(path, "r+") as dst:
        dst.scales = (1e-4, 1e-4, 1e-4, 2e-5)
        dst.offsets = (0.0, 0.0, 0.0, 0.0)
    cap = ingest_file(path, FACILITY, grid, ws)
    assert cap is not None and "band scales (0.0001, 0.0001, 0.0001, 2e-05)" in cap.radiometry
    with rasterio.open(ws.absolute(cap.raster_path)) as src:
        assert float(np.nanmedian(src.read(4))) == pytest.approx(3000 * 2e-5, rel=1e-3)


def test_unscaled_uint16_is_labelled_an_assumption(tmp_path: Path, ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    cap = ingest_file(scene(tmp_path, "plain.tif"), FACILITY, grid, ws)
    assert cap is not None and cap.radiometry.startswith("DN / 10000 ASSUMED")


def test_changed_aoi_does_not_silently_move_the_grid(ws: FacilityWorkspace) -> None:
    import dataclasses

    workspace_grid(ws, FACILITY, 10.0)
    wider = dataclasses.replace(FACILITY, aoi=FACILITY.aoi.buffer(0.01))
    with pytest.raises(ImageryError, match=r"grid.json: field 'west' = .* but the facility definition now gives .* \(was its AOI changed\?\)"):
        workspace_grid(ws, wider, None)


def _eight_bit(tmp_path: Path, name: str, **profile: str) -> Path:
    """A 4-band 8-bit scene on the facility's 10 m grid; band k holds the value 40 * k."""
    grid = workspace_grid(FacilityWorkspace(tmp_path / "g", FACILITY.id), FACILITY, 10.0)
    data = np.stack([np.full((grid.height, grid.width), 40 * k, np.uint8) for k in (1, 2, 3, 4)])
    path = tmp_path / name
    with rasterio.open(path, "w", driver="GTiff", width=grid.width, height=grid.height, count=4,
                       dtype="uint8", crs=grid.crs, nodata=0, transform=grid.transform,
                       **profile) as dst:
        dst.write(data)
        dst.update_tags(ACQUISITION_DATETIME="2019-05-01T02:00:00Z", SENSOR="aerial",
                        GSD_M="0.6", CREDIT="test")
    return path


def _band_means(ws: FacilityWorkspace, raster: str) -> dict[str, float]:
    with rasterio.open(ws.absolute(raster)) as src:
        return {d: round(float(np.nanmean(src.read(i + 1))) * 255)
                for i, d in enumerate(src.descriptions)}


def test_rgba_visual_product_is_refused_not_read_as_bgrn(tmp_path: Path,
                                                         ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    ok = ingest_file(scene(tmp_path, "first.tif"), FACILITY, grid, ws)
    assert ok is not None
    rgba = _eight_bit(tmp_path, "visual.tif")  # GDAL's default for 4-band 8-bit: RGBA
    with rasterio.open(rgba) as src:
        assert [c.name for c in src.colorinterp] == ["red", "green", "blue", "alpha"]
    with pytest.raises(IngestError) as err:
        ingest_file(rgba, FACILITY, grid, ws)
    msg = str(err.value)
    assert str(rgba) in msg and "['red', 'green', 'blue', 'alpha']" in msg
    assert "band 4 is alpha" in msg and "no near-infrared band" in msg
    assert "rio edit-info --bidx 1 --description blue" in msg
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:  # nothing stored is lost
        assert [c.capture_id for c in cat.captures()] == [ok.capture_id]
    assert sorted(p.name for p in ws.captures_dir.glob("*.tif")) == [f"{ok.capture_id}.tif"]


def test_described_bands_win_over_colour_interpretation(tmp_path: Path,
                                                        ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    path = _eight_bit(tmp_path, "bgrn.tif")  # tagged RGBA by GDAL, but really B, G, R, NIR
    with rasterio.open(path, "r+") as dst:
        for i, name in enumerate(("blue", "green", "red", "nir"), start=1):
            dst.set_band_description(i, name)
    cap = ingest_file(path, FACILITY, grid, ws)
    assert cap is not None
    assert _band_means(ws, cap.raster_path) == {"blue": 40, "green": 80, "red": 120, "nir": 160}


def test_rgb_plus_nir_product_is_read_by_colour_interpretation(tmp_path: Path,
                                                               ws: FacilityWorkspace) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    path = _eight_bit(tmp_path, "naip.tif", photometric="RGB")  # red, green, blue, undefined
    with rasterio.open(path) as src:
        assert [c.name for c in src.colorinterp] == ["red", "green", "blue", "undefined"]
    cap = ingest_file(path, FACILITY, grid, ws)
    assert cap is not None
    assert _band_means(ws, cap.raster_path) == {"blue": 120, "green": 80, "red": 40, "nir": 160}


def test_coarse_mean_of_whole_clear_blocks_is_the_general_mean() -> None:
    rng = np.random.default_rng(5)
    for shape in [(4, 64, 48), (4, 62, 48), (4, 64, 47)]:
        block = (rng.random(shape, dtype=np.float32) * 0.3).astype(np.float32)
        np.testing.assert_array_equal(coarse_mean(block, 4), _nan_coarse_mean(block, 4))
        block[1, 5, 7] = np.nan
        np.testing.assert_array_equal(coarse_mean(block, 4), _nan_coarse_mean(block, 4))
