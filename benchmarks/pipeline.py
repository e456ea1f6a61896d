"""Seconds and peak memory per stage of ``campwatch run`` on a series, at two grid sizes.

Usage:
    .venv/bin/python benchmarks/pipeline.py [--sizes-m 2040 4080] [--gsd 0.5] [--captures 4]
                                            [--keep DIR] [--gdal-cache-mb MB]

For each size (default 2040 m and 4080 m squares at 0.5 m: 4080 x 4080 and 8160 x 8160 px,
4 bands) it builds a facility near Kangdong's reported point and writes ``--captures`` uint16
"vendor" GeoTIFFs a year apart, each sampled with its own sub-pixel offset from the grid (so
warping resamples). The ground is the same in every capture: fields and bare ground varying
over tens of metres, existing roofs, sensor noise and a small gain per capture. From the
second capture on, new things appear and stay: roofs of 10 to 35 m with their own colour
(red, blue or grey metal), and cleared ground (vegetation to bare soil, 40 to 80 m). Their
number per km² is the same at both sizes, so the larger grid has four times as many. Then,
in a fresh subprocess per size (so its peak RSS is that size's alone), it times:

    read + warp + mask   ingest every capture onto the grid (blocks, COG out, clear masks)
    detect               tile status and change between every consecutive pair
    events               persistence, series evidence, zone metrics, timeline, events with
                         their land cover (sub-stages: evidence, metrics, events)
    report               HTML report with its figures (overview, timeline, up to 12 events)
    pdf                  the report's PDF (what ``campwatch run`` writes too)

through the real :func:`pipeline.runner.run_and_report` (the same parameters as
``campwatch run``, one process), and prints per size the stage table (wall and CPU seconds,
each stage's own peak RSS), the change objects and events found, then one line per
size with total / (read + warp + mask) in wall and CPU time (goal <= 2x) and the peak RSS,
and one line with the ratio of the two peaks (goal: the larger within 1.25x of the smaller).
``--keep DIR`` keeps each size's workspace (report, figures) under DIR to look at.

History (details in this file's git log): 2.58x wall / 2.66x CPU at 8160 px on main a42a547;
branches pipe6 and pipe7 cut detection (envelope in strips, each COG block decoded once for
the tile halos, one cached phase ramp, the CLI's GDAL cache fixed to a real 256 MB) to 2.26x
wall / 2.36x CPU on main 928faad, idle machine: 8160 px read + warp + mask 157.4 s CPU,
detect 158.3, events 29.2, report 16.5, pdf 11.2, peak 1272 MB; 4080 px detect 44.3 s CPU,
peak 1028 MB; peaks 1.24x.

Merged tree of session 8 (det8: persistence in windows around the changes, the row shift at
a fast FFT length; rep8: the series evidence and land cover read each object's box from files
opened once, figures laid out without rendering, the PDF's images from a URL fetcher; mem8: the
ingest holds one full-grid mask instead of seven), idle machine (load 0.2 to 1.0), one size per
invocation, each stage's own peak:

    8160 px: read + warp + mask 189.2 s wall / 172.6 CPU (868 MB) | detect 141.6 / 142.2 (830)
             events 17.0 / 16.8 (evidence 11.6) | report 15.6 / 15.5 (1043) | pdf 8.3 / 7.9
             510 change objects, 252 events (45 high, 207 medium): the same as main
             total / (read + warp + mask) = 1.96x wall, 2.06x CPU; peak RSS 1043 MB
    4080 px: read + warp + mask 40.8 s CPU | detect 37.5 | events 5.0 | report 14.2 | pdf 5.3
             134 change objects, 67 events: the same; 2.34x wall, 2.52x CPU; peak 848 MB
    peaks 1043 / 848 = 1.23x (goal <= 1.25x): met

The ratio was under 2 in wall time and just over it in CPU time.

Session 9 (tile halos widened to a fast FFT length, 1176 px instead of 1172 = 4 x 293; the
persistence's files opened once; object pieces polygonised where change is), idle machine,
both sizes in one invocation (``--sizes-m 2040 4080``), each stage's own peak:

    4080 px: read + warp + mask 47.4 s wall / 42.5 CPU (702 MB) | detect 32.4 / 32.8 (753)
             events 4.9 / 4.8 | report 14.5 / 14.4 (877) | pdf 5.8 / 5.5
             134 change objects, 67 events: the same; 2.21x wall, 2.35x CPU; peak 877 MB
    8160 px: read + warp + mask 183.1 / 171.7 (865) | detect 119.1 / 119.7 (863)
             events 15.3 / 15.2 (evidence 10.4) | report 14.1 / 14.1 (994) | pdf 6.4 / 6.2
             510 change objects, 252 events (45 high, 207 medium): the same
             total / (read + warp + mask) = 1.85x wall, 1.90x CPU; peak RSS 994 MB
    peaks 994 / 877 = 1.13x (goal <= 1.25x)

Read + warp + mask took 171.7 to 174.1 s of CPU in three runs of the current ingest on an idle
machine (sessions 8 and 9), and 163.8 s in one run while another session used the second
core; the stages after it take 155 s, so the CPU ratio stays under 2 while the ingest takes
more than that.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LAT, LON = 39.008838, 126.153277
OLD_ROOFS_KM2 = 60.0
"""Roofs present in every capture, per km²."""
NEW_ROOFS_KM2 = 6.0
"""Roofs appearing with each capture after the first, per km²."""
CLEARINGS_KM2 = 1.5
"""Cleared patches appearing with each capture after the first, per km²."""

VEG = np.array([0.035, 0.065, 0.045, 0.34], np.float32)
SOIL = np.array([0.10, 0.13, 0.16, 0.23], np.float32)
OLD_ROOF = np.array([0.17, 0.18, 0.19, 0.21], np.float32)
NEW_ROOFS = np.array([[0.09, 0.08, 0.21, 0.24],  # red metal
                      [0.17, 0.19, 0.15, 0.17],  # blue metal
                      [0.24, 0.25, 0.26, 0.27]], np.float32)  # grey sheet
CLEARED = np.array([0.12, 0.15, 0.19, 0.25], np.float32)


@dataclass(frozen=True)
class Scene:
    """The ground of one benchmark facility, in grid CRS metres."""

    west: float
    """West edge of the grid, metres."""
    north: float
    """North edge of the grid, metres."""
    side_m: float
    """Side of the square grid, metres."""
    veg: np.ndarray
    """Vegetation fraction on a 20 m lattice from (west, north), rows southwards."""
    rects: np.ndarray
    """(N, 6): x0, y0, x1, y1 (metres), first capture showing it, colour index (-1 = old
    roof, 0..2 = new roof colours, 3 = cleared ground)."""


def make_scene(west: float, north: float, side_m: float, captures: int, seed: int = 14) -> Scene:
    """Random but fixed ground: same density of roofs and clearings per km² at every size."""
    rng = np.random.default_rng(seed)
    km2 = side_m * side_m / 1e6
    n_lat = int(side_m // 20) + 2
    veg = np.clip(rng.normal(0.6, 0.25, (n_lat, n_lat)), 0, 1).astype(np.float32)
    rects = []

    def add(n: int, lo: float, hi: float, first: int, colour: int) -> None:
        w, h = rng.uniform(lo, hi, n), rng.uniform(lo, hi, n)
        x = rng.uniform(west + 60, west + side_m - 60 - hi, n)
        y = rng.uniform(north - side_m + 60, north - 60 - hi, n)
        for i in range(n):
            c = colour if colour >= 0 else -1
            if colour == 9:
                c = int(rng.integers(0, 3))
            rects.append((x[i], y[i], x[i] + w[i], y[i] + h[i], first, c))

    add(int(OLD_ROOFS_KM2 * km2), 8, 30, 0, -1)
    for k in range(1, captures):
        add(int(CLEARINGS_KM2 * km2), 40, 80, k, 3)
        add(int(NEW_ROOFS_KM2 * km2), 10, 35, k, 9)
    return Scene(west, north, side_m, veg, np.asarray(rects, np.float64))


def render_block(scene: Scene, k: int, x: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """(4, h, w) reflectance of capture ``k`` at pixel centres ``x`` (cols) and ``y`` (rows)."""
    from scipy.ndimage import map_coordinates

    yy, xx = np.meshgrid((scene.north - y) / 20.0, (x - scene.west) / 20.0, indexing="ij")
    v = map_coordinates(scene.veg, [yy, xx], order=1, mode="nearest")
    out = v[None] * VEG[:, None, None] + (1 - v[None]) * SOIL[:, None, None]
    west, east, south, north = x[0], x[-1], y[-1], y[0]
    r = scene.rects
    hit = ((r[:, 2] >= west) & (r[:, 0] <= east) & (r[:, 3] >= south) & (r[:, 1] <= north)
           & (r[:, 4] <= k))
    # clearings first, roofs over them (x rises along columns, y falls along rows)
    for rx0, ry0, rx1, ry1, _, colour in sorted(r[hit].tolist(), key=lambda t: t[5] != 3):
        c0, c1 = np.searchsorted(x, rx0), np.searchsorted(x, rx1)
        r0, r1 = np.searchsorted(-y, -ry1), np.searchsorted(-y, -ry0)
        if c1 > c0 and r1 > r0:
            value = CLEARED if colour == 3 else OLD_ROOF if colour < 0 else NEW_ROOFS[int(colour)]
            out[:, r0:r1, c0:c1] = value[:, None, None]
    gain = 1.0 + 0.03 * np.sin(np.arange(4) + k)[:, None, None]
    out = out * gain + rng.normal(0, 0.006, out.shape)
    return np.asarray(out, np.float32)


def make_facility(dir_: Path, side_m: float) -> Path:
    """A square facility whose grid is exactly ``side_m`` (a multiple of 120 m) a side."""
    from pyproj import Transformer
    from shapely.geometry import box, mapping

    fwd = Transformer.from_crs(4326, 32652, always_xy=True)
    inv = Transformer.from_crs(32652, 4326, always_xy=True)
    px, py = fwd.transform(LON, LAT)
    x0, y0 = round(px / 60) * 60 - side_m / 2, round(py / 60) * 60 - side_m / 2

    def poly(dx0: float, dy0: float, dx1: float, dy1: float) -> dict:
        g = box(x0 + dx0, y0 + dy0, x0 + dx1, y0 + dy1)
        xs, ys = inv.transform(*np.asarray(g.exterior.coords).T)
        return mapping(type(g)(list(zip(xs, ys, strict=True))))

    s = side_m
    feats = [{"type": "Feature", "geometry": poly(1, 1, s - 1, s - 1), "properties": {
        "feature_type": "facility", "id": "bench-facility", "name_en": "Benchmark facility",
        "type": "other", "country": "PRK", "reported_lat": LAT, "reported_lon": LON,
        "reported_citation": "benchmark", "aoi_method": f"{side_m:g} m square (benchmark)"}}]
    for i, (zt, b) in enumerate([("housing", (0.4, 0.4, 0.6, 0.6)),
                                 ("agriculture", (0.05, 0.05, 0.35, 0.35)),
                                 ("quarry", (0.65, 0.65, 0.95, 0.95))]):
        feats.append({"type": "Feature", "geometry": poly(*(v * s for v in b)), "properties": {
            "feature_type": "zone", "zone_id": f"z{i}", "zone_type": zt, "name": zt,
            "source": "benchmark", "simulated": True}})
    path = dir_ / "bench-facility.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def make_capture(path: Path, scene: Scene, grid: object, gsd: float, k: int) -> None:
    """Capture ``k`` of the series as a uint16 GeoTIFF (reflectance x 10000)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    g = grid
    w, h = g.width, g.height  # type: ignore[attr-defined]
    dx, dy = gsd * (0.25 + 0.1 * k), gsd * (0.3 - 0.07 * k)  # sub-pixel offsets: warp resamples
    west, north = g.west + dx, g.north - dy  # type: ignore[attr-defined]
    transform = Affine(gsd, 0, west, 0, -gsd, north)
    rng = np.random.default_rng(100 + k)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=4, dtype="uint16",
                       crs=g.crs, transform=transform, nodata=0, tiled=True,  # type: ignore[attr-defined]
                       blockxsize=512, blockysize=512, compress="deflate", zlevel=1) as dst:
        dst.update_tags(ACQUISITION_DATETIME=f"{2016 + k}-06-0{1 + k}T02:00:00Z",
                        SENSOR="BENCH-VHR", GSD_M=str(gsd), SIMULATED="true",
                        CREDIT="synthetic benchmark scene")
        dst.scales = (1e-4,) * 4
        step = 1024
        for r in range(0, h, step):
            for c in range(0, w, step):
                hh, ww = min(step, h - r), min(step, w - c)
                x = west + (c + np.arange(ww) + 0.5) * gsd
                y = north - (r + np.arange(hh) + 0.5) * gsd
                block = render_block(scene, k, x, y, rng) * 1e4
                dst.write(np.clip(block, 1, 65535).astype(np.uint16), window=Window(c, r, ww, hh))


def stage_peak_mb() -> float:
    """Peak RSS since the previous call, MB: Linux's VmHWM, then reset (``clear_refs`` 5), so
    each stage reports its own peak; where the reset is not allowed, the process's peak."""
    try:
        status = Path("/proc/self/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmHWM:"))
        Path("/proc/self/clear_refs").write_text("5")
        return hwm / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_stages(work: Path, gsd: float, cache_mb: int | None = None) -> None:
    """Child process: ingest, then ``run_and_report``, timing each stage; print a JSON line.

    GDAL runs with the CLI's options (:func:`pipeline.cli.options.gdal_options`); with
    ``cache_mb``, its block cache is ``cache_mb`` MB instead (in bytes: ``rasterio.Env``
    takes an integer ``GDAL_CACHEMAX`` as bytes, so the CLI's 256 is 256 bytes).
    """
    import rasterio

    from facilities.load import load_facility
    from imagery.ingest import ingest_file
    from imagery.workspace import FacilityWorkspace, workspace_grid
    from pipeline.cli.options import gdal_options
    from pipeline.runner import run_and_report

    facility = load_facility(work / "bench-facility.geojson")
    ws = FacilityWorkspace(work / "ws", facility.id)
    marks: list[tuple[str, float, float, float]] = []

    def mark(stage: str) -> None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        marks.append((stage, time.perf_counter(), ru.ru_utime + ru.ru_stime, stage_peak_mb()))

    def progress(stage: str):  # type: ignore[no-untyped-def]
        def update(done: int, total: int) -> None:
            if done == 0 and stage == "report":
                mark("store")  # events stored and the timeline written: the run is over
            elif done >= total:
                mark(stage)
        return update

    options = gdal_options()
    if cache_mb is not None:
        options["GDAL_CACHEMAX"] = cache_mb << 20
    with rasterio.Env(**options):
        grid = workspace_grid(ws, facility, gsd)
        mark("start")
        for path in sorted(work.glob("capture-*.tif")):
            ingest_file(path, facility, grid, ws, provider="benchmark")
        mark("read + warp + mask")
        summary, _, _ = run_and_report(facility, work / "ws", progress=progress)
    stages: dict[str, list[float]] = {}
    prev = marks[0]
    for m in marks[1:]:
        stages[m[0]] = [m[1] - prev[1], m[2] - prev[2], m[3]]
        prev = m
    print(json.dumps({
        "stages": stages, "shape": [grid.height, grid.width],
        "captures": summary.captures, "changes": summary.changes,
        "events": len(summary.events),
        "persistent": sum(e.status == "confirmed" for e in summary.events),
        "labels": {lab: sum(e.change.confidence_label == lab for e in summary.events)
                   for lab in ("high", "medium", "low")},
    }))


MAIN = ("read + warp + mask", "detect", "events", "report", "pdf")
SUB = {"events": ("evidence", "metrics", "events", "store")}


def run_size(side_m: float, gsd: float, captures: int, keep: Path | None,
             cache_mb: int | None = None) -> dict:
    """Write the inputs for one size and run the stages in a fresh subprocess."""
    from facilities.grid import facility_grid
    from facilities.load import load_facility

    with tempfile.TemporaryDirectory(prefix="campwatch-bench-") as tmp:
        work = Path(tmp)
        fac = load_facility(make_facility(work, side_m))
        grid = facility_grid(fac, gsd)
        print(f"grid {grid.width} x {grid.height} px at {gsd} m, 4 bands, {captures} captures;"
              " writing inputs...", flush=True)
        scene = make_scene(grid.west, grid.north, grid.width * gsd, captures)
        for k in range(captures):
            make_capture(work / f"capture-{k}.tif", scene, grid, gsd, k)
        cache = [] if cache_mb is None else ["--gdal-cache-mb", str(cache_mb)]
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(work), "--gsd", str(gsd), *cache],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            sys.exit(f"the {grid.width} px run failed:\n{out.stderr[-4000:]}")
        res: dict = json.loads(out.stdout.strip().splitlines()[-1])
        if keep is not None:
            dest = keep / f"{grid.width}px"
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(work / "ws", dest)
    raw = res["stages"]
    # the run's own marks: detect ends with its last pair; evidence, metrics, events are the
    # events stage's parts; report and pdf as run_and_report reports them
    stages: dict[str, list[float]] = {}
    for name in MAIN:
        parts = [raw[k] for k in (SUB.get(name, ()) or (name,)) if k in raw]
        stages[name] = [sum(p[0] for p in parts), sum(p[1] for p in parts),
                        max((p[2] for p in parts), default=0.0)]
    res["main"] = stages
    print(f"{'stage':<24}{'seconds':>10}{'CPU s':>10}{'peak RSS MB':>13}  (the stage's own peak)")
    for name, (wall, cpu, rss) in stages.items():
        print(f"{name:<24}{wall:>10.1f}{cpu:>10.1f}{rss:>13.0f}")
        for sub in SUB.get(name, ()):
            if sub in raw:
                w, c, r = raw[sub]
                print(f"  {sub:<22}{w:>10.1f}{c:>10.1f}{r:>13.0f}")
    labels = ", ".join(f"{v} {k}" for k, v in res["labels"].items())
    print(f"{res['captures']} captures, {res['changes']} change objects, {res['events']} events "
          f"({res['persistent']} persistent; {labels})", flush=True)
    return res


def summary_line(res: dict) -> str:
    """One line: the overhead ratio (wall and CPU), peak RSS and what was found."""
    st = res["main"]
    total, cpu = sum(v[0] for v in st.values()), sum(v[1] for v in st.values())
    base = st["read + warp + mask"]
    h, w = res["shape"]
    peak = max(v[2] for v in st.values())
    return (f"{w} x {h} px: total / (read + warp + mask) = {total / base[0]:.2f}x wall, "
            f"{cpu / base[1]:.2f}x CPU (goal <= 2x); peak RSS {peak:.0f} MB; "
            f"total {total:.0f} s wall, {cpu:.0f} s CPU; "
            f"{res['changes']} changes, {res['events']} events")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--sizes-m", type=float, nargs="+", default=[2040.0, 4080.0],
                    help="Sides of the square grids, metres, multiples of 120 (default 2040 "
                         "4080: 4080 and 8160 px at 0.5 m).")
    ap.add_argument("--gsd", type=float, default=0.5)
    ap.add_argument("--captures", type=int, default=4, help="Captures per series (>= 3).")
    ap.add_argument("--keep", type=Path, help="Keep each size's workspace under this folder.")
    ap.add_argument("--gdal-cache-mb", type=int,
                    help="Run with a GDAL block cache of this many MB instead of the CLI's "
                         "GDAL_CACHEMAX (which rasterio takes as bytes): what fixing it would "
                         "change.")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_stages(args.child, args.gsd, args.gdal_cache_mb)
        return
    results = [run_size(s, args.gsd, args.captures, args.keep, args.gdal_cache_mb)
               for s in args.sizes_m]
    for res in results:
        print(summary_line(res))
    if len(results) == 2:
        small, large = results
        ps = max(v[2] for v in small["main"].values())
        pl = max(v[2] for v in large["main"].values())
        print(f"peak RSS {large['shape'][1]} px / {small['shape'][1]} px = {pl / ps:.2f}x "
              f"({pl:.0f} / {ps:.0f} MB; goal <= 1.25x)")


if __name__ == "__main__":
    main()
