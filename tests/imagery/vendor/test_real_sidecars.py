"""Every real vendor sidecar in ../shared/data/vendor-metadata, read end to end.

Each case copies the real sidecar(s) into tmp_path under its delivery name next to a tiny
GeoTIFF named as the vendor names the image, then reads it with
:func:`imagery.vendor.metadata.read_vendor_metadata`. Expected values were read by eye from the
files. Nothing from ../shared is copied into the repository.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagery.errors import IngestError
from imagery.store import sha256_file
from imagery.vendor.metadata import Overrides, read_vendor_metadata

pytestmark = pytest.mark.shared

VM = "vendor-metadata"
AGPL = "vendor-metadata/agpl-3.0_terradue-stars"


@dataclass(frozen=True)
class Case:
    raster: str
    sidecars: dict[str, str]  # shared path (relative to data) -> delivery name
    acquired: datetime
    sensor: str
    gsd_m: float
    off_nadir: float | None
    sun_elevation: float | None
    credit: str
    vendor: str
    product_id: str
    primary: str  # delivery name of the sidecar that gave the acquisition time
    extra: dict[str, str] = field(default_factory=dict)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


CASES = {
    "maxar-gdal-imd": Case(
        "md_dg.TIF",
        {f"{VM}/maxar/gdal_md_dg.IMD": "md_dg.IMD"},
        utc(2010, 4, 1, 12, 0, 0),
        "WorldView-3",
        1.301,  # meanCollectedGSD (no meanProductGSD in this LV2A file)
        None,
        None,
        "© 2010 Maxar Technologies",
        "maxar",
        "000000000_00_0000",
        "md_dg.IMD",
    ),
    "maxar-gdal-xml-crlf": Case(
        "md_dg_2.TIF",
        {f"{VM}/maxar/gdal_md_dg_2.XML": "md_dg_2.XML"},
        utc(2011, 5, 1, 13, 0, 0),
        "WorldView-3",
        1.301,
        None,
        None,
        "© 2011 Maxar Technologies",
        "maxar",
        "000000000000_00_P000",
        "md_dg_2.XML",
    ),
    "maxar-asp-xml": Case(
        "13MAY08000330-P1BS-500063426010_01_P001.TIF",
        {f"{VM}/maxar/asp_wv_test1_WV02_P1BS.XML": "13MAY08000330-P1BS-500063426010_01_P001.XML"},
        utc(2013, 5, 8, 0, 3, 30, 536775),
        "WorldView-2",
        0.512,
        17.6,
        2.8,
        "© 2013 Maxar Technologies",
        "maxar",
        "500063426010_01_P001",
        "13MAY08000330-P1BS-500063426010_01_P001.XML",
    ),
    "maxar-wv02-imd-readme": Case(
        "18OCT01022604-M1BS-502541638020_01_P003.TIF",
        {
            f"{AGPL}/maxar/WV02_18OCT01022604-M1BS-502541638020_01_P003.IMD": (
                "18OCT01022604-M1BS-502541638020_01_P003.IMD"
            ),
            f"{AGPL}/maxar/WV02_18OCT01022604-M1BS-502541638020_01_P003_README.TXT": (
                "18OCT01022604-M1BS-502541638020_01_P003_README.TXT"
            ),
            f"{AGPL}/maxar/WV02_18OCT01022604-M1BS-502541638020_01_P003.RPB": (
                "18OCT01022604-M1BS-502541638020_01_P003.RPB"
            ),
            f"{AGPL}/maxar/WV02_18OCT01022604-M1BS-502541638020_01_P003.TIL": (
                "18OCT01022604-M1BS-502541638020_01_P003.TIL"
            ),
        },
        utc(2018, 10, 1, 2, 26, 4, 585850),
        "WorldView-2",
        2.836,
        36.6,
        68.9,
        "(C) COPYRIGHT 2018 DigitalGlobe, Inc., Longmont CO USA 80503",
        "maxar",
        "502541638020_01_P003",
        "18OCT01022604-M1BS-502541638020_01_P003.IMD",
    ),
    "maxar-wv01-imd": Case(
        "18OCT02053604-P1BS-502544562030_01_P007.TIF",
        {
            f"{AGPL}/maxar/WV01_18OCT02053604-P1BS-502544562030_01_P007.IMD": (
                "18OCT02053604-P1BS-502544562030_01_P007.IMD"
            )
        },
        utc(2018, 10, 2, 5, 36, 4, 555146),
        "WorldView-1",
        0.551,
        19.4,
        63.3,
        "© 2018 Maxar Technologies",
        "maxar",
        "502544562030_01_P007",
        "18OCT02053604-P1BS-502544562030_01_P007.IMD",
    ),
    "maxar-wv03-imd": Case(
        "18OCT02025047-M1BS-502541534010_01_P003.TIF",
        {
            f"{AGPL}/maxar/WV03_18OCT02025047-M1BS-502541534010_01_P003.IMD": (
                "18OCT02025047-M1BS-502541534010_01_P003.IMD"
            )
        },
        utc(2018, 10, 2, 2, 50, 47, 704850),
        "WorldView-3",
        1.232,
        1.6,
        75.0,
        "© 2018 Maxar Technologies",
        "maxar",
        "502541534010_01_P003",
        "18OCT02025047-M1BS-502541534010_01_P003.IMD",
    ),
    "maxar-ge01-imd": Case(
        "21MAR18021224-M1BS-505570424020_01_P001.TIF",
        {
            f"{AGPL}/maxar/GE01_21MAR18021224-M1BS-505570424020_01_P001.IMD": (
                "21MAR18021224-M1BS-505570424020_01_P001.IMD"
            )
        },
        utc(2021, 3, 18, 2, 12, 24, 150128),
        "GeoEye-1",
        1.934,
        23.7,
        39.1,
        "© 2021 Maxar Technologies",
        "maxar",
        "505570424020_01_P001",
        "21MAR18021224-M1BS-505570424020_01_P001.IMD",
    ),
    "airbus-phr1a-dimap": Case(
        "IMG_PHR1A_PMS_202108151541301_ORT_5881313101_R1C1.TIF",
        {
            f"{AGPL}/airbus/DIM_PHR1A_PMS_202108151541301_ORT_5881313101.XML": (
                "DIM_PHR1A_PMS_202108151541301_ORT_5881313101.XML"
            ),
            f"{AGPL}/airbus/VOL_PHR_5881313101.XML": "VOL_PHR.XML",
        },
        utc(2021, 8, 15, 15, 41, 30, 100000),
        "Pléiades-1A",
        (0.7423780718954257 + 0.7589099333821668) / 2,  # Center GSD across/along
        16.60461652141614,
        71.26746896645534,
        "©CNES_2021, distribution AIRBUS DS, France, all rights reserved",
        "airbus",
        "DS_PHR1A_202108151540532_FR1_PX_W074N18_1111_00749",
        "DIM_PHR1A_PMS_202108151541301_ORT_5881313101.XML",
    ),
    "airbus-pneo4-dimap-no-z": Case(
        "IMG_PNEO4_202307260722045_PMS_ORT_PWOI_000115104_1_1_F_1_RGBN_R1C1.TIF",
        {
            f"{AGPL}/airbus/DIM_PNEO4_202307260722045_PMS_ORT_PWOI_000115104_1_1_F_1.XML": (
                "DIM_PNEO4_202307260722045_PMS_ORT_PWOI_000115104_1_1_F_1.XML"
            ),
            f"{AGPL}/airbus/VOL_PNEO_000115104_1_1_STD_A.XML": "VOL_PNEO.XML",
        },
        utc(2023, 7, 26, 7, 22, 4, 400000),  # "07:22:04.4" without Z: DIMAP time is UTC
        "Pléiades Neo 4",
        (0.34462714195251465 + 0.38691312074661255) / 2,
        26.346211353085565,
        40.9502503756138,
        "© Airbus DS 2023",  # the file's COPYRIGHT names no year, so the built line
        "airbus",
        "PNEO4_202307260722045_PMS_ORT",
        "DIM_PNEO4_202307260722045_PMS_ORT_PWOI_000115104_1_1_F_1.XML",
    ),
    "planet-psscene-data-api": Case(
        "20220125_075509_67_1061_3B_AnalyticMS_SR.tif",
        {
            f"{VM}/planet/planet-data-api_PSScene_20220125_075509_67_1061.json": (
                "20220125_075509_67_1061_metadata.json"
            )
        },
        utc(2022, 1, 25, 7, 55, 9, 676173),
        "PlanetScope Dove-R (PS2.SD)",
        3.6,
        1.1,
        57.8,
        "© 2022 Planet Labs PBC",
        "planet",
        "20220125_075509_67_1061",
        "20220125_075509_67_1061_metadata.json",
    ),
    "planet-skysat-data-api": Case(
        "20200130_093253_ssc6_u0001_pansharpened.tif",
        {
            f"{VM}/planet/planet-data-api_SkySatCollect_20200130_093253_ssc6_u0001.json": (
                "20200130_093253_ssc6_u0001_metadata.json"
            )
        },
        utc(2020, 1, 30, 9, 32, 53, 187000),
        "SkySat-C6",
        0.72,  # gsd, not pixel_resolution 0.5
        15.8,
        42.6,
        "© 2020 Planet Labs PBC",
        "planet",
        "20200130_093253_ssc6_u0001",
        "20200130_093253_ssc6_u0001_metadata.json",
    ),
    "planet-order-metadata": Case(
        "20220505_172446_09_2435_3B_Visual.tif",
        {
            f"{VM}/planet/planet-order_PSScene_20220505_172446_09_2435_metadata.json": (
                "20220505_172446_09_2435_metadata.json"
            )
        },
        utc(2022, 5, 5, 17, 24, 46, 94538),
        "PlanetScope SuperDove (PSB.SD)",
        4.0,
        1.1,
        56.7,
        "© 2022 Planet Labs PBC",
        "planet",
        "20220505_172446_09_2435",
        "20220505_172446_09_2435_metadata.json",
    ),
    "planet-ps2-json-and-xml": Case(
        "20181001_015434_1027_3B_AnalyticMS.tif",
        {
            f"{AGPL}/planet/20181001_015434_1027_3B_AnalyticMS_metadata.xml": (
                "20181001_015434_1027_3B_AnalyticMS_metadata.xml"
            ),
            f"{AGPL}/planet/20181001_015434_1027_metadata.json": (
                "20181001_015434_1027_metadata.json"
            ),
        },
        utc(2018, 10, 1, 1, 54, 34, 463750),  # the JSON's sub-second time wins over the XML
        "PlanetScope Dove Classic (PS2)",
        3.9,
        0.1,
        61.0,
        "© 2018 Planet Labs PBC",
        "planet",
        "20181001_015434_1027",
        "20181001_015434_1027_metadata.json",
    ),
    "planet-ps2-xml-only": Case(
        "20181001_015434_1027_3B_AnalyticMS.tif",
        {
            f"{AGPL}/planet/20181001_015434_1027_3B_AnalyticMS_metadata.xml": (
                "20181001_015434_1027_3B_AnalyticMS_metadata.xml"
            )
        },
        utc(2018, 10, 1, 1, 54, 34),
        "PlanetScope Dove Classic (PS2)",
        3.0,
        0.05094407,
        60.9914,
        "© 2018 Planet Labs PBC",
        "planet",
        "20181001_015434_1027_3B_AnalyticMS",
        "20181001_015434_1027_3B_AnalyticMS_metadata.xml",
    ),
    "planet-superdove-8b-clip-xml": Case(
        "20230217_080024_64_24a3_3B_AnalyticMS_8b_clip.tif",
        {
            f"{AGPL}/planet/20230217_080024_64_24a3_3B_AnalyticMS_8b_metadata_clip.xml": (
                "20230217_080024_64_24a3_3B_AnalyticMS_8b_metadata_clip.xml"
            )
        },
        utc(2023, 2, 17, 8, 0, 24),
        "PlanetScope SuperDove (PSB.SD)",
        3.0,
        4.40064,
        34.7025,
        "© 2023 Planet Labs PBC",
        "planet",
        "20230217_080024_64_24a3_3B_AnalyticMS_8b",
        "20230217_080024_64_24a3_3B_AnalyticMS_8b_metadata_clip.xml",
    ),
}

# Files that carry no acquisition metadata of their own, each covered by a test below.
NOT_ACQUISITIONS = {
    f"{VM}/PROVENANCE.md",
    f"{VM}/maxar/asp_sample.RPB",  # RPC text, format sample only (satId "sc00110")
    f"{VM}/airbus/gdal_DIM_PNEO3_STD_x_1_1_F_1.XML",  # stripped: no date, no GSD
    f"{VM}/planet/planet-order_manifest.json",  # digests only
}


def deliver(shared: Path, tmp: Path, case: Case, tiny_raster: Callable[..., Path]) -> Path:
    for source, name in case.sidecars.items():
        shutil.copyfile(shared / source, tmp / name)
    return tiny_raster(tmp / case.raster)


def test_every_real_file_is_covered(shared_data: Path) -> None:
    covered = {src for case in CASES.values() for src in case.sidecars} | NOT_ACQUISITIONS
    on_disk = {
        p.relative_to(shared_data).as_posix() for p in (shared_data / VM).rglob("*") if p.is_file()
    }
    assert on_disk - covered == set()


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_sidecar(
    name: str, shared_data: Path, tmp_path: Path, tiny_raster: Callable[..., Path]
) -> None:
    case = CASES[name]
    raster = deliver(shared_data, tmp_path, case, tiny_raster)
    meta = read_vendor_metadata(raster, overrides=Overrides())
    assert meta.acquired == case.acquired
    assert meta.sensor == case.sensor
    assert meta.gsd_m == pytest.approx(case.gsd_m, abs=1e-9)
    if case.off_nadir is None:
        assert meta.off_nadir_deg is None
    else:
        assert meta.off_nadir_deg == pytest.approx(case.off_nadir, abs=1e-9)
    if case.sun_elevation is None:
        assert meta.sun_elevation_deg is None
    else:
        assert meta.sun_elevation_deg == pytest.approx(case.sun_elevation, abs=1e-9)
    assert meta.credit == case.credit
    assert meta.vendor == case.vendor
    assert meta.product_id == case.product_id
    assert meta.sidecar_path == tmp_path / case.primary
    assert meta.sidecar_sha256 == sha256_file(tmp_path / case.primary)
    assert meta.simulated is False


def test_stripped_dimap_names_missing_date_and_gsd(
    shared_data: Path, tmp_path: Path, tiny_raster: Callable[..., Path]
) -> None:
    shutil.copyfile(
        shared_data / VM / "airbus/gdal_DIM_PNEO3_STD_x_1_1_F_1.XML",
        tmp_path / "DIM_PNEO3_STD_x_1_1_F_1.XML",
    )
    raster = tiny_raster(tmp_path / "IMG_PNEO3_STD_x_1_1_F_1_P_R1C1.TIF")
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(raster, overrides=Overrides())
    assert str(err.value) == (
        f"{raster}: missing acquisition time (--date), GSD (--gsd); looked at GeoTIFF tags, "
        "DIM_PNEO3_STD_x_1_1_F_1.XML. Supply --date and --gsd."
    )


def test_stripped_dimap_with_overrides(
    shared_data: Path, tmp_path: Path, tiny_raster: Callable[..., Path]
) -> None:
    shutil.copyfile(
        shared_data / VM / "airbus/gdal_DIM_PNEO3_STD_x_1_1_F_1.XML",
        tmp_path / "DIM_PNEO3_STD_x_1_1_F_1.XML",
    )
    raster = tiny_raster(tmp_path / "IMG_PNEO3_STD_x_1_1_F_1_P_R1C1.TIF")
    meta = read_vendor_metadata(raster, overrides=Overrides(date=utc(2022, 3, 1, 10, 30), gsd=0.3))
    assert (meta.acquired, meta.sensor, meta.gsd_m) == (
        utc(2022, 3, 1, 10, 30),
        "Pléiades Neo 3",
        0.3,
    )
    assert meta.credit == "© Airbus DS 2022"
    assert meta.sidecar_path is None or meta.sidecar_path.name == "DIM_PNEO3_STD_x_1_1_F_1.XML"


def test_planet_manifest_catches_a_raster_that_is_not_the_delivered_one(
    shared_data: Path, tmp_path: Path, tiny_raster: Callable[..., Path]
) -> None:
    shutil.copyfile(
        shared_data / VM / "planet/planet-order_manifest.json", tmp_path / "manifest.json"
    )
    folder = tmp_path / "PSScene"
    folder.mkdir()
    shutil.copyfile(
        shared_data / VM / "planet/planet-order_PSScene_20220505_172446_09_2435_metadata.json",
        folder / "20220505_172446_09_2435_metadata.json",
    )
    raster = tiny_raster(folder / "20220505_172446_09_2435_3B_Visual.tif")
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(raster, overrides=Overrides())
    assert str(err.value) == (
        f"{raster}: SHA-256 {sha256_file(raster)} differs from "
        "589885497bf22f8c11cfbde1d7acf4bca436f72ce51288060f6fd68f9b448b61 listed in "
        f"{tmp_path / 'manifest.json'}: the file is not the one delivered"
    )


def test_rpc_text_alone_is_not_acquisition_metadata(
    shared_data: Path, tmp_path: Path, tiny_raster: Callable[..., Path]
) -> None:
    shutil.copyfile(shared_data / VM / "maxar/asp_sample.RPB", tmp_path / "sample.RPB")
    raster = tiny_raster(tmp_path / "sample.TIF")
    with pytest.raises(IngestError, match=r"missing acquisition time \(--date\), sensor"):
        read_vendor_metadata(raster, overrides=Overrides())
