"""Benchmark: a watch pass over 100 facilities with nothing new, serial and on Dask.

Usage::

    .venv/bin/python benchmarks/watch.py                 # 100 facilities, serial + 1 + 2 workers
    .venv/bin/python benchmarks/watch.py --facilities 20 --workers 0

Set-up (not timed): 100 facility definitions are generated into a temporary
directory (copies of the Kangdong definition shifted by up to ~5 km); a real
``rustac serve`` STAC API is loaded with the REAL Sentinel-2 items of
``../shared/data/stac/earth-search-v1_sentinel-2-c1-l2a_itemcollection_T13TDE_2024-04.json``
(read in place, rewritten in memory so their footprints cover the facilities);
each facility's catalogue is given those captures (as not usable, so no pixels
are needed) and one warm-up pass builds the timelines. The measured passes then
search every facility, find only known items and fetch nothing: wall time and
HTTP requests to the STAC API are printed. Goal: at most 30 s for 100 facilities.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facilities.load import BUNDLED_DIR, load_facility  # noqa: E402
from imagery.capture import Capture  # noqa: E402
from imagery.catalogue import open_catalogue  # noqa: E402
from imagery.stac.fetch import capture_id_for  # noqa: E402
from imagery.stac.item import candidate_from_dict  # noqa: E402
from imagery.workspace import FacilityWorkspace, workspace_grid  # noqa: E402
from pipeline.watch.config import ProviderSpec, WatchConfig, WatchSettings  # noqa: E402
from pipeline.watch.passes import watch_pass  # noqa: E402
from tests.imagery.stac.conftest import rustac_api  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "stac"
ITEMS = SHARED / "earth-search-v1_sentinel-2-c1-l2a_itemcollection_T13TDE_2024-04.json"
COLLECTION = "sentinel-2-c1-l2a"
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def _shift(coords: Any, dx: float, dy: float) -> Any:
    if isinstance(coords[0], int | float):
        return [coords[0] + dx, coords[1] + dy, *coords[2:]]
    return [_shift(c, dx, dy) for c in coords]


def make_facilities(n: int, out: Path) -> list[Any]:
    """``n`` shifted copies of the Kangdong definition, written into ``out``."""
    src = json.loads((BUNDLED_DIR / "kangdong-kyohwaso-4.geojson").read_text(encoding="utf-8"))
    facilities = []
    for i in range(n):
        doc = copy.deepcopy(src)
        fid = f"bench-{i:03d}"
        doc["name"] = fid
        dx, dy = (i % 10) * 0.005, (i // 10) * 0.004
        for feat in doc["features"]:
            feat["geometry"]["coordinates"] = _shift(feat["geometry"]["coordinates"], dx, dy)
            if feat["properties"].get("feature_type") == "facility":
                feat["properties"]["id"] = fid
                if "reported_lat" in feat["properties"]:
                    feat["properties"]["reported_lat"] += dy
                    feat["properties"]["reported_lon"] += dx
        path = out / f"{fid}.geojson"
        path.write_text(json.dumps(doc), encoding="utf-8")
        facilities.append(load_facility(path))
    return facilities


def served_items(tmp: Path) -> tuple[Path, list[dict[str, Any]]]:
    """The real items with geometry/bbox over the generated facilities (nothing copied)."""
    features = json.loads(ITEMS.read_text(encoding="utf-8"))["features"]
    ring = [[126.10, 38.95], [126.25, 38.95], [126.25, 39.10], [126.10, 39.10], [126.10, 38.95]]
    out = []
    for f in features:
        f = copy.deepcopy(f)
        f["geometry"] = {"type": "Polygon", "coordinates": [ring]}
        f["bbox"] = [126.10, 38.95, 126.25, 39.10]
        out.append(f)
    path = tmp / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": out}))
    return path, out


def seed_catalogues(facilities: list[Any], ws_root: Path, items: list[dict[str, Any]]) -> None:
    """Each facility's catalogue already holds every served item (not usable: no pixels)."""
    for facility in facilities:
        ws = FacilityWorkspace(ws_root, facility.id)
        grid = workspace_grid(ws, facility, 10.0)
        with open_catalogue(ws.catalogue_path, grid.crs) as cat:
            for raw in items:
                item = candidate_from_dict("stac", raw)
                cat.add_capture(Capture(
                    capture_id_for(item), facility.id, item.acquired, "Sentinel-2", 10.0,
                    grid.polygon(), "stac", item.self_href, "", collection=COLLECTION,
                    item_id=item.item_id, usable=False, reason="benchmark seed",
                    clear_fraction=0.0,
                ))


def timed_pass(label: str, facilities: list[Any], ws: Path, config: WatchConfig, api: Any,
               client: Any = None) -> dict[str, Any]:
    before = len(api.log)
    t0 = time.perf_counter()
    report = watch_pass(facilities, ws, config, client=client, now=NOW)
    seconds = time.perf_counter() - t0
    requests = api.log[before:]
    new = sum(len(f.new_captures) for f in report.facilities)
    assert report.ok, [f.errors for f in report.facilities if f.errors][:3]
    row = {"run": label, "facilities": len(facilities), "seconds": round(seconds, 2),
           "http_requests": len(requests),
           "searches": sum(1 for r in requests if r.path == "/search"),
           "new_captures": new, "alerts": len(report.alerts)}
    print(f"{label:<22} {len(facilities):>4} facilities  {seconds:7.2f} s  "
          f"{len(requests):>5} HTTP requests ({row['searches']} searches)  "
          f"{new} new captures, {len(report.alerts)} alerts", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facilities", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2,
                        help="Dask runs with 1..N workers (0: serial only)")
    args = parser.parse_args()
    if not ITEMS.exists():
        sys.exit(f"needs {ITEMS} (the shared STAC items)")
    with tempfile.TemporaryDirectory(prefix="campwatch-bench-watch-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "defs").mkdir()
        facilities = make_facilities(args.facilities, tmp / "defs")
        path, items = served_items(tmp)
        ws = tmp / "ws"
        t0 = time.perf_counter()
        seed_catalogues(facilities, ws, items)
        print(f"seeded {len(facilities)} catalogues x {len(items)} captures in "
              f"{time.perf_counter() - t0:.1f} s")
        with rustac_api([path], tmp) as api:
            settings = WatchSettings(lookback_days=60, overlap_days=10, resolution=10.0)
            provider = ProviderSpec("local", "stac", (COLLECTION,), api.url)
            config = WatchConfig(settings=settings, providers={"local": provider})
            timed_pass("warm-up (timelines)", facilities, ws, config, api)
            rows = [timed_pass("serial", facilities, ws, config, api)]
            if args.workers:
                from distributed import Client, LocalCluster

                for n in range(1, args.workers + 1):
                    with (
                        LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster,
                        Client(cluster) as client,
                    ):
                        rows.append(timed_pass(f"dask {n} worker(s)", facilities, ws, config,
                                               api, client))
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
