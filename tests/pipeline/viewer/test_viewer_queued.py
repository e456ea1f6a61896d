"""The viewer in two steps (tiles queued in a process pool, page written later) writes the
files build_viewer writes; a discarded one leaves nothing behind."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from pipeline.errors import ViewerError
from pipeline.viewer.build import ViewerCapture, ViewerFeature
from pipeline.viewer.queued import finish_viewer, start_viewer

from .conftest import GRID

Scene = tuple[list[ViewerCapture], list[ViewerFeature]]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_queued_viewer_writes_the_same_files(tmp_path: Path, scene: Scene,
                                             built_viewer: Path) -> None:
    captures, features = scene
    out = tmp_path / "viewer"
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        queued = start_viewer(out, GRID.crs, captures, pool)
        seen: list[tuple[int, int]] = []
        index = finish_viewer(queued, "Test camp", features,
                              progress=lambda d, t: seen.append((d, t)))
    assert index == out / "index.html"
    assert _files(out) == _files(built_viewer)
    assert seen[-1][0] == seen[-1][1] > 0
    assert not any(p.name.startswith(".viewer.tmp") for p in tmp_path.iterdir())


def test_discarded_viewer_leaves_nothing(tmp_path: Path, scene: Scene) -> None:
    captures, _ = scene
    out = tmp_path / "viewer"
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        queued = start_viewer(out, GRID.crs, captures, pool)
        queued.discard()
    assert list(tmp_path.iterdir()) == []


def test_bad_zooms_are_refused_before_anything_is_queued(tmp_path: Path, scene: Scene) -> None:
    captures, _ = scene
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool, \
            pytest.raises(ViewerError, match="min_zoom 15 is above max_zoom 14"):
        start_viewer(tmp_path / "viewer", GRID.crs, captures, pool, min_zoom=15, max_zoom=14)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("zooms", "message"), [
    ({"min_zoom": 15, "max_zoom": 14}, "min_zoom 15 is above max_zoom 14"),
    ({"max_zoom": 25}, "max_zoom 25 is outside 0..24"),
    ({"min_zoom": -1}, "min_zoom -1 is outside 0..24"),
])
def test_queued_and_built_viewers_refuse_the_same_zooms(tmp_path: Path, scene: Scene,
                                                        zooms: dict[str, int],
                                                        message: str) -> None:
    from pipeline.viewer.build import build_viewer

    captures, features = scene
    with pytest.raises(ViewerError, match=message):
        build_viewer(tmp_path / "built", "Test camp", GRID.crs, captures, features, **zooms)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool, \
            pytest.raises(ViewerError, match=message):
        start_viewer(tmp_path / "queued", GRID.crs, captures, pool, **zooms)
    assert list(tmp_path.iterdir()) == []


def _marker() -> float:
    """A task that says when it ran (then lets the clock move on)."""
    stamp = time.time()
    time.sleep(0.1)
    return stamp


def test_requeued_tiles_run_behind_work_queued_since_and_write_the_same_files(
    tmp_path: Path, scene: Scene, built_viewer: Path
) -> None:
    # the demo's report figures jump ahead of the tiles: the tiles not yet started go back
    captures, features = scene
    out = tmp_path / "viewer"
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        # one task running and two in the pool's call queue (those cannot be cancelled), so
        # both tiling tasks wait in its pending queue
        for _ in range(3):
            pool.submit(time.sleep, 0.5)
        queued = start_viewer(out, GRID.crs, captures, pool)
        marker = pool.submit(_marker)
        requeued = queued.requeue(pool)
        assert all(f.cancelled() for f in queued.futures)
        assert not any(a is b for a, b in zip(queued.futures, requeued.futures, strict=True))
        index = finish_viewer(requeued, "Test camp", features)
        ran_at = marker.result()
    assert _files(out) == _files(built_viewer)
    tiles = [p for p in (out / "tiles").rglob("*") if p.is_file()]
    assert tiles and min(p.stat().st_mtime for p in tiles) > ran_at
    assert index == out / "index.html"
