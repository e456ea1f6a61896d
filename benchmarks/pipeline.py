"""Seconds per stage of the pipeline for one capture pair, and peak memory.

Usage:
    .venv/bin/python benchmarks/pipeline.py [--size-m 4000] [--gsd 0.5]

Builds a square facility of ``--size-m`` metres around Kangdong's reported point
(4 km at 0.5 m = 8000 x 8000 px, 4 bands), writes two uint16 "vendor" GeoTIFFs
that are a quarter pixel off the facility grid (so warping resamples), then runs,
in a fresh subprocess so its peak RSS is the pipeline's alone:

    read + warp   both captures onto the grid (blocks, COG out)
    mask          clear-sky masks
    detect        change between the pair (mask written)
    polygons      change objects, zone attribution
    timeline      zone metrics and timeline rows
    report        HTML report with figures

and prints, per run, the table with the peak RSS reached by the end of each stage, then one
line per run (4000 x 4000 and 8000 x 8000 px by default) with the ratio of the total to
read + warp + mask (goal <= 2x) and the peak RSS, and one line with the ratio of the two
peaks (goal: the larger run within 1.25x of the smaller). ``--size-m 2000`` runs one size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_facility(dir_: Path, size_m: float) -> Path:
    from pyproj import Transformer
    from shapely.geometry import box, mapping

    lat, lon = 39.008838, 126.153277
    fwd = Transformer.from_crs(4326, 32652, always_xy=True)
    inv = Transformer.from_crs(32652, 4326, always_xy=True)
    x0, y0 = fwd.transform(lon, lat)
    half = size_m / 2 - 31  # stays inside the 60 m snapped extent of size_m

    def poly(dx0: float, dy0: float, dx1: float, dy1: float) -> dict:
        g = box(x0 + dx0, y0 + dy0, x0 + dx1, y0 + dy1)
        xs, ys = inv.transform(*np.asarray(g.exterior.coords).T)
        return mapping(type(g)(list(zip(xs, ys, strict=True))))

    feats = [{"type": "Feature", "geometry": poly(-half, -half, half, half), "properties": {
        "feature_type": "facility", "id": "bench-facility", "name_en": "Benchmark facility",
        "type": "other", "country": "PRK", "reported_lat": lat, "reported_lon": lon,
        "reported_citation": "benchmark", "aoi_method": f"{size_m:g} m square (benchmark)"}}]
    f = half
    for i, (zt, b) in enumerate([("housing", (-0.2 * f, -0.2 * f, 0.2 * f, 0.2 * f)),
                                 ("agriculture", (-0.9 * f, -0.9 * f, -0.3 * f, -0.3 * f)),
                                 ("quarry", (0.3 * f, 0.3 * f, 0.9 * f, 0.9 * f))]):
        feats.append({"type": "Feature", "geometry": poly(*b), "properties": {
            "feature_type": "zone", "zone_id": f"z{i}", "zone_type": zt, "name": zt,
            "source": "benchmark", "simulated": True}})
    path = dir_ / "bench-facility.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def make_capture(path: Path, grid: object, gsd: float, seed: int, changed: bool) -> None:
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    g = grid
    w, h = g.width, g.height  # type: ignore[attr-defined]
    transform = Affine(gsd, 0, g.west + gsd / 4, 0, -gsd, g.north - gsd / 4)  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=4, dtype="uint16",
                       crs=g.crs, transform=transform, nodata=0, tiled=True,  # type: ignore[attr-defined]
                       blockxsize=512, blockysize=512, compress="deflate", zlevel=1) as dst:
        dst.update_tags(ACQUISITION_DATETIME=f"20{15 + seed}-06-01T02:00:00Z",
                        SENSOR="BENCH-VHR", GSD_M=str(gsd), SIMULATED="true",
                        CREDIT="synthetic benchmark scene")
        step = 1024
        base = np.array([500, 700, 650, 2800], np.float32)[:, None, None]
        for r in range(0, h, step):
            for c in range(0, w, step):
                hh, ww = min(step, h - r), min(step, w - c)
                block = base + rng.normal(0, 60, (4, hh, ww)).astype(np.float32)
                if changed:
                    yy, xx = np.mgrid[r : r + hh, c : c + ww]
                    roofs = ((yy // 97) % 7 == 3) & ((xx // 131) % 5 == 2)
                    block[:, roofs] += 2500
                dst.write(np.clip(block, 1, 65535).astype(np.uint16), window=Window(c, r, ww, hh))


def run_stages(work: Path, size_m: float, gsd: float) -> None:
    """Child process: time each stage and print a JSON line."""
    import rasterio

    from facilities.load import load_facility
    from imagery.catalogue import open_catalogue
    from imagery.ingest import ingest_file
    from imagery.quality import region_masks
    from imagery.workspace import FacilityWorkspace, workspace_grid
    from pipeline.change.compare import compare_pair
    from pipeline.change.detect import ChangeParams
    from pipeline.change.pairs import capture_pairs
    from pipeline.change.zones import grid_zones
    from pipeline.history.events import find_events
    from pipeline.history.review import store_event_reviews
    from pipeline.history.timeline import build_timeline
    from pipeline.report.html import write_report
    from pipeline.run import RunSummary, _capture_metrics, metrics_grid

    facility = load_facility(work / "bench-facility.geojson")
    ws = FacilityWorkspace(work / "ws", facility.id)
    times: dict[str, float] = {}
    cpus: dict[str, float] = {}
    rss: dict[str, float] = {}

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with rasterio.Env(GDAL_CACHEMAX=256):
        grid = workspace_grid(ws, facility, gsd)
        t, c = time.perf_counter(), time.process_time()
        for name in ("before.tif", "after.tif"):
            ingest_file(work / name, facility, grid, ws, provider="benchmark")
        times["read + warp + mask"] = time.perf_counter() - t
        cpus["read + warp + mask"] = time.process_time() - c
        rss["read + warp + mask"] = peak_mb()
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            captures = cat.captures()
        (pair,) = capture_pairs(captures)
        zones = grid_zones(facility, grid.crs)
        t, c = time.perf_counter(), time.process_time()
        result = compare_pair(pair, ws, grid, zones, ChangeParams())
        times["detect + polygons + zones"] = time.perf_counter() - t
        cpus["detect + polygons + zones"] = time.process_time() - c
        rss["detect + polygons + zones"] = peak_mb()
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            cat.replace_changes(pair.before.capture_id, pair.after.capture_id, result.changes)
            changes = cat.changes()
        t, c = time.perf_counter(), time.process_time()
        regions = region_masks(facility, metrics_grid(grid))
        metrics = {c.capture_id: _capture_metrics(c, ws, grid, facility, regions) for c in captures}
        rows = build_timeline(facility, captures, changes, zones, metrics)
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            cat.replace_timeline(rows)
            events = find_events(captures, changes)  # as run_facility does: found once, stored
            store_event_reviews(cat, events)
        times["timeline"] = time.perf_counter() - t
        cpus["timeline"] = time.process_time() - c
        rss["timeline"] = peak_mb()
        summary = RunSummary(facility.id, 2, 2, (result,), tuple(events), len(rows))
        t, c = time.perf_counter(), time.process_time()
        write_report(facility, ws, grid, summary)
        times["report"] = time.perf_counter() - t
        cpus["report"] = time.process_time() - c
        rss["report"] = peak_mb()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"times": times, "cpu": cpus, "rss": rss, "peak_rss_mb": peak_mb(),
                      "cpu_s": cpu.ru_utime + cpu.ru_stime, "changes": len(result.changes),
                      "shape": [grid.height, grid.width]}))


def run_size(size_m: float, gsd: float) -> dict:
    """Write the inputs for one size and run the stages in a fresh subprocess."""
    from facilities.grid import facility_grid
    from facilities.load import load_facility

    with tempfile.TemporaryDirectory(prefix="campwatch-bench-") as tmp:
        work = Path(tmp)
        fac = load_facility(make_facility(work, size_m))
        grid = facility_grid(fac, gsd)
        print(f"grid {grid.width} x {grid.height} px at {gsd} m, 4 bands; writing inputs...",
              flush=True)
        make_capture(work / "before.tif", grid, gsd, 1, changed=False)
        make_capture(work / "after.tif", grid, gsd, 2, changed=True)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(work), "--size-m", str(size_m),
             "--gsd", str(gsd)], check=True, capture_output=True, text=True,
        )
        res: dict = json.loads(out.stdout.strip().splitlines()[-1])
    times = res["times"]
    print(f"{'stage':<28}{'seconds':>10}{'CPU s':>10}{'peak RSS MB':>13}")
    for k, v in times.items():
        print(f"{k:<28}{v:>10.2f}{res['cpu'][k]:>10.2f}{res['rss'][k]:>13.0f}")
    print(f"{'total':<28}{sum(times.values()):>10.2f}   (CPU {res['cpu_s']:.1f} s)", flush=True)
    return res


def summary_line(res: dict) -> str:
    times = res["times"]
    total = sum(times.values())
    h, w = res["shape"]
    cpu = res["cpu"]
    return (f"{w} x {h} px: total / (read + warp + mask) = "
            f"{total / times['read + warp + mask']:.2f}x wall, "
            f"{sum(cpu.values()) / cpu['read + warp + mask']:.2f}x CPU (goal <= 2x)   "
            f"peak RSS {res['peak_rss_mb']:.0f} MB"
            f"   total {total:.1f} s   CPU {res['cpu_s']:.1f} s   changes {res['changes']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-m", type=float, default=None,
                    help="One run of this side (default: 2000 and 4000 m at --gsd).")
    ap.add_argument("--gsd", type=float, default=0.5)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_stages(args.child, args.size_m, args.gsd)
        return
    sizes = [args.size_m] if args.size_m else [2000.0, 4000.0]
    results = [run_size(size, args.gsd) for size in sizes]
    for res in results:
        print(summary_line(res))
    if len(results) == 2:
        small, large = results
        print(f"peak RSS {large['shape'][1]} px / {small['shape'][1]} px = "
              f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x "
              f"({large['peak_rss_mb']:.0f} / {small['peak_rss_mb']:.0f} MB; goal <= 1.25x)")


if __name__ == "__main__":
    main()
