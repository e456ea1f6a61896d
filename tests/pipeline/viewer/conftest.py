"""Fixtures of the viewer tests: a tiny before/after scene, a built viewer, a loopback
static server and headless Chromium driven by Selenium (skipped when Chromium is absent)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import Polygon, box

from facilities.grid import FacilityGrid
from imagery.capture import BANDS
from imagery.store import write_grid_raster
from pipeline.viewer.build import ViewerCapture, ViewerFeature, build_viewer
from tests.chromium import headless_chromium

GRID = FacilityGrid("EPSG:32652", 2.0, 363_000.0, 4_320_000.0, 300, 240)
"""600 m x 480 m at 2 m, near 39° N (the Kangdong UTM zone)."""

BUILDING = (120, 80, 180, 120)
"""(col0, row0, col1, row1) of the block that appears in the after capture."""


def pixel_box(col0: int, row0: int, col1: int, row1: int) -> Polygon:
    """A grid-CRS box over pixel columns col0..col1 and rows row0..row1."""
    g = GRID
    return box(
        g.west + col0 * g.resolution,
        g.north - row1 * g.resolution,
        g.west + col1 * g.resolution,
        g.north - row0 * g.resolution,
    )


def _scene(after: bool) -> np.ndarray:
    rows, cols = np.mgrid[0 : GRID.height, 0 : GRID.width]
    field = 0.08 + 0.04 * np.sin(cols / 9.0) * np.cos(rows / 13.0)
    arr = np.stack(
        [field * 0.8, field * 1.1, field * 0.9, field * 3.0]  # blue, green, red, nir: vegetated
    ).astype(np.float32)
    arr[:, 200:212, :] = np.array([0.2, 0.2, 0.22, 0.25], dtype=np.float32)[:, None, None]  # road
    if after:
        c0, r0, c1, r1 = BUILDING
        arr[:, r0:r1, c0:c1] = np.array([0.45, 0.45, 0.5, 0.5], dtype=np.float32)[:, None, None]
    arr[:, :, :12] = np.nan  # a strip of nodata on the west edge
    return arr


def write_scene(
    tmp: Path, *, simulated: bool = True
) -> tuple[list[ViewerCapture], list[ViewerFeature]]:
    """Two reflectance captures (before, after) and zone + change + event features."""
    captures = []
    for i, (after, when, sensor) in enumerate(
        [
            (False, datetime(2015, 3, 2, 2, 10, tzinfo=UTC), "WorldView-2"),
            (True, datetime(2019, 10, 5, 2, 20, tzinfo=UTC), "WorldView-3"),
        ]
    ):
        path = tmp / f"cap{i}.tif"
        write_grid_raster(path, _scene(after), GRID, nodata=np.nan, band_names=BANDS)
        captures.append(ViewerCapture(f"cap{i}", when, sensor, 0.5, path, simulated))
    features = [
        ViewerFeature(
            pixel_box(20, 20, 280, 190),
            "zones",
            {"zone_id": "housing-1", "zone_type": "housing", "name": "Housing block"},
        ),
        ViewerFeature(
            pixel_box(*BUILDING),
            "changes",
            {
                "change_type": "new_or_brighter",
                "area_m2": 9600.0,
                "before_date": "2015-03-02",
                "after_date": "2019-10-05",
                "review_status": "unreviewed",
                "label": "New building",
            },
        ),
        ViewerFeature(
            pixel_box(30, 140, 60, 170),
            "events",
            {
                "change_type": "earthworks",
                "area_m2": 3600.0,
                "before_date": "2015-03-02",
                "after_date": "2019-10-05",
                "review_status": "confirmed",
                "label": "Excavation </script><b>x</b>",
            },
        ),
    ]
    return captures, features




@pytest.fixture(scope="module")
def scene(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[ViewerCapture], list[ViewerFeature]]:
    """Two simulated captures and one zone, change and event (rasters written once per module;
    tests must not modify them)."""
    return write_scene(tmp_path_factory.mktemp("viewer-scene"))


@pytest.fixture(scope="module")
def built_viewer(
    tmp_path_factory: pytest.TempPathFactory,
    scene: tuple[list[ViewerCapture], list[ViewerFeature]],
) -> Path:
    """A viewer of :func:`scene` built once per test module; returns its directory."""
    out = tmp_path_factory.mktemp("viewer-out") / "viewer"
    index = build_viewer(out, "Test camp", GRID.crs, *scene)
    return index.parent


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(built_viewer: Path) -> Iterator[str]:
    """The built viewer on a loopback static server; yields the index.html URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_viewer))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium through Selenium and the Debian chromedriver (never downloaded)."""
    with headless_chromium(
        tmp_path_factory.mktemp("chromium-profile"), window_size="1280,800", page_load_timeout_s=20
    ) as driver:
        yield driver


@pytest.fixture
def scene_grid() -> FacilityGrid:
    """The grid the scene's rasters and features are on."""
    return GRID


@pytest.fixture
def building_box() -> Polygon:
    """The grid-CRS outline of the block that appears in the after capture."""
    return pixel_box(*BUILDING)
