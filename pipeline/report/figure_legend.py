"""Legend and caption text of the annotated figures (no file is opened here)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backend_bases import RendererBase
from matplotlib.colors import ListedColormap
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pipeline.report.figure_parts import (
    AOI_COLOUR,
    CHANGE_COLOURS,
    EVENT_COLOUR,
    NODATA_GREY,
    ZONE_COLOURS,
)
from pipeline.report.figure_records import Density, Overlay

DENSITY_CMAP = ListedColormap(
    matplotlib.colormaps["YlOrRd"](np.linspace(0.45, 1.0, 64)), name="campwatch-density")
"""Colour map of the density layer: orange (little changed area per cell) to dark red (most);
its pale yellow end is left out, which reads as ground on imagery."""
Handle = Line2D | Patch | tuple[Patch, Line2D]
"""A legend entry: one artist, or a patch with a line drawn over it (labelled by the line)."""


def handle_label(handle: Handle) -> str:
    """The label of a legend entry.

    Example:
        >>> handle_label(Line2D([], [], label="event"))
        'event'
    """
    return str((handle[-1] if isinstance(handle, tuple) else handle).get_label())


DENSITY_ALPHA = 0.65
"""Opacity of the density layer: the image stays visible under it."""


def wrap_text(text: str, width_px: float, size: float, renderer: RendererBase) -> list[str]:
    """Greedy word wrap measured with the renderer, preferring breaks at " — ".

    Example:
        >>> # wrap_text(caption.text(), 5.2 * 150, 9.0, fig.canvas.get_renderer())
    """
    prop = FontProperties(size=size)

    def fits(s: str) -> bool:
        w, _, _ = renderer.get_text_width_height_descent(s, prop, ismath=False)
        return bool(w <= width_px)

    lines: list[str] = []
    current = ""
    for part in text.split(" — "):
        candidate = f"{current} — {part}" if current else part
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current + " —")
        current = ""
        for word in part.split(" "):
            candidate = f"{current} {word}" if current else word
            if fits(candidate) or not current:
                current = candidate
            else:
                lines.append(current)
                current = word
    if current:
        lines.append(current)
    return lines


def _density_label(density: Density) -> str:
    side = density.cell_m2 ** 0.5
    return (f"{density.count} other detections (section 7):\nchanged area per "
            f"{side:,.0f} m cell\n(up to {float(density.values.max()):,.0f} m²)")


def legend_handles(
    overlays: Sequence[Overlay], nodata: bool, notes: Sequence[str] = (),
    density: Density | None = None,
) -> list[Handle]:
    """Legend entries of what a panel shows: AOI, zones, detections by type, events, the
    density layer, notes and no data.

    Example:
        >>> legend_handles([], False)
        []
    """
    handles: list[Handle] = []
    kinds = {o.kind for o in overlays}
    if "aoi" in kinds:
        # white dots on a dark strip, as on the image (a haloed dotted line drew tiny boxes)
        handles.append((Patch(facecolor="#3a3a3a", edgecolor="none"),
                        Line2D([], [], color=AOI_COLOUR, lw=1.6, linestyle=":",
                               label="AOI (search area)")))
    for zt, colour in ZONE_COLOURS.items():
        if f"zone:{zt}" in kinds:
            name = zt.replace("_", " ")
            handles.append(Line2D([], [], color=colour, lw=1.6, label=f"zone: {name}"))
    for k in sorted(k for k in kinds if k.startswith("change:")):
        handles.append(Line2D([], [], color=CHANGE_COLOURS.get(k[7:], "#00FFFF"), lw=1.6,
                              linestyle="--", label=f"detection: {k[7:].replace('_', ' ')}"))
    if "event" in kinds:
        handles.append(Line2D([], [], color=EVENT_COLOUR, lw=2.2, label="event"))
    if density is not None and density.count:
        fill = DENSITY_CMAP(0.6)
        handles.append(Patch(facecolor=fill, alpha=DENSITY_ALPHA, edgecolor="#555555",
                             label=_density_label(density)))
    for note in notes:
        handles.append(Line2D([], [], color="none", label=note))
    if nodata:
        handles.append(Patch(facecolor=NODATA_GREY, hatch="///", edgecolor="#555555",
                             label="no data"))
    return handles
