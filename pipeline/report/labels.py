"""Label placement: greedy, collision-free labels with leader lines.

Labels are measured with the renderer once, then tried at the anchor and on
rings of growing radius; see :func:`place_labels`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox
from shapely.geometry import Polygon

from pipeline.report.figure_parts import HALO, kind_colour
from pipeline.report.figure_records import Overlay

__all__ = ["LabelSpec", "feature_boxes", "label_box", "label_specs", "label_towns",
           "place_labels", "segment_hits_box"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelSpec:
    """A label to place near an anchor point in data coordinates."""

    text: str
    """Label text."""
    anchor: tuple[float, float]
    """Point the label belongs to (data coordinates)."""
    colour: str
    """Edge colour of the label box."""


def _overlaps(a: Bbox, boxes: Sequence[Bbox]) -> bool:
    return any(a.overlaps(b) for b in boxes)


def _candidates(step: float, rings: int) -> list[tuple[float, float]]:
    """Offsets (pixels) to try: anchor first, then rings of growing radius."""
    out: list[tuple[float, float]] = [(0.0, 0.0)]
    for r in range(1, rings + 1):
        n = 8 + 4 * r
        for i in range(n):
            t = 2 * math.pi * i / n + (math.pi / 2)
            out.append((r * step * math.cos(t), r * step * math.sin(t)))
    return out


def segment_hits_box(
    p0: tuple[float, float], p1: tuple[float, float], b: tuple[float, float, float, float]
) -> bool:
    """True when the segment p0–p1 meets the box (x0, y0, x1, y1) (Liang–Barsky clipping).

    Example:
        >>> segment_hits_box((0, 0), (10, 10), (4, 4, 6, 6)), segment_hits_box((0, 0), (1, 0), (4, 4, 6, 6))
        (True, False)
    """  # noqa: E501
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, p0[0] - b[0]), (dx, b[2] - p0[0]), (-dy, p0[1] - b[1]), (dy, b[3] - p0[1])):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _px(renderer: RendererBase, points: float) -> float:
    return float(np.asarray(renderer.points_to_pixels(points)))


def _hits(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    ax: Axes,
    labels: Sequence[LabelSpec],
    renderer: RendererBase,
    *,
    fontsize: float = 7,
    obstacles: Sequence[Bbox] = (),
    on_map: bool = False,
) -> tuple[list[Text], list[LabelSpec]]:
    """Place labels greedily so that no two label boxes overlap, with leader lines.

    Each label is measured once with ``renderer``, then tried centred on its
    anchor and at offsets on rings of growing radius. A position must keep the
    box inside the axes and clear of every placed label and of ``obstacles``
    (pixel boxes of the north arrow, scale bar, small outlines). A first pass
    also keeps boxes off earlier leader lines and leaders off earlier labels; a
    label that fits nowhere then gets a second pass without the leader rules.
    Labels moved off their anchor get a thin leader line. Labels that still fit
    nowhere are returned unplaced (callers list them in a key). Leaders are white with a dark
    halo on imagery; with ``on_map`` (a light basemap such as the locator) thin and dark.

    Returns:
        (placed label artists, labels that could not be placed).

    Example:
        >>> from matplotlib.figure import Figure
        >>> from matplotlib.backends.backend_agg import FigureCanvasAgg
        >>> fig = Figure(); ax = fig.add_subplot(); _ = ax.set(xlim=(0, 10), ylim=(0, 10))
        >>> r = FigureCanvasAgg(fig).get_renderer()
        >>> placed, left = place_labels(ax, [LabelSpec("A", (5, 5), "red")] * 2, r)
        >>> len(placed), len(left)
        (2, 0)
    """
    ab = ax.get_window_extent(renderer)
    axbox = (ab.x0, ab.y0, ab.x1, ab.y1)
    gap = _px(renderer, 2.0)
    blocked = [(b.x0 - gap, b.y0 - gap, b.x1 + gap, b.y1 + gap) for b in obstacles]
    boxes: list[tuple[float, float, float, float]] = []
    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
    placed: list[Text] = []
    unplaced: list[LabelSpec] = []
    step = _px(renderer, fontsize * 1.2)
    offsets = _candidates(step, max(4, int(max(ab.width, ab.height) / step)))
    for spec in labels:
        probe = ax.text(*spec.anchor, spec.text, ha="center", va="center", fontsize=fontsize,
                        bbox=_label_bbox(spec.colour), zorder=8)
        measured = label_box(probe, renderer)
        ax_px = tuple(float(v) for v in ax.transData.transform(spec.anchor))
        anchor = (ax_px[0], ax_px[1])
        # box relative to the anchor (text is centred on it)
        rel = (measured.x0 - anchor[0], measured.y0 - anchor[1],
               measured.x1 - anchor[0], measured.y1 - anchor[1])
        # leaders avoid obstacles in the first pass, except one the anchor sits in
        crossable = [o for o in blocked
                     if not (o[0] <= anchor[0] <= o[2] and o[1] <= anchor[1] <= o[3])]
        chosen: tuple[float, float] | None = None
        for strict in (True, False):
            for dx, dy in offsets:
                b = (anchor[0] + dx + rel[0], anchor[1] + dy + rel[1],
                     anchor[0] + dx + rel[2], anchor[1] + dy + rel[3])
                if not (axbox[0] <= b[0] and b[2] <= axbox[2]
                        and axbox[1] <= b[1] and b[3] <= axbox[3]):
                    continue
                padded = (b[0] - gap, b[1] - gap, b[2] + gap, b[3] + gap)
                if any(_hits(padded, o) for o in boxes) or any(_hits(b, o) for o in blocked):
                    continue
                if strict and (dx or dy):
                    centre = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
                    if any(segment_hits_box(anchor, centre, o) for o in boxes):
                        continue
                    if any(segment_hits_box(anchor, centre, o) for o in crossable):
                        continue
                if strict and any(segment_hits_box(p, q, padded) for p, q in segments):
                    continue
                chosen = (dx, dy)
                boxes.append(padded)
                if dx or dy:
                    segments.append((anchor, ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)))
                break
            if chosen is not None:
                break
        if chosen is None:
            probe.remove()
            unplaced.append(spec)
            log.info("no room for label %r; listing it in the key", spec.text)
            continue
        dx, dy = chosen
        if dx == 0 and dy == 0:
            placed.append(probe)
            continue
        probe.remove()
        xytext = tuple(ax.transData.inverted().transform((anchor[0] + dx, anchor[1] + dy)))
        ann = ax.annotate(
            spec.text, xy=spec.anchor, xytext=xytext, ha="center", va="center",
            fontsize=fontsize, bbox=_label_bbox(spec.colour), zorder=8, annotation_clip=False,
            arrowprops=(
                {"arrowstyle": "-", "color": "#333333", "lw": 0.6, "shrinkA": 0, "shrinkB": 0}
                if on_map else
                {"arrowstyle": "-", "color": "white", "lw": 1.0, "path_effects": HALO,
                 "shrinkA": 0, "shrinkB": 0}),
        )
        placed.append(ann)
    return placed, unplaced


def _label_bbox(colour: str) -> dict[str, object]:
    return {"boxstyle": "round,pad=0.25", "fc": "white", "ec": colour, "alpha": 0.9, "lw": 1.2}


def label_box(label: Text, renderer: RendererBase) -> Bbox:
    """Window extent (pixels) of a label's text and rounded box, without any leader line.

    Example:
        >>> from matplotlib.backends.backend_agg import FigureCanvasAgg
        >>> from matplotlib.figure import Figure
        >>> fig = Figure(); ax = fig.add_subplot()
        >>> a = ax.annotate("x", (0.5, 0.5), bbox={"boxstyle": "round"})
        >>> bool(label_box(a, FigureCanvasAgg(fig).get_renderer()).width > 0)
        True
    """
    text_box = Text.get_window_extent(label, renderer)
    patch = label.get_bbox_patch()
    if patch is None:
        return text_box
    label.update_bbox_position_size(renderer)
    return Bbox.union([text_box, patch.get_window_extent(renderer)])


def label_specs(overlays: Sequence[Overlay], view: Polygon) -> list[LabelSpec]:
    """Labels of overlays in ``view``: events first, then changes, then zones; small first.

    Example:
        >>> from shapely.geometry import box
        >>> ov = Overlay(box(0, 0, 10, 10), "Housing", "zone:housing")
        >>> label_specs([ov], box(0, 0, 100, 100))[0].text
        'Housing'
    """
    rank = {"event": 0, "change": 1, "zone": 2, "aoi": 3}
    specs: list[tuple[int, float, LabelSpec]] = []
    for ov in overlays:
        if not ov.label.strip():
            continue
        inside = ov.geometry.intersection(view)
        if inside.is_empty:
            continue
        p = inside.representative_point() if inside.area > 0 else inside.centroid
        group = rank[ov.kind.split(":")[0]]
        spec = LabelSpec(ov.label, (p.x, p.y), kind_colour(ov.kind))
        specs.append((group, ov.geometry.area, spec))
    specs.sort(key=lambda t: (t[0], t[1]))
    return [s for _, _, s in specs]


def feature_boxes(ax: Axes, overlays: Sequence[Overlay], view: Polygon) -> list[Bbox]:
    """Pixel boxes of change and event outlines in view: labels must not hide them."""
    out: list[Bbox] = []
    for ov in overlays:
        if ov.kind.startswith("zone:") or ov.kind == "aoi":
            continue
        inside = ov.geometry.intersection(view)
        if inside.is_empty:
            continue
        x0, y0, x1, y1 = inside.bounds
        out.append(Bbox(ax.transData.transform([(x0, y0), (x1, y1)])))
    return out


def _crossings(ax: Axes, placed: Sequence[Text], renderer: RendererBase) -> int:
    """How many leader lines cross another label's box."""
    for t in placed:
        if isinstance(t, Annotation):
            t.update_positions(renderer)  # a new annotation's extent is not laid out yet
    boxes = [label_box(t, renderer) for t in placed]
    n = 0
    for i, t in enumerate(placed):
        if not isinstance(t, Annotation):
            continue
        a = ax.transData.transform(t.xy)
        b = ax.transData.transform(t.get_position())
        for j, bx in enumerate(boxes):
            if j != i and segment_hits_box((a[0], a[1]), (b[0], b[1]),
                                           (bx.x0, bx.y0, bx.x1, bx.y1)):
                n += 1
    return n


def label_towns(
    ax: Axes, towns: Sequence[Any], renderer: RendererBase, *, fontsize: float = 5.5
) -> list[str]:
    """Label the locator's town dots without covering each other, the star or the dots;
    nearest first, or farthest first when that leaves fewer leaders crossing a label.

    ``towns`` are records with ``lon``, ``lat`` and ``label()`` (see
    :func:`pipeline.report.basemap.towns_near`) whose dots (gid "town") and the figure's
    place (gid "place") are already drawn on ``ax``. Returns the towns' labels.

    Example:
        >>> # label_towns(locator, towns_near(lon, lat), fig.canvas.get_renderer())
    """
    if not towns:
        return []
    obstacles = [ln.get_window_extent(renderer) for ln in ax.lines
                 if ln.get_gid() in ("town", "place")]
    obstacles += [t.get_window_extent(renderer) for t in ax.texts]
    best: tuple[int, list[Text], list[LabelSpec]] | None = None
    for order in (list(towns), list(reversed(towns))):
        specs = [LabelSpec(t.label(), (t.lon, t.lat), "#555555") for t in order]
        placed, unplaced = place_labels(ax, specs, renderer, fontsize=fontsize,
                                        obstacles=obstacles, on_map=True)
        score = 100 * len(unplaced) + _crossings(ax, placed, renderer)
        if best is None or score < best[0]:
            if best is not None:
                for t in best[1]:
                    t.remove()
            best = (score, placed, unplaced)
        else:
            for t in placed:
                t.remove()
        if best[0] == 0:
            break
    assert best is not None
    if best[2]:  # named under the locator instead
        ax.set_xlabel("lon (WGS 84); also " + "; ".join(u.text for u in best[2]),
                      fontsize=fontsize)
    return [t.label() for t in towns]
