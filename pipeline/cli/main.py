"""The ``campwatch`` command line: one command per stage, plus ``run`` and ``demo``.

Thin by design: each command parses options, enters the GDAL environment once
(here, at the edge), calls one library function and prints where the outputs
are. ``--json`` prints a machine-readable summary instead.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from pipeline.cli.change import change as change_command
from pipeline.cli.facilities import facilities as facilities_group
from pipeline.cli.fetch import fetch as fetch_command
from pipeline.cli.options import (
    facilities_option,
    gdal_env,
    json_option,
    progress_bar,
    user_errors,
    workspace_option,
)
from pipeline.cli.report import export as export_command
from pipeline.cli.report import report as report_command
from pipeline.cli.review import review as review_command
from pipeline.cli.verify import verify as verify_command
from pipeline.cli.view import view as view_command
from pipeline.cli.watch import watch as watch_command
from pipeline.lock import workspace_lock

log = logging.getLogger(__name__)


HELP_OPTIONS = ("-h", "--help")
"""The help options of every command."""

_HELP_ONLY = "campwatch.help_only"
"""``ctx.meta`` key: the subcommand will only print its help."""


class MainGroup(click.Group):
    """The ``campwatch`` group: notes when a subcommand is asked only for its help.

    The group callback (which runs before the subcommand parses its options) then skips
    entering GDAL's environment, so ``campwatch CMD -h`` does not import rasterio. An
    option *value* spelled ``-h`` is mistaken for a help request only to the extent that
    the command then runs with GDAL's defaults (cache size, HTTP retries).
    """

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        before_dashes = rest[: rest.index("--")] if "--" in rest else rest
        ctx.meta[_HELP_ONLY] = any(a in HELP_OPTIONS for a in before_dashes)
        return name, cmd, rest


@click.group(cls=MainGroup, context_settings={"help_option_names": list(HELP_OPTIONS)})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="campwatch")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """campwatch: watch detention facilities from satellite imagery.

    Facility definitions drive everything: imagery onto the facility's grid,
    change detection between captures, zone timelines and baseline reports.
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s"
    )
    logging.captureWarnings(True)
    if ctx.meta.get(_HELP_ONLY):
        return  # ``campwatch CMD -h`` prints help without importing rasterio
    ctx.with_resource(gdal_env())


def _emit(as_json: bool, payload: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=1, default=str))
    else:
        for line in lines:
            click.echo(line)


@main.command()
@click.argument("facility_id")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@workspace_option
@click.option("--resolution", type=float, help="Grid resolution in metres (first ingest only).")
@click.option("--date", "date_",
              help="Acquisition time (ISO 8601, UTC) of ONE file that lacks it.")
@click.option("--date-from-name", "date_pattern", metavar="PATTERN",
              help=r"Date each file from its name: a regular expression whose group holds "
                   r"YYYYMMDD or ISO 8601, e.g. '_(\d{8})'.")
@click.option("--allow-fine-grid", is_flag=True,
              help="Accept a grid resolution finer than a quarter of the imagery's GSD.")
@click.option("--sensor", help="Sensor name when files lack it.")
@click.option("--gsd", type=float, help="Ground sample distance (m) when files lack it.")
@click.option("--credit", help="Credit or licence line, e.g. '© 2015 DigitalGlobe'.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first file that fails.")
@click.option("--mask", "mask_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An analyst's clear-sky mask for ONE file: a one-band raster on any CRS, "
                   "0 = usable, nonzero = not usable (warped to the grid with nearest); "
                   "replaces the automatic mask.")
@click.option("--cloud-threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              metavar="P", help="P(cloud) + P(shadow) at which the cloud model (Sentinel-2, "
                                "Landsat) calls a pixel not clear; default 0.5.")
@facilities_option
@json_option
def ingest(
    facility_id: str, paths: tuple[Path, ...], workspace: Path, resolution: float | None,
    date_: str | None, date_pattern: str | None, allow_fine_grid: bool, sensor: str | None,
    gsd: float | None, credit: str | None, fail_fast: bool, mask_path: Path | None,
    cloud_threshold: float | None, facility_dirs: tuple[Path, ...], as_json: bool,
) -> None:
    """Catalogue local rasters (vendor GeoTIFFs) of FACILITY_ID onto its grid.

    Each file is dated from its own metadata (GeoTIFF tags, sidecars) or, with
    --date-from-name, from its name; --date is for a single file. Sentinel-2 and Landsat
    files are masked by the cloud model, other imagery by brightness rules, unless --mask
    gives an analyst's mask; each capture records how it was masked.
    """
    from facilities.load import load_facility_by_id
    from imagery.ingest import expand_paths, ingest_paths
    from imagery.masks.choose import MaskOptions
    from imagery.vendor.metadata import overrides_from_cli
    from imagery.workspace import GRID_FILE, FacilityWorkspace, checked_grid, workspace_grid

    if date_ is not None and date_pattern is not None:
        raise click.UsageError("give --date or --date-from-name, not both")
    with user_errors():
        overrides = overrides_from_cli(date_, sensor, credit, gsd)
        masking = MaskOptions(mask_path, cloud_threshold)
        facility = load_facility_by_id(facility_id, facility_dirs)
        ws = FacilityWorkspace(workspace, facility.id)
        if resolution is not None:  # refused before anything is written
            checked_grid(ws, facility, resolution)
        files = expand_paths(list(paths))
        with workspace_lock(workspace, "campwatch ingest"):
            # the grid is chosen once, by the first ingest: check it against that imagery
            # (a later 10 m capture on a 0.5 m workspace is a legitimate medium series)
            new_grid = resolution is not None and not (ws.dir / GRID_FILE).exists()
            if new_grid and not allow_fine_grid:
                assert resolution is not None
                check_grid_resolution(files, resolution, overrides, date_pattern)
            grid = workspace_grid(ws, facility, resolution)
            report = ingest_paths(
                files, facility, grid, ws,
                overrides=overrides, date_from_name=date_pattern,
                fail_fast=fail_fast, progress=progress_bar("ingest"), masking=masking,
            )
    lines = [
        f"added {c.capture_id} ({c.sensor}, {c.acquired:%Y-%m-%d}; clear {c.clear_fraction:.0%}; "
        f"mask: {c.mask_detail})" for c in report.added
    ]
    lines += [f"skipped {p}: {why}" for p, why in report.skipped]
    lines += [f"FAILED {p}: {why}" for p, why in report.failed]
    lines.append(f"catalogue: {ws.catalogue_path}")
    _emit(as_json, {
        "facility_id": facility.id, "catalogue": str(ws.catalogue_path),
        "added": [c.capture_id for c in report.added],
        "masks": {c.capture_id: {"method": c.mask_method, "detail": c.mask_detail,
                                 "cloud_threshold": c.cloud_threshold,
                                 "clear_fraction": c.clear_fraction} for c in report.added},
        "skipped": [list(s) for s in report.skipped], "failed": [list(f) for f in report.failed],
    }, lines)
    if report.failed:
        sys.exit(1)


FINE_GRID_FACTOR = 4.0
"""A grid finer than GSD / FINE_GRID_FACTOR needs --allow-fine-grid (it invents detail)."""


def check_grid_resolution(
    files: list[Path], resolution: float, overrides: Any, date_pattern: str | None
) -> None:
    """Refuse a grid resolution finer than a quarter of a file's GSD (unless allowed).

    A 1 m grid for 10 m imagery multiplies storage 100 times and shows nothing more; it is
    usually a mistyped ``--resolution``. Files whose metadata cannot be read are left to the
    ingest, which reports them.

    Raises:
        ImageryError: naming the file, its GSD, the grid resolution and the flag.
    """
    from imagery.errors import IngestError
    from imagery.vendor.metadata import overrides_for, read_vendor_metadata

    for f in files:
        try:
            meta = read_vendor_metadata(f, overrides=overrides_for(f, overrides, date_pattern))
        except IngestError:
            continue
        if meta.gsd_m is not None and resolution < meta.gsd_m / FINE_GRID_FACTOR:
            raise IngestError(
                f"{f}: GSD {meta.gsd_m:g} m but the grid resolution is {resolution:g} m, finer "
                f"than a quarter of the GSD ({meta.gsd_m / FINE_GRID_FACTOR:g} m): pick a "
                "coarser --resolution, or pass --allow-fine-grid to accept it"
            )


def _summary_payload(summary: Any, outputs: dict[str, str], validation: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "facility_id": summary.facility_id,
        "captures": summary.captures,
        "usable": summary.usable,
        "pairs": len(summary.pairs),
        "changes": summary.changes,
        "events": [ev.statement() for ev in summary.events],
        "persistent": sum(ev.status == "confirmed" for ev in summary.events),
        "unconfirmed": sum(ev.status != "confirmed" for ev in summary.events),
        "outputs": outputs,
    }
    if validation is not None:
        payload["demo_validation"] = {
            "recall": round(validation.recall, 3),
            "precision": round(validation.precision, 3),
            "truth_events": len(validation.matches),
            "found": sum(m.found for m in validation.matches),
        }
    return payload


def _summary_lines(payload: dict[str, Any]) -> list[str]:
    lines = [
        f"{payload['facility_id']}: {payload['captures']} captures ({payload['usable']} usable), "
        f"{payload['pairs']} pairs, {payload['changes']} changes; events: "
        f"{payload['persistent']} persistent (a later capture confirmed them), "
        f"{payload['unconfirmed']} unconfirmed",
    ]
    if "demo_validation" in payload:
        v = payload["demo_validation"]
        lines.append(
            f"demo validation (SIMULATED truth): recall {v['recall']:.0%} "
            f"({v['found']}/{v['truth_events']}), precision {v['precision']:.0%}"
        )
    lines += [f"{name}: {path}" for name, path in payload["outputs"].items()]
    return lines


@main.command()
@click.argument("facility_id")
@workspace_option
@click.option("--method", default="default", show_default=True, help="Change detection method.")
@click.option("--min-area", type=float, default=None, help="Minimum mapping unit, m².")
@facilities_option
@json_option
def run(
    facility_id: str, workspace: Path, method: str, min_area: float | None,
    facility_dirs: tuple[Path, ...], as_json: bool,
) -> None:
    """Run detection, timeline, events and the report on captures already in WORKSPACE."""
    from facilities.load import load_facility_by_id
    from pipeline.lock import workspace_lock
    from pipeline.runner import run_and_report

    with user_errors():
        facility = load_facility_by_id(facility_id, facility_dirs)
        with workspace_lock(workspace, "campwatch run"):
            summary, outputs, validation = run_and_report(
                facility, workspace, method=method, min_area_m2=min_area, progress=progress_bar
            )
    payload = _summary_payload(summary, outputs, validation)
    _emit(as_json, payload, _summary_lines(payload))


@main.command()
@workspace_option
@click.option("--captures", type=click.IntRange(min=2), default=None,
              help="Number of simulated captures (default: the demo's).")
@click.option("--size", "size_m", type=click.FloatRange(min=100), default=None,
              help="Side of the simulated scene in metres (default: the demo's).")
@click.option("--resolution", type=float, default=None,
              help="Facility grid resolution in metres (default: the demo's).")
@click.option("--seed", type=int, default=None, help="Simulation seed.")
@click.option("--vhr-gsd", "vhr_gsd_m", type=float, default=None,
              help="GSD of the simulated very-high-resolution captures (default 0.5 m).")
@json_option
def demo(
    workspace: Path, captures: int | None, size_m: float | None, resolution: float | None,
    seed: int | None, vhr_gsd_m: float | None, as_json: bool,
) -> None:
    """Simulate the Kangdong capture archive and run everything on it, offline.

    The imagery is SIMULATED: every output says so. Rerunning on the same
    workspace reuses what is there (no duplicates).
    """
    from pipeline.demo import run_demo
    from pipeline.lock import workspace_lock

    with user_errors(), workspace_lock(workspace, "campwatch demo"):
        summary, outputs, validation = run_demo(
            workspace, captures=captures, size_m=size_m, resolution=resolution, seed=seed,
            vhr_gsd_m=vhr_gsd_m, progress=progress_bar,
        )
    payload = _summary_payload(summary, outputs, validation)
    _emit(as_json, payload, _summary_lines(payload))


main.add_command(facilities_group)
main.add_command(change_command)
main.add_command(fetch_command)
main.add_command(verify_command)
main.add_command(view_command)
main.add_command(watch_command)
main.add_command(export_command)
main.add_command(report_command)
main.add_command(review_command)
