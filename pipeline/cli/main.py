"""The ``campwatch`` command line: one command per stage, plus ``run`` and ``demo``.

Thin by design: each command parses options, enters the GDAL environment once
(here, at the edge), calls one library function and prints where the outputs
are. ``--json`` prints a machine-readable summary instead.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from facilities.errors import FacilityError
from imagery.errors import ImageryError
from pipeline.cli.change import change as change_command
from pipeline.cli.facilities import facilities as facilities_group
from pipeline.cli.fetch import fetch as fetch_command
from pipeline.cli.names import FACILITIES_ENV_VAR as ENV_VAR
from pipeline.cli.verify import verify as verify_command
from pipeline.cli.view import view as view_command
from pipeline.cli.watch import watch as watch_command
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

GDAL_CACHEMAX_MB = 256
"""GDAL block cache of every command, MB."""


def gdal_options() -> dict[str, Any]:
    """GDAL configuration for every command: the one front door for GDAL options.

    A function, not a constant, so that ``campwatch --help`` does not import rasterio.

    Example:
        >>> gdal_options()["GDAL_CACHEMAX"]
        256
    """
    from imagery.stac.read import gdal_env_options

    return {**gdal_env_options(), "GDAL_CACHEMAX": GDAL_CACHEMAX_MB}

facilities_option = click.option(
    "--facilities",
    "facility_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    envvar=ENV_VAR,
    help=f"Extra directory of facility definitions (repeatable; also ${ENV_VAR}).",
)
workspace_option = click.option(
    "--workspace",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace directory (one sub-directory per facility).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the packages' errors into clean CLI errors (exit 1, no traceback)."""
    from rasterio.errors import RasterioIOError

    try:
        yield
    except (FacilityError, ImageryError, PipelineError) as exc:
        raise click.ClickException(str(exc)) from exc
    except (RasterioIOError, OSError) as exc:  # e.g. a stored capture deleted by hand
        raise click.ClickException(f"{exc}; run 'campwatch verify' on the workspace") from exc


def progress_bar(label: str) -> Callable[[int, int], None]:
    """A progress callable that draws a bar on stderr when it is a terminal."""
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        bar = state.get("bar")
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
            state["bar"] = bar
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)
            state.pop("bar")

    return update


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
        return
    import rasterio  # here, not at the top: ``campwatch --help`` stays fast

    ctx.with_resource(rasterio.Env(**gdal_options()))


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
@click.option("--date", "date_", help="Acquisition time (ISO 8601, UTC) when files lack it.")
@click.option("--sensor", help="Sensor name when files lack it.")
@click.option("--gsd", type=float, help="Ground sample distance (m) when files lack it.")
@click.option("--credit", help="Credit or licence line, e.g. '© 2015 DigitalGlobe'.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first file that fails.")
@facilities_option
@json_option
def ingest(
    facility_id: str, paths: tuple[Path, ...], workspace: Path, resolution: float | None,
    date_: str | None, sensor: str | None, gsd: float | None, credit: str | None,
    fail_fast: bool, facility_dirs: tuple[Path, ...], as_json: bool,
) -> None:
    """Catalogue local rasters (vendor GeoTIFFs) of FACILITY_ID onto its grid."""
    from facilities.load import load_facility_by_id
    from imagery.ingest import ingest_paths
    from imagery.vendor.metadata import overrides_from_cli
    from imagery.workspace import FacilityWorkspace, workspace_grid
    from pipeline.lock import workspace_lock

    with user_errors():
        overrides = overrides_from_cli(date_, sensor, credit, gsd)
        facility = load_facility_by_id(facility_id, facility_dirs)
        ws = FacilityWorkspace(workspace, facility.id)
        with workspace_lock(workspace, "campwatch ingest"):
            grid = workspace_grid(ws, facility, resolution)
            report = ingest_paths(
                list(paths), facility, grid, ws,
                overrides=overrides,
                fail_fast=fail_fast, progress=progress_bar("ingest"),
            )
    lines = [f"added {c.capture_id} ({c.sensor}, {c.acquired:%Y-%m-%d})" for c in report.added]
    lines += [f"skipped {p}: {why}" for p, why in report.skipped]
    lines += [f"FAILED {p}: {why}" for p, why in report.failed]
    lines.append(f"catalogue: {ws.catalogue_path}")
    _emit(as_json, {
        "facility_id": facility.id, "catalogue": str(ws.catalogue_path),
        "added": [c.capture_id for c in report.added],
        "skipped": [list(s) for s in report.skipped], "failed": [list(f) for f in report.failed],
    }, lines)
    if report.failed:
        sys.exit(1)


def _summary_payload(summary: Any, outputs: dict[str, str], validation: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "facility_id": summary.facility_id,
        "captures": summary.captures,
        "usable": summary.usable,
        "pairs": len(summary.pairs),
        "changes": summary.changes,
        "events": [ev.statement() for ev in summary.events],
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
        f"{payload['pairs']} pairs, {payload['changes']} changes, {len(payload['events'])} events",
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
              help="GSD of the simulated very-high-resolution captures (default 1 m).")
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

from pipeline.cli.report import export as export_command  # noqa: E402
from pipeline.cli.report import report as report_command  # noqa: E402
from pipeline.cli.review import review as review_command  # noqa: E402

main.add_command(export_command)
main.add_command(report_command)
main.add_command(review_command)
