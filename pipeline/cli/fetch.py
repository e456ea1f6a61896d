"""``campwatch fetch``: catalogue Sentinel-2/Landsat captures of a facility from a STAC API.

The lead registers :data:`fetch` on the ``campwatch`` main group::

    from pipeline.cli.fetch import fetch
    main.add_command(fetch)

GDAL options (range reads, timeouts, retries) come from the ``rasterio.Env`` the ``campwatch``
group enters once (:func:`pipeline.cli.options.gdal_options`).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from facilities.errors import FacilityError
from imagery.errors import ImageryError
from pipeline.cli.names import DEFAULT_MIN_CLEAR, PROVIDER_NAMES
from pipeline.cli.options import facilities_option, gdal_env, json_option, workspace_option
from pipeline.errors import LockHeldError, PipelineError

if TYPE_CHECKING:
    from imagery.stac.fetch import FetchReport
    from imagery.workspace import FacilityWorkspace


def _payload(facility_id: str, ws: FacilityWorkspace, report: FetchReport) -> dict[str, Any]:
    return {
        "facility_id": facility_id,
        "provider": report.provider,
        "collection": report.collection,
        "catalogue": str(ws.catalogue_path),
        "found": report.found,
        "duplicates": report.duplicates,
        "seconds": round(report.seconds, 2),
        "items": [
            {
                "item_id": o.item_id,
                "capture_id": o.capture_id,
                "status": o.status,
                "reason": o.reason,
                "clear_fraction": o.clear_fraction,
                "usable": o.usable,
                "seconds": round(o.seconds, 2),
            }
            for o in report.outcomes
        ],
        "filtered": [list(f) for f in report.filtered],
    }


def _lines(ws: FacilityWorkspace, report: FetchReport) -> list[str]:
    lines = []
    for o in report.outcomes:
        if o.status == "added":
            use = "usable" if o.usable else f"NOT usable: {o.reason}"
            lines.append(f"added {o.capture_id} (clear {o.clear_fraction:.2f}, {use})")
        elif o.status == "failed":
            lines.append(f"FAILED {o.capture_id}: {o.reason}")
        else:
            lines.append(f"{o.status} {o.capture_id}: {o.reason}")
    lines.append(
        f"{report.found} item(s) from {report.provider} {report.collection} in "
        f"{report.seconds:.1f} s; catalogue: {ws.catalogue_path}"
    )
    return lines


def _day(ctx: click.Context, param: click.Parameter, value: datetime | None) -> date | None:
    return None if value is None else value.date()


@click.command("fetch")
@click.argument("facility_id")
@click.option(
    "--provider",
    type=click.Choice(PROVIDER_NAMES),
    required=True,
    help="Where to search: Earth Search v1, Planetary Computer, or any STAC API (--stac-url).",
)
@click.option("--stac-url", help="STAC API root (required for --provider stac; overrides "
              "the public URL of the others).")
@click.option("--collection", required=True,
              help="STAC collection, e.g. sentinel-2-l2a, sentinel-2-c1-l2a, landsat-c2-l2.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True, callback=_day,
              help="First acquisition day (UTC), YYYY-MM-DD.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True, callback=_day,
              help="Last acquisition day (UTC, inclusive), YYYY-MM-DD.")
@click.option("--max-cloud", type=click.FloatRange(0, 100),
              help="Skip items whose scene eo:cloud_cover exceeds this percentage.")
@click.option("--resolution", type=float,
              help="Grid resolution in metres (first run of a workspace only, e.g. 10).")
@click.option("--min-clear", type=click.FloatRange(0, 1), default=DEFAULT_MIN_CLEAR,
              show_default=True, help="AOI clear fraction below which a capture is not usable.")
@click.option("--cached", is_flag=True,
              help="Answer the search from the workspace cache when it holds the same search.")
@workspace_option
@facilities_option
@json_option
def fetch(
    facility_id: str,
    provider: str,
    stac_url: str | None,
    collection: str,
    start: date,
    end: date,
    max_cloud: float | None,
    resolution: float | None,
    min_clear: float,
    cached: bool,
    workspace: Path,
    facility_dirs: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Fetch captures of FACILITY_ID from a STAC API into its workspace catalogue.

    Reads only the facility window of each item's COGs, stores float32 reflectance
    and a clear-sky mask on the facility grid, and catalogues each capture with its
    provenance. Exits 1 when any item failed (the others are still catalogued), 3 when
    another run holds the workspace lock (nothing was done).
    """
    if end < start:
        raise click.BadParameter(f"--end {end} is before --start {start}", param_hint="--end")

    from rasterio.errors import RasterioError

    from facilities.load import load_facility_by_id
    from imagery.stac.fetch import fetch_captures
    from imagery.stac.providers import make_provider
    from imagery.workspace import FacilityWorkspace, checked_grid
    from pipeline.lock import workspace_lock

    try:
        facility = load_facility_by_id(facility_id, facility_dirs)
        ws = FacilityWorkspace(workspace, facility.id)
        if resolution is not None:  # refused before anything is written
            checked_grid(ws, facility, resolution)
        source = make_provider(provider, stac_url, cache_dir=ws.cache_dir, use_cache=cached)
        # The workspace lock: a fetch beside a watch or run would change the captures
        # under them (and sweeps temporaries a killed run left behind).
        with workspace_lock(workspace, "campwatch fetch"), gdal_env():
            report = fetch_captures(
                facility, source, collection, start, end, ws,
                resolution=resolution, max_cloud=max_cloud, min_clear=min_clear,
            )
    except LockHeldError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(3)
    except (FacilityError, ImageryError, PipelineError) as exc:
        raise click.ClickException(str(exc)) from None
    except (RasterioError, OSError) as exc:
        raise click.ClickException(f"{workspace}: {' '.join(str(exc).split())}") from None
    if as_json:
        click.echo(json.dumps(_payload(facility.id, ws, report), indent=1))
    else:
        for line in _lines(ws, report):
            click.echo(line)
    if not report.ok:
        sys.exit(1)
