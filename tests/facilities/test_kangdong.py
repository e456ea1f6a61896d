"""The bundled Kangdong definition loads with its names, type, reported point and zones."""

from __future__ import annotations

from shapely.geometry import Point

from facilities.load import BUNDLED_DIR, load_facility, load_facility_by_id
from facilities.validate import validate_definition

KANGDONG = BUNDLED_DIR / "kangdong-kyohwaso-4.geojson"


def test_kangdong_names_and_type() -> None:
    f = load_facility_by_id("kangdong-kyohwaso-4")
    assert f.id == "kangdong-kyohwaso-4"
    assert f.names.english == "Kyo-hwa-so No. 4, Kangdong"
    assert f.names.korean == "강동 제4호 교화소"
    assert f.names.mccune_reischauer == "Kangdong Kyohwaso 4-ho"
    assert f.names.revised_romanization == "Gangdong Gyohwaso 4-ho"
    assert "Chaek-kol" in f.names.aliases
    assert f.facility_type == "kyohwaso"
    assert f.country == "PRK"
    assert f.source_path == KANGDONG


def test_kangdong_reported_point_cited_and_inside_aoi() -> None:
    f = load_facility(KANGDONG)
    rp = f.reported_point
    assert (rp.lat, rp.lon) == (39.008838, 126.153277)
    assert "Bermudez" in rp.citation and "HRNK" in rp.citation
    assert f.aoi.contains(Point(126.153277, 39.008838))
    assert "buffer" in f.aoi_method and "not a boundary" in f.aoi_method


def test_kangdong_zones_all_simulated_and_inside_aoi() -> None:
    f = load_facility(KANGDONG)
    assert len(f.zones) >= 5
    assert {z.zone_type for z in f.zones} >= {"perimeter", "housing", "guard_post", "quarry"}
    for z in f.zones:
        assert z.simulated, z.id
        assert "simulated" in z.source.lower() or "NOT evidence" in z.source
        assert f.aoi.contains(z.geometry), z.id
    assert f.has_simulated_zones
    assert len({z.id for z in f.zones}) == len(f.zones)


def test_kangdong_has_no_problems() -> None:
    assert validate_definition(KANGDONG) == []
