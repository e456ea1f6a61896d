"""Cost of the report's overview map at the benchmark's largest grid (4080 m at 1 m).

Usage::

    .venv/bin/python benchmarks/overview.py [--findings 40] [--detections 400] [--vertices 6000]

Builds a 4080 x 4080 m facility grid's overview as the report stage draws it (image decimated
to 2048 px, as ``read_figure_image`` reads it) with ``--findings`` accepted events and
``--detections`` pending ones, each a jagged outline of about ``--vertices`` vertices (what
1 m change objects of a few hectares look like), and times three ways of drawing it:

- ``full``: every outline at full detail (what drawing all detections would cost);
- ``bounded``: the 40 findings + 12 top detections at full detail, the rest only counted
  (the overview before issue #13's density layer);
- ``now``: bounded, outlines simplified to half a figure pixel, the rest as a density layer
  (``pipeline.report.report_figures``).

Prints wall and CPU seconds of each and the ratios, measured in one run.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from affine import Affine  # noqa: E402
from shapely.geometry import Polygon  # noqa: E402

from pipeline.report.figure_records import Caption, FigureImage, Overlay  # noqa: E402
from pipeline.report.figures import render_figure  # noqa: E402
from pipeline.report.report_figures import (  # noqa: E402
    OVERVIEW_DETECTIONS,
    OVERVIEW_FINDINGS,
    OVERVIEW_PANEL_PX,
    detection_density,
    simplified,
)

SIDE_M = 4080.0
X0, Y1 = 253_380.0, 4_323_660.0


def jagged(rng: np.random.Generator, cx: float, cy: float, r: float, n: int) -> Polygon:
    """A star-like outline with ``n`` vertices on a 1 m staircase (a raster object)."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    rad = r * (1 + 0.25 * np.sin(7 * t) + 0.05 * rng.standard_normal(n))
    xs = np.round(cx + rad * np.cos(t))
    ys = np.round(cy + rad * np.sin(t))
    poly = Polygon(zip(xs, ys, strict=True)).buffer(0)
    if not isinstance(poly, Polygon):
        poly = max(poly.geoms, key=lambda g: g.area)
    return poly


def timed(label: str, fn: object) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(f"{label:8s} wall {wall:7.2f} s   cpu {cpu:7.2f} s")
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=40)
    ap.add_argument("--detections", type=int, default=400)
    ap.add_argument("--vertices", type=int, default=6000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    px = 2048
    img = rng.random((4, px, px), dtype=np.float32) * 0.2
    cap = Caption("Benchmark grid", datetime(2024, 7, 17, tzinfo=UTC), "SIM-VHR-1", 1.0,
                  39.0088, 126.1533, "benchmark", False)
    image = FigureImage(img, Affine(SIDE_M / px, 0, X0, 0, -SIDE_M / px, Y1), "EPSG:32652", cap)

    def outline() -> Polygon:
        cx = X0 + rng.uniform(300, SIDE_M - 300)
        cy = Y1 - rng.uniform(300, SIDE_M - 300)
        return jagged(rng, cx, cy, rng.uniform(40, 150), args.vertices)

    findings = [outline() for _ in range(args.findings)]
    pending = [outline() for _ in range(args.detections)]
    vertices = sum(len(g.exterior.coords) for g in findings + pending)
    print(f"{args.findings} findings + {args.detections} detections, {vertices:,} vertices, "
          f"image {px} px for a {SIDE_M:g} m grid")
    out = Path(tempfile.mkdtemp(prefix="overview-bench-"))

    def overlays(geoms: list[Polygon], kind: str, tol: float) -> list[Overlay]:
        return [Overlay(simplified(g, tol) if tol else g, "", kind) for g in geoms]

    def full() -> None:
        ov = overlays(findings, "event", 0) + overlays(pending, "change:new_or_brighter", 0)
        render_figure(image, ov, out / "full.png", dpi=110)

    def bounded() -> None:
        ov = overlays(findings[:OVERVIEW_FINDINGS], "event", 0)
        ov += overlays(pending[:OVERVIEW_DETECTIONS], "change:new_or_brighter", 0)
        render_figure(image, ov, out / "bounded.png", dpi=110)

    def now() -> None:
        tol = 0.5 * SIDE_M / OVERVIEW_PANEL_PX
        ov = overlays(findings[:OVERVIEW_FINDINGS], "event", tol)
        ov += overlays(pending[:OVERVIEW_DETECTIONS], "change:new_or_brighter", tol)
        rest = pending[OVERVIEW_DETECTIONS:] + findings[OVERVIEW_FINDINGS:]
        density = detection_density(rest, (X0, Y1 - SIDE_M, X0 + SIDE_M, Y1))
        render_figure(image, ov, out / "now.png", dpi=110, density=density)

    results = {name: timed(name, fn) for name, fn in
               (("full", full), ("bounded", bounded), ("now", now))}
    for name in ("full", "bounded"):
        w, c = results[name]
        print(f"{name} / now: wall x{w / results['now'][0]:.1f}, cpu x{c / results['now'][1]:.1f}")
    print(f"figures in {out}")


if __name__ == "__main__":
    main()
