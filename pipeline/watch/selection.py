"""Which facilities one ``campwatch watch`` run watches.

The registry holds every documented camp, so watching "everything" by default would start
fetching imagery of camps nobody asked for (some AOIs are 50-90 km across). The rule, first
match wins:

1. explicit choice on the command line: ``--facility ID`` (repeatable), ``--type TYPE``
   (repeatable: every facility of that type) and ``--all`` (the whole registry); ``--facility``
   and ``--type`` add up, ``--all`` with ``--type`` keeps only those types;
2. the watch config's ``[facilities.ID]`` tables;
3. the facilities that already have a directory in the workspace (set up by an earlier run,
   ``campwatch ingest`` or ``campwatch fetch``);
4. otherwise nothing: a usage error that says how to choose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from facilities.errors import FacilityNotFoundError
from facilities.model import Facility
from facilities.types import FACILITY_TYPES
from pipeline.errors import SelectionError


def select_facilities(
    registry: Mapping[str, Facility],
    workspace: Path,
    *,
    ids: Sequence[str] = (),
    types: Sequence[str] = (),
    everything: bool = False,
    configured: Sequence[str] = (),
) -> list[Facility]:
    """The facilities to watch, in a stable order (as named, then by id).

    Raises:
        FacilityNotFoundError: an id the registry does not hold (the message lists them).
        SelectionError: an unknown type, a type no selected facility has, or nothing selected.

    Example:
        >>> from facilities.load import load_registry
        >>> reg = load_registry()
        >>> chosen = select_facilities(reg, Path("/nonexistent"), types=["kyohwaso"])
        >>> "kangdong-kyohwaso-4" in [f.id for f in chosen], {f.facility_type for f in chosen}
        (True, {'kyohwaso'})
    """
    bad = [t for t in types if t not in FACILITY_TYPES]
    if bad:
        raise SelectionError(f"unknown facility type(s) {bad}; known: {', '.join(FACILITY_TYPES)}")
    for fid in ids:
        if fid not in registry:
            known = ", ".join(sorted(registry)) or "none"
            raise FacilityNotFoundError(f"no facility with id {fid!r} (known ids: {known})")
    ordered = sorted(registry)
    if ids or types or everything:
        if everything:
            chosen = [i for i in ordered if not types or registry[i].facility_type in types]
        else:
            chosen = list(dict.fromkeys(ids))
            chosen += [i for i in ordered if registry[i].facility_type in types and i not in chosen]
        if types and not any(registry[i].facility_type in types for i in chosen):
            raise SelectionError(f"no facility of type {', '.join(types)} in the registry")
        return [registry[i] for i in chosen]
    if configured:
        return [registry[i] for i in configured]
    present = [i for i in ordered if (workspace / i).is_dir()]
    if not present:
        raise SelectionError(
            f"nothing to watch: {workspace} has no facility directory yet and none was chosen; "
            "choose with --facility ID, --type TYPE (e.g. --type kwanliso) or --all "
            f"(the registry holds {len(registry)}: {', '.join(ordered)})"
        )
    return [registry[i] for i in present]
