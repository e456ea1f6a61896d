"""A real local STAC API (``rustac serve``) with synthetic Sentinel-2-like items over Kangdong.

Three captures on 10 m pixels around the facility grid: A (2024-01-10), B
(2024-03-10) with two planted changes (a bright 100 x 60 m building in the
housing zone, 150 x 100 m of bare earth replacing vegetation in the quarry) and
C (2024-05-10) = B, which confirms them. Pixels are made here, so the expected
alerts are known exactly; nothing from ../shared is used. The HTTP servers are
the STAC helpers' loopback servers (imported from ``tests/imagery/stac/conftest.py``).
"""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer
from scipy.ndimage import gaussian_filter

from tests.imagery.stac.conftest import LoopbackServer, rustac_api, write_cog

FACILITY_ID = "kangdong-kyohwaso-4"
CRS = "EPSG:32652"
ORIGIN = (252280.0, 4322840.0)  # facility grid west/north minus 200 m, on the 10 m lattice
SIZE = 244  # pixels at 10 m
COLLECTION = "sentinel-2-l2a"
KEYS = ("blue", "green", "red", "nir")

BUILDING = (253250.0, 4321700.0, 253350.0, 4321760.0)  # housing-1
EARTHWORKS = (254000.0, 4322100.0, 254150.0, 4322200.0)  # quarry-1
DATES = {"A": "2024-01-10T02:10:00Z", "B": "2024-03-10T02:10:00Z", "C": "2024-05-10T02:10:00Z",
         "D": "2024-07-10T02:10:00Z"}


def _rows_cols(bounds: tuple[float, float, float, float]) -> tuple[slice, slice]:
    x0, y0, x1, y1 = bounds
    return (slice(int((ORIGIN[1] - y1) / 10), int((ORIGIN[1] - y0) / 10)),
            slice(int((x0 - ORIGIN[0]) / 10), int((x1 - ORIGIN[0]) / 10)))


def scene(name: str) -> np.ndarray:
    """Reflectance (4, SIZE, SIZE) of capture ``name``: vegetated land, planted changes from B."""
    rng = np.random.default_rng(7)
    texture = gaussian_filter(rng.normal(0, 1, (SIZE, SIZE)), 1.5)
    texture /= np.abs(texture).max()
    refl = np.stack([0.04 + 0.01 * texture, 0.07 + 0.015 * texture, 0.05 + 0.015 * texture,
                     0.32 + 0.06 * texture]).astype(np.float32)
    noise = np.random.default_rng(ord(name)).normal(0, 0.002, refl.shape)  # sensor noise
    refl = (refl + noise).astype(np.float32)
    if name in ("B", "C", "D"):
        r, c = _rows_cols(BUILDING)
        refl[:, r, c] = np.array([0.30, 0.32, 0.34, 0.36], np.float32)[:, None, None]
        r, c = _rows_cols(EARTHWORKS)
        refl[:, r, c] = np.array([0.12, 0.16, 0.20, 0.24], np.float32)[:, None, None]
    return refl


def lonlat_polygon() -> dict[str, Any]:
    tr = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    x0, y1 = ORIGIN
    x1, y0 = x0 + SIZE * 10.0, y1 - SIZE * 10.0
    ring = [list(tr.transform(x, y)) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return {"type": "Polygon", "coordinates": [ring]}


def make_item(name: str, files: Path, files_url: str) -> dict[str, Any]:
    """A STAC item of capture ``name`` whose COGs are written under ``files``."""
    item_id = f"S2A_TEST_{DATES[name][:10].replace('-', '')}_{name}"
    transform = Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1])
    dn = np.round(scene(name) * 10000 + 1000).astype(np.uint16)
    assets: dict[str, Any] = {}
    for i, key in enumerate(KEYS):
        write_cog(files / item_id / f"{key}.tif", dn[i], transform, nodata=0)
        assets[key] = {"href": f"{files_url}/{item_id}/{key}.tif", "type": "image/tiff",
                       "raster:bands": [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]}
    scl = np.full((SIZE // 2, SIZE // 2), 4, np.uint8)
    write_cog(files / item_id / "scl.tif", scl,
              Affine(20.0, 0, ORIGIN[0], 0, -20.0, ORIGIN[1]), nodata=0)
    assets["scl"] = {"href": f"{files_url}/{item_id}/scl.tif", "type": "image/tiff"}
    geom = lonlat_polygon()
    coords = np.array(geom["coordinates"][0])
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": COLLECTION,
        "geometry": geom,
        "bbox": [coords[:, 0].min(), coords[:, 1].min(), coords[:, 0].max(), coords[:, 1].max()],
        "properties": {"datetime": DATES[name], "platform": "sentinel-2a", "gsd": 10,
                       "eo:cloud_cover": 1.0, "s2:processing_baseline": "05.10"},
        "assets": assets, "links": [],
    }


@dataclass
class Scenes:
    """COGs of every capture behind a Range-capable file server."""

    files: LoopbackServer
    items: dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenes]:
    root = tmp_path_factory.mktemp("watch-cogs")
    server = LoopbackServer(root=root).start()
    items = {n: make_item(n, root, server.url) for n in DATES}
    yield Scenes(server, items)
    server.stop()


StacFactory = Callable[..., AbstractContextManager[LoopbackServer]]


@pytest.fixture
def stac_api(scenes: Scenes, tmp_path: Path) -> StacFactory:
    """``with stac_api("A", "B") as api:`` serves those captures (api.url, api.log)."""

    def start(*names: str) -> AbstractContextManager[LoopbackServer]:
        path = tmp_path / f"items-{''.join(names)}.json"
        path.write_text(json.dumps({"type": "FeatureCollection",
                                    "features": [scenes.items[n] for n in names]}))
        return rustac_api([path], tmp_path)

    return start


def write_config(
    workspace: Path, url: str, *, hooks: Sequence[str] = (), extra: str = ""
) -> Path:
    """``WORKSPACE/watch.toml`` watching Kangdong through the STAC API at ``url``."""
    workspace.mkdir(parents=True, exist_ok=True)
    hook_list = ", ".join(f'"{h}"' for h in hooks)
    path = workspace / "watch.toml"
    path.write_text(textwrap.dedent(f"""\
        webhooks = [{hook_list}]

        [settings]
        resolution = 10.0
        lookback_days = 3650
        overlap_days = 10
        webhook_timeout_s = 1.0
        webhook_retries = 2
        webhook_backoff_s = 0.05
        webhook_deadline_s = 5.0
        search_retries = 1
        search_backoff_s = 0.05
        search_timeout_s = 5.0
        {extra}

        [providers.local]
        type = "stac"
        url = "{url}"
        collections = ["{COLLECTION}"]
        """))
    return path


@pytest.fixture(scope="module")
def ab_api(scenes: Scenes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    """A STAC API serving captures A and B (module scope)."""
    tmp = tmp_path_factory.mktemp("stac-ab")
    path = tmp / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection",
                                "features": [scenes.items[n] for n in "AB"]}))
    with rustac_api([path], tmp) as api:
        yield api


@dataclass
class Received:
    """One POST a hook server saw."""

    headers: dict[str, str]
    body: dict[str, Any]
    status: int
    path: str = ""


@dataclass
class HookServer:
    """A loopback webhook receiver; ``script`` gives the status per request ("hang" hangs,
    "slow:S" answers 200 after S seconds)."""

    script: list[str]
    default: str = "200"
    received: list[Received] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"

    def start(self) -> HookServer:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = hook.script.pop(0) if hook.script else hook.default
                if action == "hang":
                    hook._stop.wait(30)
                    return
                if action.startswith("slow:"):  # answer 200 after a while (maybe too late)
                    hook._stop.wait(float(action[5:]))
                    action = "200"
                hook.received.append(
                    Received(dict(self.headers), json.loads(body), int(action), self.path)
                )
                self.send_response(int(action))
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


@pytest.fixture
def hook_server() -> Iterator[Callable[..., HookServer]]:
    """``hook_server(["500", "200"])`` starts a webhook receiver (stopped after the test)."""
    started: list[HookServer] = []

    def start(script: list[str] | None = None, default: str = "200") -> HookServer:
        server = HookServer(list(script or []), default).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()
