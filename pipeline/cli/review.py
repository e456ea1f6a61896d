"""``campwatch review``: record an analyst decision on a change, or list pending events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.options import facilities_option, json_option, user_errors, workspace_option

if TYPE_CHECKING:
    from pipeline.history.review import ReviewedEvent

SORT_KEYS = ("rank", "area", "confidence", "date")
"""Orders of ``review --list``: alert rank (as ``watch`` ranks alerts), largest area,
highest confidence, most recent."""
STATUS_CHOICES = ("pending", "accepted", "rejected", "needs_vhr", "all")
"""Review states ``review --list --status`` can show."""


def list_rows(listed: list[ReviewedEvent], crs: str, sort_by: str) -> list[dict[str, Any]]:
    """The rows of ``review --list``: rank and score as the alerts compute them, area,
    confidence, zone and centre (WGS 84), sorted by ``sort_by``.

    Example:
        >>> list_rows([], "EPSG:32652", "rank")
        []
    """
    from pyproj import Transformer

    from pipeline.watch.alerts import rank_of, score_event

    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    rows = []
    for rev in listed:
        ev, ch = rev.event, rev.event.change
        score, _ = score_event(ev)
        centre = ch.geometry.centroid
        lon, lat = to_lonlat.transform(centre.x, centre.y)
        rows.append({
            "change_id": ch.change_id, "status": rev.status, "event_status": ev.status,
            "rank": rank_of(score, ev.after.simulated), "score": score,
            "area_m2": ch.area_m2, "change_type": ch.change_type,
            "confidence": ch.confidence, "confidence_label": ch.confidence_label,
            "zone": ch.zone_id or "outside the zones", "lat": round(lat, 6),
            "lon": round(lon, 6), "before": f"{ev.before.acquired:%Y-%m-%d}",
            "after": f"{ev.after.acquired:%Y-%m-%d}", "statement": ev.statement(),
        })
    keys = {
        "rank": lambda r: (r["rank"], -r["score"], -r["area_m2"]),
        "area": lambda r: (-r["area_m2"],),
        "confidence": lambda r: (-r["confidence"], -r["area_m2"]),
        "date": lambda r: (r["after"], -r["area_m2"]),
    }
    rows.sort(key=keys[sort_by], reverse=False)
    if sort_by == "date":
        rows.reverse()
    for i, r in enumerate(rows):
        r["position"] = i + 1
    return rows


@click.command("review")
@click.argument("facility_id")
@workspace_option
@click.option("--change", "change_id", default=None, help="Change id (a unique prefix will do).")
@click.option("--accept", "decision", flag_value="accepted", help="Accept: state it as a finding.")
@click.option("--reject", "decision", flag_value="rejected", help="Reject: not a real change.")
@click.option("--needs-vhr", "decision", flag_value="needs_vhr",
              help="Defer until very-high-resolution imagery is available.")
@click.option("--note", default="", help="Why (stored with the decision).")
@click.option("--analyst", default="", envvar="CAMPWATCH_ANALYST",
              help="Who decides (also $CAMPWATCH_ANALYST).")
@click.option("--list", "list_pending", is_flag=True,
              help="List events (pending by default), ranked like the alerts.")
@click.option("--sort", "sort_by", type=click.Choice(SORT_KEYS), default="rank",
              show_default=True, help="Order of --list: alert rank, area, confidence or date.")
@click.option("--status", "status_filter", type=click.Choice(STATUS_CHOICES),
              default="pending", show_default=True, help="Which events --list shows.")
@facilities_option
@json_option
def review(
    facility_id: str, workspace: Path, change_id: str | None, decision: str | None, note: str,
    analyst: str, list_pending: bool, sort_by: str, status_filter: str,
    facility_dirs: tuple[Path, ...], as_json: bool,
) -> None:
    """Accept, reject or defer a detected change of FACILITY_ID, or --list pending events.

    Decisions are stored in the catalogue with their time; earlier decisions
    are kept as history. The report states only accepted events as findings
    (rebuild it with campwatch report --overwrite).
    """
    from facilities.load import load_facility_by_id
    from imagery.catalogue import open_catalogue
    from imagery.workspace import FacilityWorkspace, workspace_grid
    from pipeline.history.events import read_events
    from pipeline.history.review import record_review, review_events
    from pipeline.lock import workspace_lock

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
        if list_pending:
            with open_catalogue(ws.catalogue_path, grid.crs) as cat:
                reviewed = review_events(read_events(cat), cat.reviews())
            listed = [r for r in reviewed if status_filter in ("all", r.status)]
        else:
            assert change_id is not None and decision is not None
            # a decision is a write: one writer per workspace, as for ingest and run (one
            # recorded while a run rewrites the changes could name a change being replaced)
            with (
                workspace_lock(workspace, "campwatch review"),
                open_catalogue(ws.catalogue_path, grid.crs) as cat,
            ):
                done = record_review(cat, change_id, decision, analyst=analyst, note=note)
    if list_pending:
        rows = list_rows(listed, grid.crs, sort_by)
        if as_json:
            click.echo(json.dumps(rows, indent=1, ensure_ascii=False))
        else:
            for r in rows:
                click.echo(
                    f"{r['change_id']}  #{r['position']} rank {r['rank']} "
                    f"(score {r['score']:+.1f})  {r['status']}  {r['area_m2']:,.0f} m²  "
                    f"{r['change_type'].replace('_', ' ')}  confidence {r['confidence_label']} "
                    f"({r['confidence']:.2f})  {r['zone']}  {r['lat']:.5f}, {r['lon']:.5f}  "
                    f"{r['before']} → {r['after']} ({r['event_status']})"
                )
            click.echo(f"{len(rows)} {status_filter if status_filter != 'all' else 'events'}")
        return
    payload = {"change_id": done.change_id, "decision": done.decision,
               "decided_at": done.decided_at.isoformat(), "analyst": done.analyst}
    if as_json:
        click.echo(json.dumps(payload))
    else:
        click.echo(f"{done.change_id}: {done.decision} at {done.decided_at:%Y-%m-%d %H:%M:%S} UTC"
                   + (f" by {done.analyst}" if done.analyst else ""))
