"""``campwatch watch``: scheduled monitoring (a thin CLI over :mod:`pipeline.watch.passes`)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from facilities.errors import FacilityError
from facilities.types import FACILITY_TYPES
from imagery.errors import ImageryError
from pipeline.cli.options import facilities_option, gdal_options, json_option, workspace_option
from pipeline.errors import LockHeldError, PipelineError, SelectionError, WatchConfigError

if TYPE_CHECKING:  # the rest is imported where used, so that --help stays fast
    from facilities.model import Facility
    from pipeline.watch.config import WatchConfig
    from pipeline.watch.passes import WatchReport

log = logging.getLogger(__name__)

EXIT_OK = 0
"""Every facility was watched without error."""
EXIT_FAILED = 1
"""At least one facility failed (the others still ran)."""
EXIT_USAGE = 2
"""Bad options, config or facility ids: nothing was done."""
EXIT_LOCKED = 3
"""Another run holds the workspace lock: nothing was done."""


def _facilities(
    ids: tuple[str, ...],
    types: tuple[str, ...],
    everything: bool,
    config: WatchConfig,
    dirs: tuple[Path, ...],
    workspace: Path,
) -> list[Facility]:
    from facilities.load import load_registry
    from pipeline.watch.selection import select_facilities

    registry = load_registry([*dirs, *config.facility_dirs])
    if not (ids or types or everything) and config.facilities:
        missing = sorted(set(config.facilities) - set(registry))
        if missing:
            raise WatchConfigError(
                f"{config.path}: [facilities] names unknown facility id(s) {missing}; "
                f"known: {sorted(registry)}"
            )
    try:
        return select_facilities(
            registry, workspace, ids=ids, types=types, everything=everything,
            configured=list(config.facilities),
        )
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from exc


@contextmanager
def _sigterm_stops() -> Iterator[threading.Event]:
    """SIGTERM sets the returned event (the pass stops between facilities)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        log.warning("SIGTERM: stopping after the facilities already running")
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _dask_client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    if workers is None and scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise click.UsageError(f"--workers/--scheduler need dask.distributed: {exc}") from exc
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise PipelineError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from exc
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _lines(report: WatchReport) -> list[str]:
    lines = []
    for f in report.facilities:
        head = (
            f"{f.facility_id}: {f.status}, {len(f.new_captures)} new capture(s) "
            f"({len(f.usable)} usable), {f.events} event(s), {len(f.new_alerts)} new alert(s)"
        )
        lines.append(head)
        lines += [f"  alert rank {a.rank} (score {a.score:g}): {a.statement}" for a in f.new_alerts]
        lines += [f"  ERROR {e}" for e in f.errors]
    failed = report.undelivered
    if report.deliveries:
        lines.append(
            f"webhooks: {len(report.deliveries) - len(failed)} delivered, {len(failed)} to retry"
        )
        lines += [f"  {d.state.upper()} {d.endpoint} alert {d.key}: {d.error}" for d in failed]
    if report.swept:
        lines.append(f"removed {len(report.swept)} temporary file(s) left by an earlier run")
    if report.stopped:
        lines.append("stopped early (SIGTERM): facilities not run are marked 'not run'")
    return lines


EPILOG = """\b
Exit codes:
  0  every facility was watched without error
  1  at least one facility failed (search, item or detection error; the others ran),
     or a webhook delivery failed or did not settle (it is retried next pass)
  2  usage error (bad option, config file or facility id): nothing was done
  3  another campwatch run holds the workspace lock: nothing was done

\b
Which facilities: --facility/--type/--all if given, else the config's
[facilities] tables, else those that already have a WORKSPACE/<id>/ directory.

\b
Example (crontab, every 6 hours, every documented camp in the registry):
  0 */6 * * *  campwatch watch --all --workspace /srv/campwatch --json >> /var/log/campwatch.jsonl
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--facility", "facility_ids", multiple=True, metavar="ID",
              help="Watch this facility (repeatable).")
@click.option("--type", "facility_types", multiple=True, metavar="TYPE",
              type=click.Choice(FACILITY_TYPES),
              help="Watch every facility of this type, e.g. kwanliso (repeatable).")
@click.option("--all", "everything", is_flag=True,
              help="Watch every facility in the registry (with --type: every one of those types).")
@click.option("--provider", "providers", multiple=True, metavar="NAME",
              help="Search only this configured provider (repeatable; 'earth-search' and "
                   "'planetary-computer' work without a config).")
@workspace_option
@click.option("--every", metavar="DURATION",
              help="Run again every DURATION (e.g. 6h, 30m) until SIGTERM.")
@json_option
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Run facilities on a local Dask cluster of N worker processes.")
@click.option("--scheduler", metavar="URL",
              help="Run facilities on an existing Dask cluster, e.g. tcp://host:8786.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Watch config (TOML; default: WORKSPACE/watch.toml if present).")
@click.option("--fail-fast", is_flag=True, help="Stop the pass at the first failed facility.")
@facilities_option
def watch(
    facility_ids: tuple[str, ...], facility_types: tuple[str, ...], everything: bool,
    providers: tuple[str, ...], workspace: Path,
    every: str | None, as_json: bool, workers: int | None, scheduler: str | None,
    config: Path | None, fail_fast: bool, facility_dirs: tuple[Path, ...],
) -> None:
    """Check facilities for new captures, process only what is new, and alert on new events.

    Each pass searches every configured provider from the newest catalogued
    capture (minus an overlap window), fetches new captures, runs detection
    and the timeline, and writes each new event's alert once to
    WORKSPACE/alerts.jsonl and to the configured webhooks. A workspace lock
    stops overlapping runs; SIGTERM stops between facilities.
    """
    if workers is not None and scheduler is not None:
        raise click.UsageError("use either --workers or --scheduler, not both")
    from pipeline.watch.config import find_watch_config, parse_duration

    try:
        interval = parse_duration(every) if every is not None else None
        cfg = find_watch_config(config, workspace)
        facilities = _facilities(
            facility_ids, facility_types, everything, cfg, facility_dirs, workspace
        )
        for f in facilities:
            cfg.plan(f.id, providers)  # every plan resolves before anything runs
    except (WatchConfigError, FacilityError) as exc:
        raise click.UsageError(str(exc)) from exc

    from pipeline.watch.passes import watch_pass

    code = EXIT_OK
    with _sigterm_stops() as stop, _dask_client(workers, scheduler) as client:
        while True:
            started = time.monotonic()
            try:
                report = watch_pass(
                    facilities, workspace, cfg, only_providers=providers, fail_fast=fail_fast,
                    client=client, gdal_options=gdal_options(), should_stop=stop.is_set,
                )
            except LockHeldError as exc:
                click.echo(f"campwatch watch: {exc}", err=True)
                code = EXIT_LOCKED
            except (ImageryError, PipelineError) as exc:
                click.echo(f"campwatch watch: {exc}", err=True)
                code = EXIT_FAILED
            except OSError as exc:  # e.g. a workspace that cannot be written
                click.echo(f"campwatch watch: {workspace}: {' '.join(str(exc).split())}",
                           err=True)
                code = EXIT_FAILED
            else:
                code = EXIT_OK if report.ok else EXIT_FAILED
                if as_json:
                    click.echo(json.dumps(report.to_json(), default=str))
                else:
                    for line in _lines(report):
                        click.echo(line)
            if interval is None or stop.is_set():
                break
            if stop.wait(max(0.0, interval.total_seconds() - (time.monotonic() - started))):
                break
    sys.exit(code)
