"""Provenance fields of a definition: sources, quotes that must state their coordinates, status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from facilities.load import load_facility
from facilities.provenance import quote_states, stated_values
from facilities.validate import check_collection, validate_definition

Definition = dict[str, Any]
Write = Callable[..., Path]

QUOTE = "Location: Test-si Coordinates: 38.000000 N, 125.500000 E Date of Report: May 1, 2020"


def sourced(definition: Definition) -> Definition:
    """The tiny definition with one quoted source, a reported source, a status and an extent."""
    props = definition["features"][0]["properties"]
    props["sources"] = [
        {
            "id": "test-report",
            "title": "A test report",
            "authors": ["A. Author"],
            "publisher": "Test Publisher",
            "date": "2020-05-01",
            "url": "https://example.org/report.pdf",
            "quote": QUOTE,
            "lat": 38.0,
            "lon": 125.5,
        }
    ]
    props["reported_source"] = "test-report"
    props["status"] = {
        "value": "active",
        "as_of": "2020",
        "source": "test-report",
        "quote": "remains a fully operational prison",
    }
    props["extent"] = {
        "source": "test-report",
        "quote": "Size: 300 meters by 200 meters",
        "length_m": 300,
        "width_m": 200,
    }
    return definition


@pytest.fixture
def good(definition: Definition) -> Definition:
    return sourced(definition)


def test_sourced_definition_loads(write_definition: Write, good: Definition) -> None:
    f = load_facility(write_definition(good))
    assert f.reported_point.source_id == "test-report"
    assert f.source("test-report") is not None
    assert f.sources[0].authors == ("A. Author",)
    assert f.status is not None and f.status.status == "active"
    assert f.extent is not None and (f.extent.length_m, f.extent.width_m) == (300.0, 200.0)


def test_quote_without_its_coordinates_fails_naming_file_feature_field_value(
    write_definition: Write, good: Definition
) -> None:
    bad = QUOTE.replace("38.000000", "38.010000")
    good["features"][0]["properties"]["sources"][0]["quote"] = bad
    path = write_definition(good)
    problems = [str(p) for p in validate_definition(path)]
    assert problems == [
        f"{path}: feature tiny-camp: field 'sources[0].quote' = {bad!r}: does not state "
        "sources[0].lat = 38.0 (within the rounding it is printed with); coordinates found in "
        "the quote: [38.01, 125.5]"
    ]


def test_typo_in_source_longitude_fails(write_definition: Write, good: Definition) -> None:
    good["features"][0]["properties"]["sources"][0]["lon"] = 125.05
    problems = validate_definition(write_definition(good))
    fields = [p.field for p in problems]
    assert "sources[0].quote" in fields  # the quote does not say 125.05
    assert "reported_lat, reported_lon" in fields  # and the reported point is no longer its


def test_reported_point_must_equal_reported_source(
    write_definition: Write, good: Definition
) -> None:
    good["features"][0]["properties"]["reported_lat"] = 38.0001
    (problem,) = validate_definition(write_definition(good))
    assert problem.feature == "tiny-camp"
    assert problem.field == "reported_lat, reported_lon"
    assert problem.value == [38.0001, 125.5]
    assert "differ from source 'test-report' (38.0, 125.5)" in problem.problem


def test_reported_source_must_exist(write_definition: Write, good: Definition) -> None:
    good["features"][0]["properties"]["reported_source"] = "nowhere"
    (problem,) = validate_definition(write_definition(good))
    assert (problem.field, problem.value) == ("reported_source", "nowhere")


def test_lat_without_lon(write_definition: Write, good: Definition) -> None:
    del good["features"][0]["properties"]["sources"][0]["lon"]
    fields = [p.field for p in validate_definition(write_definition(good))]
    assert "sources[0].lat, sources[0].lon" in fields


@pytest.mark.parametrize(
    ("key", "value"),
    [("date", "May 2020"), ("url", "example.org/x"), ("title", ""), ("authors", "A. Author")],
)
def test_bad_source_fields(write_definition: Write, good: Definition, key: str, value: Any) -> None:
    good["features"][0]["properties"]["sources"][0][key] = value
    problems = validate_definition(write_definition(good))
    assert problems[0].field == f"sources[0].{key}"
    assert problems[0].value == value


def test_duplicate_source_id(write_definition: Write, good: Definition) -> None:
    sources = good["features"][0]["properties"]["sources"]
    sources.append(dict(sources[0]))
    problems = validate_definition(write_definition(good))
    assert [(p.field, p.value) for p in problems] == [("sources[1].id", "test-report")]


def test_known_status_needs_date_source_and_quote(
    write_definition: Write, good: Definition
) -> None:
    good["features"][0]["properties"]["status"] = {"value": "closed"}
    fields = sorted(p.field for p in validate_definition(write_definition(good)))
    assert fields == ["status.as_of", "status.quote", "status.source"]


def test_unknown_status_needs_nothing_else(write_definition: Write, good: Definition) -> None:
    good["features"][0]["properties"]["status"] = {"value": "unknown", "note": "no source says"}
    assert validate_definition(write_definition(good)) == []


def test_bad_status_value(write_definition: Write, good: Definition) -> None:
    good["features"][0]["properties"]["status"]["value"] = "open"
    (problem,) = validate_definition(write_definition(good))
    assert (problem.field, problem.value) == ("status.value", "open")


def test_extent_needs_a_size(write_definition: Write, good: Definition) -> None:
    extent = good["features"][0]["properties"]["extent"]
    del extent["length_m"], extent["width_m"]
    (problem,) = validate_definition(write_definition(good))
    assert problem.field == "extent"


def test_old_definition_without_provenance_still_loads(definition: Definition) -> None:
    facility, problems = check_collection(definition, "old.geojson")
    assert problems == [] and facility is not None
    assert facility.sources == () and facility.status is None


def test_strict_requires_provenance(definition: Definition) -> None:
    _, problems = check_collection(definition, "old.geojson", strict=True)
    assert [p.field for p in problems] == ["sources", "reported_source", "status"]
    assert all("strict" in p.problem for p in problems)


def test_stated_values_reads_decimal_and_dms() -> None:
    values = stated_values("Coordinates: 39°34′16″N 126°03′20″E / 39.571086°N 126.055466°E")
    assert [round(v, 6) for v, _ in values] == [39.571086, 126.055466, 39.571111, 126.055556]


@pytest.mark.parametrize(
    ("quote", "value", "expected"),
    [
        ("42.209410 N", 42.20941, True),
        ("42.209410 N", 42.2094, False),
        ("(39.0088° 126.1533°)", 39.00884, True),  # printed to 4 decimals: +-0.00005
        ("(39.0088° 126.1533°)", 39.0089, False),
        ("39°34′16″N", 39.571086, True),  # within half a second
        ("39°34′16″N", 39.5725, False),
        ("Camp 39 in 2019", 39.0, False),  # integers are not coordinates
        ("41.834384, 129.725280", 129.72528, True),
        ("38° 30’45.41”N", 38.512614, True),  # typographic quotes as minute/second marks
        ("38° 30’45.41”N", 38.5128, False),
    ],
)
def test_quote_states(quote: str, value: float, expected: bool) -> None:
    assert quote_states(quote, value) is expected
