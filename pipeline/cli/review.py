"""``campwatch review``: record an analyst decision on a change, or list pending events."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.cli.names import FACILITIES_ENV_VAR as ENV_VAR


@click.command("review")
@click.argument("facility_id")
@click.option("--workspace", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Workspace directory (one sub-directory per facility).")
@click.option("--change", "change_id", default=None, help="Change id (a unique prefix will do).")
@click.option("--accept", "decision", flag_value="accepted", help="Accept: state it as a finding.")
@click.option("--reject", "decision", flag_value="rejected", help="Reject: not a real change.")
@click.option("--needs-vhr", "decision", flag_value="needs_vhr",
              help="Defer until very-high-resolution imagery is available.")
@click.option("--note", default="", help="Why (stored with the decision).")
@click.option("--analyst", default="", envvar="CAMPWATCH_ANALYST",
              help="Who decides (also $CAMPWATCH_ANALYST).")
@click.option("--list", "list_pending", is_flag=True, help="List events awaiting review.")
@click.option("--facilities", "facility_dirs", multiple=True,
              type=click.Path(file_okay=False, path_type=Path), envvar=ENV_VAR,
              help=f"Extra directory of facility definitions (repeatable; also ${ENV_VAR}).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def review(
    facility_id: str, workspace: Path, change_id: str | None, decision: str | None, note: str,
    analyst: str, list_pending: bool, facility_dirs: tuple[Path, ...], as_json: bool,
) -> None:
    """Accept, reject or defer a detected change of FACILITY_ID, or --list pending events.

    Decisions are stored in the catalogue with their time; earlier decisions
    are kept as history. The report states only accepted events as findings
    (rebuild it with campwatch report --overwrite).
    """
    from facilities.load import load_facility_by_id
    from imagery.catalogue import open_catalogue
    from imagery.workspace import FacilityWorkspace, workspace_grid
    from pipeline.cli.main import user_errors
    from pipeline.history.events import find_events
    from pipeline.history.review import PENDING, record_review, review_events

    if list_pending == bool(change_id):
        raise click.UsageError("give either --change ID with a decision, or --list")
    if change_id and decision is None:
        raise click.UsageError("--change needs one of --accept, --reject or --needs-vhr")
    if list_pending and decision is not None:
        raise click.UsageError("--list takes no decision")
    with user_errors():
        facility = load_facility_by_id(facility_id, facility_dirs)
        ws = FacilityWorkspace(workspace, facility.id)
        grid = workspace_grid(ws, facility, None)
        if not ws.catalogue_path.exists():
            raise click.ClickException(f"{ws.catalogue_path}: no catalogue; ingest or run first")
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            if list_pending:
                reviewed = review_events(find_events(cat.captures(), cat.changes()),
                                         cat.reviews())
                pending = [r.event for r in reviewed if r.status == PENDING]
            else:
                assert change_id is not None and decision is not None
                done = record_review(cat, change_id, decision, analyst=analyst, note=note)
    if list_pending:
        if as_json:
            click.echo(json.dumps([{"change_id": e.change.change_id, "statement": e.statement()}
                                   for e in pending], indent=1, ensure_ascii=False))
        else:
            for e in pending:
                click.echo(f"{e.change.change_id}  {e.statement()}")
            click.echo(f"{len(pending)} pending")
        return
    payload = {"change_id": done.change_id, "decision": done.decision,
               "decided_at": done.decided_at.isoformat(), "analyst": done.analyst}
    if as_json:
        click.echo(json.dumps(payload))
    else:
        click.echo(f"{done.change_id}: {done.decision} at {done.decided_at:%Y-%m-%d %H:%M:%S} UTC"
                   + (f" by {done.analyst}" if done.analyst else ""))
