"""Tiled change detection: seconds per megapixel and peak RSS as the AOI grows.

Usage:
    .venv/bin/python benchmarks/tiling.py [--sizes 2000 8000 20000] [--tile-size 1024]
        [--untiled 8000] [--gdal-cache-mb 64]

For each square AOI side (pixels) it writes a synthetic 4-band uint16 pair block-wise into
a temporary directory (textured ground, a few changed rectangles, 10 m grid), runs
:func:`pipeline.change.tiled.tiled_change` in a fresh subprocess (mask COG written core by core,
objects merged), reads that subprocess's ``ru_maxrss`` and deletes the files. On the
``--untiled`` size it also runs the untiled reference (whole pair in memory, same
calibration) in its own subprocess. Prints a table: AOI px, Mpx, seconds, s/Mpx, peak RSS MB.
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
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RES = 10.0
BLOCK = 1024


def _grid(side: int):  # type: ignore[no-untyped-def]
    from facilities.grid import FacilityGrid

    return FacilityGrid("EPSG:32652", RES, 363000.0, 4320000.0, side, side)


def make_pair(dir_: Path, side: int) -> tuple[Path, Path]:
    """Write BEFORE/AFTER (4 x side x side uint16) block by block."""
    import rasterio
    from rasterio.windows import Window

    grid = _grid(side)
    paths = (dir_ / "before.tif", dir_ / "after.tif")
    profile = dict(driver="GTiff", width=side, height=side, count=4, dtype="uint16",
                   crs=grid.crs, transform=grid.transform, tiled=True, blockxsize=256,
                   blockysize=256, compress="zstd", BIGTIFF="YES")
    rng = np.random.default_rng(0)
    with rasterio.open(paths[0], "w", **profile) as b, \
            rasterio.open(paths[1], "w", **profile) as a:
        for r in range(0, side, BLOCK):
            for c in range(0, side, BLOCK):
                h, w = min(BLOCK, side - r), min(BLOCK, side - c)
                yy, xx = np.mgrid[r:r + h, c:c + w].astype(np.float32)
                base = 1000 + 150 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + 80 * np.sin(
                    (xx + yy) / 23.0)
                bands = np.stack([base * f for f in (0.8, 1.0, 1.1, 1.6)])
                before = bands + rng.normal(0, 20, bands.shape).astype(np.float32)
                after = bands + rng.normal(0, 20, bands.shape).astype(np.float32)
                # changed rectangles every 300 px, cut by tile edges
                ch = ((yy.astype(int) % 300) < 40) & ((xx.astype(int) % 300) < 60)
                after[:, ch] += 600
                win = Window(c, r, w, h)
                b.write(np.clip(before, 0, 65535).astype(np.uint16), window=win)
                a.write(np.clip(after, 0, 65535).astype(np.uint16), window=win)
    return paths


def run_one(before: str, after: str, side: int, tile_size: int, mode: str,
            cache_mb: int) -> None:
    """Child process: run tiled or untiled detection; print JSON with seconds and RSS."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=cache_mb * 1024 * 1024):
        _run(before, after, side, tile_size, mode)


def _run(before: str, after: str, side: int, tile_size: int, mode: str) -> None:
    from imagery.capture import BANDS
    from imagery.store import grid_raster_writer
    from pipeline.change.detect import ChangeParams
    from pipeline.change.tiled import PairFiles, calibrate_pair, tiled_change, untiled_change

    grid = _grid(side)
    files = PairFiles(Path(before), Path(after))
    params = ChangeParams(pixel_size_m=RES, bands=BANDS, min_area_m2=300.0)
    t0 = time.perf_counter()
    cal = calibrate_pair(files, grid.shape, params)
    t_cal = time.perf_counter() - t0
    if mode == "tiled":
        out = Path(before).parent / "mask.tif"
        with grid_raster_writer(out, grid, count=1, dtype="uint8", nodata=255,
                                band_names=("change",)) as sink:
            res = tiled_change(files, grid, params, sink, tile_size=tile_size, calibration=cal)
        n_obj = len(res.objects)
    else:
        _, objs = untiled_change(files, grid, params, cal)
        n_obj = len(objs)
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "calibration_s": t_cal, "rss_mb": rss_mb,
                      "objects": n_obj}))


def measure(side: int, tile_size: int, modes: list[str], cache_mb: int
            ) -> dict[str, dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix=f"tiling-{side}-"))
    try:
        t0 = time.perf_counter()
        before, after = make_pair(tmp, side)
        print(f"  {side} px: pair written in {time.perf_counter() - t0:.1f} s", flush=True)
        out = {}
        for mode in modes:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(before), str(after), str(side),
                 str(tile_size), str(cache_mb)],
                capture_output=True, text=True, check=True,
            )
            out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  {side} px {mode}: {out[mode]}", flush=True)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 20000])
    ap.add_argument("--tile-size", type=int, default=1024)
    ap.add_argument("--untiled", type=int, default=8000,
                    help="AOI side on which the untiled reference is timed too")
    ap.add_argument("--gdal-cache-mb", type=int, default=64,
                    help="GDAL block cache of the measured process (GDAL's default is 5%% "
                         "of RAM, which would show up as RSS growing with the AOI)")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, before, after, side, tile, cache = args.child
        run_one(before, after, int(side), int(tile), mode, int(cache))
        return
    rows = []
    for side in args.sizes:
        modes = ["tiled"] + (["untiled"] if side == args.untiled else [])
        res = measure(side, args.tile_size, modes, args.gdal_cache_mb)
        for mode, r in res.items():
            mpx = side * side / 1e6
            rows.append((side, mode, mpx, r["seconds"], r["seconds"] / mpx, r["rss_mb"],
                         int(r["objects"])))
    print(f"\ntile_size {args.tile_size} px, 4-band uint16, {RES:g} m grid, GDAL cache "
          f"{args.gdal_cache_mb} MB; seconds include the calibration (once per pair) and, "
          "tiled, writing the mask COG")
    print(f"{'AOI px':>8} {'mode':>8} {'Mpx':>8} {'seconds':>9} {'s/Mpx':>7} "
          f"{'peak RSS MB':>12} {'objects':>8}")
    for side, mode, mpx, s, spm, rss, n in rows:
        print(f"{side:>8} {mode:>8} {mpx:>8.1f} {s:>9.1f} {spm:>7.3f} {rss:>12.0f} {n:>8}")


if __name__ == "__main__":
    main()
