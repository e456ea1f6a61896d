"""Annotated imagery figures: true-colour image, outlines, labels, scale bar, north arrow.

The figure stage takes arrays and records (no catalogue): a :class:`FigureImage` per
capture, :class:`Overlay` outlines in the grid CRS, and writes a PNG or SVG with
:func:`render_figure`. :func:`compose_figure` builds the same figure in memory so
callers (and tests) can inspect its artists.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from matplotlib_scalebar.scalebar import ScaleBar
from pyproj import CRS
from shapely.geometry import Polygon, box

from imagery.store import created_mode
from pipeline.errors import FigureError
from pipeline.report.basemap import NE_CREDIT, TOWNS_CREDIT, countries_near, towns_near
from pipeline.report.figure_legend import (
    DENSITY_ALPHA,
    DENSITY_CMAP,
    handle_label,
    legend_handles,
    wrap_text,
)
from pipeline.report.figure_parts import (
    LOCATOR_HALF_DEG,
    NODATA_GREY,
    NorthArrow,
    add_locator,
    add_north_arrow,
    add_scalebar,
    draw_overlays,
    lonlat_transformer,
    stretch_limits,
    stretch_rgb,
)
from pipeline.report.figure_records import SIMULATED_MARK, Caption, Density, FigureImage, Overlay
from pipeline.report.labels import (
    LabelSpec,
    feature_boxes,
    label_specs,
    label_towns,
    place_labels,
)

__all__ = [
    "SIMULATED_MARK",
    "Caption",
    "ComposedFigure",
    "Density",
    "FigureError",
    "FigureImage",
    "Overlay",
    "compose_figure",
    "render_figure",
    "save_figure",
]

log = logging.getLogger(__name__)


_MARGIN = 0.25  # inches around everything
_GAP = 0.3  # between panels / columns
_SIDE_W = 2.1  # side column (locator, legend)
_LOCATOR_H = 2.0
_TITLE_H = 0.3
_BANNER_H = 0.4
_CAPTION_PT = 9.0
_LABEL_PT = 8.0
_LEGEND_PT = 8.0
_TOWN_PT = 5.5
LOCATOR_TOWNS = 3
"""Nearest populated places named on the locator, with distance and direction."""



@dataclass
class Panel:
    """One image panel of a composed figure."""

    ax: Axes
    """The image axes (data units: grid metres)."""
    scalebar: ScaleBar
    """The scale bar artist."""
    north: NorthArrow
    """The north arrow and its rotation."""
    labels: list[Text]
    """Placed label artists."""
    caption: Text | None = None
    """The caption text artist below the panel."""
    mark: Text | None = None
    """The simulated-imagery mark on the image, when simulated."""


@dataclass
class ComposedFigure:
    """A figure built in memory by :func:`compose_figure`."""

    figure: Figure
    """The matplotlib figure (Agg canvas)."""
    panels: list[Panel]
    """Image panels, before first when side by side."""
    unplaced: list[str] = field(default_factory=list)
    """Labels that found no room on the image and are listed in the key."""
    locator: Axes | None = None
    """The locator inset axes."""
    towns: list[str] = field(default_factory=list)
    """Labels of the nearest towns drawn on the locator ("Pyongyang, 35 km W")."""

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the saved raster in pixels."""
        w, h = self.figure.canvas.get_width_height()
        return int(w), int(h)


def _check_extent(
    extent: tuple[float, float, float, float] | None, after: FigureImage
) -> tuple[float, float, float, float]:
    if extent is None:
        return after.bounds
    if len(extent) != 4 or not all(math.isfinite(v) for v in extent):
        raise FigureError(
            f"extent must be (west, south, east, north) finite metres, got {extent!r}"
        )
    w, s, e, n = (float(v) for v in extent)
    if not (w < e and s < n):
        raise FigureError(f"extent must have west < east and south < north, got {extent!r}")
    if not box(w, s, e, n).intersects(box(*after.bounds)):
        raise FigureError(
            f"extent {extent!r} does not overlap the image bounds {after.bounds!r} ({after.crs})"
        )
    return (w, s, e, n)


def _crop(fi: FigureImage, extent: tuple[float, float, float, float]) -> tuple[np.ndarray, tuple]:
    """Pixels covering ``extent`` (snapped outward) and their bounds."""
    t = fi.transform
    _, h, w = fi.image.shape
    c0 = max(0, math.floor((extent[0] - t.c) / t.a + 1e-9))
    c1 = min(w, math.ceil((extent[2] - t.c) / t.a - 1e-9))
    r0 = max(0, math.floor((t.f - extent[3]) / -t.e + 1e-9))
    r1 = min(h, math.ceil((t.f - extent[1]) / -t.e - 1e-9))
    if c1 <= c0 or r1 <= r0:
        return np.full((4, 1, 1), np.nan, dtype=np.float32), (t.c, t.f - t.a, t.c + t.a, t.f)
    sub = fi.image[:, r0:r1, c0:c1]
    bounds = (t.c + c0 * t.a, t.f + r1 * t.e, t.c + c1 * t.a, t.f + r0 * t.e)
    return sub, bounds


def _draw_panel(
    fig: Figure,
    fi: FigureImage,
    overlays: Sequence[Overlay],
    extent: tuple[float, float, float, float],
    gamma: float,
    panel_in: tuple[float, float],
    limits: np.ndarray | None = None,
    density: Density | None = None,
) -> tuple[Axes, ScaleBar, NorthArrow, Text | None, bool]:
    ax = fig.add_axes((0.0, 0.0, 0.1, 0.1))
    sub, sub_bounds = _crop(fi, extent)
    rgb = stretch_rgb(sub, gamma=gamma, limits=limits)
    valid = np.isfinite(rgb).all(axis=-1)
    rgba = np.dstack([np.nan_to_num(rgb, nan=0.0), valid.astype(np.float32)])
    ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, facecolor=NODATA_GREY,
                           hatch="///", edgecolor="#6b6b6b", linewidth=0, zorder=0))
    ax.imshow(rgba, extent=(sub_bounds[0], sub_bounds[2], sub_bounds[1], sub_bounds[3]),
              interpolation="nearest", origin="upper", zorder=1)
    view = box(*extent)
    image_cover = box(*sub_bounds).intersection(view).area / view.area
    nodata = bool((~valid).any()) or image_cover < 1 - 1e-9
    if density is not None and density.count:
        shown = np.ma.masked_less_equal(density.values, 0.0)
        ax.imshow(shown, extent=(density.bounds[0], density.bounds[2], density.bounds[1],
                                 density.bounds[3]),
                  cmap=DENSITY_CMAP, vmin=0.0, vmax=float(density.values.max()),
                  alpha=DENSITY_ALPHA, interpolation="nearest", origin="upper", zorder=2)
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    draw_overlays(ax, [(o.geometry, o.kind) for o in overlays], pixel_m=fi.transform.a)
    cx, cy = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
    bar = add_scalebar(ax, fi.crs, cx, cy)
    fw, fh = 1.0 / panel_in[0], 1.15 / panel_in[1]
    north = add_north_arrow(ax, fi.crs, cx, cy, rect=(1 - fw - 0.01, 1 - fh - 0.01, fw, fh))
    mark = None
    if fi.caption.simulated:
        mark = ax.text(0.5, 0.5, SIMULATED_MARK.replace(" — ", "\n"), transform=ax.transAxes,
                       ha="center", va="center", rotation=28, fontsize=22, fontweight="bold",
                       color="#FF1A1A", alpha=0.55, zorder=7)
    return ax, bar, north, mark, nodata


def _extent_lonlat(crs: str, extent: tuple[float, float, float, float]) -> Polygon:
    dense = shapely.segmentize(box(*extent), max_segment_length=(extent[2] - extent[0]) / 8)
    fn = lonlat_transformer(crs)
    out: Polygon = shapely.transform(dense, fn, interleaved=False)  # type: ignore[arg-type]
    return out


def compose_figure(
    after: FigureImage,
    overlays: Sequence[Overlay],
    *,
    before: FigureImage | None = None,
    dpi: int = 150,
    extent: tuple[float, float, float, float] | None = None,
    aoi_lonlat: Polygon | None = None,
    gamma: float = 1.0,
    legend_notes: Sequence[str] = (),
    density: Density | None = None,
) -> ComposedFigure:
    """Build the annotated figure in memory (see :func:`render_figure` for the contents).

    Example:
        >>> import numpy as np
        >>> from datetime import UTC, datetime
        >>> from affine import Affine
        >>> cap = Caption("Camp", datetime(2015, 6, 30, tzinfo=UTC), "WorldView-2", 0.5,
        ...               39.0, 126.15, "© 2015 DigitalGlobe", False)
        >>> img = FigureImage(np.random.default_rng(0).random((4, 50, 50), dtype="float32"),
        ...                   Affine(1, 0, 355000, 0, -1, 4319000), "EPSG:32652", cap)
        >>> composed = compose_figure(img, [], dpi=100)
        >>> len(composed.panels)
        1
    """
    if isinstance(dpi, bool) or not isinstance(dpi, int | np.integer) or dpi <= 0:
        raise FigureError(f"dpi must be a positive integer, got {dpi!r}")
    for ov in overlays:
        if not isinstance(ov, Overlay):
            raise FigureError(f"overlays must be Overlay records, got {type(ov).__name__}")
    if before is not None and CRS.from_user_input(before.crs) != CRS.from_user_input(after.crs):
        raise FigureError(f"before CRS {before.crs!r} differs from after CRS {after.crs!r}")
    ext = _check_extent(extent, after)
    images = [before, after] if before is not None else [after]
    n = len(images)

    aspect = (ext[3] - ext[1]) / (ext[2] - ext[0])
    pw = 5.2 if n == 1 else 3.5  # two panels + side column fit an A4 page at >= 6.5 pt
    pw = min(pw, 6.5 / aspect)
    ph = pw * aspect
    simulated = any(fi.caption.simulated for fi in images)
    banner_h = _BANNER_H if simulated else 0.0
    title_h = _TITLE_H if n == 2 else 0.0
    width = 2 * _MARGIN + n * pw + (n - 1) * _GAP + _GAP + _SIDE_W

    fig = Figure(figsize=(width, 8.0), dpi=dpi)
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]

    panels: list[Panel] = []
    any_nodata = False
    # before and after share one stretch, computed over what both panels show
    limits = stretch_limits([_crop(fi, ext)[0] for fi in images]) if n == 2 else None
    for fi in images:
        ax, bar, north, mark, nodata = _draw_panel(fig, fi, overlays, ext, gamma, (pw, ph),
                                                   limits, density)
        any_nodata = any_nodata or nodata
        panels.append(Panel(ax, bar, north, [], mark=mark))
    locator = fig.add_axes((0.0, 0.0, 0.1, 0.1))
    lon, lat = after.caption.lon, after.caption.lat
    countries = countries_near(lon, lat, 2 * LOCATOR_HALF_DEG)
    towns = towns_near(lon, lat, LOCATOR_TOWNS) if countries else ()
    town_dots = add_locator(
        locator, _extent_lonlat(after.crs, ext), aoi_lonlat, (lon, lat), countries=countries,
        credit=(TOWNS_CREDIT if towns else NE_CREDIT) if countries else "", towns=towns)

    def layout(height: float) -> None:
        fig.set_size_inches(width, height)
        top = _MARGIN + banner_h + title_h
        for i, p in enumerate(panels):
            left = _MARGIN + i * (pw + _GAP)
            p.ax.set_position((left / width, 1 - (top + ph) / height, pw / width, ph / height))
        side_left = _MARGIN + n * (pw + _GAP) + 0.35
        loc_top = _MARGIN + banner_h + title_h + 0.35
        locator.set_position(((side_left) / width, 1 - (loc_top + _LOCATOR_H - 0.5) / height,
                              (_SIDE_W - 0.45) / width, (_LOCATOR_H - 0.5) / height))

    layout(8.0)
    # scale bars compute their boxes when drawn: a draw that lays out but renders nothing
    fig.draw_without_rendering()

    town_labels = label_towns(locator, town_dots, renderer, fontsize=_TOWN_PT)
    view = box(*ext)
    specs = label_specs(overlays, view)
    unplaced_all: list[LabelSpec] = []
    for p in panels:
        north_parts = [p.north.axes.get_window_extent(renderer)]
        north_parts += [t.get_window_extent(renderer) for t in p.north.axes.texts]
        obstacles: list[Bbox] = [Bbox.union(north_parts)]
        obstacles.append(p.scalebar.info.window_extent)
        obstacles.extend(feature_boxes(p.ax, overlays, view))
        placed, unplaced = place_labels(p.ax, specs, renderer, fontsize=_LABEL_PT,
                                        obstacles=obstacles)
        p.labels = placed
        for u in unplaced:
            if u.text not in [x.text for x in unplaced_all]:
                unplaced_all.append(u)

    # captions below each panel, wrapped to its width
    line_h = _CAPTION_PT * 1.3 / 72
    wrapped = [wrap_text(fi.caption.text(), pw * dpi, _CAPTION_PT, renderer) for fi in images]
    cap_h = max(len(w) for w in wrapped) * line_h + 0.12
    key_lines: list[str] = []
    if unplaced_all:
        key_text = "Labels without room on the image: " + "; ".join(u.text for u in unplaced_all)
        key_lines = wrap_text(key_text, (n * pw + (n - 1) * _GAP) * dpi, _CAPTION_PT, renderer)
    key_h = len(key_lines) * line_h + (0.1 if key_lines else 0.0)
    visible = [o for o in overlays if o.geometry.intersects(view)]
    handles = legend_handles(visible, any_nodata, legend_notes, density)
    legend_h = 0.35 + 0.19 * sum(1 + handle_label(h).count("\n") for h in handles)
    main_h = banner_h + title_h + ph + cap_h + key_h
    side_h = banner_h + title_h + _LOCATOR_H + 0.15 + legend_h
    height = 2 * _MARGIN + max(main_h, side_h)
    layout(height)

    def y_of(inches_from_top: float) -> float:
        return 1 - inches_from_top / height

    if simulated:
        fig.text(0.5, y_of(_MARGIN + banner_h / 2), SIMULATED_MARK, ha="center", va="center",
                 fontsize=13, fontweight="bold", color="white",
                 bbox={"boxstyle": "square,pad=0.3", "fc": "#C00000", "ec": "none"})
    cap_top = _MARGIN + banner_h + title_h + ph + 0.08
    for i, (p, fi, lines) in enumerate(zip(panels, images, wrapped, strict=True)):
        left = (_MARGIN + i * (pw + _GAP)) / width
        p.caption = fig.text(left, y_of(cap_top), "\n".join(lines), ha="left", va="top",
                             fontsize=_CAPTION_PT, linespacing=1.15,
                             color="#B00000" if fi.caption.simulated else "black")
        if n == 2:
            title = "Before" if i == 0 else "After"
            when = fi.caption.when()
            fig.text(left, y_of(_MARGIN + banner_h + title_h - 0.06),
                     f"{title}: {when}, {fi.caption.sensor}",
                     ha="left", va="bottom", fontsize=9, fontweight="bold")
    if key_lines:
        fig.text(_MARGIN / width, y_of(cap_top + cap_h), "\n".join(key_lines), ha="left",
                 va="top", fontsize=_CAPTION_PT, linespacing=1.15)
    if handles:
        side_left = (_MARGIN + n * (pw + _GAP)) / width
        fig.legend(handles=handles, labels=[handle_label(h) for h in handles],
                   loc="upper left", fontsize=_LEGEND_PT, frameon=False,
                   bbox_to_anchor=(side_left, y_of(_MARGIN + banner_h + title_h + _LOCATOR_H
                                                   + 0.15)),
                   title="Legend", title_fontsize=_LEGEND_PT + 1, alignment="left",
                   borderaxespad=0.0, handlelength=2.2)
    return ComposedFigure(fig, panels, [u.text for u in unplaced_all], locator, town_labels)


def render_figure(
    after: FigureImage,
    overlays: Sequence[Overlay],
    out_path: Path,
    *,
    before: FigureImage | None = None,
    dpi: int = 150,
    extent: tuple[float, float, float, float] | None = None,
    aoi_lonlat: Polygon | None = None,
    gamma: float = 1.0,
    legend_notes: Sequence[str] = (),
    density: Density | None = None,
) -> Path:
    """Write an annotated imagery figure as PNG (or SVG when ``out_path`` ends ``.svg``).

    The figure shows the image in true colour (2–98 % stretch per band over valid
    pixels; before and after share one stretch; no data hatched grey), zone outlines
    coloured by type, change outlines (dashed, one colour per change type) and event
    outlines (one pixel outside the event, so its pixels stay visible), non-overlapping
    labels with leader lines, a scale bar in ground metres, a true-north arrow rotated by the grid
    convergence, a lon/lat locator, a legend and a caption (facility, UTC time,
    sensor, GSD, coordinates, credit). Simulated imagery is stamped
    "SIMULATED IMAGERY — NOT EVIDENCE" on the image, in a banner and in the
    caption. With ``before``, before and after are side by side, each captioned.

    The file is written atomically (temporary file then rename); an existing
    file is replaced, so callers check ``--overwrite`` first.

    Args:
        after: the image to show (the later one with ``before``).
        overlays: outlines in the grid CRS; may be empty.
        out_path: ``.png`` or ``.svg`` path.
        before: optional earlier image on the same CRS.
        dpi: raster resolution (PNG) in dots per inch.
        extent: crop window (west, south, east, north) in grid metres.
        aoi_lonlat: the facility AOI in WGS 84 for the locator.
        gamma: display gamma of the stretch.
        legend_notes: extra lines under the legend (e.g. how many detections are not drawn).
        density: detections not drawn one by one, drawn as a semi-transparent layer of
            changed area per coarse cell with its own legend entry.

    Returns:
        ``out_path``.

    Example:
        >>> import numpy as np, tempfile
        >>> from datetime import UTC, datetime
        >>> from affine import Affine
        >>> cap = Caption("Camp", datetime(2015, 6, 30, tzinfo=UTC), "WorldView-2", 0.5,
        ...               39.0, 126.15, "© 2015 DigitalGlobe", False)
        >>> img = FigureImage(np.random.default_rng(0).random((4, 50, 50), dtype="float32"),
        ...                   Affine(1, 0, 355000, 0, -1, 4319000), "EPSG:32652", cap)
        >>> out = render_figure(img, [], Path(tempfile.mkdtemp()) / "f.png", dpi=72)
        >>> out.read_bytes()[:4]
        b'\\x89PNG'
    """
    out_path = Path(out_path)
    _figure_format(out_path)  # refuse a bad path before composing
    composed = compose_figure(after, overlays, before=before, dpi=dpi, extent=extent,
                              aoi_lonlat=aoi_lonlat, gamma=gamma, legend_notes=legend_notes,
                              density=density)
    return save_figure(composed, out_path, after.caption.text(), dpi=dpi)


def _figure_format(out_path: Path) -> str:
    """The figure's format from its suffix ("png" or "svg"), its directory checked."""
    fmt = out_path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise FigureError(f"figure path {str(out_path)!r} must end .png or .svg")
    if not out_path.parent.is_dir():
        raise FigureError(f"figure directory {str(out_path.parent)!r} does not exist")
    return fmt


def save_figure(composed: ComposedFigure, out_path: Path, title: str, *, dpi: int) -> Path:
    """Write a composed figure atomically as PNG or SVG (by suffix), titled ``title``.

    Example:
        >>> # save_figure(compose_figure(img, []), Path("f.png"), img.caption.text(), dpi=110)
    """
    out_path = Path(out_path)
    fmt = _figure_format(out_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=f".{fmt}", dir=out_path.parent)
    os.close(fd)
    os.chmod(tmp, created_mode())
    try:
        # zlib level 1, not Pillow's 6: half the encoding time of a figure for +/- 5 % bytes
        # (noise-textured imagery does not compress much harder)
        png: dict[str, Any] = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
        composed.figure.savefig(tmp, format=fmt, dpi=dpi, metadata={"Title": title}, **png)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("wrote figure %s (%d×%d px)", out_path, *composed.size_px)
    return out_path
