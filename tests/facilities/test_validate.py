"""Bad facility definitions: every problem names the file, the feature, the field and the value."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from facilities.errors import FacilityValidationError
from facilities.load import load_facility
from facilities.validate import (
    check_collection,
    facility_from_collection,
    validate_definition,
)

Definition = dict[str, Any]
Write = Callable[..., Path]


def problems_of(write: Write, data: Any) -> tuple[Path, list[str]]:
    path = write(data)
    return path, [str(p) for p in validate_definition(path)]


def only_problem(write: Write, data: Any) -> tuple[Path, str]:
    path, found = problems_of(write, data)
    assert len(found) == 1, found
    # load_facility raises the same first problem
    with pytest.raises(FacilityValidationError) as err:
        load_facility(path)
    assert str(err.value) == found[0]
    return path, found[0]


def fac(d: Definition) -> dict[str, Any]:
    props: dict[str, Any] = d["features"][0]["properties"]
    return props


def zone(d: Definition, i: int = 1) -> dict[str, Any]:
    props: dict[str, Any] = d["features"][i]["properties"]
    return props


def test_valid_tiny_definition_loads(write_definition: Write, definition: Definition) -> None:
    path = write_definition(definition)
    f = load_facility(path)
    assert f.id == "tiny-camp"
    assert [z.id for z in f.zones] == ["z1", "z2"]
    assert [z.simulated for z in f.zones] == [True, False]
    assert f.names.aliases == ("Test-kol",)
    assert f.source_path == path


def test_error_message_format(write_definition: Write, definition: Definition) -> None:
    fac(definition)["type"] = "gulag"
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'type' = 'gulag': unknown facility type; "
        "expected one of kwanliso, kyohwaso, rodong-danryeondae, jipkyulso, other"
    )
    with pytest.raises(FacilityValidationError) as err:
        load_facility(path)
    e = err.value
    assert (e.path, e.feature, e.field, e.value) == (str(path), "tiny-camp", "type", "gulag")


# --- collection structure -------------------------------------------------------------------


def test_not_a_feature_collection(write_definition: Write, definition: Definition) -> None:
    path, msg = only_problem(write_definition, definition["features"][0])
    assert msg == f"{path}: feature -: field 'type' = 'Feature': must be 'FeatureCollection'"


def test_top_level_not_an_object(write_definition: Write) -> None:
    path, msg = only_problem(write_definition, [1, 2])
    assert msg == (
        f"{path}: feature -: field 'type' = 'list': must be a GeoJSON FeatureCollection object"
    )


def test_no_facility_feature(write_definition: Write, definition: Definition) -> None:
    del definition["features"][0]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature -: field 'feature_type' = 'facility': "
        "no facility feature (exactly one is required)"
    )


def test_two_facility_features(write_definition: Write, definition: Definition) -> None:
    definition["features"].append(json.loads(json.dumps(definition["features"][0])))
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature features[3]: field 'feature_type' = 'facility': second facility "
        "feature (features[0] is the first; exactly one is required)"
    )


def test_unknown_feature_type(write_definition: Write, definition: Definition) -> None:
    zone(definition)["feature_type"] = "building"
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature features[1]: field 'feature_type' = 'building': "
        "must be 'facility' or 'zone'"
    )


def test_invalid_json(write_definition: Write) -> None:
    path, msg = only_problem(write_definition, '{"type": "FeatureCollection",\n "features": [}')
    assert msg == (
        f"{path}: feature -: field 'json' = 'line 2 column 15': invalid JSON: Expecting value"
    )


def test_duplicate_json_key(write_definition: Write) -> None:
    path, msg = only_problem(write_definition, '{"type": "FeatureCollection", "type": "x"}')
    assert msg.startswith(f"{path}: feature -: field 'json' = ")
    assert msg.endswith("invalid JSON: duplicate key 'type': the second value would silently win")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.geojson"
    (msg,) = [str(p) for p in validate_definition(path)]
    assert msg.startswith(f"{path}: feature -: field 'file' = '{path}': cannot be read: ")


def test_projected_crs_member(write_definition: Write, definition: Definition) -> None:
    definition["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32652"}}
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature -: field 'crs' = 'urn:ogc:def:crs:EPSG::32652': "
        "definitions must be WGS 84 lon/lat"
    )


# --- geometry -------------------------------------------------------------------------------


def test_self_intersecting_aoi(write_definition: Write, definition: Definition) -> None:
    definition["features"][0]["geometry"]["coordinates"] = [
        [[125.49, 37.99], [125.51, 38.01], [125.51, 37.99], [125.49, 38.01], [125.49, 37.99]]
    ]
    path, found = problems_of(write_definition, definition)
    assert found[0] == (
        f"{path}: feature tiny-camp: field 'geometry' = 'Self-intersection[125.5 38]': "
        "invalid polygon: Self-intersection at lon=125.5, lat=38"
    )


def test_self_intersecting_zone(write_definition: Write, definition: Definition) -> None:
    definition["features"][2]["geometry"]["coordinates"] = [
        [
            [125.501, 37.999],
            [125.503, 38.001],
            [125.503, 37.999],
            [125.501, 38.001],
            [125.501, 37.999],
        ]
    ]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature z2: field 'geometry' = 'Self-intersection[125.502 38]': "
        "invalid polygon: Self-intersection at lon=125.502, lat=38"
    )


@pytest.mark.parametrize("gtype", ["MultiPolygon", "Point", "LineString"])
def test_non_polygon_geometry(write_definition: Write, definition: Definition, gtype: str) -> None:
    definition["features"][1]["geometry"]["type"] = gtype
    path, msg = only_problem(write_definition, definition)
    assert msg == f"{path}: feature z1: field 'geometry.type' = '{gtype}': must be 'Polygon'"


def test_empty_geometry(write_definition: Write, definition: Definition) -> None:
    definition["features"][1]["geometry"]["coordinates"] = []
    path, msg = only_problem(write_definition, definition)
    assert msg == f"{path}: feature z1: field 'geometry.coordinates' = []: empty geometry"


def test_null_geometry(write_definition: Write, definition: Definition) -> None:
    definition["features"][0]["geometry"] = None
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'geometry' = None: missing geometry: must be a Polygon"
    )


def test_zero_area_geometry(write_definition: Write, definition: Definition) -> None:
    definition["features"][1]["geometry"]["coordinates"] = [
        [[125.5, 38.0], [125.5, 38.0], [125.5, 38.0], [125.5, 38.0]]
    ]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature z1: field 'geometry' = 'Too few points in geometry component[125.5 38]'"
        ": invalid polygon: Too few points in geometry component at lon=125.5, lat=38"
    )


def test_unclosed_ring(write_definition: Write, definition: Definition) -> None:
    ring = definition["features"][1]["geometry"]["coordinates"][0]
    ring[-1] = [125.4995, 37.999]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature z1: field 'geometry.coordinates[0]' = "
        "[[125.499, 37.999], [125.4995, 37.999]]: "
        "ring is not closed: first and last positions differ"
    )


def test_too_few_positions(write_definition: Write, definition: Definition) -> None:
    definition["features"][1]["geometry"]["coordinates"] = [[[125.5, 38.0], [125.5, 38.0]]]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature z1: field 'geometry.coordinates[0]' = 2: "
        "a polygon ring needs at least 4 positions"
    )


def test_aoi_positions_swapped(write_definition: Write, definition: Definition) -> None:
    ring = definition["features"][0]["geometry"]["coordinates"][0]
    definition["features"][0]["geometry"]["coordinates"] = [[[y, x] for x, y in ring]]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'geometry.coordinates[0][0]' = [37.996, 125.496]: "
        "latitude 125.496 is outside [-90, 90]: lon/lat look swapped "
        "(GeoJSON positions are [lon, lat])"
    )


def test_aoi_in_projected_metres(write_definition: Write, definition: Definition) -> None:
    definition["features"][0]["geometry"]["coordinates"] = [
        [[252000, 4320000], [254000, 4320000], [254000, 4322000], [252000, 4320000]]
    ]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'geometry.coordinates[0][0]' = [252000, 4320000]: "
        "outside WGS 84 lon/lat range: projected metres? definitions must be in WGS 84"
    )


def test_aoi_swapped_within_range(
    write_definition: Write, make_definition: Callable[..., Definition]
) -> None:
    d = make_definition(lon=30.0, lat=10.0)
    ring = d["features"][0]["geometry"]["coordinates"][0]
    d["features"][0]["geometry"]["coordinates"] = [[[y, x] for x, y in ring]]
    d["features"] = d["features"][:1]
    path, msg = only_problem(write_definition, d)
    assert msg == (
        f"{path}: feature tiny-camp: field 'reported_lat, reported_lon' = [10.0, 30.0]: "
        "lon/lat look swapped: the point lies in the AOI when latitude and longitude are "
        "exchanged (check reported_lat/reported_lon, and that AOI positions are [lon, lat])"
    )


def test_huge_aoi(write_definition: Write, definition: Definition) -> None:
    definition["features"][0]["geometry"]["coordinates"] = [
        [[124.5, 37.5], [126.5, 37.5], [126.5, 38.5], [124.5, 38.5], [124.5, 37.5]]
    ]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'geometry' = '178.6 km x 115.7 km': "
        "AOI is larger than 100 km across: is it the right polygon?"
    )


# --- reported point -------------------------------------------------------------------------


def test_reported_point_swapped(write_definition: Write, definition: Definition) -> None:
    fac(definition).update(reported_lat=126.15, reported_lon=39.0)
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'reported_lat' = 126.15: looks swapped with "
        "reported_lon=39.0: a latitude must be within [-90, 90]"
    )


def test_reported_point_out_of_range(write_definition: Write, definition: Definition) -> None:
    fac(definition).update(reported_lat=-95.0, reported_lon=200.0)
    path, found = problems_of(write_definition, definition)
    assert found == [
        f"{path}: feature tiny-camp: field 'reported_lat' = -95.0: "
        "out of range: a latitude must be within [-90, 90]",
        f"{path}: feature tiny-camp: field 'reported_lon' = 200.0: "
        "out of range: a longitude must be within [-180, 180]",
    ]


def test_reported_point_swapped_within_range(
    write_definition: Write, make_definition: Callable[..., Definition]
) -> None:
    d = make_definition(lon=30.0, lat=10.0)
    fac(d).update(reported_lat=30.0, reported_lon=10.0)
    path, msg = only_problem(write_definition, d)
    assert msg == (
        f"{path}: feature tiny-camp: field 'reported_lat, reported_lon' = [30.0, 10.0]: "
        "lon/lat look swapped: the point lies in the AOI when latitude and longitude are "
        "exchanged (check reported_lat/reported_lon, and that AOI positions are [lon, lat])"
    )


def test_reported_point_outside_aoi(write_definition: Write, definition: Definition) -> None:
    fac(definition)["reported_lat"] = 38.01
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'reported_lat, reported_lon' = [38.01, 125.5]: "
        "reported point lies 666 m outside the AOI (tolerance 250 m)"
    )


def test_reported_point_just_outside_is_tolerated(
    write_definition: Write, definition: Definition
) -> None:
    fac(definition)["reported_lat"] = 38.0055  # ~167 m north of the AOI edge
    assert validate_definition(write_definition(definition)) == []


def test_reported_lat_not_a_number(write_definition: Write, definition: Definition) -> None:
    fac(definition)["reported_lat"] = "39.0"
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'reported_lat' = '39.0': must be a number, got str"
    )


# --- zones ----------------------------------------------------------------------------------


def test_zone_outside_aoi(write_definition: Write, definition: Definition) -> None:
    definition["features"][2]["geometry"]["coordinates"] = [
        [
            [125.503, 37.999],
            [125.506, 37.999],
            [125.506, 38.001],
            [125.503, 38.001],
            [125.503, 37.999],
        ]
    ]
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature z2: field 'geometry' = [125.506, 37.999]: zone is not inside the "
        "facility AOI: this vertex lies 176 m outside (39012 m² outside; tolerance 1 m)"
    )


def test_zone_equal_to_aoi_is_inside(write_definition: Write, definition: Definition) -> None:
    definition["features"][1]["geometry"] = definition["features"][0]["geometry"]
    assert validate_definition(write_definition(definition)) == []


def test_duplicate_zone_id(write_definition: Write, definition: Definition) -> None:
    zone(definition, 2)["zone_id"] = "z1"
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature z1: field 'zone_id' = 'z1': duplicate zone_id: "
        "features[1] has the same id"
    )


def test_unknown_zone_type(write_definition: Write, definition: Definition) -> None:
    zone(definition)["zone_type"] = "barracks"
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature z1: field 'zone_type' = 'barracks': unknown zone type; expected one "
        "of perimeter, housing, administration, guard_post, agriculture, quarry, industry, other"
    )


@pytest.mark.parametrize(("value", "problem"), [(None, "missing (required)"), ("  ", None)])
def test_missing_zone_source(
    write_definition: Write, definition: Definition, value: str | None, problem: str | None
) -> None:
    if value is None:
        del zone(definition)["source"]
    else:
        zone(definition)["source"] = value
    path, msg = only_problem(write_definition, definition)
    expected = problem or "empty (required)"
    assert msg == f"{path}: feature z1: field 'source' = {value!r}: {expected}"


def test_zone_simulated_must_be_boolean(write_definition: Write, definition: Definition) -> None:
    zone(definition)["simulated"] = "yes"
    path, msg = only_problem(write_definition, definition)
    assert msg == f"{path}: feature z1: field 'simulated' = 'yes': must be true or false"


def test_zone_without_id_is_named_by_index(write_definition: Write, definition: Definition) -> None:
    del zone(definition, 2)["zone_id"]
    path, msg = only_problem(write_definition, definition)
    assert msg == f"{path}: feature features[2]: field 'zone_id' = None: missing (required)"


# --- facility properties --------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_citation(write_definition: Write, definition: Definition, value: Any) -> None:
    if value is None:
        del fac(definition)["reported_citation"]
    else:
        fac(definition)["reported_citation"] = value
    path, msg = only_problem(write_definition, definition)
    problem = "missing (required)" if value is None else "empty (required)"
    assert msg == f"{path}: feature tiny-camp: field 'reported_citation' = {value!r}: {problem}"


@pytest.mark.parametrize("field", ["name_en", "country", "aoi_method", "type", "reported_lon"])
def test_missing_required_field(
    write_definition: Write, definition: Definition, field: str
) -> None:
    del fac(definition)[field]
    path, msg = only_problem(write_definition, definition)
    assert msg == f"{path}: feature tiny-camp: field '{field}' = None: missing (required)"


@pytest.mark.parametrize(
    "bad_id", ["../etc/passwd", "a/b", "a\\b", "Kangdong-4", "camp 4", "x", "-camp", "a" * 64]
)
def test_id_not_a_safe_slug(write_definition: Write, definition: Definition, bad_id: str) -> None:
    fac(definition)["id"] = bad_id
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature features[0]: field 'id' = {bad_id!r}: not a safe slug: must match "
        "^[a-z0-9][a-z0-9-]{1,62}$ (lower-case letters, digits and hyphens, 2-63 characters; "
        "no path separators, dots or spaces)"
    )


def test_country_not_alpha3(write_definition: Write, definition: Definition) -> None:
    fac(definition)["country"] = "KP"
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'country' = 'KP': "
        "must be an ISO 3166-1 alpha-3 code such as 'PRK'"
    )


def test_korean_name_not_hangul(write_definition: Write, definition: Definition) -> None:
    fac(definition)["name_ko"] = "Kangdong"
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'name_ko' = 'Kangdong': must be written in hangul"
    )


def test_aliases_must_be_strings(write_definition: Write, definition: Definition) -> None:
    fac(definition)["aliases"] = "Chaek-kol"
    path, msg = only_problem(write_definition, definition)
    assert msg == (
        f"{path}: feature tiny-camp: field 'aliases' = 'Chaek-kol': "
        "must be a list of non-empty strings"
    )


# --- collecting -----------------------------------------------------------------------------


def test_all_problems_are_collected(write_definition: Write, definition: Definition) -> None:
    fac(definition)["type"] = "gulag"
    del fac(definition)["reported_citation"]
    zone(definition)["zone_type"] = "barracks"
    del zone(definition, 2)["source"]
    path, found = problems_of(write_definition, definition)
    assert [m.split(": ")[1:3] for m in found] == [
        ["feature tiny-camp", "field 'type' = 'gulag'"],
        ["feature tiny-camp", "field 'reported_citation' = None"],
        ["feature z1", "field 'zone_type' = 'barracks'"],
        ["feature z2", "field 'source' = None"],
    ]
    with pytest.raises(FacilityValidationError, match="field 'type' = 'gulag'"):
        load_facility(path)


def test_in_memory_collection_without_path(definition: Definition) -> None:
    zone(definition)["zone_type"] = "barracks"
    facility, problems = check_collection(definition)
    assert facility is None
    assert str(problems[0]).startswith("<memory>: feature z1: field 'zone_type' = 'barracks'")
    with pytest.raises(FacilityValidationError):
        facility_from_collection(definition)
