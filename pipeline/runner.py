"""Compose the stages for one facility workspace: run, then report (plain function calls)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from facilities.model import Facility
from imagery.simulate.archive import read_truth
from imagery.simulate.records import TRUTH_RELATIVE
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.change.detect import ChangeParams
from pipeline.history.validation import Validation, validate_events
from pipeline.report.html import write_report
from pipeline.run import RunSummary, run_facility

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str], Callable[[int, int], None]]
"""Makes a (done, total) progress callable for a named stage (the CLI's progress bars)."""

PIPELINE_MIN_AREA_M2 = 40.0
"""Default minimum mapping unit of the facility pipeline: a small guard post (6 x 7 m)."""


def write_report_pdf(html: Path) -> Path:
    """Render the report just written to ``report.pdf`` beside it (run and demo do this on
    every run, as they do the HTML; ``campwatch report --pdf`` does it on demand).

    Raises:
        pipeline.report.pdf.PdfError: WeasyPrint or its system libraries are missing.

    Example:
        >>> # write_report_pdf(ws.report_dir / "report.html")  # -> .../report.pdf
    """
    from pipeline.report.pdf import write_pdf

    return write_pdf(html, html.with_name("report.pdf"))


def run_and_report(
    facility: Facility,
    workspace: Path,
    *,
    method: str = "default",
    min_area_m2: float | None = None,
    progress: ProgressFactory | None = None,
    workers: int = 1,
    pool: Executor | None = None,
    queued: Callable[[Executor], None] | None = None,
) -> tuple[RunSummary, dict[str, str], Validation | None]:
    """Run a facility's workspace end to end and write its report.

    When the workspace holds a simulated archive, events are also validated
    against the simulation's truth (the report's "demo validation" section).
    ``workers`` > 1 compares that many capture pairs at once (one process each); a
    ``pool`` (the demo's) is used instead of starting one, and ``queued`` is called with it
    once the pairs are queued (see :func:`pipeline.run.run_facility`).

    Example:
        >>> # summary, outputs, validation = run_and_report(facility, Path("ws"))
    """
    ws = FacilityWorkspace(workspace, facility.id)
    grid = workspace_grid(ws, facility, None)
    bars: dict[str, Callable[[int, int], None]] = {}

    def stage_progress(stage: str, done: int, total: int) -> None:
        if progress is not None:
            if stage not in bars:
                bars[stage] = progress(stage)
            bars[stage](done, total)

    # The default 16 calibration tiles of 512 px (on the demo's 2040² px grid they cover all
    # of it). Four saved about 3 s of a 0.5 m pair's 9.7 s of CPU but, on
    # the demo, gave 1073 changes instead of 695 and recall 11/13 at precision 16/19 instead
    # of 12/13 at 17/18: not taken.
    params = ChangeParams(
        method=method,
        min_area_m2=PIPELINE_MIN_AREA_M2 if min_area_m2 is None else min_area_m2,
    )
    summary = run_facility(facility, ws, grid, params=params, progress=stage_progress,
                           workers=workers, pool=pool, queued=queued)
    truth_path = ws.dir / TRUTH_RELATIVE
    validation = None
    if truth_path.exists():
        truth = read_truth(truth_path)
        validation = validate_events(truth.events, summary.events)
    stage_progress("report", 0, 1)
    report = write_report(facility, ws, grid, summary, validation=validation, pool=pool)
    stage_progress("report", 1, 1)
    outputs = dict(summary.outputs)
    outputs["report_html"] = str(report.html)
    stage_progress("pdf", 0, 1)
    outputs["report_pdf"] = str(write_report_pdf(report.html))
    stage_progress("pdf", 1, 1)
    outputs["timeline_png"] = str(report.timeline_png)
    outputs["figures"] = str(report.html.parent / "figures")
    return summary, outputs, validation
