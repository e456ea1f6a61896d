"""XYZ PNG tiles (WebMercatorQuad) of one reflectance raster, in true colour.

Tile maths (which tiles cover the raster, their bounds, the native zoom) comes from
morecantile and rio-tiler; reprojection from the facility grid to Web Mercator is
rio-tiler's (GDAL's warper). This module adds only the colour stretch and the
file layout ``<dir>/{z}/{x}/{y}.png``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
from rio_tiler.io import Reader
from rio_tiler.utils import render

from imagery.capture import BANDS
from pipeline.errors import ViewerError

log = logging.getLogger(__name__)

TILE_SIZE = 256
"""Pixels on a side of every PNG tile."""

TMS = morecantile.tms.get("WebMercatorQuad")
"""The tile matrix set Leaflet uses by default (EPSG:3857, 256 px tiles)."""

PNG_ZLEVEL = 1
"""zlib level of the PNG tiles: level 1 encodes about twice as fast as the default 6 for
about 10 % more bytes."""

STRETCH_PERCENTILES = (2.0, 98.0)
"""Robust stretch: these percentiles of each band's valid pixels map to 0 and 255."""


@dataclass(frozen=True)
class Stretch:
    """A linear true-colour stretch: ``low`` maps to 0 and ``high`` to 255, per band."""

    low: tuple[float, float, float]
    """Reflectance shown black, for red, green, blue."""
    high: tuple[float, float, float]
    """Reflectance shown full intensity, for red, green, blue."""


@dataclass(frozen=True)
class TilePyramid:
    """The tiles written for one raster."""

    zoom_ranges: dict[int, tuple[int, int, int, int]]
    """Per zoom level, the tiles written: (x_min, x_max, y_min, y_max), inclusive."""
    bounds_lonlat: tuple[float, float, float, float]
    """(west, south, east, north) of the raster in WGS 84 degrees."""
    stretch: Stretch
    """The stretch the tiles were rendered with."""
    count: int
    """Number of PNG files written."""


@contextmanager
def quiet_affine_warnings() -> Iterator[None]:
    """Silence affine's pending deprecation of ``*``, raised inside rasterio and rio-tiler."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        yield


def rgb_indexes(dataset: Any) -> tuple[int, int, int]:
    """1-based band indexes of red, green and blue in a grid raster.

    Bands are found by description when the raster names them (as
    :func:`imagery.store.write_grid_raster` does), else the campwatch order
    ``imagery.capture.BANDS`` is assumed.

    Raises:
        ViewerError: too few bands, or descriptions without red, green and blue.

    Example:
        >>> # with rasterio.open(path) as ds: rgb_indexes(ds)  -> (3, 2, 1)
    """
    names = [d or "" for d in dataset.descriptions]
    if any(names):
        missing = [b for b in ("red", "green", "blue") if b not in names]
        if missing:
            raise ViewerError(
                f"{dataset.name}: band descriptions {names} lack {missing}; "
                f"expected bands {list(BANDS)}"
            )
        return (names.index("red") + 1, names.index("green") + 1, names.index("blue") + 1)
    if dataset.count < len(BANDS):
        raise ViewerError(
            f"{dataset.name}: {dataset.count} bands, expected {len(BANDS)} ({', '.join(BANDS)})"
        )
    return (BANDS.index("red") + 1, BANDS.index("green") + 1, BANDS.index("blue") + 1)


def percentile_stretch(
    previews: Sequence[np.ma.MaskedArray],
    percentiles: tuple[float, float] = STRETCH_PERCENTILES,
) -> Stretch:
    """Per-band percentiles of the valid pixels pooled over (3, H, W) arrays.

    A pixel is valid when it is unmasked and finite in all three bands. One stretch
    pooled over every capture keeps unchanged ground looking the same on both sides
    of the swipe, so brightness differences on the page are differences in reflectance.

    Raises:
        ViewerError: when no pixel is valid.

    Example:
        >>> a = np.ma.masked_invalid(np.stack([np.linspace(0, 1, 101)] * 3)[:, None, :])
        >>> percentile_stretch([a], (2.0, 98.0)).high
        (0.98, 0.98, 0.98)
    """
    pooled: list[np.ndarray] = []
    for rgb in previews:
        data = np.ma.masked_invalid(rgb)
        valid = ~np.ma.getmaskarray(data).any(axis=0)
        pooled.append(np.ma.getdata(data)[:, valid].astype(np.float64))
    values = np.concatenate(pooled, axis=1) if pooled else np.empty((3, 0))
    if values.shape[1] == 0:
        raise ViewerError("no valid pixel to compute a stretch from")
    low: list[float] = []
    high: list[float] = []
    for band in values:
        lo, hi = np.percentile(band, percentiles)
        if not hi > lo:
            hi = lo + 1e-6
        low.append(round(float(lo), 6))
        high.append(round(float(hi), 6))
    return Stretch((low[0], low[1], low[2]), (high[0], high[1], high[2]))


def to_rgba(rgb: np.ma.MaskedArray, stretch: Stretch) -> tuple[np.ndarray, np.ndarray]:
    """Stretch a masked (3, H, W) reflectance array to uint8 RGB plus an alpha mask.

    Pixels masked or non-finite in any band are transparent (alpha 0).

    Example:
        >>> a = np.ma.masked_invalid(np.array([[[0.0, 0.1, np.nan]]] * 3, dtype="float32"))
        >>> rgb, alpha = to_rgba(a, Stretch((0.0,) * 3, (0.1,) * 3))
        >>> rgb[0, 0].tolist(), alpha[0].tolist()
        ([0, 255, 0], [255, 255, 0])
    """
    data = np.ma.getdata(rgb).astype(np.float64)
    invalid = np.ma.getmaskarray(rgb).any(axis=0) | ~np.isfinite(data).all(axis=0)
    lo = np.asarray(stretch.low)[:, None, None]
    hi = np.asarray(stretch.high)[:, None, None]
    scaled = np.nan_to_num((data - lo) / (hi - lo), nan=0.0, posinf=1.0, neginf=0.0)
    out = np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)
    out[:, invalid] = 0
    alpha = np.where(invalid, 0, 255).astype(np.uint8)
    return out, alpha


def preview_rgb(dataset: Any, *, max_size: int = 512) -> np.ma.MaskedArray:
    """A decimated (3, h, w) red, green, blue read of a grid raster (for the stretch).

    Raises:
        ViewerError: when the raster has no valid pixel.

    Example:
        >>> # with rasterio.open(path) as ds: preview_rgb(ds).shape  -> (3, 512, 384)
    """
    with quiet_affine_warnings(), Reader(None, dataset=dataset) as reader:
        preview = reader.preview(
            indexes=rgb_indexes(dataset), max_size=max_size, resampling_method="average"
        )
    arr = np.ma.masked_invalid(preview.array)
    if np.ma.getmaskarray(arr).all():
        raise ViewerError(f"{dataset.name}: no valid pixel (all nodata)")
    return arr


def zoom_range(dataset: Any) -> tuple[int, int]:
    """rio-tiler's (min, max) WebMercatorQuad zoom for a raster: max is the native zoom.

    Example:
        >>> # with rasterio.open(path) as ds: zoom_range(ds)  -> (14, 18) for 0.5 m at 39° N
    """
    with quiet_affine_warnings(), Reader(None, dataset=dataset, tms=TMS) as reader:
        return int(reader.minzoom), int(reader.maxzoom)


def write_tiles(
    dataset: Any,
    out_dir: Path,
    stretch: Stretch,
    zooms: range,
    *,
    progress: Callable[[int], None] | None = None,
) -> TilePyramid:
    """Write every WebMercatorQuad tile covering ``dataset`` at ``zooms`` as PNG.

    Tiles inside the raster's bounds are written even where all pixels are nodata
    (transparent), so a map asking only for tiles in :attr:`TilePyramid.zoom_ranges`
    never meets a missing file.

    Args:
        dataset: An open rasterio dataset of a grid raster (blue, green, red, nir).
        out_dir: Directory receiving ``{z}/{x}/{y}.png``.
        stretch: The colour stretch (see :func:`percentile_stretch`).
        zooms: Zoom levels to write.
        progress: Called with the number of tiles written so far, after each tile.

    Example:
        >>> # with rasterio.open(p) as ds:
        >>> #     write_tiles(ds, out / "tiles" / "cap1", stretch, range(14, 19))
    """
    indexes = rgb_indexes(dataset)
    ranges: dict[int, tuple[int, int, int, int]] = {}
    count = 0
    with quiet_affine_warnings(), Reader(None, dataset=dataset, tms=TMS) as reader:
        west, south, east, north = reader.get_geographic_bounds(TMS.rasterio_geographic_crs)
        for z in zooms:
            tiles = list(TMS.tiles(west, south, east, north, zooms=[z]))
            if not tiles:
                continue
            xs = [t.x for t in tiles]
            ys = [t.y for t in tiles]
            ranges[z] = (min(xs), max(xs), min(ys), max(ys))
            for t in tiles:
                img = reader.tile(
                    t.x,
                    t.y,
                    t.z,
                    tilesize=TILE_SIZE,
                    indexes=indexes,
                    resampling_method="average",
                    reproject_method="nearest",
                )
                rgb, alpha = to_rgba(img.array, stretch)
                path = out_dir / str(t.z) / str(t.x) / f"{t.y}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(render(rgb, alpha, img_format="PNG", ZLEVEL=PNG_ZLEVEL))
                count += 1
                if progress is not None:
                    progress(count)
    log.debug("%s: %d tiles at zooms %s", dataset.name, count, sorted(ranges))
    return TilePyramid(
        ranges, (float(west), float(south), float(east), float(north)), stretch, count
    )


def count_tiles(dataset: Any, zooms: range) -> int:
    """How many tiles :func:`write_tiles` would write (for progress totals)."""
    with quiet_affine_warnings(), Reader(None, dataset=dataset, tms=TMS) as reader:
        west, south, east, north = reader.get_geographic_bounds(TMS.rasterio_geographic_crs)
    return len(list(TMS.tiles(west, south, east, north, zooms=list(zooms))))
