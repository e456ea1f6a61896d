"""Cloud masks of Sentinel-2 files without SCL: the trained model on real scenes, its fallbacks
and the record of how each capture was masked.

Real pixels (OSCD Hong Kong, the eo-learn Slovenian time series) are read in place from
``../shared/data`` and written, re-georeferenced onto the Kangdong test grid, as 6-band
deliveries in the test's temporary directory: the model sees real spectra, and only their
location is moved (the masks do not depend on it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from facilities.grid import FacilityGrid
from facilities.load import load_facility_by_id
from imagery.capture import Capture
from imagery.catalogue import open_catalogue
from imagery.errors import IngestError
from imagery.ingest import ingest_file
from imagery.masks.choose import MaskOptions, product_level, sensor_family
from imagery.masks.rules import clear_mask
from imagery.workspace import FacilityWorkspace, workspace_grid

FACILITY = load_facility_by_id("kangdong-kyohwaso-4")
NAMES = ("blue", "green", "red", "nir", "swir16", "swir22")
OSCD_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
EOLEARN_BANDS = (1, 2, 3, 7, 11, 12)  # B02 B03 B04 B08 B11 B12 in eo-learn's 13-band order
HAZY, CLEAR = 1, 4  # REFERENCE_SCENES indexes: 2015-07-31 (overcast, dim) and 2015-07-11

pytestmark = pytest.mark.shared


def write_delivery(path: Path, refl: np.ndarray, grid: FacilityGrid, *, sensor: str,
                   date: str, names: tuple[str, ...] = NAMES) -> Path:
    """A uint16 (reflectance x 10000) GeoTIFF with its north-west corner on ``grid``'s."""
    dn = np.clip(np.rint(refl * 10000), 1, 65535).astype(np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=dn.shape[2], height=dn.shape[1],
                       count=len(names), dtype="uint16", crs=grid.crs, nodata=0,
                       transform=Affine(10, 0, grid.west, 0, -10, grid.north)) as dst:
        dst.write(dn[: len(names)])
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
        dst.update_tags(SENSOR=sensor, ACQUISITION_DATETIME=date, GSD_M="10",
                        CREDIT="Copernicus Sentinel data")
    return path


def oscd(shared: Path, city: str, which: str) -> np.ndarray:
    """The six bands of an OSCD image as reflectance on its 10 m grid (20 m bands bilinear)."""
    files = {p.stem[-3:]: p for p in (shared / "oscd" / city / which).glob("*.tif")}
    with rasterio.open(files["B02"]) as src:
        shape = src.shape
    out = []
    for band in OSCD_BANDS:
        with rasterio.open(files[band]) as src:
            out.append(src.read(1, out_shape=shape, resampling=Resampling.bilinear))
    return np.stack(out).astype(np.float32) / 10000


def eolearn(shared: Path, index: int) -> np.ndarray:
    scenes = np.load(shared / "eolearn_testeopatch" / "REFERENCE_SCENES.npy")
    return np.moveaxis(scenes[index][..., list(EOLEARN_BANDS)], -1, 0).astype(np.float32)


def stored_mask(ws: FacilityWorkspace, cap: Capture) -> tuple[np.ndarray, np.ndarray]:
    """(clear, valid) of a stored capture."""
    with rasterio.open(ws.absolute(cap.mask_path)) as m, rasterio.open(
        ws.absolute(cap.raster_path)
    ) as r:
        return m.read(1).astype(bool), np.all(np.isfinite(r.read()), axis=0)


@pytest.fixture
def ws(tmp_path: Path) -> FacilityWorkspace:
    return FacilityWorkspace(tmp_path / "ws", FACILITY.id)


def test_bright_bare_ground_is_not_cloud(shared_data: Path, tmp_path: Path,
                                         ws: FacilityWorkspace) -> None:
    """Hong Kong's reclaimed sand and new-built ground (2018) stay clear under the model."""
    grid = workspace_grid(ws, FACILITY, 10.0)
    refl = oscd(shared_data, "hongkong", "imgs_2")[:, : grid.height, : grid.width]
    path = write_delivery(tmp_path / "S2B_MSIL1C_hongkong.tif", refl, grid, sensor="Sentinel-2B",
                          date="2018-03-23T02:45:39Z")
    cap = ingest_file(path, FACILITY, grid, ws)
    assert cap is not None and cap.mask_method == "model"
    assert cap.mask_detail is not None and "6 bands" in cap.mask_detail
    assert "L1C stated" in cap.mask_detail and cap.cloud_threshold == 0.5
    clear, valid = stored_mask(ws, cap)
    vis = refl[:3].mean(axis=0)
    ndvi = (refl[3] - refl[2]) / (refl[3] + refl[2])
    bright_bare = (vis > 0.15) & (ndvi < 0.2) & valid
    assert bright_bare.sum() > 500, "the crop must hold bright bare ground to test on"
    assert clear[bright_bare].mean() > 0.97
    assert clear[valid].mean() > 0.95 and cap.usable


def test_hazy_date_is_not_judged_clear(shared_data: Path, tmp_path: Path,
                                       ws: FacilityWorkspace) -> None:
    """2015-07-31 over Slovenia is overcast but dim: the brightness rules call all of it clear,
    the model none of it (s2cloudless's CLM in the shared data agrees with the model)."""
    grid = workspace_grid(ws, FACILITY, 10.0)
    hazy = eolearn(shared_data, HAZY)
    assert clear_mask(hazy[:4], 10.0).mean() > 0.99  # the old rules' verdict: clear
    clm = np.load(shared_data / "eolearn_testeopatch" / "TestEOPatch" / "mask" / "CLM.npy")
    assert clm[1].mean() == 1.0  # timestamps[1] is 2015-07-31: s2cloudless says all cloud
    cap = ingest_file(write_delivery(tmp_path / "S2A_MSIL1C_20150731.tif", hazy, grid,
                                     sensor="Sentinel-2A", date="2015-07-31T10:00:09Z"),
                      FACILITY, grid, ws)
    assert cap is not None and cap.mask_method == "model"
    clear, valid = stored_mask(ws, cap)
    assert valid.sum() > 9000 and clear[valid].mean() < 0.02
    assert cap.usable is False


def test_clear_date_stays_clear_and_four_bands_fall_back_by_name(
    shared_data: Path, tmp_path: Path, ws: FacilityWorkspace
) -> None:
    grid = workspace_grid(ws, FACILITY, 10.0)
    clear_day = eolearn(shared_data, CLEAR)[:4]
    path = write_delivery(tmp_path / "s2_20150711.tif", clear_day, grid, sensor="Sentinel-2A",
                          date="2015-07-11T10:00:08Z", names=NAMES[:4])
    cap = ingest_file(path, FACILITY, grid, ws, masking=MaskOptions(cloud_threshold=0.3))
    assert cap is not None and cap.mask_method == "model" and cap.cloud_threshold == 0.3
    assert cap.mask_detail is not None
    assert "FALLBACK to the 4-band model" in cap.mask_detail
    assert "L1C ASSUMED" in cap.mask_detail and ">= 0.3" in cap.mask_detail
    assert "input scale is ASSUMED (DN / 10000 ASSUMED)" in cap.mask_detail
    clear, valid = stored_mask(ws, cap)
    assert clear[valid].mean() > 0.95
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        stored = cat.get_capture(cap.capture_id)
    assert stored is not None
    assert (stored.mask_method, stored.mask_detail, stored.cloud_threshold) == (
        "model", cap.mask_detail, 0.3)
    json.dumps(stored.mask_detail)


def test_vendor_and_simulated_imagery_keep_the_rules_and_say_why() -> None:
    assert sensor_family("WorldView-2") is None and sensor_family("SIM-VHR-1") is None
    assert sensor_family("Sentinel-2B") == "sentinel-2" and sensor_family("LC09") == "landsat"
    assert product_level(["Landsat 8", "LC08_L2SP_116033_20200101.tif"])[0] == "l2a"
    with pytest.raises(IngestError, match=r"--cloud-threshold 1\.5"):
        MaskOptions(cloud_threshold=1.5)
    with pytest.raises(IngestError, match="give one or the other"):
        MaskOptions(Path("m.tif"), 0.4)
