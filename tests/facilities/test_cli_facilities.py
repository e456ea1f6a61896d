"""`campwatch facilities list | show | validate` through click's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from facilities.load import BUNDLED_DIR, ENV_VAR, load_registry
from pipeline.cli.facilities import facilities
from tests.facilities.conftest import BUNDLED_IDS

Definition = dict[str, Any]
Write = Callable[..., Path]
KANGDONG = BUNDLED_DIR / "kangdong-kyohwaso-4.geojson"


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(facilities, list(args), env=env)




def test_list() -> None:
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "STATUS", "SOURCE", "NAME"]
    assert [line.split()[0] for line in lines[1:]] == BUNDLED_IDS
    chongjin = lines[1 + BUNDLED_IDS.index("chongjin-kwanliso-25")]
    assert chongjin.split() == [
        "chongjin-kwanliso-25",
        "kwanliso",
        "active",
        "(2021-09-30)",
        "HRNK",
        "2016",
        "Kwan-li-so",
        "No.",
        "25,",
        "Ch'ŏngjin",
    ]
    assert chongjin[lines[0].index("TYPE") :].startswith("kwanliso")  # columns line up
    kangdong = lines[1 + BUNDLED_IDS.index("kangdong-kyohwaso-4")]
    assert kangdong.split()[:4] == ["kangdong-kyohwaso-4", "kyohwaso", "unknown", "HRNK"]


def test_list_geojson() -> None:
    result = run("list", "--geojson")
    assert result.exit_code == 0, result.output
    fc = json.loads(result.output)
    aois = [f for f in fc["features"] if f["properties"]["feature_type"] == "aoi"]
    points = [f for f in fc["features"] if f["properties"]["feature_type"] == "source_point"]
    assert [f["properties"]["id"] for f in aois] == BUNDLED_IDS
    assert {f["geometry"]["type"] for f in aois} == {"Polygon"}
    camp25 = next(f["properties"] for f in aois if f["properties"]["id"] == "chongjin-kwanliso-25")
    assert camp25["status"] == "active" and camp25["status_as_of"] == "2021-09-30"
    assert camp25["sources"][0]["url"].startswith("http://www.hrnk.org/")
    reported = [p for p in points if p["properties"]["reported"]]
    assert len(reported) == len(BUNDLED_IDS)  # one reported point per facility
    # one point per source that prints one (Camp 25 has two sources that print the same point)
    expected = sum(len([s for s in f.sources if s.has_point]) for f in load_registry().values())
    assert len(points) == expected > len(BUNDLED_IDS)
    assert run("list", "--json", "--geojson").exit_code == 2


def test_list_json_with_explicit_and_env_dirs(
    write_definition: Write, make_definition: Callable[..., Definition]
) -> None:
    a = write_definition(make_definition(facility_id="camp-a"), "a.geojson", subdir="a")
    b = write_definition(make_definition(facility_id="camp-b"), "b.geojson", subdir="b")
    result = run("list", "--json", "--facilities", str(a.parent), env={ENV_VAR: str(b.parent)})
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == ["camp-a", "camp-b", *BUNDLED_IDS]
    assert rows[0] == {
        "id": "camp-a",
        "type": "other",
        "status": "-",
        "status_as_of": None,
        "name": "Tiny test camp",
        "lat": 38.0,
        "lon": 125.5,
        "source": "Invented for the campwatch test suite.",
        "source_url": None,
        "file": str(a),
    }


def test_show_text() -> None:
    result = run("show", "kangdong-kyohwaso-4")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "WARNING: 10 of 10 zones are SIMULATED" in out
    for text in [
        "강동 제4호 교화소",
        "Kangdong Kyohwaso 4-ho",
        "Gangdong Gyohwaso 4-ho",
        "Chaek-kol",
        "type:                 kyohwaso",
        "country:              PRK",
        "lat 39.008838, lon 126.153277",
        "Bermudez",
        "AOI area:             3,136,548 m² (in EPSG:32652)",
        "Circular buffer of 1000 m radius",
        "EPSG:32652, origin (west 252480, north 4322640), 204 x 204 pixels",
        "quarry-1       quarry                75,601 m²  Quarry (simulated)  SIMULATED",
    ]:
        assert text in out, text
    assert out.count("SIMULATED") == 11


def test_show_json() -> None:
    result = run("show", "kangdong-kyohwaso-4", "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    assert s["names"]["korean"] == "강동 제4호 교화소"
    assert s["reported_point"]["lat"] == 39.008838
    assert s["grid"] == {
        "crs": "EPSG:32652",
        "resolution_m": 10.0,
        "west": 252480.0,
        "north": 4322640.0,
        "width": 204,
        "height": 204,
        "bounds": [252480.0, 4320600.0, 254520.0, 4322640.0],
    }
    assert all(z["simulated"] for z in s["zones"]) and s["simulated_zones"] == 10
    assert 3.0e6 < s["aoi"]["area_m2"] < 3.2e6  # a 1000 m buffer: pi km², less the 64-gon's cut


def test_show_sources_and_status() -> None:
    result = run("show", "jongori-kyohwaso-12")
    assert result.exit_code == 0, result.output
    out = result.output
    for text in [
        "status:               active as of 2015-05-24",
        "continued use of prison labor.",
        "published size:       \u201cSize of Facility: 23,600 square meters",
        "sources (3):",
        "hrnk-2016-kyohwaso-12 [reported point]: Joseph S. Bermudez Jr., Mike Eley (2016-08-29)",
        "point: lat 42.20941, lon 129.7551",
        "\u201cLocation: Hoeryŏng-si, Hamgyŏng-bukto Coordinates: 42.209410 N, 129.755100 E",
        "read at: https://www.yumpu.com/en/document/view/59137263/",
        "Circular search buffer of 230 m radius",
        "search area, not a boundary",
    ]:
        assert text in out, text
    s = json.loads(run("show", "jongori-kyohwaso-12", "--json").output)
    assert s["reported_point"]["source"] == "hrnk-2016-kyohwaso-12"
    assert s["status"]["value"] == "active" and s["status"]["source"].endswith("-press")
    assert s["extent"]["length_m"] == 188.0 and s["extent"]["width_m"] == 128.0
    assert [src["id"] for src in s["sources"]] == [
        "hrnk-2016-kyohwaso-12",
        "hrnk-2016-kyohwaso-12-press",
        "hrnk-camp-map-kyohwaso-12",
    ]


def test_show_records_sources_that_disagree(
    write_definition: Write, definition: Definition
) -> None:
    props = definition["features"][0]["properties"]
    props["sources"] = [
        {
            "id": "report-a",
            "title": "Report A",
            "authors": [],
            "publisher": "Publisher A",
            "date": "2020",
            "url": "https://example.org/a",
            "quote": "Coordinates: 38.000000 N, 125.500000 E",
            "lat": 38.0,
            "lon": 125.5,
        },
        {
            "id": "report-b",
            "title": "Report B",
            "authors": ["B. Author"],
            "publisher": "Publisher B",
            "date": "2021-03",
            "url": "https://example.org/b",
            "quote": "the camp (38.0020, 125.5010)",
            "lat": 38.002,
            "lon": 125.501,
        },
    ]
    props["reported_source"] = "report-a"
    props["status"] = {"value": "unknown"}
    path = write_definition(definition)
    result = run("show", "tiny-camp", "--facilities", str(path.parent))
    assert result.exit_code == 0, result.output
    assert "report-a [reported point]: Publisher A (2020). Report A." in result.output
    assert "point: lat 38.002, lon 125.501  (239 m from the reported point: sources disagree)" in (
        result.output
    )
    fc = json.loads(run("list", "--geojson", "--facilities", str(path.parent)).output)
    points = [
        f["properties"] for f in fc["features"] if f["properties"].get("facility_id") == "tiny-camp"
    ]
    assert [(p["source"], p["reported"]) for p in points] == [
        ("report-a", True),
        ("report-b", False),
    ]


def test_show_unknown_id() -> None:
    result = run("show", "nowhere-camp")
    assert result.exit_code == 1
    assert "Error: no facility with id 'nowhere-camp'" in result.output
    assert f"known ids: {', '.join(BUNDLED_IDS)}" in result.output


def test_show_missing_facilities_dir(tmp_path: Path) -> None:
    result = run("show", "kangdong-kyohwaso-4", "--facilities", str(tmp_path / "absent"))
    assert result.exit_code == 1
    assert f"Error: facility definition directory '{tmp_path / 'absent'}' does not exist" in (
        result.output
    )


def test_validate_all_ok() -> None:
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert result.output == f"{len(BUNDLED_IDS)} definitions OK\n"


def test_validate_strict(write_definition: Write, definition: Definition) -> None:
    assert run("validate", "--strict").output == f"{len(BUNDLED_IDS)} definitions OK\n"
    path = write_definition(definition)
    assert run("validate", str(path)).exit_code == 0
    result = run("validate", "--strict", str(path))
    assert result.exit_code == 1
    assert f"{path}: feature tiny-camp: field 'sources' = None: missing (required in strict " in (
        result.stdout
    )


def test_validate_given_file_ok(write_definition: Write, definition: Definition) -> None:
    path = write_definition(definition)
    result = run("validate", str(path))
    assert result.exit_code == 0, result.output
    assert result.output == "1 definitions OK\n"


def test_validate_bad_file(write_definition: Write, definition: Definition) -> None:
    definition["features"][0]["properties"]["reported_lat"] = 126.15
    definition["features"][0]["properties"]["reported_lon"] = 39.0
    definition["features"][1]["properties"]["zone_type"] = "barracks"
    path = write_definition(definition)
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}: feature tiny-camp: field 'reported_lat' = 126.15: looks swapped with "
        "reported_lon=39.0: a latitude must be within [-90, 90]",
        f"{path}: feature z1: field 'zone_type' = 'barracks': unknown zone type; expected one "
        "of perimeter, housing, administration, guard_post, agriculture, quarry, industry, other",
    ]
    assert result.stderr == "2 problem(s) in 1 of 1 definition(s)\n"
    assert "Traceback" not in result.output


def test_validate_registry_with_bad_env_dir(write_definition: Write) -> None:
    path = write_definition("not json", "broken.geojson")
    result = run("validate", env={ENV_VAR: str(path.parent)})
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}: feature -: field 'json' = 'line 1 column 1': invalid JSON: Expecting value\n"
    )
    assert result.stderr == f"1 problem(s) in 1 of {len(BUNDLED_IDS) + 1} definition(s)\n"


def test_validate_duplicate_of_bundled(tmp_path: Path) -> None:
    copy = tmp_path / "copy.geojson"
    copy.write_bytes(KANGDONG.read_bytes())
    result = run("validate", "--facilities", str(tmp_path))
    assert result.exit_code == 1
    assert f"{KANGDONG}: feature kangdong-kyohwaso-4: field 'id'" in result.stdout
    assert f"also defined in {copy}" in result.stdout


def test_validate_empty_directory(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert result.output == f"Error: no *.geojson definition files in {tmp_path}\n"
