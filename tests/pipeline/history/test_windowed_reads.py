"""The series evidence and the events' land cover read windows of the stored captures: the
same pixels as reading the captures whole (demo workspace, every change and event)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window, from_bounds

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.store import read_clear
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.change.evidence import log_contrast, neighbour_looks, neighbour_offsets
from pipeline.change.pairs import series_of
from pipeline.change.persistence import object_masks
from pipeline.demo import DEMO_FACILITY
from pipeline.history.events import read_events
from pipeline.history.landcover import MAX_READ_PX, LandCoverReader
from pipeline.run import Looks, NearLooks, _open_captures, _series_looks


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (
        a is not None and b is not None and np.array_equal(a, b, equal_nan=True))


def test_series_looks_read_each_box_as_the_whole_capture_would(demo_workspace: Path) -> None:
    facility = load_facility_by_id(DEMO_FACILITY)
    ws = FacilityWorkspace(demo_workspace, facility.id)
    grid = workspace_grid(ws, facility, None)
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        captures, changes = cat.captures(), cat.changes()
    checked = 0
    for series in ("vhr", "medium"):
        members = [c for c in captures if c.usable and series_of(c) == series]
        todo = [ch for ch in changes if ch.series == series]
        if not todo:
            continue
        looks: Looks = {}
        near: NearLooks = {}
        with _open_captures(ws, members) as sources:
            _series_looks(grid, todo, members, sources, looks, near)
        whole = Window(0, 0, grid.width, grid.height)
        two = len(members) == 2
        for k, cap in enumerate(members):
            stack = read_clear(ws.absolute(cap.raster_path), ws.absolute(cap.mask_path), whole)
            for ch in todo:
                offsets = neighbour_offsets(ch.geometry, grid.resolution) if two else [(0, 0)]
                m = object_masks(ch.geometry, grid.transform, grid.shape,
                                 reach_m=max(abs(v) for o in offsets for v in o)
                                 * grid.resolution)
                when, look = looks[ch.change_id][k]
                assert when == cap.acquired
                box = None if m is None else stack[(slice(None), *m[0])]
                assert _same(look, None if m is None or box is None
                             else log_contrast(box, m[1], m[2])), ch.change_id
                if two and m is not None and box is not None:
                    expected = neighbour_looks(box, m[1], m[2], offsets)
                    got = near[ch.change_id][k]
                    assert all(_same(a, b) for a, b in zip(got, expected, strict=True))
                checked += 1
    assert checked > 50  # the demo's changes, in each capture of their series


def test_land_cover_reads_the_pixels_the_boundless_read_gives(demo_workspace: Path) -> None:
    facility = load_facility_by_id(DEMO_FACILITY)
    ws = FacilityWorkspace(demo_workspace, facility.id)
    grid = workspace_grid(ws, facility, None)
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        events = read_events(cat)
    assert events
    with LandCoverReader(ws, grid) as reader:
        for ev in events:
            geom = ev.change.geometry
            for cap in (ev.before, ev.after):
                got = reader._read_object(cap, geom)
                w = from_bounds(*geom.bounds, transform=grid.transform)
                w = w.round_offsets(op="floor").round_lengths(op="ceil")
                w = Window(w.col_off, w.row_off, max(1, w.width), max(1, w.height))
                f = max(1, math.ceil(max(w.width, w.height) / MAX_READ_PX))
                shape = (4, max(1, int(w.height) // f), max(1, int(w.width) // f))
                with rasterio.open(ws.absolute(cap.raster_path)) as src:  # the boundless read
                    arr = src.read(indexes=[1, 2, 3, 4], window=w, out_shape=shape,
                                   boundless=True, fill_value=np.nan,
                                   resampling=Resampling.average).astype(np.float32)
                    transform = src.window_transform(w) @ Affine.scale(
                        w.width / shape[2], w.height / shape[1])
                inside = rasterio.features.geometry_mask(
                    [geom], out_shape=shape[1:], transform=transform, invert=True,
                    all_touched=f > 1)
                assert np.array_equal(got, arr[:, inside], equal_nan=True)
    assert isinstance(events[0].before.acquired, datetime)
