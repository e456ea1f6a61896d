"""find_sidecars, tag reading, overrides and bad input, on small hand-written sidecars."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rasterio

from imagery.errors import IngestError
from imagery.vendor.common import normalise_sensor
from imagery.vendor.metadata import (
    Overrides,
    find_sidecars,
    overrides_from_cli,
    read_vendor_metadata,
)

Raster = Callable[..., Path]

IMD = """\
version = "28.3";
productOrderId = "000000000010_01_P001";
BEGIN_GROUP = IMAGE_1
\tsatId = "WV02";
\tTLCList = (
\t(0,  0.000000),
\t(10,  1.0)\t);
\tfirstLineTime = 2019-06-02T01:02:03.250000Z;
\tmeanCollectedGSD =   0.520;
\tmeanProductGSD =   0.510;
\tmeanSunEl =  55.5;
\tmeanOffNadirViewAngle =  12.5;
END_GROUP = IMAGE_1
END;
"""

DIMAP = """\
<?xml version="1.0" encoding="UTF-8"?>
<Dimap_Document>
  <Metadata_Identification><METADATA_PROFILE>PHR_ORTHO</METADATA_PROFILE></Metadata_Identification>
  <Dataset_Identification><DATASET_NAME>DS_PHR1B_TEST</DATASET_NAME></Dataset_Identification>
  <Raster_Data><Data_Access><Data_Files><Data_File>
    <DATA_FILE_PATH href="scene.JP2"/>
  </Data_File></Data_Files></Data_Access></Raster_Data>
  <Dataset_Sources><Source_Identification><Strip_Source>
    <MISSION>PHR</MISSION><MISSION_INDEX>1B</MISSION_INDEX>
    <IMAGING_DATE>2016-04-03</IMAGING_DATE><IMAGING_TIME>02:03:04.5Z</IMAGING_TIME>
  </Strip_Source></Source_Identification></Dataset_Sources>
  <Processing_Information><Product_Settings><Sampling_Settings>
    <RESAMPLING_SPACING unit="m">0.5</RESAMPLING_SPACING>
  </Sampling_Settings></Product_Settings></Processing_Information>
</Dimap_Document>
"""


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_find_sidecars_maxar_delivery(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "19JUN02010203-M2AS-000000000010_01_P001.TIF")
    for name in (
        "19JUN02010203-M2AS-000000000010_01_P001.IMD",
        "19JUN02010203-M2AS-000000000010_01_P001.RPB",
        "19JUN02010203-M2AS-000000000010_01_P001_README.TXT",
        "19JUN02010203-M2AS-000000000010_01_P001.TIF.aux.xml",  # GDAL's, not the vendor's
        "19JUN02010203-M2AS-000000000010_01_P002.IMD",  # another product
        "notes.txt",
    ):
        (tmp_path / name).write_text("x")
    tiny_raster(tmp_path / "19JUN02010203-M2AS-000000000010_01_P001_udm.TIF")
    assert names(find_sidecars(raster)) == [
        "19JUN02010203-M2AS-000000000010_01_P001.IMD",
        "19JUN02010203-M2AS-000000000010_01_P001.RPB",
        "19JUN02010203-M2AS-000000000010_01_P001_README.TXT",
    ]


def test_find_sidecars_tile_finds_product_imd(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "P001_R2C3.TIF")
    (tmp_path / "P001.IMD").write_text(IMD)
    assert names(find_sidecars(raster)) == ["P001.IMD"]


def test_find_sidecars_dimap_by_name_and_by_listed_file(
    tmp_path: Path, tiny_raster: Raster
) -> None:
    (tmp_path / "DIM_PHR1B_PMS_1_ORT_7.XML").write_text(DIMAP)
    (tmp_path / "VOL_PHR.XML").write_text("<Dimap_Document/>")
    by_name = tiny_raster(tmp_path / "IMG_PHR1B_PMS_1_ORT_7_R1C1.TIF")
    listed = tiny_raster(tmp_path / "scene.tif")  # the JP2 converted to GeoTIFF
    stranger = tiny_raster(tmp_path / "other.tif")
    assert names(find_sidecars(by_name)) == ["DIM_PHR1B_PMS_1_ORT_7.XML"]
    assert names(find_sidecars(listed)) == ["DIM_PHR1B_PMS_1_ORT_7.XML"]
    assert find_sidecars(stranger) == []


def test_find_sidecars_planet_manifest_in_parent(tmp_path: Path, tiny_raster: Raster) -> None:
    folder = tmp_path / "PSScene"
    raster = tiny_raster(folder / "20220505_172446_09_2435_3B_Visual.tif")
    (folder / "20220505_172446_09_2435_metadata.json").write_text("{}")
    (folder / "20220505_172447_09_2435_metadata.json").write_text("{}")  # another item
    manifest = {"files": [{"path": "PSScene/20220505_172446_09_2435_3B_Visual.tif"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert find_sidecars(raster) == [
        folder / "20220505_172446_09_2435_metadata.json",
        tmp_path / "manifest.json",
    ]


def test_dimap_resampling_spacing_and_built_credit(tmp_path: Path, tiny_raster: Raster) -> None:
    (tmp_path / "DIM_PHR1B_PMS_1_ORT_7.XML").write_text(DIMAP)
    meta = read_vendor_metadata(tiny_raster(tmp_path / "scene.tif"), overrides=Overrides())
    assert meta.acquired == datetime(2016, 4, 3, 2, 3, 4, 500000, tzinfo=UTC)
    assert (meta.sensor, meta.gsd_m, meta.vendor) == ("Pléiades-1B", 0.5, "airbus")
    assert meta.credit == "© CNES 2016, Distribution Airbus DS"
    assert (meta.off_nadir_deg, meta.sun_elevation_deg) == (None, None)


def test_open_dataset_gives_the_same_answer(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "P001.TIF")
    (tmp_path / "P001.IMD").write_text(IMD)
    with rasterio.open(raster) as src:
        from_open = read_vendor_metadata(raster, overrides=Overrides(), src=src)
    assert from_open == read_vendor_metadata(raster, overrides=Overrides())
    assert from_open.gsd_m == 0.51


def test_campwatch_tags(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(
        tmp_path / "sim.tif",
        ACQUISITION_DATETIME="2020-07-01T03:04:05+09:00",
        SENSOR="WV03",
        GSD_M="0.31",
        CREDIT="Simulated  imagery,\nnot evidence",
        OFF_NADIR_DEG="20.5",
        SUN_ELEVATION_DEG="61",
        SIMULATED="true",
    )
    meta = read_vendor_metadata(raster, overrides=Overrides())
    assert meta.acquired == datetime(2020, 6, 30, 18, 4, 5, tzinfo=UTC)
    assert (meta.sensor, meta.gsd_m, meta.off_nadir_deg, meta.sun_elevation_deg) == (
        "WorldView-3",
        0.31,
        20.5,
        61.0,
    )
    assert meta.credit == "Simulated imagery, not evidence"
    assert meta.simulated is True
    assert (meta.vendor, meta.sidecar_path, meta.sidecar_sha256) == (None, None, None)


def test_tags_win_over_sidecar_and_overrides_win_over_both(
    tmp_path: Path, tiny_raster: Raster
) -> None:
    raster = tiny_raster(tmp_path / "P001.TIF", GSD_M="0.6")
    (tmp_path / "P001.IMD").write_text(IMD)
    meta = read_vendor_metadata(raster, overrides=Overrides())
    assert (meta.sensor, meta.gsd_m, meta.off_nadir_deg) == ("WorldView-2", 0.6, 12.5)
    assert meta.acquired == datetime(2019, 6, 2, 1, 2, 3, 250000, tzinfo=UTC)
    assert meta.credit == "© 2019 Maxar Technologies"
    assert meta.product_id == "000000000010_01_P001"

    overrides = overrides_from_cli("2019-06-03", "GE01", "© 2019 Someone", "0.4")
    meta = read_vendor_metadata(raster, overrides=overrides)
    assert meta.acquired == datetime(2019, 6, 3, tzinfo=UTC)
    assert (meta.sensor, meta.gsd_m, meta.credit) == ("GeoEye-1", 0.4, "© 2019 Someone")
    assert meta.sun_elevation_deg == 55.5  # not overridden: still from the IMD


def test_missing_everything_names_flags_and_tiff_datetime(
    tmp_path: Path, tiny_raster: Raster
) -> None:
    raster = tiny_raster(tmp_path / "bare.tif", TIFFTAG_DATETIME="2021:05:06 07:08:09")
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(raster, overrides=Overrides())
    assert str(err.value) == (
        f"{raster}: missing acquisition time (--date), sensor (--sensor), GSD (--gsd); "
        "looked at GeoTIFF tags (no sidecar files found beside it). "
        "Supply --date and --sensor and --gsd. "
        "TIFFTAG_DATETIME '2021:05:06 07:08:09' is when the file was written, not acquired."
    )


def test_missing_date_only(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "P001.TIF")
    (tmp_path / "P001.IMD").write_text(IMD.replace("firstLineTime", "lastLineTime"))
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(raster, overrides=Overrides())
    assert str(err.value) == (
        f"{raster}: missing acquisition time (--date); looked at GeoTIFF tags, P001.IMD. "
        "Supply --date."
    )
    meta = read_vendor_metadata(
        raster, overrides=overrides_from_cli("2019-06-02T01:02", None, None, None)
    )
    assert meta.acquired == datetime(2019, 6, 2, 1, 2, tzinfo=UTC)


def test_malformed_xml_names_the_file(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "P001.TIF")
    bad = tmp_path / "P001.XML"
    bad.write_text("<isd><IMD><SATID>WV02</SATID>")
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(raster, overrides=Overrides())
    assert str(err.value) == f"{bad}: malformed XML: no element found: line 1, column 29"


def test_malformed_imd_names_the_file_and_line(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "P001.TIF")
    bad = tmp_path / "P001.IMD"
    bad.write_text('version = "1";\nBEGIN_GROUP = IMAGE_1\n\tsatId "WV02";\nEND_GROUP = IMAGE_1\n')
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(raster, overrides=Overrides())
    assert str(err.value) == (
        f"{bad}: malformed IMD at line 3: 'satId \"WV02\"' is not 'key = value;'"
    )


def test_malformed_json_names_the_file(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "20220125_075509_67_1061_3B_AnalyticMS.tif")
    bad = tmp_path / "20220125_075509_67_1061_metadata.json"
    bad.write_text('{"properties": ')
    with pytest.raises(IngestError, match=r"^" + str(bad) + r": malformed JSON: Expecting value"):
        read_vendor_metadata(raster, overrides=Overrides())


def test_bad_tag_value(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "t.tif", GSD_M="half a metre")
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(raster, overrides=Overrides())
    assert str(err.value) == f"{raster}: tag GSD_M: 'half a metre' is not a number"


def test_negative_gsd_in_a_sidecar(tmp_path: Path, tiny_raster: Raster) -> None:
    raster = tiny_raster(tmp_path / "P001.TIF")
    (tmp_path / "P001.IMD").write_text(IMD.replace("0.510", "-0.5"))
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(raster, overrides=Overrides())
    assert str(err.value) == f"{tmp_path / 'P001.IMD'}: GSD -0.5 is not a positive number of metres"


def test_raster_not_found_and_not_a_raster(tmp_path: Path) -> None:
    with pytest.raises(IngestError) as err:
        read_vendor_metadata(tmp_path / "nope.tif", overrides=Overrides())
    assert str(err.value) == f"{tmp_path / 'nope.tif'}: raster not found"
    text = tmp_path / "text.tif"
    text.write_text("not a tiff")
    with pytest.raises(IngestError, match=r"^" + str(text) + r": cannot open raster: "):
        read_vendor_metadata(text, overrides=Overrides())


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2018-10-01", datetime(2018, 10, 1, tzinfo=UTC)),
        ("2018-10-01T02:26:04Z", datetime(2018, 10, 1, 2, 26, 4, tzinfo=UTC)),
        ("2018-10-01T11:26:04+09:00", datetime(2018, 10, 1, 2, 26, 4, tzinfo=UTC)),
        ("2018-10-01 02:26", datetime(2018, 10, 1, 2, 26, tzinfo=UTC)),
    ],
)
def test_overrides_from_cli_dates(date: str, expected: datetime) -> None:
    assert overrides_from_cli(date, None, None, None).date == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("2018-13-01", None, None, None),
            "--date '2018-13-01' is not an ISO 8601 date or date-time "
            "(e.g. 2018-10-01 or 2018-10-01T02:26:04Z)",
        ),
        (
            ("01/10/2018", None, None, None),
            "--date '01/10/2018' is not an ISO 8601 date or "
            "date-time (e.g. 2018-10-01 or 2018-10-01T02:26:04Z)",
        ),
        ((None, None, None, "abc"), "--gsd 'abc' is not a number of metres"),
        ((None, None, None, "-1"), "--gsd '-1' is not a positive number of metres"),
        ((None, None, None, "nan"), "--gsd 'nan' is not a positive number of metres"),
        ((None, " ", None, None), "--sensor '' is empty"),
    ],
)
def test_overrides_from_cli_errors(args: tuple[str | None, ...], message: str) -> None:
    with pytest.raises(IngestError) as err:
        overrides_from_cli(*args)
    assert str(err.value) == message


def test_overrides_from_cli_values() -> None:
    o = overrides_from_cli(None, "PNEO3", "  © CNES 2021,\n Distribution Airbus DS ", 0.5)
    assert o == Overrides(None, "Pléiades Neo 3", "© CNES 2021, Distribution Airbus DS", 0.5)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("WV02", "WorldView-2"),
        ("ge01", "GeoEye-1"),
        ("PHR1A", "Pléiades-1A"),
        ("PNEO3", "Pléiades Neo 3"),
        ("SSC12", "SkySat-C12"),
        ("PSB.SD", "PlanetScope SuperDove (PSB.SD)"),
        ("LG03", "WorldView Legion 3"),
        ("worldview-2", "WorldView-2"),
        ("  Some   Satellite ", "Some Satellite"),
    ],
)
def test_normalise_sensor(code: str, name: str) -> None:
    assert normalise_sensor(code) == name
