"""Parts of an annotated imagery figure: stretch, north arrow, scale bar, locator, labels.

Pure pixel maths (:func:`stretch_rgb`), map geometry (:func:`grid_north_offset`,
:func:`grid_scale_factor`) and matplotlib helpers that draw onto axes handed in by
:mod:`pipeline.report.figures` and :mod:`pipeline.report.exports`. Nothing here opens a file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrow
from matplotlib.patches import Polygon as MplPolygon
from matplotlib_scalebar.scalebar import ScaleBar
from pyproj import CRS, Proj, Transformer
from shapely.geometry import MultiPolygon, Point, Polygon

from facilities.types import ZONE_TYPES
from pipeline.errors import FigureError

log = logging.getLogger(__name__)


ZONE_COLOURS: dict[str, str] = {
    "perimeter": "#D55E00",
    "housing": "#E69F00",
    "administration": "#56B4E9",
    "guard_post": "#CC79A7",
    "agriculture": "#00D08A",
    "quarry": "#F0E442",
    "industry": "#B39DFF",
    "other": "#DDDDDD",
}
"""Outline colour per zone type (Okabe–Ito based, bright enough on imagery)."""

CHANGE_COLOUR = "#00FFFF"
"""Outline colour of change objects of a type not in :data:`CHANGE_COLOURS` (dashed)."""
CHANGE_COLOURS: dict[str, str] = {
    "new_or_brighter": "#00FFFF",
    "removed_or_darker": "#FF8C00",
    "earthworks": "#FF2020",
    "vegetation_gain": "#39FF14",
    "vegetation_loss": "#FF5AA0",
}
"""Dashed outline colour per change type: each type its own colour in the legend."""
AOI_COLOUR = "#FFFFFF"
"""Outline colour of the area of interest (the search area, not a boundary)."""
EVENT_COLOUR = "#FF2DFF"
"""Outline colour of events (solid, thick)."""
NODATA_GREY = "#9A9A9A"
"""Background drawn where the image has no data."""

HALO = [patheffects.withStroke(linewidth=3.2, foreground="black", alpha=0.75)]
"""Dark halo under coloured lines so they read on bright and dark ground."""


def kind_colour(kind: str) -> str:
    """Outline colour for an overlay kind ("zone:<type>", "change:<type>", "event").

    Example:
        >>> kind_colour("zone:housing")
        '#E69F00'
    """
    if kind.startswith("zone:"):
        return ZONE_COLOURS.get(kind[5:], ZONE_COLOURS["other"])
    if kind.startswith("change:"):
        return CHANGE_COLOURS.get(kind[7:], CHANGE_COLOUR)
    if kind == "aoi":
        return AOI_COLOUR
    return EVENT_COLOUR


def check_kind(kind: str) -> None:
    """Raise :class:`FigureError` unless ``kind`` is a known overlay kind.

    Example:
        >>> check_kind("change:new_structure")
    """
    if kind in ("event", "aoi"):
        return
    if kind.startswith("zone:") and kind[5:] in ZONE_TYPES:
        return
    if kind.startswith("change:") and len(kind) > len("change:"):
        return
    raise FigureError(
        f"overlay kind {kind!r} is not 'event', 'aoi', 'change:<change_type>' or "
        f"'zone:<zone_type>' with zone_type one of {', '.join(ZONE_TYPES)}"
    )


def stretch_limits(
    images: Sequence[np.ndarray], *, low: float = 2.0, high: float = 98.0
) -> np.ndarray:
    """Per-band (red, green, blue) stretch limits shared by several (4, H, W) images.

    Before and after drawn with one stretch keep their colours comparable: a change
    then looks as large as it is, not as large as two separate stretches make it.

    Returns:
        (3, 2) float array of (low, high) reflectance for red, green and blue; NaN when
        no image has a valid pixel.

    Example:
        >>> a = np.zeros((4, 2, 2), "float32"); b = np.ones((4, 2, 2), "float32")
        >>> stretch_limits([a, b], low=0, high=100)[:, 1].tolist()
        [1.0, 1.0, 1.0]
    """
    if not (0.0 <= low < high <= 100.0):
        raise FigureError(
            f"stretch percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}"
        )
    pixels = []
    for image in images:
        if image.ndim != 3 or image.shape[0] != 4:
            raise FigureError(f"image must have shape (4, H, W); got {image.shape}")
        rgb = image[[2, 1, 0]].reshape(3, -1).astype(np.float32)
        pixels.append(rgb[:, np.isfinite(rgb).all(axis=0)])
    joined = np.concatenate(pixels, axis=1) if pixels else np.zeros((3, 0), np.float32)
    if joined.shape[1] == 0:
        return np.full((3, 2), np.nan)
    return np.percentile(joined, [low, high], axis=1).T


def stretch_rgb(
    image: np.ndarray, *, low: float = 2.0, high: float = 98.0, gamma: float = 1.0,
    limits: np.ndarray | None = None,
) -> np.ndarray:
    """True-colour display values from a (4, H, W) blue, green, red, nir reflectance array.

    Each of red, green and blue is stretched linearly between its ``low`` and
    ``high`` percentiles over valid pixels (finite in all three bands), clipped to
    0..1, then raised to ``1 / gamma``. Pixels not valid come back as NaN.

    Args:
        image: (4, H, W) float reflectance in :data:`imagery.capture.BANDS` order.
        low: lower percentile.
        high: upper percentile.
        gamma: display gamma (1 = linear; 1.4 brightens shadows).
        limits: (3, 2) red, green, blue (low, high) from :func:`stretch_limits`, to share
            one stretch between images; the percentiles are then not used.

    Returns:
        (H, W, 3) float32 RGB in 0..1, NaN where the input has no data.

    Example:
        >>> img = np.stack([np.linspace(0, 1, 100).reshape(10, 10)] * 4).astype("float32")
        >>> rgb = stretch_rgb(img)
        >>> rgb.shape, float(rgb.min()), float(rgb.max())
        ((10, 10, 3), 0.0, 1.0)
    """
    if image.ndim != 3 or image.shape[0] != 4:
        raise FigureError(
            f"image must have shape (4, H, W) with bands blue, green, red, nir; got {image.shape}"
        )
    if not (0.0 <= low < high <= 100.0):
        raise FigureError(
            f"stretch percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}"
        )
    if not (math.isfinite(gamma) and gamma > 0):
        raise FigureError(f"gamma must be a positive number, got {gamma!r}")
    rgb = np.moveaxis(image[[2, 1, 0]].astype(np.float32), 0, -1)
    valid = np.isfinite(rgb).all(axis=-1)
    out = np.full(rgb.shape, np.nan, dtype=np.float32)
    if not valid.any():
        return out
    for b in range(3):
        if limits is not None and np.isfinite(limits[b]).all():
            lo, hi = float(limits[b][0]), float(limits[b][1])
        else:
            lo, hi = np.percentile(rgb[..., b][valid], [low, high])
        if hi > lo:
            band = (rgb[..., b] - lo) / (hi - lo)
        else:
            band = np.full(rgb.shape[:2], 0.5, dtype=np.float32)
        band = np.clip(band, 0.0, 1.0)
        if gamma != 1.0:
            band = band ** (1.0 / gamma)
        out[..., b] = np.where(valid, band, np.nan)
    return out


def to_uint8(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) display floats to uint8 plus a validity mask (NaN -> 0, invalid).

    Example:
        >>> to_uint8(np.array([[[0.0, 0.5, 1.0]]]))[0].tolist()
        [[[0, 128, 255]]]
    """
    valid = np.isfinite(rgb).all(axis=-1)
    u8 = np.round(np.nan_to_num(rgb, nan=0.0) * 255.0).clip(0, 255).astype(np.uint8)
    return u8, valid


def lonlat_transformer(crs: str) -> Callable[[Any, Any], tuple[Any, Any]]:
    """(x, y) in ``crs`` -> (lon, lat) in WGS 84, for :func:`shapely.transform`.

    Example:
        >>> [round(v, 3) for v in lonlat_transformer("EPSG:32652")(253500.0, 4321620.0)]
        [126.153, 39.009]
    """
    tr = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)

    def fn(x: Any, y: Any) -> tuple[Any, Any]:
        return tr.transform(x, y)

    return fn


def _lonlat(crs: str, x: float, y: float) -> tuple[float, float]:
    tr = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
    lon, lat = tr.transform(x, y)
    return float(lon), float(lat)


def grid_north_offset(crs: str, x: float, y: float) -> float:
    """Clockwise angle in degrees from grid north (image up) to true north at (x, y).

    This is minus PROJ's meridian convergence: in the northern hemisphere, west
    of the UTM central meridian, true north lies clockwise of grid up.

    Example:
        >>> round(grid_north_offset("EPSG:32652", 253500.0, 4321620.0), 2)  # Kangdong
        1.79
    """
    lon, lat = _lonlat(crs, x, y)
    factors = Proj(CRS.from_user_input(crs)).get_factors(lon, lat)
    return -float(factors.meridian_convergence)


def grid_scale_factor(crs: str, x: float, y: float) -> float:
    """Point scale factor k of the projection at (x, y): grid metres per ground metre.

    Example:
        >>> round(grid_scale_factor("EPSG:32652", 253500.0, 4321620.0), 5)
        1.00035
    """
    lon, lat = _lonlat(crs, x, y)
    return float(Proj(CRS.from_user_input(crs)).get_factors(lon, lat).meridional_scale)


def add_scalebar(ax: Axes, crs: str, x: float, y: float, *, fontsize: float = 7) -> ScaleBar:
    """Add a metric scale bar to axes whose data units are grid metres of ``crs``.

    The bar is in ground metres: one grid unit is ``1 / k`` ground metres, where
    k is the projection's scale factor at (x, y) (0.9996..1.001 in UTM).

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot()
        >>> add_scalebar(ax, "EPSG:32652", 253500.0, 4321620.0).units
        'm'
    """
    k = grid_scale_factor(crs, x, y)
    bar = ScaleBar(
        1.0 / k,
        units="m",
        location="lower left",
        length_fraction=0.22,
        box_alpha=0.8,
        font_properties={"size": fontsize},
        border_pad=0.6,
    )
    ax.add_artist(bar)
    return bar


@dataclass(frozen=True)
class NorthArrow:
    """What the north arrow shows."""

    angle_deg: float
    """Clockwise rotation of the arrow from image up (true north minus grid north)."""
    axes: Axes
    """The small axes the arrow is drawn in (its window extent is an obstacle for labels)."""


def add_north_arrow(
    ax: Axes,
    crs: str,
    x: float,
    y: float,
    *,
    fontsize: float = 7,
    rect: tuple[float, float, float, float] = (0.86, 0.76, 0.13, 0.23),
) -> NorthArrow:
    """Draw a true-north arrow in the top right corner of ``ax``, rotated off grid north.

    ``rect`` is the arrow box in axes fractions (left, bottom, width, height).

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot()
        >>> round(add_north_arrow(ax, "EPSG:32652", 253500.0, 4321620.0).angle_deg, 1)
        1.8
    """
    angle = grid_north_offset(crs, x, y)
    sub = ax.inset_axes(rect)
    sub.set_xlim(-1.75, 1.75)
    sub.set_ylim(-1.55, 1.45)
    sub.set_aspect("equal", adjustable="box", anchor="NE")
    sub.set_xticks([])
    sub.set_yticks([])
    sub.patch.set_facecolor("white")
    sub.patch.set_alpha(0.8)
    for spine in sub.spines.values():
        spine.set_visible(False)
    rad = math.radians(angle)
    dx, dy = 0.9 * math.sin(rad), 0.9 * math.cos(rad)
    sub.add_patch(
        FancyArrow(
            -dx * 0.55, -dy * 0.55 + 0.05, dx * 1.2, dy * 1.2,
            width=0.16, head_width=0.5, head_length=0.45,
            length_includes_head=True, color="black",
        )
    )
    sub.text(dx * 0.95, dy * 0.95 + 0.08, "N", ha="center", va="bottom",
             fontsize=fontsize + 2, fontweight="bold")
    side = "E" if angle >= 0 else "W"
    sub.text(0, -0.92, f"true north\n{abs(angle):.1f}° {side} of grid", ha="center", va="top",
             fontsize=fontsize - 1.5, linespacing=1.0)
    return NorthArrow(angle, sub)


LOCATOR_HALF_DEG = 1.6
"""Half height of the locator's regional frame in degrees of latitude (when borders exist)."""


def add_locator(
    ax: Axes,
    extent_lonlat: Polygon,
    aoi_lonlat: Polygon | None,
    point: tuple[float, float],
    *,
    fontsize: float = 6,
    countries: Sequence[Any] = (),
    credit: str = "",
    towns: Sequence[Any] = (),
) -> list[Any]:
    """Draw the locator: where the figure is, in a lon/lat frame; return the towns drawn.

    With ``countries`` (records with ``name`` and ``geometry`` in WGS 84, e.g. Natural Earth
    admin-0 from :mod:`pipeline.report.basemap`) the frame is regional
    (:data:`LOCATOR_HALF_DEG` around the point): land, country borders and names, and the
    figure's place as a red star, and ``towns`` (records with ``lon`` and ``lat``, e.g.
    :func:`pipeline.report.basemap.towns_near`) as dots; the caller labels them once the
    figure is laid out (:func:`pipeline.report.labels.place_labels`). Without them (no
    basemap available) the frame is a bare graticule about five times the larger of extent
    and AOI, with the extent in red and the AOI in grey, and says "no basemap".

    Example:
        >>> from matplotlib.figure import Figure
        >>> from shapely.geometry import box
        >>> ax = Figure().add_subplot()
        >>> add_locator(ax, box(126.15, 39.0, 126.16, 39.01), None, (126.155, 39.005))
        []
        >>> ax.get_xlabel()
        'lon (WGS 84)'
    """
    shapes: list[Polygon] = [extent_lonlat] + ([aoi_lonlat] if aoi_lonlat is not None else [])
    minx = min(s.bounds[0] for s in shapes)
    miny = min(s.bounds[1] for s in shapes)
    maxx = max(s.bounds[2] for s in shapes)
    maxy = max(s.bounds[3] for s in shapes)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half = LOCATOR_HALF_DEG if countries else max(maxx - minx, maxy - miny, 0.002) * 2.5
    coslat = max(math.cos(math.radians(cy)), 0.1)
    x0, x1, y0, y1 = cx - half / coslat, cx + half / coslat, cy - half, cy + half
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / coslat)
    ax.tick_params(labelsize=fontsize - 1, length=2, pad=1)
    ax.locator_params(nbins=3)
    ax.ticklabel_format(useOffset=False)
    ax.set_xlabel("lon (WGS 84)", fontsize=fontsize - 1, labelpad=1)
    ax.set_ylabel("lat", fontsize=fontsize - 1, labelpad=1)
    if countries:
        from shapely.geometry import box as _box

        frame = _box(x0, y0, x1, y1)
        home = ""
        ax.set_facecolor("#cfe0ee")  # sea
        for c in countries:
            part = c.geometry.intersection(frame)
            if part.is_empty or not isinstance(part, Polygon | MultiPolygon):
                continue
            for poly in (part.geoms if isinstance(part, MultiPolygon) else [part]):
                # added as an artist: the view is already set, and ``fill``/``add_patch``
                # walk every vertex to widen the data limits nothing reads (a second of a
                # report's twelve figures)
                ax.add_artist(MplPolygon(np.asarray(poly.exterior.coords)[:, :2], closed=True,
                                         facecolor="#f3f0e8", edgecolor="#555555",
                                         linewidth=0.6, zorder=1))
            if c.geometry.contains(Point(point)):
                home = c.name  # named in the title: its label would sit on the star and towns
            elif part.area > 0.02 * frame.area:
                rp = part.representative_point()
                ax.text(rp.x, rp.y, c.name, fontsize=fontsize - 0.5, ha="center", va="center",
                        color="#333333", zorder=3, style="italic")
        ax.plot([point[0]], [point[1]], marker="*", color="#D00000", markersize=9,
                markeredgecolor="black", markeredgewidth=0.5, zorder=4, gid="place")
        drawn = _draw_towns(ax, towns, (x0, y0, x1, y1))
        title = f"Locator: figure place (red star){', ' + home if home else ''}"
        ax.set_title(title + (f"\n{credit}" if credit else ""), fontsize=fontsize)
        return drawn
    if aoi_lonlat is not None:
        xs, ys = aoi_lonlat.exterior.xy
        ax.fill(xs, ys, facecolor="#dddddd", edgecolor="#555555", linewidth=0.8, label="AOI")
    xs, ys = extent_lonlat.exterior.xy
    ax.plot(xs, ys, color="#D00000", linewidth=1.2)
    ax.plot([point[0]], [point[1]], marker="*", color="black", markersize=6)
    ax.grid(True, linewidth=0.4, color="#999999")
    ax.set_title("Locator: figure extent (red), AOI (grey)\nno basemap", fontsize=fontsize)
    return []


def _draw_towns(
    ax: Axes, towns: Sequence[Any], frame: tuple[float, float, float, float]
) -> list[Any]:
    """Town dots inside the frame (their labels are placed by the caller, collision-free)."""
    x0, y0, x1, y1 = frame
    inside = [t for t in towns if x0 <= t.lon <= x1 and y0 <= t.lat <= y1]
    for t in inside:
        ax.plot([t.lon], [t.lat], marker="o", color="black", markersize=2.5, zorder=5,
                gid="town")
    return inside


def outline_paths(geom: Polygon | MultiPolygon) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rings of a (multi)polygon as (xs, ys) arrays, exteriors and holes.

    Example:
        >>> from shapely.geometry import box
        >>> len(outline_paths(box(0, 0, 1, 1)))
        1
    """
    polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for p in polys:
        for ring in [p.exterior, *p.interiors]:
            xs, ys = ring.xy
            out.append((np.asarray(xs), np.asarray(ys)))
    return out


def draw_overlays(
    ax: Axes, outlines: Sequence[tuple[Polygon | MultiPolygon, str]], *, pixel_m: float = 0.0
) -> None:
    """Draw (geometry, kind) outlines: zones by type colour, changes dashed, events solid.

    With ``pixel_m`` (the drawn image's pixel size), event outlines are drawn one pixel
    outside the event, with a thin line, so the changed pixels under them stay visible.

    Example:
        >>> from matplotlib.figure import Figure
        >>> from shapely.geometry import box
        >>> ax = Figure().add_subplot()
        >>> draw_overlays(ax, [(box(0, 0, 1, 1), "event")])
        >>> len(ax.lines)
        1
    """
    for geom, kind in outlines:
        colour = kind_colour(kind)
        style = "--" if kind.startswith("change:") else (":" if kind == "aoi" else "-")
        lw = 2.2 if kind == "event" else 1.4
        halo = HALO
        if kind == "event" and pixel_m > 0:
            grown = geom.buffer(pixel_m, join_style="mitre")
            if isinstance(grown, Polygon | MultiPolygon) and not grown.is_empty:
                geom = grown
            lw = 1.3
            halo = [patheffects.withStroke(linewidth=2.4, foreground="black", alpha=0.7)]
        for xs, ys in outline_paths(geom):
            ax.plot(xs, ys, color=colour, linestyle=style, linewidth=lw, zorder=4,
                    path_effects=halo, solid_joinstyle="round")
