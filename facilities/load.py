"""Read facility definition files (GeoJSON FeatureCollections) into :class:`Facility`.

Definitions are found in directories passed explicitly (``--facilities DIR``), in any
directory named by the ``CAMPWATCH_FACILITIES`` environment variable (``os.pathsep``-separated)
and in the bundled ``facilities/definitions`` directory. Organisations keep private registries
this way. A facility id defined in two files is an error naming both files: a private
definition never silently shadows a bundled one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from facilities.errors import (
    DefinitionDirectoryError,
    FacilityNotFoundError,
    FacilityValidationError,
)
from facilities.model import Facility
from facilities.validate import check_definition

BUNDLED_DIR = Path(__file__).parent / "definitions"
"""Definitions that ship with campwatch."""

ENV_VAR = "CAMPWATCH_FACILITIES"
"""Environment variable naming extra definition directories."""


def definition_dirs(extra: Sequence[Path | str] = ()) -> list[Path]:
    """The directories searched for definitions, in order: explicit, env var, bundled.

    A directory named twice (e.g. on the command line and in the env var) is searched once.

    Example:
        >>> definition_dirs()[-1].name
        'definitions'
    """
    env = os.environ.get(ENV_VAR, "")
    candidates = [Path(d) for d in extra] + [Path(p) for p in env.split(os.pathsep) if p]
    candidates.append(BUNDLED_DIR)
    dirs: list[Path] = []
    seen: set[Path] = set()
    for d in candidates:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            dirs.append(d)
    return dirs


def _existing(dirs: Iterable[Path]) -> list[Path]:
    """``dirs`` unchanged; a named directory that does not exist is an error, not skipped."""
    out = list(dirs)
    for d in out:
        if not d.is_dir():
            raise DefinitionDirectoryError(
                f"facility definition directory {str(d)!r} does not exist or is not a "
                f"directory (named by --facilities or ${ENV_VAR})"
            )
    return out


def load_facility(path: Path | str) -> Facility:
    """Read and validate one definition file.

    Raises:
        FacilityValidationError: the first problem, naming the file, feature, field and value
            (:func:`facilities.validate.validate_definition` lists them all).

    Example:
        >>> f = load_facility(BUNDLED_DIR / "kangdong-kyohwaso-4.geojson")
        >>> f.id
        'kangdong-kyohwaso-4'
    """
    facility, problems = check_definition(path)
    if problems:
        raise problems[0]
    assert facility is not None
    return facility


def iter_definition_files(dirs: Iterable[Path]) -> list[Path]:
    """Every ``*.geojson`` file in ``dirs`` (not recursive, no dot-files), sorted per directory.

    A file reached twice (same directory named twice, symlinks) is listed once.

    Example:
        >>> [p.name for p in iter_definition_files([BUNDLED_DIR])][:2]
        ['choma-bong-restricted-area.geojson', 'chongjin-kwanliso-25.geojson']
    """
    files: list[Path] = []
    seen: set[Path] = set()
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.geojson")):
            key = p.resolve()
            if p.name.startswith(".") or not p.is_file() or key in seen:
                continue
            seen.add(key)
            files.append(p)
    return files


def check_files(
    files: Sequence[Path], *, strict: bool = False
) -> tuple[dict[str, Facility], list[FacilityValidationError]]:
    """Validate definition files together: each file's problems plus duplicate ids across files.

    Returns the valid facilities keyed by id (the first file wins a duplicate id, and the
    duplicate is a problem naming both files) and every problem found.

    Example:
        >>> registry, problems = check_files(iter_definition_files([BUNDLED_DIR]))
        >>> "kangdong-kyohwaso-4" in registry, problems
        (True, [])
    """
    registry: dict[str, Facility] = {}
    problems: list[FacilityValidationError] = []
    for path in files:
        facility, found = check_definition(path, strict=strict)
        problems.extend(found)
        if facility is None:
            continue
        if facility.id in registry:
            problems.append(_duplicate(path, facility.id, registry[facility.id].source_path))
            continue
        registry[facility.id] = facility
    return registry, problems


def _duplicate(path: Path, facility_id: str, other: Path | None) -> FacilityValidationError:
    return FacilityValidationError(
        path,
        facility_id,
        "id",
        facility_id,
        f"duplicate facility id: also defined in {other}; ids must be unique across all "
        "definition directories (a definition may not shadow another)",
    )


def load_registry(extra: Sequence[Path | str] = ()) -> dict[str, Facility]:
    """Load every definition in the searched directories, keyed by facility id.

    Raises:
        FacilityValidationError: the first problem in any file, or a facility id defined
            twice (naming both files).
        DefinitionDirectoryError: a named directory that does not exist.

    Example:
        >>> registry = load_registry()
        >>> registry["kangdong-kyohwaso-4"].facility_type, registry["kangdong-kyohwaso-4"].country
        ('kyohwaso', 'PRK')
    """
    files = iter_definition_files(_existing(definition_dirs(extra)))
    registry, problems = check_files(files)
    if problems:
        raise problems[0]
    return registry


def validate_registry(
    extra: Sequence[Path | str] = (), *, strict: bool = False
) -> tuple[list[Path], list[FacilityValidationError]]:
    """Every problem in the searched directories, duplicate ids included.

    ``strict`` also requires sources, a reported source and a status in every definition.

    Returns the definition files checked and the problems found.

    Raises:
        DefinitionDirectoryError: a named directory that does not exist.

    Example:
        >>> files, problems = validate_registry()
        >>> len(files) >= 1, problems
        (True, [])
    """
    files = iter_definition_files(_existing(definition_dirs(extra)))
    return files, check_files(files, strict=strict)[1]


def validate_paths(
    paths: Sequence[Path | str], extra: Sequence[Path | str] = (), *, strict: bool = False
) -> tuple[list[Path], list[FacilityValidationError]]:
    """Every problem in the given files and directories (``*.geojson`` in each directory).

    Ids are checked for duplicates among the given files and against the valid definitions of
    the searched directories, so a new private definition cannot collide with a bundled one.
    A path that does not exist is reported as a problem of that path.

    Example:
        >>> files, problems = validate_paths([BUNDLED_DIR])
        >>> len(files) == len(load_registry()), problems
        (True, [])
    """
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        files.extend(iter_definition_files([p]) if p.is_dir() else [p])
    registry, problems = check_files(files, strict=strict)
    given = {f.resolve() for f in files}
    others = [
        f
        for f in iter_definition_files(_existing(definition_dirs(extra)))
        if f.resolve() not in given
    ]
    for f in others:
        other, _ = check_definition(f)
        if other is None or other.id not in registry:
            continue
        mine = registry[other.id].source_path
        assert mine is not None
        problems.append(_duplicate(mine, other.id, f))
    return files, problems


def load_facility_by_id(facility_id: str, extra: Sequence[Path | str] = ()) -> Facility:
    """Find one facility by id in the searched directories.

    Raises:
        FacilityNotFoundError: no definition has this id (the message lists the known ids).

    Example:
        >>> load_facility_by_id("kangdong-kyohwaso-4").names.english
        'Kyo-hwa-so No. 4, Kangdong'
    """
    registry = load_registry(extra)
    if facility_id not in registry:
        known = ", ".join(sorted(registry)) or "none"
        dirs = ", ".join(str(d) for d in definition_dirs(extra))
        raise FacilityNotFoundError(
            f"no facility with id {facility_id!r} in {dirs} (known ids: {known})"
        )
    return registry[facility_id]
