"""Tiled change detection equals the untiled computation (mask cores, polygons, stats)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio import features
from rasterio.warp import Resampling, reproject, transform_bounds
from scipy import ndimage

from facilities.grid import FacilityGrid
from imagery.capture import BANDS
from imagery.store import grid_raster_writer
from pipeline.change.detect import ChangeParams
from pipeline.change.objects import ChangeObject
from pipeline.change.tile_objects import band_stats, core_pieces
from pipeline.change.tiled import (
    PairFiles,
    TiledChange,
    calibrate_pair,
    canonical,
    tiled_change,
    untiled_change,
)
from pipeline.errors import NoClearPixelsError

from .conftest import GRID, simulated_pair, write

TOLERANCE_M2 = 1e-6


def run_tiled(files: PairFiles, grid: FacilityGrid, params: ChangeParams, tmp: Path,
              tile_size: int) -> tuple[TiledChange, np.ndarray]:
    path = tmp / f"mask-{tile_size}.tif"
    with grid_raster_writer(path, grid, count=1, dtype="uint8", nodata=255,
                            band_names=("change",)) as sink:
        res = tiled_change(files, grid, params, sink, tile_size=tile_size)
    with rasterio.open(path) as src:
        return res, src.read(1)


def assert_same_objects(tiled: tuple[ChangeObject, ...], untiled: list[ChangeObject]) -> None:
    assert len(tiled) == len(untiled)
    for t, u in zip(tiled, untiled, strict=True):
        assert t.pixel_count == u.pixel_count
        assert t.change_type == u.change_type
        assert t.confidence == pytest.approx(u.confidence, abs=1e-5)
        assert t.confidence_label == u.confidence_label
        assert shapely.symmetric_difference(t.geometry, u.geometry).area < TOLERANCE_M2


@pytest.mark.parametrize("coregister", [False, True])
def test_simulated_pair_tiled_equals_untiled(tmp_path: Path, coregister: bool) -> None:
    files = simulated_pair(tmp_path)
    params = ChangeParams(pixel_size_m=10.0, bands=BANDS, min_area_m2=300.0,
                          coregister=coregister)
    res, mask = run_tiled(files, GRID, params, tmp_path, 128)
    ref_mask, ref_objs = untiled_change(files, GRID, params, res.calibration)
    np.testing.assert_array_equal(mask, ref_mask)
    assert res.changed_pixels == int((ref_mask == 1).sum()) > 2000
    assert_same_objects(res.objects, ref_objs)
    # the 35 x 25 px bright patch spans four tiles: one polygon, not four
    assert len(res.objects) == 4
    assert res.objects[0].pixel_count >= 35 * 25
    assert isinstance(res.objects[0].geometry, shapely.Polygon)
    assert {o.change_type for o in res.objects} == {
        "new_or_brighter", "removed_or_darker", "vegetation_gain"}


def test_tile_size_does_not_change_the_answer(tmp_path: Path) -> None:
    files = simulated_pair(tmp_path)
    params = ChangeParams(pixel_size_m=10.0, bands=BANDS, min_area_m2=300.0)
    cal = calibrate_pair(files, GRID.shape, params)
    small = tiled_change(files, GRID, params, tile_size=64, calibration=cal)
    whole = tiled_change(files, GRID, params, tile_size=1024, calibration=cal)
    assert len(small.tile_valid) == 7 * 6 and len(whole.tile_valid) == 1
    # the canonical outlines are identical, vertex for vertex, whatever the tiling
    assert [o.geometry.wkb for o in small.objects] == [o.geometry.wkb for o in whole.objects]
    assert [o.change_type for o in small.objects] == [o.change_type for o in whole.objects]


def test_tiles_without_valid_pixels_are_recorded_and_skipped(tmp_path: Path) -> None:
    files = simulated_pair(tmp_path)
    params = ChangeParams(pixel_size_m=10.0, bands=BANDS, min_area_m2=300.0)
    res, mask = run_tiled(files, GRID, params, tmp_path, 32)  # 24 px cores at 10 m
    assert res.tile_valid["r000c000@1000cm-240m"] == 0  # the nodata corner
    assert res.tile_valid["r000c002@1000cm-240m"] == 24 * 24
    assert (mask[:24, :24] == 255).all()
    assert res.valid_pixels == int((mask != 255).sum())


def test_no_clear_pixel_is_a_clear_error(tmp_path: Path) -> None:
    files = simulated_pair(tmp_path)
    none = write(tmp_path / "none.tif", np.zeros((1, GRID.height, GRID.width), np.uint8),
                 GRID, None)
    with pytest.raises(
        NoClearPixelsError, match=r"no pixel is valid in both BEFORE and AFTER: .*before\.tif"
    ):
        tiled_change(replace(files, after_mask=none), GRID, ChangeParams(pixel_size_m=10.0))


def test_canonical_merges_collinear_edges() -> None:
    left, right = shapely.box(0, 0, 2, 3), shapely.box(2, 0, 5, 3)
    merged = canonical(shapely.union_all([left, right]))
    assert merged.equals_exact(shapely.normalize(shapely.box(0, 0, 5, 3)), 0.0)
    assert len(merged.exterior.coords) == 5


def _utm_pair(shared: Path, tmp: Path) -> tuple[PairFiles, FacilityGrid]:
    """OSCD Bercy (Sentinel-2, 10 m) warped onto a 10 m UTM 31N facility-style grid."""
    city = shared / "oscd" / "bercy"
    bands = ("B02", "B03", "B04", "B08")
    first = next((city / "imgs_1").glob("*_B02.tif"))
    with rasterio.open(first) as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:32631", *src.bounds)
    west, north = math.ceil(w / 60) * 60, math.floor(n / 60) * 60
    grid = FacilityGrid("EPSG:32631", 10.0, west, north,
                        int((math.floor(e / 60) * 60 - west) // 10),
                        int((north - math.ceil(s / 60) * 60) // 10))
    out = []
    for date in ("imgs_1", "imgs_2"):
        stack = np.full((4, grid.height, grid.width), np.nan, np.float32)
        for i, band in enumerate(bands):
            path = next((city / date).glob(f"*_{band}.tif"))
            with rasterio.open(path) as src:
                reproject(rasterio.band(src, 1), stack[i], dst_transform=grid.transform,
                          dst_crs=grid.crs, resampling=Resampling.bilinear, dst_nodata=np.nan)
        out.append(write(tmp / f"{date}.tif", stack, grid, float("nan")))
    return PairFiles(out[0], out[1]), grid


@pytest.mark.shared
def test_real_oscd_pair_tiled_equals_untiled(shared_data: Path, tmp_path: Path) -> None:
    files, grid = _utm_pair(shared_data, tmp_path)
    params = ChangeParams(pixel_size_m=10.0, bands=BANDS, min_area_m2=300.0)
    res, mask = run_tiled(files, grid, params, tmp_path, 128)
    assert len(res.tile_valid) >= 12  # 96 px cores cut the city
    ref_mask, ref_objs = untiled_change(files, grid, params, res.calibration)
    same = mask == ref_mask
    # A sub-pixel shift is applied in the Fourier domain per window: allow a few
    # border-sensitive pixels when one was applied, none otherwise.
    allowed = 0 if res.calibration.shift_px is None else int(0.001 * mask.size)
    assert int((~same).sum()) <= allowed
    assert res.changed_pixels > 100
    if allowed == 0:
        assert_same_objects(res.objects, ref_objs)
    else:
        assert abs(len(res.objects) - len(ref_objs)) <= 2


def test_band_stats_without_a_gather_when_every_pixel_is_valid() -> None:
    rng = np.random.default_rng(4)
    core = rng.normal(5, 2, (3, 40, 60)).astype(np.float32)[:, 5:35, 7:50]  # a strided view
    core[1, 3, 4] = np.nan
    every = np.ones(core.shape[1:], bool)
    some = every.copy()
    some[10:20, 5:9] = False
    for valid in (every, some):
        want = []
        for i in range(3):
            v = core[i][valid].astype(np.float64)
            v = v[np.isfinite(v)]
            want.append([v.size, v.mean(), ((v - v.mean()) ** 2).sum()])
        np.testing.assert_array_equal(band_stats(core, valid), np.array(want))


def test_core_pieces_polygonise_only_where_change_is_with_the_same_outlines() -> None:
    change = np.zeros((50, 70), bool)
    change[12:20, 30:41] = True
    change[15, 41:45] = True
    change[30:33, 22:25] = True
    rng = np.random.default_rng(5)
    score = rng.random((50, 70)).astype(np.float32)
    before, after = rng.random((2, 2, 50, 70))
    pieces, edges = core_pieces(change, score, before, after, None, 3, (100, 200))
    labels, n = ndimage.label(change, structure=ndimage.generate_binary_structure(2, 1))
    whole = {int(v): shapely.geometry.shape(g) for g, v in features.shapes(
        labels.astype(np.int32), mask=change, connectivity=4,
        transform=Affine.translation(200, 100))}
    assert len(pieces) == n == 2
    for piece in pieces:
        lab = piece.key[1]
        assert [p.wkb for p in piece.polygons] == [whole[lab].wkb]  # vertex for vertex
        rows, cols = np.nonzero(labels == lab)
        assert piece.first == (100 + int(rows[0]), 200 + int(cols[0]))
        assert piece.pixels == int((labels == lab).sum())
    assert not edges["left"].any() and not edges["top"].any()
