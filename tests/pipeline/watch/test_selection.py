"""Which facilities a watch run takes: chosen, configured, or already in the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from facilities.errors import FacilityNotFoundError
from facilities.load import load_registry
from facilities.model import Facility
from pipeline.errors import SelectionError
from pipeline.watch.selection import select_facilities


@pytest.fixture(scope="module")
def registry() -> dict[str, Facility]:
    return load_registry()


def ids(facilities: list[Facility]) -> list[str]:
    return [f.id for f in facilities]


def test_explicit_ids_keep_their_order_once(registry: dict[str, Facility], tmp_path: Path) -> None:
    chosen = select_facilities(
        registry, tmp_path, ids=["yodok-kwanliso-15", "kangdong-kyohwaso-4", "yodok-kwanliso-15"]
    )
    assert ids(chosen) == ["yodok-kwanliso-15", "kangdong-kyohwaso-4"]


def test_type_selects_every_facility_of_it(registry: dict[str, Facility], tmp_path: Path) -> None:
    kwanliso = ids(select_facilities(registry, tmp_path, types=["kwanliso"]))
    assert kwanliso == sorted(i for i, f in registry.items() if f.facility_type == "kwanliso")
    assert len(kwanliso) >= 5 and "pukchang-kwanliso-18" in kwanliso


def test_ids_and_types_add_up(registry: dict[str, Facility], tmp_path: Path) -> None:
    chosen = select_facilities(
        registry, tmp_path, ids=["choma-bong-restricted-area"], types=["kyohwaso"]
    )
    kyohwaso = sorted(i for i, f in registry.items() if f.facility_type == "kyohwaso")
    assert "kangdong-kyohwaso-4" in kyohwaso
    assert ids(chosen) == ["choma-bong-restricted-area", *kyohwaso]


def test_all_is_the_registry_and_type_narrows_it(
    registry: dict[str, Facility], tmp_path: Path
) -> None:
    assert ids(select_facilities(registry, tmp_path, everything=True)) == sorted(registry)
    narrowed = select_facilities(registry, tmp_path, everything=True, types=["kyohwaso"])
    kyohwaso = sorted(i for i, f in registry.items() if f.facility_type == "kyohwaso")
    assert ids(narrowed) == kyohwaso and "jongori-kyohwaso-12" in kyohwaso


def test_configured_list_is_used_when_nothing_is_chosen(
    registry: dict[str, Facility], tmp_path: Path
) -> None:
    (tmp_path / "yodok-kwanliso-15").mkdir()  # ignored: the config decides
    chosen = select_facilities(registry, tmp_path, configured=["kaechon-kwanliso-14"])
    assert ids(chosen) == ["kaechon-kwanliso-14"]


def test_default_is_what_the_workspace_already_holds(
    registry: dict[str, Facility], tmp_path: Path
) -> None:
    for fid in ("yodok-kwanliso-15", "kangdong-kyohwaso-4", "not-a-facility"):
        (tmp_path / fid).mkdir()
    (tmp_path / "chongjin-kwanliso-25").write_text("a file, not a workspace")
    assert ids(select_facilities(registry, tmp_path)) == [
        "kangdong-kyohwaso-4",
        "yodok-kwanliso-15",
    ]


def test_nothing_to_watch(registry: dict[str, Facility], tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match=r"nothing to watch: .* --all"):
        select_facilities(registry, tmp_path)


def test_unknown_id_and_type(registry: dict[str, Facility], tmp_path: Path) -> None:
    with pytest.raises(FacilityNotFoundError, match="no facility with id 'nowhere-camp'"):
        select_facilities(registry, tmp_path, ids=["nowhere-camp"])
    with pytest.raises(SelectionError, match=r"unknown facility type\(s\) \['prison'\]"):
        select_facilities(registry, tmp_path, types=["prison"])
    with pytest.raises(SelectionError, match="no facility of type jipkyulso"):
        select_facilities(registry, tmp_path, types=["jipkyulso"])
