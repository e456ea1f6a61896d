"""The Kangdong demo: simulate the capture archive, ingest it, run, report — offline.

The report's PDF is written beside the HTML; the offline viewer
(``<workspace>/<facility>/viewer/index.html``) is tiled in the demo's worker processes while
the run and the report finish, and its page written after the report, so ``make demo``
shows everything with one command.
Everything here is SIMULATED imagery of a synthetic scene placed at the reported location;
the report, the viewer and every figure say so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from facilities.grid import FacilityGrid
from facilities.load import load_facility_by_id
from facilities.model import Facility
from imagery.catalogue import open_catalogue
from imagery.ingest import IngestReport, ingest_paths
from imagery.simulate.archive import (
    SimulatedArchive,
    SimulationParams,
    read_truth,
    simulate_archive,
    truth_params,
)
from imagery.simulate.records import TRUTH_RELATIVE
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.history.validation import Validation
    from pipeline.run import RunSummary
    from pipeline.runner import ProgressFactory
    from pipeline.viewer.queued import QueuedViewer

VIEWER_DIR = "viewer"
"""The viewer's directory inside the facility workspace (as ``campwatch view`` writes it)."""

log = logging.getLogger(__name__)

DEMO_FACILITY = "kangdong-kyohwaso-4"
"""The bundled default facility."""
DEMO_CAPTURES = 16
"""Captures in the default demo archive (about 15 years)."""
DEMO_SIZE_M: float | None = None
"""Side of the default simulated scene in metres; None covers the whole facility grid."""
DEMO_RESOLUTION_M = 1.0
"""Facility grid resolution of the default demo, metres."""
DEMO_SEED = 4
"""Default simulation seed."""
DEMO_WORKERS = max(1, min(2, os.cpu_count() or 1))
"""Processes the demo simulates, ingests and compares pairs in (two cores halve its time)."""
DEMO_VHR_GSD_M = 0.5
"""GSD of the simulated commercial-like captures. Simulating them at the grid's 1 m was
faster but tripled the false detections (the simulated misregistration is set in pixels, so
it doubled in metres): precision fell from 11 % to 7 % at the same recall, so 0.5 m stays."""


def run_demo(
    workspace: Path,
    *,
    captures: int | None = None,
    size_m: float | None = None,
    resolution: float | None = None,
    seed: int | None = None,
    vhr_gsd_m: float | None = None,
    progress: ProgressFactory | None = None,
    workers: int | None = None,
) -> tuple[RunSummary, dict[str, str], Validation | None]:
    """Simulate (once), ingest (new captures only), run and report the Kangdong demo.

    Rerunning on the same workspace with the same settings changes nothing in
    the catalogue; other settings need another workspace. ``workers`` processes (default
    :data:`DEMO_WORKERS`) simulate, ingest and compare pairs side by side; the catalogue
    and the report are the same with one.

    Example:
        >>> # summary, outputs, validation = run_demo(Path("demo-workspace"))
    """
    facility = load_facility_by_id(DEMO_FACILITY)
    ws = FacilityWorkspace(workspace, facility.id)
    workers = DEMO_WORKERS if workers is None else max(1, workers)
    params = SimulationParams(
        captures=captures or DEMO_CAPTURES,
        size_m=size_m or DEMO_SIZE_M,
        vhr_gsd_m=DEMO_VHR_GSD_M if vhr_gsd_m is None else vhr_gsd_m,
        seed=DEMO_SEED if seed is None else seed,
    )
    # the grid first: a bad --resolution fails before anything is simulated
    grid = workspace_grid(ws, facility, resolution or (None if (ws.dir / "grid.json").exists()
                                                     else DEMO_RESOLUTION_M))
    truth_path = ws.dir / TRUTH_RELATIVE
    if truth_path.exists():
        stored = truth_params(truth_path)
        if stored != params:
            changed = [
                f"{f.name}={getattr(stored, f.name)!r} (asked {getattr(params, f.name)!r})"
                for f in dataclasses.fields(params)
                if getattr(stored, f.name) != getattr(params, f.name)
            ]
            raise PipelineError(
                f"{truth_path}: this workspace holds a simulation with other settings: "
                f"{', '.join(changed)}; use another --workspace"
            )
        archive = read_truth(truth_path)
        log.info("reusing the simulated archive in %s", archive.directory)
    else:
        archive = None
    if workers <= 1:
        from pipeline.runner import run_and_report

        failed = _simulate_and_ingest(archive, facility, truth_path.parent, params, grid, ws,
                                      None, progress)
        _check_ingest(failed)
        summary, outputs, validation = run_and_report(facility, workspace, progress=progress)
        outputs["viewer"] = str(_viewer(facility, ws, progress("viewer") if progress else None))
        return summary, outputs, validation
    with open_catalogue(ws.catalogue_path, grid.crs):
        pass  # created once here, not raced for by the workers
    # One pool of "spawn" workers (fresh interpreters, not forks of GDAL) for every stage:
    # interpreters start once, and the viewer's tiles are queued behind the capture pairs,
    # so they keep a core busy while this process judges the series and writes the report.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        failed = _simulate_and_ingest(archive, facility, truth_path.parent, params, grid, ws,
                                      pool, progress)
        _check_ingest(failed)
        # imported once the workers are busy (see _simulate_and_ingest)
        from pipeline.runner import run_and_report
        from pipeline.viewer.inputs import viewer_inputs
        from pipeline.viewer.queued import finish_viewer, start_viewer

        queued: list[QueuedViewer] = []

        def queue_viewer(pool: Executor) -> None:
            shown, _ = viewer_inputs(facility, ws, grid)
            queued.append(start_viewer(ws.dir / VIEWER_DIR, grid.crs, shown, pool))

        try:
            summary, outputs, validation = run_and_report(
                facility, workspace, progress=progress, workers=workers,
                pool=_FiguresFirst(pool, queued), queued=queue_viewer,
            )
            # The page is written here, after the report: its overlays are the run's changes
            # and events. Only the tiles were written in the pool's processes: Python's
            # warning filters are process-wide and `warnings.catch_warnings` is not
            # thread-safe, so no stage runs in a thread beside the report (a flaky
            # NotGeoreferencedWarning in the viewer, when it did).
            shown, features = viewer_inputs(facility, ws, grid)
            if not queued:  # no pair was compared: nothing was queued
                queued.append(start_viewer(ws.dir / VIEWER_DIR, grid.crs, shown, pool))
            outputs["viewer"] = str(finish_viewer(
                queued[0], facility.names.english, features,
                progress("viewer") if progress else None))
        except BaseException:
            for q in queued:
                q.discard()
            raise
    return summary, outputs, validation


_T = TypeVar("_T")
_P = ParamSpec("_P")


class _FiguresFirst(Executor):
    """The demo's pool as the run and the report see it: after each task queued in it, the
    viewer's tiling tasks not yet started go back behind it (:meth:`QueuedViewer.requeue`).
    The report waits for its event figures and then renders the PDF, while the tiles are
    needed only by the page written last: figures first, the tiles beside the PDF."""

    def __init__(self, pool: Executor, viewers: list[QueuedViewer]) -> None:
        self._pool = pool
        self._viewers = viewers

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_T]:
        future = self._pool.submit(fn, *args, **kwargs)
        if self._viewers:
            self._viewers[0] = self._viewers[0].requeue(self._pool)
        return future


def _check_ingest(failed: list[tuple[str, str]]) -> None:
    if failed:
        raise PipelineError(
            "demo ingest failed: " + "; ".join(f"{p}: {why}" for p, why in failed)
        )


def _simulate_and_ingest(
    archive: SimulatedArchive | None, facility: Facility, directory: Path,
    params: SimulationParams, grid: FacilityGrid, ws: FacilityWorkspace,
    pool: Executor | None, progress: ProgressFactory | None,
) -> list[tuple[str, str]]:
    """Simulate the archive (unless ``archive`` is the one already simulated) and ingest its
    files through :func:`ingest_paths` (the real ingest: GeoTIFFs read, warped and masked);
    the failures.

    With a ``pool`` both run in it, one capture per task, and each capture is ingested as
    soon as it is written: no worker idles between the two stages.
    """
    ingest_bar = (lambda: progress("ingest")) if progress else (lambda: None)
    if pool is None:
        if archive is None:
            archive = simulate_archive(facility, directory, params,
                                       progress=progress("simulate") if progress else None)
        return list(ingest_paths([c.path for c in archive.captures], facility, grid, ws,
                                 provider="simulated", progress=ingest_bar()).failed)
    futures: list[Future[IngestReport]] = []

    def ingest(path: Path) -> None:
        futures.append(pool.submit(ingest_paths, [path], facility, grid, ws,
                                   provider="simulated"))

    if archive is None:
        simulate_archive(facility, directory, params, pool=pool,
                         written=lambda capture: ingest(capture.path),
                         progress=progress("simulate") if progress else None)
    else:  # largest files first, so that no worker is left with a 0.5 m capture at the end
        for path in sorted((c.path for c in archive.captures),
                           key=lambda p: -p.stat().st_size):
            ingest(path)
    # The run's and the report's modules (3.9 s of CPU) are imported here, while the pool
    # ingests, rather than at start-up, when one core did it alone before the workers began;
    # WeasyPrint (0.8 s) too, rather than in the PDF stage, which runs alone at the end
    import pipeline.runner
    import pipeline.viewer.queued  # noqa: F401

    with contextlib.suppress(ImportError, OSError):  # write_pdf says what to install
        import weasyprint  # noqa: F401

    bar = ingest_bar()
    failed: list[tuple[str, str]] = []
    for i, future in enumerate(as_completed(futures)):
        failed.extend(future.result().failed)
        if bar is not None:
            bar(i + 1, len(futures))
    return failed


def _viewer(
    facility: Facility, ws: FacilityWorkspace, progress: Callable[[int, int], None] | None
) -> Path:
    """(Re)build the demo's offline viewer; return its ``index.html``."""
    from pipeline.viewer.build import build_viewer
    from pipeline.viewer.inputs import viewer_inputs

    grid = workspace_grid(ws, facility, None)
    captures, features = viewer_inputs(facility, ws, grid)
    # the demo's own viewer directory: an earlier demo viewer is replaced, as the report is
    return build_viewer(
        ws.dir / VIEWER_DIR, facility.names.english, grid.crs, captures, features,
        progress=progress,
    )
