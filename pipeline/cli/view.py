"""``campwatch view FACILITY_ID --workspace DIR``: write the before/after viewer page.

The lead registers :data:`view` on the ``campwatch`` main group::

    from pipeline.cli.view import view
    main.add_command(view)

The page goes to ``<workspace>/<facility_id>/viewer/index.html``; open it from disk or
serve the directory with any static file server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from facilities.errors import FacilityError
from imagery.errors import ImageryError
from pipeline.cli.options import (
    facilities_option,
    json_option,
    overwrite_option,
    progress_bar,
    workspace_option,
)
from pipeline.errors import OutputExistsError, PipelineError
from pipeline.lock import workspace_lock

if TYPE_CHECKING:
    from imagery.workspace import FacilityWorkspace

VIEWER_DIR = "viewer"
"""The viewer's directory inside a facility workspace."""


def viewer_dir(ws: FacilityWorkspace) -> Path:
    """Where ``campwatch view`` writes the page for a facility workspace.

    Example:
        >>> from imagery.workspace import FacilityWorkspace
        >>> viewer_dir(FacilityWorkspace(Path("ws"), "kangdong-kyohwaso-4")).as_posix()
        'ws/kangdong-kyohwaso-4/viewer'
    """
    return ws.dir / VIEWER_DIR


@click.command()
@click.argument("facility_id")
@workspace_option
@overwrite_option
@click.option("--min-zoom", type=click.IntRange(0, 24), help="Lowest zoom level to render.")
@click.option(
    "--max-zoom", type=click.IntRange(0, 24), help="Highest zoom level (default: native)."
)
@facilities_option
@json_option
def view(
    facility_id: str,
    workspace: Path,
    overwrite: bool,
    min_zoom: int | None,
    max_zoom: int | None,
    facility_dirs: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Write a before/after map viewer of FACILITY_ID's usable captures, zones and changes.

    The page works offline: open WORKSPACE/FACILITY_ID/viewer/index.html from disk or
    serve that directory with any static file server.
    """
    from facilities.load import load_facility_by_id
    from imagery.workspace import FacilityWorkspace, workspace_grid
    from pipeline.viewer.build import build_viewer
    from pipeline.viewer.inputs import viewer_inputs

    try:
        facility = load_facility_by_id(facility_id, facility_dirs)
        ws = FacilityWorkspace(workspace, facility.id)
        if not ws.catalogue_path.is_file():
            raise click.ClickException(
                f"{ws.catalogue_path}: no catalogue; ingest, fetch or run the demo first"
            )
        out = viewer_dir(ws)
        if out.exists() and not overwrite:
            raise OutputExistsError(f"{out}: exists; pass --overwrite to replace it")
        grid = workspace_grid(ws, facility, None)
        captures, features = viewer_inputs(facility, ws, grid)
        with workspace_lock(workspace, "campwatch view"):  # seals what it writes
            index = build_viewer(
                out,
                facility.names.english,
                grid.crs,
                captures,
                features,
                min_zoom=min_zoom,
                max_zoom=max_zoom,
                progress=progress_bar("tiles"),
            )
    except (FacilityError, ImageryError, PipelineError) as exc:
        raise click.ClickException(str(exc)) from exc
    counts = {
        layer: sum(f.layer == layer for f in features) for layer in ("zones", "changes", "events")
    }
    if as_json:
        click.echo(
            json.dumps(
                {
                    "facility_id": facility.id,
                    "index": str(index),
                    "captures": len(captures),
                    "simulated": any(c.simulated for c in captures),
                    **counts,
                },
                indent=1,
            )
        )
    else:
        click.echo(
            f"{facility.id}: {len(captures)} captures, {counts['changes']} changes, "
            f"{counts['events']} events"
        )
        click.echo(f"viewer: {index}")
