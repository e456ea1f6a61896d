"""The registry: bundled, env-var and explicit directories; duplicate ids name both files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from facilities.errors import (
    DefinitionDirectoryError,
    FacilityNotFoundError,
    FacilityValidationError,
)
from facilities.load import (
    BUNDLED_DIR,
    ENV_VAR,
    definition_dirs,
    iter_definition_files,
    load_facility_by_id,
    load_registry,
    validate_paths,
    validate_registry,
)
from tests.facilities.conftest import BUNDLED_IDS

Definition = dict[str, Any]
Write = Callable[..., Path]
KANGDONG = BUNDLED_DIR / "kangdong-kyohwaso-4.geojson"


def test_bundled_only() -> None:
    assert definition_dirs() == [BUNDLED_DIR]
    assert sorted(load_registry()) == BUNDLED_IDS


def test_explicit_directory_loads(write_definition: Write, definition: Definition) -> None:
    path = write_definition(definition)
    registry = load_registry([path.parent])
    assert sorted(registry) == sorted([*BUNDLED_IDS, "tiny-camp"])
    assert registry["tiny-camp"].source_path == path
    assert load_facility_by_id("tiny-camp", [path.parent]).names.english == "Tiny test camp"


def test_env_var_directories_load(
    write_definition: Write,
    make_definition: Callable[..., Definition],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = write_definition(make_definition(facility_id="camp-a"), "a.geojson", subdir="org-a")
    b = write_definition(make_definition(facility_id="camp-b"), "b.geojson", subdir="org-b")
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(a.parent), "", str(b.parent)]))
    assert definition_dirs() == [a.parent, b.parent, BUNDLED_DIR]
    assert sorted(load_registry()) == ["camp-a", "camp-b", *BUNDLED_IDS]
    assert load_facility_by_id("camp-b").source_path == b


def test_same_directory_named_twice_is_searched_once(
    write_definition: Write, definition: Definition, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_definition(definition)
    monkeypatch.setenv(ENV_VAR, str(path.parent))
    assert definition_dirs([path.parent, BUNDLED_DIR]) == [path.parent, BUNDLED_DIR]
    assert sorted(load_registry([path.parent])) == sorted([*BUNDLED_IDS, "tiny-camp"])


def test_private_copy_of_bundled_id_is_a_duplicate(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir()
    copy = Path(shutil.copy(KANGDONG, private / "my-kangdong.geojson"))
    with pytest.raises(FacilityValidationError) as err:
        load_registry([private])
    assert str(err.value) == (
        f"{KANGDONG}: feature kangdong-kyohwaso-4: field 'id' = 'kangdong-kyohwaso-4': "
        f"duplicate facility id: also defined in {copy}; ids must be unique across all "
        "definition directories (a definition may not shadow another)"
    )
    with pytest.raises(FacilityValidationError, match="duplicate facility id"):
        load_facility_by_id("kangdong-kyohwaso-4", [private])


def test_duplicate_across_user_directories(
    write_definition: Write, definition: Definition, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_definition(definition, "one.geojson", subdir="explicit")
    second = write_definition(definition, "two.geojson", subdir="from-env")
    monkeypatch.setenv(ENV_VAR, str(second.parent))
    files, problems = validate_registry([first.parent])
    assert files == [first, second, *(BUNDLED_DIR / f"{i}.geojson" for i in BUNDLED_IDS)]
    assert [str(p) for p in problems] == [
        f"{second}: feature tiny-camp: field 'id' = 'tiny-camp': duplicate facility id: also "
        f"defined in {first}; ids must be unique across all definition directories "
        "(a definition may not shadow another)"
    ]


def test_missing_directory_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tmp_path / "absent"
    with pytest.raises(DefinitionDirectoryError) as err:
        load_registry([absent])
    assert str(err.value) == (
        f"facility definition directory {str(absent)!r} does not exist or is not a directory "
        f"(named by --facilities or ${ENV_VAR})"
    )
    monkeypatch.setenv(ENV_VAR, str(absent))
    with pytest.raises(DefinitionDirectoryError, match="absent"):
        load_registry()


def test_broken_definition_blocks_loading(write_definition: Write, definition: Definition) -> None:
    definition["features"][1]["properties"]["zone_type"] = "barracks"
    path = write_definition(definition)
    with pytest.raises(FacilityValidationError) as err:
        load_registry([path.parent])
    assert str(err.value).startswith(f"{path}: feature z1: field 'zone_type' = 'barracks'")


def test_unknown_id_lists_known_ids() -> None:
    with pytest.raises(FacilityNotFoundError) as err:
        load_facility_by_id("nowhere-kwanliso-99")
    assert str(err.value) == (
        f"no facility with id 'nowhere-kwanliso-99' in {BUNDLED_DIR} "
        f"(known ids: {', '.join(BUNDLED_IDS)})"
    )


def test_iter_definition_files_skips_dotfiles_and_other_files(tmp_path: Path) -> None:
    (tmp_path / ".hidden.geojson").write_text("{}", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "b.geojson").write_text("{}", encoding="utf-8")
    (tmp_path / "a.geojson").write_text("{}", encoding="utf-8")
    names = [p.name for p in iter_definition_files([tmp_path, tmp_path])]
    assert names == ["a.geojson", "b.geojson"]


def test_validate_paths_checks_ids_against_searched_dirs(tmp_path: Path) -> None:
    candidate = Path(shutil.copy(KANGDONG, tmp_path / "candidate.geojson"))
    files, problems = validate_paths([candidate])
    assert files == [candidate]
    assert [str(p) for p in problems] == [
        f"{candidate}: feature kangdong-kyohwaso-4: field 'id' = 'kangdong-kyohwaso-4': "
        f"duplicate facility id: also defined in {KANGDONG}; ids must be unique across all "
        "definition directories (a definition may not shadow another)"
    ]


def test_validate_paths_directory_and_missing_file(
    write_definition: Write, definition: Definition, tmp_path: Path
) -> None:
    path = write_definition(definition)
    absent = tmp_path / "absent.geojson"
    files, problems = validate_paths([path.parent, absent])
    assert files == [path, absent]
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"{absent}: feature -: field 'file' = '{absent}'")
