"""One watch pass: new captures of every facility, detection on what is new, alerts once.

For each facility (the unit of work, :func:`facility_pass`):

1. search each configured provider/collection from the newest capture already
   catalogued minus an overlap window (late-published items), or from
   ``lookback_days`` ago when there is none;
2. fetch only the items the catalogue does not hold (:func:`imagery.stac.fetch.fetch_captures`
   skips known ones; each capture is one catalogue transaction);
3. run detection and timeline (:func:`pipeline.run.run_facility`) when a capture
   was added or the last run did not finish (the timeline does not cover every
   capture); otherwise read the events from the catalogue;
4. return the facility's events.

The driver (:func:`watch_pass`) holds the workspace lock, removes temporary
files a killed run left behind, turns events into alerts, writes the new ones
to ``alerts.jsonl`` and hands them to the webhook dispatcher (a thread pool),
in facility order whether the facilities ran serially or on Dask. A facility
that fails is recorded and the others go on (unless ``fail_fast``).

Scale-out: pass a ``distributed.Client``; each facility's pass is one task.
Facilities write only their own catalogue (one task per facility at a time, and
each write is one SQLite transaction); the shared files (alert and delivery
ledgers) are written only by the driver. At most one task per worker thread is
in flight, so a stop request waits only for facilities already running.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rasterio
from rasterio.errors import RasterioError

from facilities.errors import FacilityError
from facilities.model import Facility
from imagery.catalogue import open_catalogue
from imagery.errors import ImageryError
from imagery.stac.fetch import fetch_captures
from imagery.stac.providers import make_provider
from imagery.stac.search import SearchPolicy
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.errors import PipelineError
from pipeline.history.events import Event, read_events
from pipeline.lock import workspace_lock
from pipeline.watch.alerts import Alert, alert_for_event, sort_alerts
from pipeline.watch.config import FacilityPlan, WatchConfig
from pipeline.watch.ledger import AlertLedger, DeliveryLedger
from pipeline.watch.records import FacilityResult, FacilitySummary, Search, WatchReport
from pipeline.watch.webhooks import Poster, WebhookDispatcher, pending_jobs, post_json

__all__ = ["FacilityResult", "FacilitySummary", "Search", "WatchReport", "facility_pass",
           "watch_pass"]

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called with (facility id, done, total) after each facility."""


# ----------------------------------------------------------------------------- one facility
def _search_window(
    known: Sequence[datetime], now: datetime, overlap_days: float, lookback_days: float
) -> tuple[datetime, datetime]:
    if known:
        start = max(known) - timedelta(days=overlap_days)
    else:
        start = now - timedelta(days=lookback_days)
    return start, now


STATE_FILE = "watch-state.json"
"""Per facility: which captures the last finished detection covered."""


def _digest(capture_ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(capture_ids)).encode()).hexdigest()


def _needs_detection(ws: FacilityWorkspace, crs: str, capture_ids: set[str]) -> bool:
    """True when the last detection did not cover exactly these captures (or never finished)."""
    if not capture_ids:
        return False
    try:
        state = json.loads((ws.dir / STATE_FILE).read_text(encoding="utf-8"))
        return bool(state.get("detected") != _digest(capture_ids))
    except (OSError, ValueError, AttributeError):
        pass
    with open_catalogue(ws.catalogue_path, crs) as cat:
        timed = {r.capture_id for r in cat.timeline()}
    return capture_ids != timed


def _write_state(ws: FacilityWorkspace, capture_ids: set[str]) -> None:
    path = ws.dir / STATE_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{STATE_FILE}.", suffix=".tmp", dir=ws.dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"detected": _digest(capture_ids), "captures": len(capture_ids)}, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def facility_pass(
    facility: Facility,
    workspace: Path,
    plan: FacilityPlan,
    *,
    now: datetime,
    gdal_options: Mapping[str, Any] | None = None,
) -> FacilityResult:
    """Search, fetch what is new, detect and return the events of one facility.

    This is the unit of work of a Dask run (plain data in, plain data out). It
    enters ``rasterio.Env(**gdal_options)`` itself: a Dask worker is an edge.

    Raises:
        FacilityError, ImageryError, PipelineError: the facility cannot be watched
            (bad workspace grid, unreadable catalogue, detection failure). Failed
            searches and items are not raised: they are in ``errors``.

    Example:
        >>> # result = facility_pass(facility, Path("ws"), config.plan(facility.id),
        >>> #                        now=datetime.now(UTC))
    """
    t0 = time.perf_counter()
    env = rasterio.Env(**gdal_options) if gdal_options is not None else nullcontext()
    with env:
        ws = FacilityWorkspace(Path(workspace), facility.id)
        settings = plan.settings
        grid = workspace_grid(ws, facility, settings.resolution)
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            captures = cat.captures()
        searches: list[Search] = []
        errors: list[str] = []
        for spec in plan.providers:
            policy = SearchPolicy(
                timeout_s=settings.search_timeout_s,
                retries=settings.search_retries,
                backoff_s=settings.search_backoff_s,
            )
            provider = make_provider(spec.kind, spec.url, policy=policy, cache_dir=ws.cache_dir)
            for collection in spec.collections:
                known = [
                    c.acquired
                    for c in captures
                    if c.provider == provider.name and c.collection == collection
                ]
                start, end = _search_window(
                    known, now, settings.overlap_days, settings.lookback_days
                )
                where = f"{spec.name}/{collection}"
                try:
                    report = fetch_captures(
                        facility, provider, collection, start.date(), end.date(), ws,
                        resolution=grid.resolution, max_cloud=spec.max_cloud,
                        min_clear=settings.min_clear,
                    )
                except ImageryError as exc:
                    log.warning("%s: %s: %s", facility.id, where, exc)
                    searches.append(
                        Search(spec.name, collection, str(start.date()), str(end.date()), 0,
                               errors=(str(exc),))
                    )
                    errors.append(f"{where}: {exc}")
                    continue
                added = report.by_status("added")
                failed = tuple(f"{o.capture_id}: {o.reason}" for o in report.by_status("failed"))
                errors.extend(f"{where}: {f}" for f in failed)
                searches.append(
                    Search(
                        spec.name, collection, str(start.date()), str(end.date()), report.found,
                        tuple(o.capture_id for o in added),
                        tuple(o.capture_id for o in added if o.usable),
                        failed,
                    )
                )
        known_ids = {c.capture_id for c in captures}
        ran = any(s.added for s in searches) or _needs_detection(ws, grid.crs, known_ids)
        events: list[Event] = []
        n_captures = len(captures)
        if ran:
            # Imported here: detection pulls in scipy.stats, which a pass with nothing new
            # (and a run refused by the lock) never needs.
            from pipeline.change.detect import ChangeParams
            from pipeline.run import run_facility

            params = ChangeParams(method=settings.method)
            if settings.min_area_m2 is not None:
                params = ChangeParams(method=settings.method, min_area_m2=settings.min_area_m2)
            try:
                summary = run_facility(facility, ws, grid, params=params)
            except FACILITY_ERRORS as exc:  # recorded; the searches' results still count
                errors.append(f"detection: {_describe(exc)}")
                with open_catalogue(ws.catalogue_path, grid.crs) as cat:
                    n_captures = len(cat.captures())
            else:
                events, n_captures = list(summary.events), summary.captures
                with open_catalogue(ws.catalogue_path, grid.crs) as cat:
                    _write_state(ws, {c.capture_id for c in cat.captures()})
        else:
            with open_catalogue(ws.catalogue_path, grid.crs) as cat:
                events = read_events(cat)
    return FacilityResult(
        facility.id, tuple(searches), tuple(events), ran, n_captures, tuple(errors),
        time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------- the driver
FACILITY_ERRORS: tuple[type[BaseException], ...] = (
    FacilityError, ImageryError, PipelineError, RasterioError, OSError, sqlite3.Error,
)
"""What fails one facility's pass and lets the others go on: the packages' errors and the
I/O errors of files, GDAL and SQLite. Anything else is a bug and stops the pass."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FacilityError | ImageryError | PipelineError):
        return str(exc)
    log.error("unexpected error:\n%s", "".join(traceback.format_exception(exc)))
    return f"internal error {type(exc).__name__}: {exc}"


def _results_serial(
    facilities: Sequence[Facility],
    run_one: Callable[[Facility], FacilityResult],
    should_stop: Callable[[], bool],
) -> Iterator[tuple[Facility, FacilityResult | BaseException | None]]:
    for facility in facilities:
        if should_stop():
            yield facility, None
            continue
        try:
            yield facility, run_one(facility)
        except FACILITY_ERRORS as exc:  # recorded per facility; the others go on
            yield facility, exc


def _results_dask(
    facilities: Sequence[Facility],
    client: Client,
    args: dict[str, tuple[Any, ...]],
    kwargs: dict[str, Any],
    should_stop: Callable[[], bool],
) -> Iterator[tuple[Facility, FacilityResult | BaseException | None]]:
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    # a worker that died or a task cancelled under us fails that facility, not the pass
    task_errors: tuple[type[BaseException], ...] = (
        *FACILITY_ERRORS, KilledWorker, FutureCancelledError, CancelledError, TimeoutError,
    )
    window = max(1, sum(client.nthreads().values()))
    token = uuid.uuid4().hex[:8]
    futures: dict[int, Any] = {}
    submitted = 0

    def top_up() -> None:
        nonlocal submitted
        while submitted < len(facilities) and len(futures) < window and not should_stop():
            f = facilities[submitted]
            futures[submitted] = client.submit(
                facility_pass, *args[f.id], **kwargs, key=f"watch-{f.id}-{token}", pure=False
            )
            submitted += 1

    top_up()
    for i, facility in enumerate(facilities):
        fut = futures.pop(i, None)
        if fut is None:
            yield facility, None
            continue
        try:
            result = fut.result()
        except task_errors as exc:
            yield facility, exc
        else:
            yield facility, result
        finally:
            fut.release()
        top_up()


def watch_pass(
    facilities: Sequence[Facility],
    workspace: Path,
    config: WatchConfig,
    *,
    only_providers: tuple[str, ...] = (),
    fail_fast: bool = False,
    client: Client | None = None,
    gdal_options: Mapping[str, Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    post: Poster = post_json,
) -> WatchReport:
    """Run one watch pass over ``facilities`` in ``workspace``.

    Args:
        facilities: the facilities to watch, in the order summaries are reported.
        workspace: the workspace root (one directory per facility, ledgers at the root).
        config: providers, webhooks and thresholds.
        only_providers: limit every facility to these provider names (``--provider``).
        fail_fast: stop at the first facility that fails.
        client: a ``distributed.Client``: run facilities as Dask tasks (None: serially).
        gdal_options: GDAL configuration entered around each facility's pass.
        should_stop: polled between facilities (SIGTERM); True ends the pass early.
        progress: called after each facility.
        now: the pass's clock (tests); default the current UTC time.
        post: how webhooks are POSTed (tests).

    Raises:
        LockHeldError: another run holds the workspace lock (nothing was done).
        WatchConfigError: a facility's config cannot be resolved (nothing was done).

    Example:
        >>> # report = watch_pass([facility], Path("ws"), load_watch_config(Path("watch.toml")))
        >>> # report.ok, [a.statement for a in report.alerts]
    """
    t0 = time.perf_counter()
    now = now or datetime.now(UTC)
    stop = should_stop or (lambda: False)
    workspace = Path(workspace)
    plans = {f.id: config.plan(f.id, only_providers) for f in facilities}
    with workspace_lock(workspace, "campwatch watch") as held:
        swept = list(held.swept)  # removed by the lock, at any depth
        alerts_ledger = AlertLedger.in_workspace(workspace)
        deliveries = DeliveryLedger.in_workspace(workspace)
        settings = config.settings
        dispatcher = WebhookDispatcher(
            timeout_s=settings.webhook_timeout_s,
            retries=settings.webhook_retries,
            backoff_s=settings.webhook_backoff_s,
            post=post,
            ledger=deliveries,  # each outcome recorded as it settles
        )

        def hooks_for(fid: str) -> Sequence[Any]:
            plan = plans.get(fid)  # alerts of facilities outside this pass wait for theirs
            return plan.webhooks if plan is not None else ()

        def min_score_for(fid: str) -> float:
            plan = plans.get(fid)
            return (plan.settings if plan is not None else settings).min_alert_score

        # Deliveries still owed from earlier passes (failed, or cut off by a crash).
        delivered = deliveries.delivered()
        dispatcher.submit(
            pending_jobs(alerts_ledger.alerts(), hooks_for, min_score_for, delivered)
        )
        args = {f.id: (f, workspace, plans[f.id]) for f in facilities}
        kwargs: dict[str, Any] = {"now": now, "gdal_options": dict(gdal_options or {}) or None}
        failed_once = False

        def stopping() -> bool:
            return stop() or (fail_fast and failed_once)

        if client is None:
            results = _results_serial(
                facilities, lambda f: facility_pass(*args[f.id], **kwargs), stopping
            )
        else:
            results = _results_dask(facilities, client, args, kwargs, stopping)
        summaries: list[FacilitySummary] = []
        new_alerts: list[Alert] = []
        for n, (facility, outcome) in enumerate(results, start=1):
            if outcome is None:
                summaries.append(FacilitySummary(facility.id, "not run"))
            elif isinstance(outcome, BaseException):
                failed_once = True
                msg = _describe(outcome)
                log.warning("%s: failed: %s", facility.id, msg)
                summaries.append(FacilitySummary(facility.id, "failed", errors=(msg,)))
            else:
                candidates = [alert_for_event(facility.id, ev) for ev in outcome.events]
                fresh = sort_alerts(alerts_ledger.append_new(candidates, now=now))
                new_alerts.extend(fresh)
                dispatcher.submit(pending_jobs(fresh, hooks_for, min_score_for, delivered))
                status = "failed" if outcome.errors else "ok"
                failed_once = failed_once or bool(outcome.errors)
                summaries.append(
                    FacilitySummary(
                        facility.id, status, outcome.new_captures, outcome.usable,
                        len(outcome.events), tuple(fresh), outcome.errors,
                        outcome.ran_detection, outcome.seconds,
                    )
                )
            if progress is not None:
                progress(facility.id, n, len(facilities))
        delivery_results = dispatcher.finish(settings.webhook_deadline_s)
    extra: dict[str, Any] = {}
    if held.recovered is not None:
        extra["recovered_lock"] = held.recovered.describe()
    if client is not None:
        extra["workers"] = len(client.nthreads())
    return WatchReport(
        tuple(summaries),
        tuple(sort_alerts(new_alerts)),
        tuple(delivery_results),
        tuple(str(p) for p in swept),
        stopped=stop(),
        seconds=time.perf_counter() - t0,
        extra=extra,
    )
