"""The simulated capture archive: determinism, georeferencing, truth, events, nuisances."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.windows import from_bounds
from shapely.geometry import Polygon

from facilities.grid import facility_grid, to_grid_crs
from facilities.load import load_facility_by_id
from facilities.model import Facility
from imagery.capture import BANDS
from imagery.errors import ImageryError, SimulationError
from imagery.simulate.archive import (
    SimulatedArchive,
    SimulatedCapture,
    SimulationParams,
    read_truth,
    simulate_archive,
    truth_params,
)
from imagery.simulate.records import CREDIT, EVENT_KINDS, SENSOR_S2, SENSOR_VHR
from imagery.simulate.render import MARGIN_PX, labels_for, prepare_rasters, render_reflectance
from imagery.simulate.scene import plan_scene, scene_grid
from imagery.simulate.schedule import date_events, plan_captures

# 1000 m at 2 m: 500 x 500 px, holds the housing, guard posts and perimeter events
PARAMS = SimulationParams(captures=6, size_m=1000.0, vhr_gsd_m=2.0)


@pytest.fixture(scope="module")
def facility() -> Facility:
    return load_facility_by_id("kangdong-kyohwaso-4")


@pytest.fixture(scope="module")
def archive(facility: Facility, tmp_path_factory: pytest.TempPathFactory) -> SimulatedArchive:
    return simulate_archive(facility, tmp_path_factory.mktemp("sim"), PARAMS)


def _utm_to(crs: str, poly: Polygon, src_crs: str) -> Polygon:
    if crs == src_crs:
        return poly
    xs, ys = Transformer.from_crs(src_crs, crs, always_xy=True).transform(*poly.exterior.xy)
    return Polygon(zip(xs, ys, strict=True))


def _footprint_mean(capture: SimulatedCapture, poly: Polygon, crs: str) -> np.ndarray:
    with rasterio.open(capture.path) as ds:
        inner = _utm_to(ds.crs.to_string(), poly.buffer(-2.5), crs)
        window = from_bounds(*inner.bounds, transform=ds.transform).round_offsets().round_lengths()
        data = ds.read(window=window).reshape(4, -1).astype(float)
    return data.mean(axis=1)


def test_same_params_give_identical_bytes(
    facility: Facility, archive: SimulatedArchive, tmp_path: Path
) -> None:
    again = simulate_archive(facility, tmp_path / "again", PARAMS)
    assert [c.path.name for c in again.captures] == [c.path.name for c in archive.captures]
    for a, b in zip(archive.captures, again.captures, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name
    assert archive.truth_path.read_bytes() == again.truth_path.read_bytes()


def test_another_seed_gives_other_pixels(
    facility: Facility, archive: SimulatedArchive, tmp_path: Path
) -> None:
    params = SimulationParams(captures=2, size_m=200.0, vhr_gsd_m=2.0, seed=5)
    other = simulate_archive(facility, tmp_path, params)
    with rasterio.open(other.captures[0].path) as ds:
        assert ds.read().std() > 0
    assert other.captures[0].path.read_bytes() != archive.captures[0].path.read_bytes()


def test_capture_names_sensors_and_count(archive: SimulatedArchive) -> None:
    assert len(archive.captures) == PARAMS.captures
    assert [c.acquired for c in archive.captures] == sorted(c.acquired for c in archive.captures)
    for c in archive.captures:
        assert re.fullmatch(r"\d{8}T\d{6}_sim-(vhr-1|s2)\.tif", c.path.name)
        assert c.path.name.startswith(c.acquired.strftime("%Y%m%dT%H%M%S"))
        offset = c.acquired.utcoffset()
        assert offset is not None and offset.total_seconds() == 0
        assert c.credit == CREDIT and "SIMULATED" in c.credit
    sensors = [c.sensor for c in archive.captures]
    assert sensors[0] == sensors[-1] == SENSOR_VHR
    assert sensors.count(SENSOR_S2) == round(PARAMS.captures * PARAMS.s2_fraction)


def test_geotiff_profile_and_tags(archive: SimulatedArchive) -> None:
    for c in archive.captures:
        with rasterio.open(c.path) as ds:
            assert (ds.count, ds.dtypes, ds.nodata) == (4, ("uint16",) * 4, 0.0)
            assert ds.descriptions == BANDS
            # VHR uncompressed (cheap to write and read), Sentinel-2-like DEFLATE
            codec = None if ds.compression is None else ds.compression.name
            assert codec == ("deflate" if c.sensor == SENSOR_S2 else None), (c.sensor, codec)
            assert ds.block_shapes[0] == (512, 512)
            assert ds.crs.to_string() == c.crs
            tags = ds.tags()
            assert tags["TIFFTAG_DATETIME"] == c.acquired.strftime("%Y:%m:%d %H:%M:%S")
            assert tags["ACQUISITION_DATETIME"] == c.acquired.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert datetime.fromisoformat(tags["ACQUISITION_DATETIME"]) == c.acquired
            assert tags["SENSOR"] == c.sensor
            assert float(tags["GSD_M"]) == c.gsd_m
            assert tags["CREDIT"] == CREDIT
            assert tags["SIMULATED"] == "true"
            assert 0 <= float(tags["OFF_NADIR_DEG"]) <= 30
            assert float(tags["SUN_ELEVATION_DEG"]) == pytest.approx(c.sun_elevation_deg)
            assert 5 < c.sun_elevation_deg < 80


def test_vhr_grids_are_off_the_facility_grid_and_s2_on_10m(
    facility: Facility, archive: SimulatedArchive
) -> None:
    grid = scene_grid(facility, PARAMS)
    fgrid = facility_grid(facility, PARAMS.vhr_gsd_m)
    vhr = [c for c in archive.captures if c.sensor == SENSOR_VHR]
    geographic = [c for c in vhr if c.crs == "EPSG:4326"]
    assert [vhr.index(c) for c in geographic] == [3]  # every fourth VHR capture
    for c in archive.captures:
        with rasterio.open(c.path) as ds:
            t = ds.transform
            if c.crs == "EPSG:4326":
                west, south, east, north = ds.bounds
                assert 126.1 < west < east < 126.2 and 38.9 < south < north < 39.1
                continue
            assert c.crs == fgrid.crs == "EPSG:32652"
            assert (t.a, -t.e) == (c.gsd_m, c.gsd_m) and t.b == t.d == 0
            if c.sensor == SENSOR_S2:
                assert c.gsd_m == 10.0
                assert t.c % 10.0 == 0.0 and t.f % 10.0 == 0.0
                assert (ds.width, ds.height) == (grid.width // 5, grid.height // 5)
                continue
            # origin offset from the facility grid = sub-pixel part of the misregistration
            sx, sy = (float(v) for v in _shift(c))
            dx = (t.c - fgrid.west) / c.gsd_m
            dy = (fgrid.north - t.f) / c.gsd_m
            assert (dx - sx) == pytest.approx(round(dx - sx), abs=1e-6)
            assert (dy - sy) == pytest.approx(round(dy - sy), abs=1e-6)
            # the capture covers the scene whatever its shift
            west, south, east, north = ds.bounds
            gw, gs, ge, gn = grid.bounds
            assert west <= gw and south <= gs and east >= ge and north >= gn
    offsets = [abs(_shift(c)[0] - round(_shift(c)[0])) for c in vhr]
    assert max(offsets) > 0.05  # at least one capture is visibly off-grid


def _shift(c: SimulatedCapture) -> tuple[float, float]:
    token = next(n for n in c.nuisances if n.startswith("shift:"))
    x, y = token.removeprefix("shift:").removesuffix("px").split(",")
    return float(x), float(y)


def test_vhr_shifts_are_within_four_pixels(archive: SimulatedArchive) -> None:
    for c in archive.captures:
        if c.sensor == SENSOR_VHR:
            assert math.hypot(*_shift(c)) <= 4.0 + 0.1
        else:
            assert not any(n.startswith("shift:") for n in c.nuisances)


def test_truth_round_trips_and_is_marked_simulated(archive: SimulatedArchive) -> None:
    again = read_truth(archive.truth_path)
    assert again == archive
    assert truth_params(archive.truth_path) == PARAMS
    doc = json.loads(archive.truth_path.read_text(encoding="utf-8"))
    assert doc["note"].startswith("SIMULATED")
    assert doc["simulated"] is True and doc["seed"] == PARAMS.seed
    assert doc["events"][0]["geometry"].startswith("POLYGON")


def test_read_truth_moved_archive_and_bad_file(archive: SimulatedArchive, tmp_path: Path) -> None:
    moved = tmp_path / "truth.json"
    moved.write_bytes(archive.truth_path.read_bytes())
    assert read_truth(moved).captures[0].path == tmp_path / archive.captures[0].path.name
    doc = json.loads(moved.read_text(encoding="utf-8"))
    del doc["events"][0]["kind"]
    moved.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SimulationError, match=re.escape(f"{moved}: field 'events'")):
        read_truth(moved)


def test_events_fall_strictly_between_two_capture_dates(archive: SimulatedArchive) -> None:
    days = [c.acquired.date() for c in archive.captures]
    assert archive.events, "the 1000 m scene holds events"
    for e in archive.events:
        assert e.kind in EVENT_KINDS
        assert any(a < e.date < b for a, b in pairwise(days)), e
        assert e.date not in days
    assert [e.date for e in archive.events] == sorted(e.date for e in archive.events)
    assert [e.event_id for e in archive.events] == [
        f"E{i:02d}" for i in range(1, len(archive.events) + 1)
    ]


def test_events_lie_in_the_aoi_and_their_zone(
    facility: Facility, archive: SimulatedArchive
) -> None:
    aoi = to_grid_crs(facility.aoi, archive.crs)
    zones = {z.id: z for z in facility.zones}
    grid = scene_grid(facility, PARAMS)
    kinds = {e.kind for e in archive.events}
    assert {"structure_built", "perimeter_extended", "guard_post_added"} <= kinds
    for e in archive.events:
        zone = zones[e.zone_id]
        assert zone.zone_type == e.zone_type
        assert e.geometry.is_valid and isinstance(e.geometry, Polygon)
        assert e.area_m2 == pytest.approx(e.geometry.area, abs=0.01)
        assert aoi.contains(e.geometry), e.event_id
        assert grid.polygon().contains(e.geometry), e.event_id
        assert to_grid_crs(zone.geometry, archive.crs).buffer(1e-6).contains(e.geometry), e


def test_default_archive_plans_enough_detectable_events(facility: Facility) -> None:
    scene = plan_scene(facility, SimulationParams())
    assert len(scene.observable) == len(scene.events) == 13
    areas = [e.geometry.area for e in scene.events]
    assert sum(a >= 100.0 for a in areas) / len(areas) >= 0.8
    assert min(areas) >= 49.0 - 1e-6  # smallest: a 7 m x 7 m guard post
    assert {e.kind for e in scene.events} == set(EVENT_KINDS)
    plans = plan_captures(SimulationParams(), scene.lon, scene.lat)
    nuisances = {n.split(":")[0] for p in plans for n in p.nuisances}
    assert {"cloud", "mostly_cloudy", "haze", "snow", "partial", "shift"} <= nuisances
    assert sum(p.geographic for p in plans) >= 2
    dated = date_events(scene.events, plans, 4)
    years = {d.year for _, d in dated}
    assert len(years) >= 8  # spread over the years


def _usable(c: SimulatedCapture) -> bool:
    return c.sensor == SENSOR_VHR and not {"cloud", "partial", "snow"} & set(c.nuisances)


def test_structures_change_their_pixels_between_the_bracketing_usable_captures(
    archive: SimulatedArchive,
) -> None:
    caps = archive.captures
    checked = 0
    for e in archive.events:
        if e.kind not in ("structure_built", "guard_post_added", "structure_demolished"):
            continue
        before = [c for c in caps if c.acquired.date() < e.date and _usable(c)][-1]
        after = next(c for c in caps if c.acquired.date() > e.date and _usable(c))
        diff = np.abs(
            _footprint_mean(after, e.geometry, archive.crs)
            - _footprint_mean(before, e.geometry, archive.crs)
        )
        assert diff.max() > 300, (e, diff)  # 0.03 reflectance in some band
        checked += 1
    assert checked >= 3


def test_s2_pixel_is_the_area_average_of_the_scene(
    facility: Facility, archive: SimulatedArchive
) -> None:
    scene = plan_scene(facility, PARAMS)
    plans = plan_captures(PARAMS, scene.lon, scene.lat)
    dated = date_events(scene.events, plans, PARAMS.seed)
    k = next(i for i, c in enumerate(archive.captures) if c.sensor == SENSOR_S2)
    plan = plans[k]
    happened = frozenset(ev.key for ev, d in dated if d < plan.acquired.date())
    rasters = prepare_rasters(scene)
    refl = render_reflectance(scene, rasters, plan, labels_for(scene, rasters, happened), happened)
    f = int(10.0 / PARAMS.vhr_gsd_m)
    with rasterio.open(archive.captures[k].path) as ds:
        dn = ds.read()
    for r, c in [(10, 20), (55, 40), (70, 71)]:
        block = refl[
            :,
            MARGIN_PX + r * f : MARGIN_PX + (r + 1) * f,
            MARGIN_PX + c * f : MARGIN_PX + (c + 1) * f,
        ]
        expected = block.reshape(4, -1).mean(axis=1, dtype=np.float64) * 10000
        assert np.abs(dn[:, r, c] - expected).max() <= 1.0
        # not a point sample: the centre pixel of the block differs from the average
        centre = block[:, f // 2, f // 2] * 10000
        assert np.abs(centre - expected).max() > 1.0


def test_mostly_cloudy_capture_exists_and_is_white(archive: SimulatedArchive) -> None:
    cloudy = [c for c in archive.captures if "mostly_cloudy" in c.nuisances]
    assert len(cloudy) == 1 and cloudy[0].cloud_fraction >= 0.85
    with rasterio.open(cloudy[0].path) as ds:
        blue = ds.read(1)
    assert np.mean(blue > 3000) >= 0.8
    clear = next(c for c in archive.captures if "cloud" not in c.nuisances)
    with rasterio.open(clear.path) as ds:
        assert np.mean(ds.read(1) > 3000) < 0.2


def test_partial_capture_has_nodata_beyond_a_straight_edge(
    facility: Facility, tmp_path: Path
) -> None:
    params = SimulationParams(captures=8, size_m=300.0, vhr_gsd_m=2.5, seed=4)
    arc = simulate_archive(facility, tmp_path, params)
    partial = [c for c in arc.captures if "partial" in c.nuisances]
    assert partial
    for c in partial:
        with rasterio.open(c.path) as ds:
            valid = ds.read_masks(1) > 0
            data = ds.read()
        assert 0.45 < valid.mean() < 0.95
        assert valid.mean() == pytest.approx(c.coverage_fraction, abs=0.05)
        assert (data[:, valid] > 0).all()  # valid pixels never take the nodata value
        rows = np.nonzero(valid.any(axis=1))[0]
        assert len(rows) > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"captures": 1}, "captures must be between 2 and 400, got 1"),
        ({"captures": 2.5}, "captures must be an integer, got 2.5"),
        ({"size_m": 0}, "size_m must be a positive number of metres or None, got 0"),
        ({"size_m": -5.0}, "size_m must be a positive number of metres or None, got -5.0"),
        ({"vhr_gsd_m": 0.0}, "vhr_gsd_m must be a positive number of metres up to 10.0, got 0.0"),
        ({"vhr_gsd_m": -1}, "vhr_gsd_m must be a positive number of metres up to 10.0, got -1"),
        ({"vhr_gsd_m": 0.3}, "vhr_gsd_m must divide 10.0 m exactly"),
        ({"s2_fraction": 1.5}, "s2_fraction must be in [0, 1], got 1.5"),
        ({"start_year": 2020, "end_year": 2010}, "start_year 2020 and end_year 2010"),
    ],
)
def test_bad_params_raise_with_the_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ImageryError, match=re.escape(message)):
        SimulationParams(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(SimulationError):
        SimulationParams(**kwargs)  # type: ignore[arg-type]


def test_existing_archive_is_not_overwritten(facility: Facility, tmp_path: Path) -> None:
    params = SimulationParams(captures=2, size_m=100.0, vhr_gsd_m=5.0)
    first = simulate_archive(facility, tmp_path, params)
    before = first.truth_path.read_bytes()
    with pytest.raises(SimulationError, match=re.escape(f"{first.truth_path} already exists")):
        simulate_archive(facility, tmp_path, params)
    assert first.truth_path.read_bytes() == before
    again = simulate_archive(facility, tmp_path, params, overwrite=True)
    assert again == first


def test_progress_is_reported_per_capture(facility: Facility, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    params = SimulationParams(captures=3, size_m=100.0, vhr_gsd_m=5.0)
    simulate_archive(facility, tmp_path, params, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_rendering_in_worker_processes_writes_the_same_bytes(
    facility: Facility, tmp_path: Path
) -> None:
    params = SimulationParams(captures=4, size_m=200.0, vhr_gsd_m=2.0, seed=3)
    calls: list[tuple[int, int]] = []
    one = simulate_archive(facility, tmp_path / "one", params)
    two = simulate_archive(facility, tmp_path / "two", params, workers=2,
                           progress=lambda d, t: calls.append((d, t)))
    assert [d for d, _ in calls] == [1, 2, 3, 4] and {t for _, t in calls} == {4}
    assert [c.path.name for c in one.captures] == [c.path.name for c in two.captures]
    for a, b in zip(one.captures, two.captures, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name
    assert one.truth_path.read_bytes() == two.truth_path.read_bytes()


def test_a_callers_pool_gives_the_same_bytes_and_says_when_each_file_is_written(
    facility: Facility, tmp_path: Path
) -> None:
    # the demo renders in its own pool and ingests each capture as soon as it is written
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    params = SimulationParams(captures=3, size_m=200.0, vhr_gsd_m=2.0, seed=5)
    one = simulate_archive(facility, tmp_path / "one", params)
    written: list[str] = []

    def seen(capture: SimulatedCapture) -> None:
        assert capture.path.is_file()
        written.append(capture.path.name)

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        shared = simulate_archive(facility, tmp_path / "shared", params, pool=pool,
                                  written=seen)
    assert sorted(written) == sorted(c.path.name for c in shared.captures)
    for a, b in zip(one.captures, shared.captures, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name
    assert one.truth_path.read_bytes() == shared.truth_path.read_bytes()
