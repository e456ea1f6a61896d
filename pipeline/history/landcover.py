"""Land cover under an event, measured from its own two captures (no download).

For each event the run reads the before and after captures over the event's outline and
takes the object's mean NDVI ((nir − red) / (nir + red)), NDWI (McFeeters: (green − nir) /
(green + nir)) and visible brightness before and after. From those it names what happened to
the ground: vegetation cleared or grown, bare ground or excavation, water, or a change of a
non-vegetated surface. Where the captures cannot say (no near-infrared band, 8-bit relative
brightness rather than reflectance, too few valid pixels) the measure says "not measured"
and why, rather than guessing. The result is stored with the event (``land_cover`` and
``land_cover_note`` of the ``events`` layer) and shapes its statement together with its size
(:meth:`pipeline.history.events.Event.statement`); readers never measure again.

:func:`classify_land_cover` is pure numpy; :func:`measure_event_land_cover` reads the two
captures' stored reflectance (decimated for large outlines) and calls it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader
from rasterio.windows import Window, from_bounds
from shapely.geometry import MultiPolygon, Polygon

from facilities.grid import FacilityGrid
from imagery.capture import Capture
from imagery.store import read_window_averaged
from imagery.types import LandCover
from imagery.workspace import FacilityWorkspace

log = logging.getLogger(__name__)

VEGETATED_NDVI = 0.3
"""Object mean NDVI at or above which the ground counts as vegetated."""
BARE_NDVI = 0.2
"""Object mean NDVI below which the ground counts as not vegetated."""
WATER_NDWI = 0.3
"""Object mean NDWI above which (with NDVI below :data:`WATER_NDVI`) the ground counts as
open water. Dark ground in winter shadow reaches NDWI 0.2-0.25 on Sentinel-2 L1C (the OSCD
Bercy rail yard in November), so the threshold stays above it."""
WATER_NDVI = -0.1
"""Object mean NDVI below which open water's NDWI is believed."""
NDVI_SHIFT = 0.1
"""Smallest change of object mean NDVI that counts as vegetation cleared or grown."""
BRIGHTER = 0.02
"""Rise of mean visible reflectance that makes non-vegetated ground "bare or excavated"."""
MIN_PIXELS = 4
"""Fewest valid pixels of the object in each capture for a measure."""
MAX_READ_PX = 1024
"""Largest side read for one outline (larger outlines are read decimated)."""

LAND_COVER_WORDS: dict[str, str] = {
    "vegetation_cleared": "vegetation cleared",
    "vegetation_grown": "vegetation grown",
    "bare_or_excavated": "brightened, not vegetated (bare ground, excavation or roofing)",
    "water": "open water",
    "surface_changed": "little vegetation before and after",
    "vegetated_both": "vegetated before and after",
    "not_measured": "land cover not measured",
}
"""How each land-cover class reads in a statement."""


@dataclass(frozen=True)
class LandCoverMeasure:
    """What the two captures say about the ground under one event."""

    label: LandCover
    """The class (see :data:`LAND_COVER_WORDS`)."""
    note: str
    """The measured values, or why nothing was measured, e.g. "NDVI 0.61 → 0.08"."""

    def words(self) -> str:
        """The class in words, with its note.

        Example:
            >>> LandCoverMeasure("vegetation_cleared", "NDVI 0.61 → 0.08").words()
            'vegetation cleared (NDVI 0.61 → 0.08)'
        """
        return f"{LAND_COVER_WORDS[self.label]} ({self.note})" if self.note else (
            LAND_COVER_WORDS[self.label])


def _means(pixels: np.ndarray) -> tuple[float, float, float] | None:
    """Mean NDVI, NDWI and visible brightness of (4, N) blue, green, red, nir pixels."""
    b, g, r, n = (pixels[i].astype(np.float64) for i in range(4))
    ok = np.isfinite(pixels).all(axis=0) & ((n + r) > 0) & ((g + n) > 0)
    if int(ok.sum()) < MIN_PIXELS:
        return None
    ndvi = float(np.mean((n[ok] - r[ok]) / (n[ok] + r[ok])))
    ndwi = float(np.mean((g[ok] - n[ok]) / (g[ok] + n[ok])))
    bright = float(np.mean((b[ok] + g[ok] + r[ok]) / 3))
    return ndvi, ndwi, bright


def _has_nir(pixels: np.ndarray) -> bool:
    """False when the near-infrared band is empty, zero, or flat where the visible bands
    vary (a 3-band product padded to 4, or an alpha band in its place)."""
    nir = pixels[3]
    finite = nir[np.isfinite(nir)]
    if finite.size == 0 or float(finite.max()) <= 0:
        return False
    rgb = pixels[:3][:, np.isfinite(pixels[:3]).all(axis=0)]
    return not (float(np.ptp(finite)) == 0 and rgb.size > 0
                and float(np.ptp(rgb, axis=1).max()) > 0)


def classify_land_cover(before: np.ndarray, after: np.ndarray) -> LandCoverMeasure:
    """Name the land-cover change of one object from its (4, N) pixels before and after.

    Bands are blue, green, red, nir reflectance (NaN = no data). Rules, first that holds:
    no usable near-infrared or too few pixels → ``not_measured``; open water (NDWI >
    :data:`WATER_NDWI` and NDVI < :data:`WATER_NDVI`) before or after → ``water``; vegetated before
    (NDVI ≥ :data:`VEGETATED_NDVI`), NDVI down by :data:`NDVI_SHIFT` and not vegetated
    after → ``vegetation_cleared``; the reverse → ``vegetation_grown``; not vegetated after
    (NDVI < :data:`BARE_NDVI`) and brighter by :data:`BRIGHTER` → ``bare_or_excavated``;
    vegetated before and after → ``vegetated_both``; else ``surface_changed``.

    Example:
        >>> grass = np.array([[0.03], [0.08], [0.04], [0.40]]).repeat(9, axis=1)
        >>> soil = np.array([[0.14], [0.17], [0.20], [0.25]]).repeat(9, axis=1)
        >>> classify_land_cover(grass, soil).words()
        'vegetation cleared (NDVI 0.82 → 0.11)'
    """
    for name, px in (("before", before), ("after", after)):
        if px.ndim != 2 or px.shape[0] != 4:
            raise ValueError(f"{name} pixels must have shape (4, N); got {px.shape}")
    if not (_has_nir(before) and _has_nir(after)):
        return LandCoverMeasure("not_measured", "no near-infrared band in a capture")
    a, b = _means(before), _means(after)
    if a is None or b is None:
        return LandCoverMeasure("not_measured",
                                f"fewer than {MIN_PIXELS} valid pixels in a capture")
    (ndvi_a, ndwi_a, bright_a), (ndvi_b, ndwi_b, bright_b) = a, b
    ndvi = f"NDVI {ndvi_a:.2f} → {ndvi_b:.2f}"
    if (ndwi_a > WATER_NDWI and ndvi_a < WATER_NDVI) or (
            ndwi_b > WATER_NDWI and ndvi_b < WATER_NDVI):
        return LandCoverMeasure("water", f"NDWI {ndwi_a:.2f} → {ndwi_b:.2f}")
    if ndvi_a >= VEGETATED_NDVI > ndvi_b and ndvi_a - ndvi_b >= NDVI_SHIFT:
        return LandCoverMeasure("vegetation_cleared", ndvi)
    if ndvi_b >= VEGETATED_NDVI > ndvi_a and ndvi_b - ndvi_a >= NDVI_SHIFT:
        return LandCoverMeasure("vegetation_grown", ndvi)
    if ndvi_b < BARE_NDVI and bright_b - bright_a >= BRIGHTER:
        return LandCoverMeasure(
            "bare_or_excavated", f"{ndvi}, brightness {bright_a:.2f} → {bright_b:.2f}")
    if min(ndvi_a, ndvi_b) >= VEGETATED_NDVI:
        return LandCoverMeasure("vegetated_both", ndvi)
    return LandCoverMeasure("surface_changed",
                            f"{ndvi}, brightness {bright_a:.2f} → {bright_b:.2f}")


class LandCoverReader:
    """Measures event outlines from stored captures, each capture's raster opened once for
    every event measured through it (a context manager; :func:`measure_event_land_cover`
    for one event).

    Example:
        >>> # with LandCoverReader(ws, grid) as reader:
        >>> #     measures = [reader.measure(ev.before, ev.after, ev.change.geometry)
        >>> #                 for ev in events]
    """

    def __init__(self, ws: FacilityWorkspace, grid: FacilityGrid) -> None:
        self._ws = ws
        self._grid = grid
        self._files = contextlib.ExitStack()
        self._open: dict[str, DatasetReader] = {}

    def __enter__(self) -> LandCoverReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._files.close()
        self._open.clear()

    def _read_object(self, cap: Capture, geom: Polygon | MultiPolygon) -> np.ndarray:
        """(4, N) pixels of ``cap`` inside ``geom`` (decimated when the outline is large)."""
        grid = self._grid
        window = from_bounds(*geom.bounds, transform=grid.transform)
        window = window.round_offsets(op="floor").round_lengths(op="ceil")
        window = Window(window.col_off, window.row_off, max(1, window.width),
                        max(1, window.height))
        f = max(1, math.ceil(max(window.width, window.height) / MAX_READ_PX))
        shape = (4, max(1, int(window.height) // f), max(1, int(window.width) // f))
        src = self._open.get(cap.raster_path)
        if src is None:
            src = self._files.enter_context(rasterio.open(self._ws.absolute(cap.raster_path)))
            self._open[cap.raster_path] = src
        arr, transform = read_window_averaged(src, window, shape)
        inside = geometry_mask([geom], out_shape=shape[1:], transform=transform, invert=True,
                               all_touched=f > 1)
        return arr[:, inside]

    def measure(self, before: Capture, after: Capture,
                geom: Polygon | MultiPolygon) -> LandCoverMeasure:
        """The land-cover measure of one event outline from its two stored captures (see
        :func:`measure_event_land_cover`)."""
        for cap in (before, after):
            if cap.radiometry.startswith("DN / 255"):
                return LandCoverMeasure(
                    "not_measured", f"{cap.sensor} is an 8-bit product (relative brightness)")
        return classify_land_cover(self._read_object(before, geom),
                                   self._read_object(after, geom))


def measure_event_land_cover(
    ws: FacilityWorkspace, grid: FacilityGrid, before: Capture, after: Capture,
    geom: Polygon | MultiPolygon,
) -> LandCoverMeasure:
    """The land-cover measure of one event outline from its two stored captures.

    8-bit products stored as relative brightness (``radiometry`` "DN / 255 …") are not
    measured: their NDVI would not be comparable between captures. For many events, a
    :class:`LandCoverReader` opens each capture once.

    Example:
        >>> # measure_event_land_cover(ws, grid, ev.before, ev.after, ev.change.geometry)
    """
    with LandCoverReader(ws, grid) as reader:
        return reader.measure(before, after, geom)
