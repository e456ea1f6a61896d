"""Fixtures for the facilities tests: a tiny valid definition, written to tmp_path on demand."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from facilities.load import ENV_VAR

Definition = dict[str, Any]
WriteDefinition = Callable[..., Path]


def square(lon: float, lat: float, half_deg: float) -> list[list[list[float]]]:
    """A closed, counter-clockwise square ring around (lon, lat) as GeoJSON coordinates."""
    w, e, s, n = lon - half_deg, lon + half_deg, lat - half_deg, lat + half_deg
    return [[[w, s], [e, s], [e, n], [w, n], [w, s]]]


def tiny_definition(
    lon: float = 125.5, lat: float = 38.0, facility_id: str = "tiny-camp"
) -> Definition:
    """A valid definition: a ~700 m square AOI around (lon, lat) with two zones (test only)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": square(lon, lat, 0.004)},
                "properties": {
                    "feature_type": "facility",
                    "id": facility_id,
                    "name_en": "Tiny test camp",
                    "name_ko": "시험 수용소",
                    "name_mr": "Sihŏm suyongso",
                    "name_rr": "Siheom suyongso",
                    "aliases": ["Test-kol"],
                    "type": "other",
                    "country": "PRK",
                    "reported_lat": lat,
                    "reported_lon": lon,
                    "reported_citation": "Invented for the campwatch test suite.",
                    "aoi_method": "Square of 0.004 degrees half-side around the point (test).",
                },
            },
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": square(lon, lat, 0.001)},
                "properties": {
                    "feature_type": "zone",
                    "zone_id": "z1",
                    "zone_type": "housing",
                    "name": "Housing",
                    "source": "Invented for tests.",
                    "simulated": True,
                },
            },
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": square(lon + 0.002, lat, 0.0005)},
                "properties": {
                    "feature_type": "zone",
                    "zone_id": "z2",
                    "zone_type": "quarry",
                    "name": "Quarry",
                    "source": "Invented for tests.",
                },
            },
        ],
    }


@pytest.fixture(autouse=True)
def _no_env_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a developer's own ``CAMPWATCH_FACILITIES``."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def definition() -> Definition:
    """A fresh, valid tiny definition to mutate."""
    return copy.deepcopy(tiny_definition())


@pytest.fixture
def write_definition(tmp_path: Path) -> WriteDefinition:
    """Write a definition dict (or raw text) to ``tmp_path/<subdir>/<name>`` and return the path."""

    def write(data: Any, name: str = "tiny-camp.geojson", subdir: str = "defs") -> Path:
        d = tmp_path / subdir
        d.mkdir(exist_ok=True)
        p = d / name
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        p.write_text(text, encoding="utf-8")
        return p

    return write


@pytest.fixture
def make_definition() -> Callable[..., Definition]:
    """The builder of tiny definitions, for facilities elsewhere on the globe."""
    return tiny_definition


BUNDLED_IDS = [  # every shipped definition, pinned so an added or lost file is noticed
    "choma-bong-restricted-area",
    "chongjin-kwanliso-25",
    "chungsan-kyohwaso-11",
    "hamhung-kyohwaso-9",
    "hoeryong-kwanliso-22",
    "hwasong-kwanliso-16",
    "jongori-kyohwaso-12",
    "kaechon-kwanliso-14",
    "kaechon-kyohwaso-1",
    "kangdong-kyohwaso-4",
    "kanggye-kyohwaso-7",
    "oro-kyohwaso-22",
    "pukchang-kwanliso-18",
    "sariwon-kyohwaso-6",
    "sinuiju-kyohwaso-3",
    "tanchon-kyohwaso-77",
    "yodok-kwanliso-15",
    "yongdam-kyohwaso-8",
]
