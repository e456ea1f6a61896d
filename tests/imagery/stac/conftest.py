"""Real components on loopback for the STAC tests.

* ``LoopbackServer``: an ``http.server`` that serves files with HTTP Range
  support, or forwards to an upstream (a ``rustac serve`` STAC API), with
  scripted faults per path (500, 429, a hung connection, a duplicated item).
* ``rustac serve`` loaded with the REAL item JSON of ``../shared/data/stac``,
  rewritten so that geometry/bbox cover the Kangdong AOI and the asset hrefs
  point at COGs made here from the REAL Sentinel-2 pixels of
  ``../shared/data/oscd/bercy`` (10 m bands relabelled onto EPSG:32652 around
  the facility: the pixel values are real, their place is not) plus a
  synthetic SCL. Nothing from ../shared is copied into the repository.

Every server is started on a free port in a fixture and stopped by it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import rasterio
import requests
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box, mapping

from facilities.grid import facility_grid, to_grid_crs
from facilities.load import load_facility_by_id

FACILITY_ID = "kangdong-kyohwaso-4"
CRS = "EPSG:32652"
# The relabelled bercy scene (360 x 395 px at 10 m) centred on the facility grid; the
# origin is a multiple of 60 m, as Sentinel-2 tile origins are, so pixels align exactly.
ORIGIN = (251700.0, 4323600.0)
BANDS_10M = ("B02", "B03", "B04", "B08")


# ----------------------------------------------------------------------------- HTTP server
@dataclass
class Logged:
    """One request the server saw."""

    method: str
    path: str
    query: str
    range: str | None
    status: int
    sent: int


@dataclass
class LoopbackServer:
    """Files with Range support, or a forwarding proxy, with scripted faults."""

    root: Path | None = None
    upstream: str | None = None
    require_query: dict[str, str] = field(default_factory=dict)
    """path prefix -> query string that must be present (else 403), e.g. signed hrefs."""
    faults: dict[str, list[str]] = field(default_factory=dict)
    """path -> actions used one per request: "500", "429", "hang", "dup"."""
    always: dict[str, str] = field(default_factory=dict)
    """path -> action applied to every request ("hang", "500")."""
    log: list[Logged] = field(default_factory=list)
    hang_s: float = 20.0
    port: int = 0
    _httpd: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _first_page: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, path: str) -> list[Logged]:
        return [r for r in self.log if r.path == path]

    def start(self) -> LoopbackServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                server._handle(self, head=True)

            def do_GET(self) -> None:
                server._handle(self, head=False)

            def do_POST(self) -> None:
                server._handle(self, head=False)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- request handling --------------------------------------------------------------------
    def _reply(self, h: BaseHTTPRequestHandler, status: int, body: bytes, head: bool,
               headers: dict[str, str] | None = None, rng: str | None = None) -> None:
        parts = urlsplit(h.path)
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)
        self.log.append(Logged(h.command, parts.path, parts.query, rng, status,
                               0 if head else len(body)))

    def _handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        rng = h.headers.get("Range")
        body_in = b""
        if h.command == "POST":
            body_in = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        queue = self.faults.get(path)
        action = queue.pop(0) if queue else self.always.get(path, "")
        if action == "hang":
            self.log.append(Logged(h.command, path, parts.query, rng, 0, 0))
            self._stop.wait(self.hang_s)
            h.close_connection = True
            return
        if action in ("500", "429", "503"):
            self._reply(h, int(action), b'{"code":"fault","description":"injected"}', head,
                        {"Content-Type": "application/json", "Retry-After": "0"}, rng)
            return
        for prefix, query in self.require_query.items():
            if path.startswith(prefix) and query not in parts.query:
                self._reply(h, 403, b"signature required", head, rng=rng)
                return
        if self.upstream is not None:
            self._proxy(h, parts.path + (f"?{parts.query}" if parts.query else ""), body_in,
                        head, duplicate=action == "dup")
            return
        self._file(h, path, rng, head)

    def _proxy(self, h: BaseHTTPRequestHandler, target: str, body: bytes, head: bool,
               duplicate: bool) -> None:
        headers = {"Content-Type": h.headers.get("Content-Type", "application/json")}
        resp = requests.request(h.command, f"{self.upstream}{target}", data=body or None,
                                headers=headers, timeout=10)
        content = resp.content
        if resp.ok and urlsplit(target).path == "/search":
            page = resp.json()
            if self._first_page is None:
                self._first_page = page
            elif duplicate and self._first_page.get("features"):
                # An unstable server sort: page 2 repeats an item of page 1.
                page["features"].insert(0, copy.deepcopy(self._first_page["features"][0]))
                content = json.dumps(page).encode()
        self._reply(h, resp.status_code, content, head,
                    {"Content-Type": resp.headers.get("Content-Type", "application/json")})

    def _file(self, h: BaseHTTPRequestHandler, path: str, rng: str | None, head: bool) -> None:
        assert self.root is not None
        file = (self.root / path.lstrip("/")).resolve()
        if not file.is_file() or self.root.resolve() not in file.parents:
            self._reply(h, 404, b"not found", head, rng=rng)
            return
        data = file.read_bytes()
        size = len(data)
        base = {"Content-Type": "image/tiff", "Accept-Ranges": "bytes"}
        if rng and rng.startswith("bytes=") and "," not in rng:
            first, _, last = rng[len("bytes="):].partition("-")
            start = int(first) if first else max(0, size - int(last))
            end = min(int(last), size - 1) if (first and last) else size - 1
            if start >= size:
                self._reply(h, 416, b"", head, {"Content-Range": f"bytes */{size}"}, rng)
                return
            self._reply(h, 206, data[start:end + 1], head,
                        base | {"Content-Range": f"bytes {start}-{end}/{size}"}, rng)
            return
        assert rng is None, f"multi-range requests are not supported here: {rng}"
        self._reply(h, 200, data, head, base, rng)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def rustac_api(files: list[Path], workdir: Path) -> Iterator[LoopbackServer]:
    """A ``rustac serve`` STAC API behind a fault-injecting proxy (links point at the proxy)."""
    exe = shutil.which("rustac") or str(Path(__import__("sys").executable).parent / "rustac")
    if not Path(exe).exists():
        pytest.skip("needs the `rustac` command (pip install rustac) to serve a real STAC API")
    proxy_port, rustac_port = free_port(), free_port()
    log = (workdir / f"rustac-{rustac_port}.log").open("w")
    proc = subprocess.Popen(
        [exe, "serve", "--create-collections", "--addr", f"127.0.0.1:{proxy_port}",
         "--bind", f"127.0.0.1:{rustac_port}", *map(str, files)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    proxy = LoopbackServer(upstream=f"http://127.0.0.1:{rustac_port}", port=proxy_port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{rustac_port}/", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rustac serve did not start: see {log.name}")
            time.sleep(0.1)
        proxy.start()
        yield proxy
    finally:
        proxy.stop()
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ----------------------------------------------------------------------------- COGs
def write_cog(path: Path, array: np.ndarray, transform: Affine, nodata: int) -> Path:
    """A real COG: tiled 256, DEFLATE, overviews, UTM 52N."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="COG", width=array.shape[1], height=array.shape[0], count=1,
        dtype=array.dtype.name, crs=CRS, transform=transform, nodata=nodata, compress="deflate",
        blocksize=256, overview_resampling="nearest",
    ) as dst:
        dst.write(array, 1)
    return path


def load_bercy(shared_data: Path, epoch: int) -> dict[str, np.ndarray]:
    """The real 10 m bands of OSCD bercy (L1C DN = reflectance x 10000)."""
    folder = shared_data / "oscd" / "bercy" / f"imgs_{epoch}"
    out = {}
    for band in BANDS_10M:
        (path,) = sorted(folder.glob(f"*_{band}.tif"))
        with rasterio.open(path) as src:
            out[band] = src.read(1)
    return out


def scene_transform(res: float) -> Affine:
    return Affine(res, 0.0, ORIGIN[0], 0.0, -res, ORIGIN[1])


def scene_lonlat_polygon(shape: tuple[int, int]) -> dict[str, Any]:
    """The scene extent as a GeoJSON polygon in lon/lat."""
    h, w = shape
    tr = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    x0, y1 = ORIGIN
    x1, y0 = x0 + w * 10.0, y1 - h * 10.0
    ring = [tr.transform(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def synthetic_scl(
    shape10: tuple[int, int], cloud_rows: slice | None, all_cloud: bool
) -> np.ndarray:
    """A 20 m SCL: vegetation (4), a cloud band (9) over ``cloud_rows`` (10 m rows)."""
    h, w = (shape10[0] + 1) // 2, (shape10[1] + 1) // 2
    scl = np.full((h, w), 4, np.uint8)
    scl[:, ::7] = 5  # some bare ground
    if cloud_rows is not None:
        scl[cloud_rows.start // 2: cloud_rows.stop // 2, :] = 9
    if all_cloud:
        scl[:] = 9
    return scl


@dataclass
class SceneSpec:
    """How to turn one real item into a served test item."""

    file: str
    index: int = 0
    epoch: int = 1
    dn_offset: int = 0
    cloud_rows: slice | None = None
    all_cloud: bool = False
    miss_aoi: bool = False
    truncate: str | None = None
    """Asset key whose COG is cut to a few kB (a corrupt/truncated file)."""


def build_item(
    spec: SceneSpec,
    shared_data: Path,
    files_dir: Path,
    files_url: str,
    url_prefix: str,
    keys: tuple[str, str, str, str, str],
) -> dict[str, Any]:
    """Rewrite one real item: geometry over the AOI, hrefs to COGs made from real pixels."""
    data = json.loads((shared_data / "stac" / spec.file).read_text(encoding="utf-8"))
    item: dict[str, Any] = copy.deepcopy(data["features"][spec.index] if "features" in data
                                         else data)
    pixels = load_bercy(shared_data, spec.epoch)
    shape = pixels["B02"].shape
    folder = f"{url_prefix}/{item['id']}"
    for key, band in zip(keys[:4], BANDS_10M, strict=True):
        dn = pixels[band].astype(np.int32) + spec.dn_offset
        dn[pixels[band] == 0] = 0
        path = write_cog(files_dir / folder / f"{key}.tif", dn.astype(np.uint16),
                         scene_transform(10.0), nodata=0)
        if spec.truncate == key:
            raw = path.read_bytes()
            path.write_bytes(raw[: len(raw) // 3])
        item["assets"][key]["href"] = f"{files_url}/{folder}/{key}.tif"
    scl = synthetic_scl(shape, spec.cloud_rows, spec.all_cloud)
    write_cog(files_dir / folder / f"{keys[4]}.tif", scl, scene_transform(20.0), nodata=0)
    item["assets"][keys[4]]["href"] = f"{files_url}/{folder}/{keys[4]}.tif"
    if spec.miss_aoi:
        # Inside the AOI's bounding box (so the server returns it) but outside the AOI disc.
        facility = load_facility_by_id(FACILITY_ID)
        w, s, _, _ = facility.aoi.bounds
        geom = mapping(box(w, s, w + 0.0015, s + 0.0012))
        item["geometry"] = geom
    else:
        item["geometry"] = scene_lonlat_polygon(shape)
    coords = np.array(item["geometry"]["coordinates"][0])
    item["bbox"] = [coords[:, 0].min(), coords[:, 1].min(), coords[:, 0].max(),
                    coords[:, 1].max()]
    return item


def expected_reflectance(shared_data: Path, epoch: int) -> np.ndarray:
    """What a capture of the scene must hold on the facility grid: real DN / 10000."""
    pixels = load_bercy(shared_data, epoch)
    grid = facility_grid(load_facility_by_id(FACILITY_ID), 10.0)
    col0 = int(round((grid.west - ORIGIN[0]) / 10.0))
    row0 = int(round((ORIGIN[1] - grid.north) / 10.0))
    stack = np.stack([pixels[b][row0:row0 + grid.height, col0:col0 + grid.width]
                      for b in BANDS_10M]).astype(np.float32)
    out: np.ndarray = (stack.astype(np.float64) / 10000.0).astype(np.float32)
    out[stack == 0] = np.nan
    return out


def zone_rows(zone_id: str) -> tuple[int, int]:
    """First/last grid row a zone covers (to put a cloud band over it)."""
    facility = load_facility_by_id(FACILITY_ID)
    grid = facility_grid(facility, 10.0)
    zone = next(z for z in facility.zones if z.id == zone_id)
    _, s, _, n = to_grid_crs(zone.geometry, grid.crs).bounds
    return int((grid.north - n) // 10), int((grid.north - s) // 10) + 1


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    """A Range-honouring file server on loopback (PC paths need a signature)."""
    root = tmp_path_factory.mktemp("cogs")
    server = LoopbackServer(root=root, require_query={"/pc/": "sig=ok"}).start()
    yield server
    server.stop()


ItemBuilder = Callable[[SceneSpec, str, tuple[str, str, str, str, str]], dict[str, Any]]


@pytest.fixture(scope="session")
def kit() -> Any:
    """This module, so tests can use its helpers (conftest is not importable by name)."""
    import sys

    return sys.modules[__name__]
