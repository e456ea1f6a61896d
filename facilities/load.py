"""Read facility definition files (GeoJSON FeatureCollections) into :class:`Facility`.

Definitions are found in the bundled ``facilities/definitions`` directory, in any
directory named by the ``CAMPWATCH_FACILITIES`` environment variable
(``os.pathsep``-separated) and in directories passed explicitly (``--facilities``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from facilities.errors import FacilityNotFoundError, FacilityValidationError
from facilities.model import Facility
from facilities.validate import facility_from_collection

BUNDLED_DIR = Path(__file__).parent / "definitions"
"""Definitions that ship with campwatch."""

ENV_VAR = "CAMPWATCH_FACILITIES"
"""Environment variable naming extra definition directories."""


def definition_dirs(extra: Sequence[Path | str] = ()) -> list[Path]:
    """The directories searched for definitions, in priority order.

    Example:
        >>> definition_dirs()[-1].name
        'definitions'
    """
    dirs = [Path(d) for d in extra]
    env = os.environ.get(ENV_VAR, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs.append(BUNDLED_DIR)
    return dirs


def load_facility(path: Path | str) -> Facility:
    """Read and validate one definition file.

    Raises:
        FacilityValidationError: naming the file, feature, field and value.

    Example:
        >>> f = load_facility(BUNDLED_DIR / "kangdong-kyohwaso-4.geojson")
        >>> f.id
        'kangdong-kyohwaso-4'
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FacilityValidationError(p, "-", "file", str(p), f"cannot be read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FacilityValidationError(
            p, "-", "json", f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from exc
    return facility_from_collection(data, p)


def iter_definition_files(dirs: Iterable[Path]) -> list[Path]:
    """Every ``*.geojson`` file in ``dirs`` (not recursive), sorted per directory."""
    files: list[Path] = []
    for d in dirs:
        if d.is_dir():
            files.extend(sorted(d.glob("*.geojson")))
    return files


def load_registry(extra: Sequence[Path | str] = ()) -> dict[str, Facility]:
    """Load every definition in the searched directories, keyed by facility id.

    A facility id defined twice is an error, naming both files.
    """
    registry: dict[str, Facility] = {}
    for path in iter_definition_files(definition_dirs(extra)):
        fac = load_facility(path)
        if fac.id in registry:
            other = registry[fac.id].source_path
            raise FacilityValidationError(
                path, fac.id, "id", fac.id, f"duplicate id: already defined in {other}"
            )
        registry[fac.id] = fac
    return registry


def load_facility_by_id(facility_id: str, extra: Sequence[Path | str] = ()) -> Facility:
    """Find one facility by id in the searched directories.

    Example:
        >>> load_facility_by_id("kangdong-kyohwaso-4").names.english
        'Kyo-hwa-so No. 4, Kangdong'
    """
    registry = load_registry(extra)
    if facility_id not in registry:
        known = ", ".join(sorted(registry)) or "none"
        raise FacilityNotFoundError(
            f"no facility with id {facility_id!r} in {[str(d) for d in definition_dirs(extra)]}"
            f" (known: {known})"
        )
    return registry[facility_id]
