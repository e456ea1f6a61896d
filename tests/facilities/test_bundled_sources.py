"""The shipped registry: every coordinate pinned to the words of its source.

The table below is written by hand from the sources read. A typo in a definition's numbers, in
its quote, or here fails one of these tests.
"""

from __future__ import annotations

import math
import re

import pytest

from facilities.aoi import search_buffer
from facilities.grid import to_grid_crs, utm_crs_for
from facilities.load import BUNDLED_DIR, iter_definition_files, load_registry
from facilities.model import Facility
from facilities.validate import check_definition

# id -> (text the reported source prints, lat, lon, the source's URL)
PINNED = {
    "yodok-kwanliso-15": (
        "Yodok, South Hamgyong Province, 39.67427, 126.85104.",
        39.67427,
        126.85104,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "hwasong-kwanliso-16": (
        "Hwasong, North Hamgyong Province, 41.28696, 129.26839.",
        41.28696,
        129.26839,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "kangdong-kyohwaso-4": (
        "(39.008838° 126.153277°)",
        39.008838,
        126.153277,
        "https://www.hrnk.org/uploads/pdfs/Bermudez_Kangdong_FINALFINAL.pdf",
    ),
    "jongori-kyohwaso-12": (
        "Coordinates: 42.209410 N, 129.755100 E",
        42.20941,
        129.7551,
        "http://www.hrnk.org/uploads/pdfs/ASA_HRNK_Camp12_201608_v10_LR.pdf",
    ),
    "chongjin-kwanliso-25": (
        "Coordinates: 41.834384 N, 129.725280 E",
        41.834384,
        129.72528,
        "http://www.hrnk.org/uploads/pdfs/ASA_HRNK_Camp25_Update2.pdf",
    ),
    "kaechon-kwanliso-14": (
        "Kaechon, South Pyongan Province, 39.5717, 126.06215.",
        39.5717,
        126.06215,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "pukchang-kwanliso-18": (
        "Bukchang, South Pyongan Province, 39.55964, 126.08596.",
        39.55964,
        126.08596,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "choma-bong-restricted-area": (
        "Coordinates: 39.631412, 125.999343",
        39.631412,
        125.999343,
        "https://yumpu.com/en/document/view/55327176/north-korea-choma-bong-restricted-area",
    ),
    "hoeryong-kwanliso-22": (
        "Hoeryong, North Hamgyong Province, 42.54549, 129.91401.",
        42.54549,
        129.91401,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "kaechon-kyohwaso-1": (
        "Kaechon, South Pyongan Province, 39° 42’34.72”E, 125° 55’24.78”E.",
        39.709644,
        125.92355,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "chungsan-kyohwaso-11": (
        "Chung-san, South Pyongan Province, 39° 4’40.35”N 125° 26’15.58”E.",
        39.077875,
        125.437661,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "sariwon-kyohwaso-6": (
        "Sariwon City Prison, Sariwon, North Hwanghae Province, 38° 30’45.41”N 125° 46’26.59”E.",
        38.512614,
        125.774053,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "oro-kyohwaso-22": (
        "Tongjung-ri, Oro, South Hamgyong Province, 40° 2’35.88”N 127° 31’24.94”E.",
        40.0433,
        127.523594,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "tanchon-kyohwaso-77": (
        "Hangguil-dong, Danchon, South Hamgyong Province, 40° 26’15.36”N 128° 53’57.06”E.",
        40.4376,
        128.899183,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "hamhung-kyohwaso-9": (
        "Hamhung City Prison, Hamhung, South Hamgyong Province, 39° 57’27.67”N 127° 33’47.40”E.",
        39.957686,
        127.563167,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "kanggye-kyohwaso-7": (
        "Kanggye City Prison, Kanggye, Changang Province, 40° 57’15.56”N 126° 34’4.31”E.",
        40.954322,
        126.567864,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "sinuiju-kyohwaso-3": (
        "Tosong-ri, Sinuiju, North Pyongan Province, 40° 3’43.00”N 124° 24’34.65”E.",
        40.061944,
        124.409625,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
    "yongdam-kyohwaso-8": (
        "Yongdam, Kangwon Province, 39° 21’42.91”N 127° 15’53.02”E.",
        39.361919,
        127.264728,
        "https://www.google.com/maps/d/kml?mid=1uo5xseZysdNTIY-I-rTsXUWWYDu5UnGx&forcekml=1",
    ),
}


@pytest.fixture(scope="module")
def registry() -> dict[str, Facility]:
    return load_registry()


def test_every_shipped_facility_is_pinned(registry: dict[str, Facility]) -> None:
    assert sorted(registry) == sorted(PINNED)


@pytest.mark.parametrize("facility_id", sorted(PINNED))
def test_coordinates_pinned_to_quote(registry: dict[str, Facility], facility_id: str) -> None:
    text, lat, lon, url = PINNED[facility_id]
    f = registry[facility_id]
    src = f.source(f.reported_point.source_id)
    assert src is not None
    assert (f.reported_point.lat, f.reported_point.lon) == (lat, lon)
    assert (src.lat, src.lon) == (lat, lon)
    assert text in " ".join(src.quote.split())
    assert src.url == url


@pytest.mark.parametrize("path", iter_definition_files([BUNDLED_DIR]), ids=lambda p: p.stem)
def test_bundled_definitions_pass_strict_validation(path: object) -> None:
    facility, problems = check_definition(path, strict=True)  # type: ignore[arg-type]
    assert problems == []
    assert facility is not None and facility.status is not None


@pytest.mark.parametrize("facility_id", sorted(PINNED))
def test_aoi_is_what_aoi_method_says(registry: dict[str, Facility], facility_id: str) -> None:
    """Each AOI is the circle its aoi_method describes, and says it is a search area."""
    f = registry[facility_id]
    m = re.search(r"buffer of (\d+) m radius \(64-gon, computed in (EPSG:\d+)\)", f.aoi_method)
    assert m is not None, f.aoi_method
    radius, crs = float(m.group(1)), m.group(2)
    rp = f.reported_point
    assert crs == utm_crs_for(rp.lon, rp.lat)
    expected = search_buffer(rp.lat, rp.lon, radius)
    assert f.aoi.symmetric_difference(expected).area < 1e-12
    assert "search area, not a boundary" in f.aoi_method
    assert f.zones == () or facility_id == "kangdong-kyohwaso-4"  # only the demo has zones
    if f.extent is not None and f.extent.length_m and f.extent.width_m:
        diagonal = math.hypot(f.extent.length_m, f.extent.width_m)
        reach = math.sqrt(to_grid_crs(f.aoi, crs).area / math.pi)
        # Kangdong's AOI predates the registry and is documented as smaller than its extent.
        assert reach >= 0.99 * diagonal or "smaller than the published extent" in f.aoi_method


def test_status_quotes_come_from_listed_sources(registry: dict[str, Facility]) -> None:
    for f in registry.values():
        assert f.status is not None
        if f.status.status != "unknown":
            assert f.source(f.status.source_id) is not None, f.id
            assert f.status.as_of and f.status.quote, f.id
        if f.extent is not None:
            assert f.source(f.extent.source_id) is not None, f.id
