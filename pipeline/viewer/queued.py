"""The viewer in two steps, for a caller with a process pool to spare (the demo).

A capture's tiles need only its raster and the stretch shared by every capture, so they can
be written while the run still finds the changes and events the page overlays:
:func:`start_viewer` plans the tiles and queues one task per capture in the caller's pool;
:func:`finish_viewer` waits for them and writes the page with its overlays. The files are
those :func:`pipeline.viewer.build.build_viewer` writes (it takes the same steps in order).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Sequence
from concurrent.futures import Executor, Future, as_completed, wait
from dataclasses import dataclass
from pathlib import Path

from pipeline.viewer.build import (
    Progress,
    ViewerCapture,
    ViewerFeature,
    _capture_records,
    _check_inputs,
    _plan_captures,
    _replace_dir,
    _stage,
    _submit_tiling,
    _write_page,
)
from pipeline.viewer.tiles import Stretch, TilePyramid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedViewer:
    """A viewer whose capture tiles are being written in a pool (see :func:`start_viewer`)."""

    out_dir: Path
    """Where the finished viewer goes."""
    tmp: Path
    """The temporary sibling directory the tiles are written into."""
    crs: str
    """The facility grid CRS."""
    captures: tuple[ViewerCapture, ...]
    """The captures, by date."""
    dirs: dict[str, str]
    """Capture id -> tile directory name."""
    plans: tuple[tuple[ViewerCapture, range], ...]
    """Each capture and its zooms, in ``captures`` order."""
    stretch: Stretch
    """The stretch shared by every capture."""
    total: int
    """Tiles in total."""
    futures: tuple[Future[TilePyramid], ...]
    """One tiling task per capture, in ``plans`` order."""

    def requeue(self, pool: Executor) -> QueuedViewer:
        """This viewer with its tasks not yet started moved to the back of ``pool``'s queue,
        behind the work queued since (the demo's report figures, which the report waits
        for, go before the tiles, which only the page at the very end needs).

        Example:
            >>> # queued = queued.requeue(pool)  # after pool.submit(figure, ...)
        """
        futures = []
        for (cap, zooms), future in zip(self.plans, self.futures, strict=True):
            if future.cancel():  # not started: queued again, at the back
                future = _submit_tiling(pool, cap, self.crs, self.tmp, self.dirs,
                                        self.stretch, zooms)
            futures.append(future)
        return dataclasses.replace(self, futures=tuple(futures))

    def discard(self) -> None:
        """Cancel the tasks not yet started, wait for the others, remove the temporary
        directory (the run failed: nothing is written at ``out_dir``)."""
        for future in self.futures:
            future.cancel()
        wait(self.futures)
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_viewer(
    out_dir: Path,
    crs: str,
    captures: Sequence[ViewerCapture],
    pool: Executor,
    *,
    min_zoom: int | None = None,
    max_zoom: int | None = None,
) -> QueuedViewer:
    """Check the captures, plan their tiles and queue one tiling task per capture in ``pool``.

    Args:
        out_dir: the viewer's directory (an earlier viewer there is replaced at the end).
        crs: the facility grid CRS.
        captures: the captures to tile.
        pool: a process pool (tasks queued behind the work already in it).
        min_zoom: lowest zoom, as for :func:`pipeline.viewer.build.build_viewer`.
        max_zoom: highest zoom, idem.

    Raises:
        ViewerError: bad inputs (naming the capture, file, field and value).
        OutputExistsError: ``out_dir`` exists and is not a campwatch viewer.

    Example:
        >>> # queued = start_viewer(ws.dir / "viewer", grid.crs, captures, pool)
        >>> # ...; finish_viewer(queued, "Kyo-hwa-so No. 4", features)
    """
    dirs, ordered, out_dir, tmp = _stage(out_dir, crs, captures, (), min_zoom, max_zoom)
    try:
        plans, stretch, total = _plan_captures(crs, ordered, min_zoom, max_zoom)
        futures = tuple(_submit_tiling(pool, cap, crs, tmp, dirs, stretch, zooms)
                        for cap, zooms in plans)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return QueuedViewer(out_dir, tmp, crs, ordered, dirs, tuple(plans), stretch, total, futures)


def finish_viewer(
    queued: QueuedViewer,
    facility_name: str,
    features: Sequence[ViewerFeature],
    progress: Progress | None = None,
) -> Path:
    """Wait for the tiles of :func:`start_viewer`, write the page, move it into place.

    Args:
        queued: the viewer being tiled.
        facility_name: shown in the title.
        features: zone, change and event polygons in the grid CRS.
        progress: called with (tiles written, tiles in total) as captures finish.

    Returns:
        The viewer's ``index.html``.

    Raises:
        ViewerError: a bad feature, or a capture that could not be tiled.

    Example:
        >>> # index = finish_viewer(queued, facility.names.english, features)
    """
    try:
        _check_inputs(queued.crs, queued.captures, features)
        done = 0
        for future in as_completed(queued.futures):
            done += future.result().count
            if progress is not None:
                progress(done, queued.total)
        pyramids = [f.result() for f in queued.futures]
        records = _capture_records(queued.plans, pyramids, queued.dirs, queued.stretch)
        _write_page(queued.tmp, facility_name, queued.crs, queued.captures, records, features)
        _replace_dir(queued.tmp, queued.out_dir)
    finally:
        if queued.tmp.exists():
            queued.discard()
    log.info("viewer written to %s (%d captures)", queued.out_dir, len(queued.captures))
    return queued.out_dir / "index.html"
