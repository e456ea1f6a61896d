"""Benchmark: what the evidence checks of issue #12 cost.

Usage::

    .venv/bin/python benchmarks/evidence.py            # 10,000 change rows, 2,048 px raster

Measures, on synthetic data made here (nothing from ../shared):

1. catalogue writes: one ``replace_changes`` transaction of 500 changes into a catalogue
   already holding N change rows (row digests + every table's digest in the same
   transaction), against the same statements without the digest bookkeeping;
2. ingest's full decode of a delivery (every block read once) against the warp that
   follows it, on a 4-band 2,048 px zstd-tiled GeoTIFF;
3. ``verify`` of that catalogue (integrity check, row and table digests);
4. matching tracks (:func:`pipeline.history.tracks.assign_tracks`) of N new changes against
   N previous ones (each new one overlaps one previous).

Wall and CPU time are printed (the machine is shared: CPU time is the steadier figure).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from affine import Affine  # noqa: E402
from shapely.geometry import box  # noqa: E402

import imagery.catalogue as catalogue_module  # noqa: E402
from imagery.catalogue import open_catalogue, read_catalogue  # noqa: E402
from imagery.ingest import _decode_all  # noqa: E402
from imagery.records import StoredChange  # noqa: E402
from pipeline.history.tracks import assign_tracks  # noqa: E402

CRS = "EPSG:32652"


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, float]:
    """Best (wall, cpu) seconds of ``repeat`` runs."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best


def changes(pair: int, n: int) -> list[StoredChange]:
    t0 = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=pair)
    return [
        StoredChange(f"p{pair}-c{i}", "f", f"b{pair}", f"a{pair}", t0, t0 + timedelta(days=30),
                     box(i * 30.0, pair * 30.0, i * 30.0 + 20, pair * 30.0 + 20), 400.0,
                     "new_or_brighter", 0.9, "high", "z", "housing", "cva", "vhr")
        for i in range(n)
    ]


def bench_catalogue(tmp: Path, rows: int) -> None:
    path = tmp / "catalogue.gpkg"
    with open_catalogue(path, CRS) as cat:
        for pair in range(rows // 500):
            cat.replace_changes(f"b{pair}", f"a{pair}", changes(pair, 500))
    batch = changes(10_000, 500)

    def write() -> None:
        with open_catalogue(path, CRS) as cat:
            cat.replace_changes("b10000", "a10000", batch)

    with_digests = timed(write)
    real_store, real_digest = catalogue_module.store_table_digest, catalogue_module.row_digest
    catalogue_module.store_table_digest = lambda conn, table: None  # type: ignore[assignment]
    catalogue_module.row_digest = lambda row, types: ""  # type: ignore[assignment]
    try:
        without = timed(write)
    finally:
        catalogue_module.store_table_digest = real_store  # type: ignore[assignment]
        catalogue_module.row_digest = real_digest  # type: ignore[assignment]
    print(f"catalogue: replace 500 changes with {rows:,} rows stored: "
          f"{with_digests[0] * 1e3:.0f} ms wall / {with_digests[1] * 1e3:.0f} ms CPU with digests, "
          f"{without[0] * 1e3:.0f} ms / {without[1] * 1e3:.0f} ms without "
          f"(CPU ratio {with_digests[1] / max(without[1], 1e-9):.2f})")

    write()  # leave the catalogue sealed again

    def verify() -> None:
        with read_catalogue(path) as cat:
            assert cat.integrity_problems() == []

    v = timed(verify, 1)
    print(f"verify catalogue ({rows + 500:,} change rows): {v[0] * 1e3:.0f} ms wall / "
          f"{v[1] * 1e3:.0f} ms CPU")


def bench_decode(tmp: Path, size: int) -> None:
    path = tmp / "delivery.tif"
    rng = np.random.default_rng(0)
    data = (rng.normal(0.1, 0.02, (4, size, size)) * 10000).astype(np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=4,
                       dtype="uint16", crs=CRS, tiled=True, blockxsize=256, blockysize=256,
                       compress="zstd", transform=Affine(0.5, 0, 300_000, 0, -0.5, 4_300_000)
                       ) as dst:
        dst.write(data)

    def decode() -> None:
        with rasterio.open(path) as src:
            _decode_all(src, path, [1, 2, 3, 4])

    def read_all() -> None:  # what the warp reads at least once
        with rasterio.open(path) as src:
            src.read()

    d, r = timed(decode), timed(read_all)
    print(f"ingest full decode of a {size} px 4-band zstd delivery: {d[0] * 1e3:.0f} ms wall / "
          f"{d[1] * 1e3:.0f} ms CPU (one plain read of the file: {r[0] * 1e3:.0f} ms / "
          f"{r[1] * 1e3:.0f} ms)")


def bench_tracks(rows: int) -> None:
    t = datetime(2020, 1, 1, tzinfo=UTC)

    def grid_of(prefix: str, shift: float) -> list[StoredChange]:
        return [StoredChange(f"{prefix}{i}", "f", "a", "b", t, t + timedelta(days=30),
                             box(i % 100 * 30 + shift, i // 100 * 30, i % 100 * 30 + 20 + shift,
                                 i // 100 * 30 + 20), 400.0, "new_or_brighter", 0.9, "high",
                             "", "", "m") for i in range(rows)]

    previous, new = grid_of("p", 0.0), grid_of("n", 2.0)
    out: list[StoredChange] = []

    def run() -> None:
        out[:] = assign_tracks(new, previous)

    w, c = timed(run, 1)
    kept = sum(o.track_id.startswith("p") for o in out)
    print(f"tracks: {rows:,} new x {rows:,} previous changes matched in {w:.2f} s wall / "
          f"{c:.2f} s CPU ({kept:,} continued a previous track)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=2048)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_catalogue(Path(tmp), args.rows)
        bench_decode(Path(tmp), args.size)
    bench_tracks(args.rows)


if __name__ == "__main__":
    main()
