"""Bytes fetched for a facility window against the size of a full-tile COG, and time per capture.

Builds a full Sentinel-2-sized tile (10980 x 10980 px at 10 m, uint16, synthetic
pixels: a smooth field plus sensor-like noise, DEFLATE, 512 px tiles and
overviews, as Earth Search publishes) in UTM 52N with the Kangdong facility in
its middle, and a 20 m SCL (5490 x 5490, uint8). Both are served by a loopback
HTTP server that honours Range requests and counts the bytes it sends.

Then fetches captures of the facility (2 km AOI) the way ``campwatch fetch``
does (``fetch_captures`` with the production GDAL options, four reflectance
assets and the SCL read through ``/vsicurl/``, written to a workspace and
catalogued), each time under new URLs so that GDAL's cache never helps.

Run:  .venv/bin/python benchmarks/bytes_read.py [--captures 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box

from facilities.grid import FacilityGrid, facility_grid
from facilities.load import load_facility_by_id
from facilities.model import Facility
from imagery.stac.bands import EARTH_SEARCH_S2
from imagery.stac.fetch import fetch_captures
from imagery.stac.item import CandidateItem
from imagery.stac.read import ItemPixels, gdal_env_options, read_item
from imagery.workspace import FacilityWorkspace

TILE_PX = 10980
FACILITY = "kangdong-kyohwaso-4"


class CountingServer:
    """Serves one directory with single-range support; counts bytes and requests per path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sent: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                server.handle(self, head=True)

            def do_GET(self) -> None:
                server.handle(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        # /<alias>/<file>: every alias serves the same file (fresh URLs defeat GDAL's cache).
        name = h.path.split("?")[0].rsplit("/", 1)[-1]
        path = self.root / name
        size = path.stat().st_size
        rng = h.headers.get("Range")
        start, end, status = 0, size - 1, 200
        if rng and rng.startswith("bytes=") and "," not in rng:
            first, _, last = rng[6:].partition("-")
            start = int(first) if first else size - int(last)
            end = min(int(last), size - 1) if first and last else size - 1
            status = 206
        length = end - start + 1
        h.send_response(status)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(length))
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        h.end_headers()
        if not head:
            with open(path, "rb") as fh:
                fh.seek(start)
                h.wfile.write(fh.read(length))
        with self.lock:
            key = h.path.split("?")[0]
            self.sent[key] = self.sent.get(key, 0) + (0 if head else length)
            self.requests[key] = self.requests.get(key, 0) + 1

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def tile_origin(grid: FacilityGrid) -> tuple[float, float]:
    """A tile origin (multiple of 60 m, like Sentinel-2's) with the facility in the middle."""
    west = grid.west - (TILE_PX // 2) * 10.0
    north = grid.north + (TILE_PX // 2) * 10.0
    return west - west % 60.0, north - north % 60.0


def make_tile(path: Path, origin: tuple[float, float], crs: str) -> None:
    rng = np.random.default_rng(0)
    coarse = rng.normal(1500, 400, (TILE_PX // 60 + 2, TILE_PX // 60 + 2)).astype(np.float32)
    field = np.kron(coarse, np.ones((60, 60), np.float32))[:TILE_PX, :TILE_PX]
    noise = rng.normal(0, 40, (TILE_PX, TILE_PX)).astype(np.float32)
    data = np.clip(field + noise + 1000, 1, 20000).astype(np.uint16)
    del field, noise
    with rasterio.open(
        path, "w", driver="COG", width=TILE_PX, height=TILE_PX, count=1, dtype="uint16",
        crs=crs, transform=Affine(10.0, 0, origin[0], 0, -10.0, origin[1]), nodata=0,
        compress="deflate", predictor=2, blocksize=512, overview_resampling="average",
    ) as dst:
        dst.write(data, 1)


def make_scl(path: Path, origin: tuple[float, float], crs: str) -> None:
    n = TILE_PX // 2
    scl = np.full((n, n), 4, np.uint8)
    scl[:, ::9] = 5
    with rasterio.open(
        path, "w", driver="COG", width=n, height=n, count=1, dtype="uint8", crs=crs,
        transform=Affine(20.0, 0, origin[0], 0, -20.0, origin[1]), nodata=0,
        compress="deflate", blocksize=512, overview_resampling="nearest",
    ) as dst:
        dst.write(scl, 1)


class OneItem:
    """A provider that 'finds' one item per run (no search; the read is the real one)."""

    name = "stac"

    def __init__(self, item: CandidateItem) -> None:
        self.item = item

    def search(self, facility: Facility, start: date, end: date, collection: str,
               max_cloud: float | None = None) -> list[CandidateItem]:
        return [self.item]

    def read(self, item: CandidateItem, grid: FacilityGrid) -> ItemPixels:
        return read_item(item, EARTH_SEARCH_S2, grid)


def item_for(url: str, alias: str, origin: tuple[float, float], crs: str) -> CandidateItem:
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    x0, y1 = origin
    x1, y0 = x0 + TILE_PX * 10.0, y1 - TILE_PX * 10.0
    w, s = tr.transform(x0, y0)
    e, n = tr.transform(x1, y1)
    assets = {k: {"href": f"{url}/{alias}/{k}/tile.tif"} for k in ("blue", "green", "red", "nir")}
    assets["scl"] = {"href": f"{url}/{alias}/scl/scl.tif"}
    item_id = f"BENCH_{alias}"
    raw = {
        "id": item_id, "collection": "sentinel-2-c1-l2a",
        "properties": {"datetime": "2024-05-01T02:00:00Z", "platform": "sentinel-2a",
                       "s2:processing_baseline": "05.10", "gsd": 10},
        "assets": assets,
    }
    acquired = datetime(2024, 5, 1, 2, tzinfo=UTC)
    return CandidateItem("stac", "sentinel-2-c1-l2a", item_id, acquired, box(w, s, e, n), "",
                         None, raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=3, help="captures to fetch (timed)")
    parser.add_argument("--keep", type=Path, help="keep the tile in this directory")
    args = parser.parse_args()

    facility = load_facility_by_id(FACILITY)
    grid = facility_grid(facility, 10.0)
    origin = tile_origin(grid)
    tmp = Path(tempfile.mkdtemp(prefix="cw-bytes-"))
    root = args.keep or tmp / "files"
    root.mkdir(parents=True, exist_ok=True)
    tile, scl = root / "tile.tif", root / "scl.tif"
    t0 = time.perf_counter()
    if not tile.exists():
        make_tile(tile, origin, grid.crs)
        make_scl(scl, origin, grid.crs)
    print(f"tile: {TILE_PX} x {TILE_PX} px uint16 COG, {tile.stat().st_size / 1e6:.1f} MB "
          f"(SCL {scl.stat().st_size / 1e6:.1f} MB), built in {time.perf_counter() - t0:.1f} s")
    aoi_km = (grid.width * grid.resolution / 1000, grid.height * grid.resolution / 1000)
    print(f"facility window: {grid.width} x {grid.height} px = "
          f"{aoi_km[0]:.2f} x {aoi_km[1]:.2f} km")

    server = CountingServer(root)
    ws = FacilityWorkspace(tmp / "ws", facility.id)
    times: list[float] = []
    try:
        with rasterio.Env(**gdal_env_options()):
            for n in range(args.captures):
                alias = f"run{n}"
                provider = OneItem(item_for(server.url, alias, origin, grid.crs))
                t = time.perf_counter()
                report = fetch_captures(facility, provider, "sentinel-2-c1-l2a",
                                        date(2024, 1, 1), date(2024, 12, 31), ws,
                                        resolution=10.0)
                times.append(time.perf_counter() - t)
                assert report.outcomes[0].status == "added", report.outcomes
        band_bytes = server.sent.get("/run0/red/tile.tif", 0)
        band_reqs = server.requests.get("/run0/red/tile.tif", 0)
        scl_bytes = server.sent.get("/run0/scl/scl.tif", 0)
        ratio = band_bytes / tile.stat().st_size
        print(f"one 10 m band: {band_bytes / 1e3:.0f} kB in {band_reqs} requests of "
              f"{tile.stat().st_size / 1e6:.1f} MB = {100 * ratio:.2f} % of the file")
        print(f"SCL (20 m): {scl_bytes / 1e3:.0f} kB of {scl.stat().st_size / 1e6:.1f} MB = "
              f"{100 * scl_bytes / scl.stat().st_size:.2f} %")
        total = sum(v for k, v in server.sent.items() if k.startswith("/run0/"))
        full = 4 * tile.stat().st_size + scl.stat().st_size
        print(f"whole capture: {total / 1e6:.2f} MB fetched of {full / 1e6:.1f} MB of assets "
              f"= {100 * total / full:.2f} %")
        print(f"fetch time per capture (read 5 assets over loopback, reflectance, mask, "
              f"quality, write COGs, catalogue): median {np.median(times):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    finally:
        server.stop()
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp / "ws", ignore_errors=True)


if __name__ == "__main__":
    main()
