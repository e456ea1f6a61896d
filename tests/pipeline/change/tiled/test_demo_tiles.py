"""Tiled detection and the tiles layer on the simulated Kangdong archive."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import shapely

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.tiles import tile_index
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.change.detect import ChangeParams
from pipeline.change.tiled import (
    PairFiles,
    tile_records,
    tile_statuses,
    tiled_change,
    untiled_change,
)
from pipeline.demo import DEMO_FACILITY


def _workspace(root: Path) -> FacilityWorkspace:
    return FacilityWorkspace(root, DEMO_FACILITY)


@pytest.mark.parametrize("coregister", [False, True])
def test_simulated_archive_tiled_equals_untiled(demo_workspace: Path, coregister: bool) -> None:
    ws = _workspace(demo_workspace)
    with open_catalogue(ws.catalogue_path, "EPSG:32652") as cat:
        caps = [c for c in cat.captures() if c.raster_path and c.mask_path]
    grid = workspace_grid(ws, load_facility_by_id(DEMO_FACILITY), None)
    first, last = caps[0], caps[-1]
    files = PairFiles(ws.absolute(first.raster_path), ws.absolute(last.raster_path),
                      ws.absolute(first.mask_path), ws.absolute(last.mask_path))
    params = ChangeParams(pixel_size_m=grid.resolution, bands=("blue", "green", "red", "nir"),
                          min_area_m2=48.0, coregister=coregister)
    res = tiled_change(files, grid, params, tile_size=64)  # 60 px (240 m) cores
    assert len(res.tile_valid) > 4
    mask, objs = untiled_change(files, grid, params, res.calibration)
    if res.calibration.shift_px is None:
        assert res.changed_pixels == int((mask == 1).sum()) > 0
        assert len(res.objects) == len(objs) > 0
        for t, u in zip(res.objects, objs, strict=True):
            assert (t.pixel_count, t.change_type, t.confidence_label) == (
                u.pixel_count, u.change_type, u.confidence_label)
            assert shapely.symmetric_difference(t.geometry, u.geometry).area < 1e-6
    else:
        # The sub-pixel shift is a Fourier shift of each window (pipeline.change.coregister): a
        # handful of threshold-borderline pixels differ from the whole-image shift.
        assert abs(res.changed_pixels - int((mask == 1).sum())) <= 0.005 * res.changed_pixels
        t_area = sum(o.area_m2 for o in res.objects)
        u_area = sum(o.area_m2 for o in objs)
        assert abs(t_area - u_area) <= 0.01 * u_area


def test_tiles_layer_and_tile_status_round_trip(demo_workspace: Path, tmp_path: Path) -> None:
    ws = _workspace(demo_workspace)
    cat_path = tmp_path / "catalogue.gpkg"
    shutil.copy(ws.catalogue_path, cat_path)
    facility = load_facility_by_id(DEMO_FACILITY)
    grid = workspace_grid(ws, facility, None)
    tiles = tile_index(grid, tile_size=64)
    records = tile_records(facility, grid, tiles)
    with open_catalogue(cat_path, grid.crs) as cat:
        cap = next(c for c in cat.captures() if c.mask_path)
        statuses = tile_statuses(cap.capture_id, ws.absolute(cap.mask_path), tiles)
        cat.replace_tiles(records)
        cat.replace_tiles(records)  # rerun replaces, never duplicates
        cat.replace_tile_status(cap.capture_id, statuses)
        stored, status = cat.tiles(), cat.tile_status(cap.capture_id)
    assert [t.tile_id for t in stored] == [t.tile_id for t in tiles]
    assert stored[0].geometry.equals(shapely.box(*tiles[0].bounds))
    zones = {z for t in stored for z in t.zone_ids}
    assert zones == {z.id for z in facility.zones}
    assert len(status) == len(tiles)
    assert sum(s.total_pixels for s in status) == grid.width * grid.height
    assert all(0 <= s.valid_pixels <= s.total_pixels for s in status)


def test_tile_status_of_another_capture_is_refused(tmp_path: Path) -> None:
    from imagery.errors import CatalogueError
    from imagery.records import TileStatus

    cat_path = tmp_path / "catalogue.gpkg"
    with open_catalogue(cat_path, "EPSG:32652") as cat:
        with pytest.raises(CatalogueError, match="belongs to capture 'b', not 'a'"):
            cat.replace_tile_status("a", [TileStatus("b", "r000c000@400cm-240m", 1, 2)])
        assert cat.tile_status() == []
