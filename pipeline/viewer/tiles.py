"""XYZ tiles (WebMercatorQuad, lossless WebP) of one reflectance raster, in true colour.

Tile maths (which tiles cover the raster, their bounds, the native zoom) comes from
morecantile and rio-tiler; reprojection from the facility grid to Web Mercator is GDAL's
warper (:func:`rasterio.warp.reproject`), once per zoom level for a whole block of tiles.
This module adds the colour stretch and the file layout ``<dir>/{z}/{x}/{y}.webp``.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
from affine import Affine
from PIL import Image
from rasterio.enums import Resampling
from rasterio.warp import reproject

from imagery.capture import BANDS
from pipeline.errors import ViewerError

log = logging.getLogger(__name__)

TILE_SIZE = 256
"""Pixels on a side of every PNG tile."""

TMS = morecantile.tms.get("WebMercatorQuad")
"""The tile matrix set Leaflet uses by default (EPSG:3857, 256 px tiles)."""

TILE_EXT = "webp"
"""File extension of the tiles: lossless WebP (exact pixels, like PNG), which Pillow encodes
about twice as fast as PNG at zlib level 1, in about 40 % fewer bytes."""

WEBP_OPTIONS: dict[str, Any] = {"lossless": True, "method": 0, "quality": 0}
"""Pillow's fastest lossless WebP setting (``quality`` is the effort for lossless)."""

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
    data[:, np.ma.getmaskarray(rgb).any(axis=0)] = np.nan
    return _stretch_nan(data, stretch)


def _stretch_nan(data: np.ndarray, stretch: Stretch) -> tuple[np.ndarray, np.ndarray]:
    """:func:`to_rgba` of a plain (3, H, W) float array whose invalid pixels are not finite.

    Works band by band in the array's own precision, in place (``data`` is overwritten).
    """
    invalid = ~np.isfinite(data).all(axis=0)
    out = np.empty(data.shape, dtype=np.uint8)
    for i, band in enumerate(data):
        lo, hi = stretch.low[i], stretch.high[i]
        band -= band.dtype.type(lo)
        band *= band.dtype.type(255.0 / (hi - lo))
        np.nan_to_num(band, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(band, 0, 255, out=band)
        np.rint(band, out=band)
        out[i] = band
        out[i][invalid] = 0
    alpha = np.where(invalid, 0, 255).astype(np.uint8)
    return out, alpha
def preview_rgb(dataset: Any, *, max_size: int = 512) -> np.ma.MaskedArray:
    """A decimated (3, h, w) red, green, blue read of a grid raster (for the stretch).

    Decimated by the smallest power of two that brings the longer side to at most
    ``max_size``, so GDAL reads the raster's overview of that factor (averages) directly.

    Raises:
        ViewerError: when the raster has no valid pixel.

    Example:
        >>> # with rasterio.open(path) as ds: preview_rgb(ds).shape  -> (3, 510, 510)
    """
    factor = 1
    while max(dataset.height, dataset.width) > factor * max_size:
        factor *= 2
    data, _ = _read_rgb(dataset, rgb_indexes(dataset), factor)
    arr = np.ma.masked_invalid(data)
    if np.ma.getmaskarray(arr).all():
        raise ViewerError(f"{dataset.name}: no valid pixel (all nodata)")
    return arr


def zoom_range(dataset: Any) -> tuple[int, int]:
    """rio-tiler's (min, max) WebMercatorQuad zoom for a raster: max is the native zoom.

    Example:
        >>> # with rasterio.open(path) as ds: zoom_range(ds)  -> (14, 18) for 0.5 m at 39° N
    """
    from rio_tiler.io import Reader

    with quiet_affine_warnings(), Reader(None, dataset=dataset, tms=TMS) as reader:
        return int(reader.minzoom), int(reader.maxzoom)


def gsd_zoom(gsd_m: float, dataset: Any) -> int:
    """The coarsest WebMercatorQuad zoom whose pixels are no larger than ``gsd_m`` on the
    ground at the raster's centre latitude.

    Example:
        >>> # with rasterio.open(s2_on_1m_grid) as ds: gsd_zoom(10.0, ds)  -> 14 at 39° N
    """
    from rasterio.warp import transform_bounds

    _, south, _, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    scale = math.cos(math.radians((south + north) / 2))
    for z in range(TMS.minzoom, TMS.maxzoom + 1):
        if TMS.matrix(z).cellSize * scale <= gsd_m:
            return z
    return TMS.maxzoom


def _tile_bounds(tiles: Sequence[Any]) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) in EPSG:3857 of a block of tiles of one zoom."""
    x0, x1 = min(t.x for t in tiles), max(t.x for t in tiles)
    y0, y1 = min(t.y for t in tiles), max(t.y for t in tiles)
    z = tiles[0].z
    left, _, _, top = TMS.xy_bounds(morecantile.Tile(x0, y0, z))
    _, bottom, right, _ = TMS.xy_bounds(morecantile.Tile(x1, y1, z))
    return left, bottom, right, top


def _read_rgb(
    dataset: Any, indexes: tuple[int, int, int], factor: int
) -> tuple[np.ndarray, Affine]:
    """Red, green, blue as float32 with NaN nodata, decimated by ``factor`` (a power of two).

    A decimated read has the size of the raster's overview of that factor, which GDAL then
    reads directly (overviews are averages), as rio-tiler's reads do.
    """
    h = max(1, -(-dataset.height // factor))
    w = max(1, -(-dataset.width // factor))
    data = dataset.read(indexes, out_shape=(3, h, w), resampling=Resampling.average)
    data = data.astype(np.float32, copy=False)
    nodata = dataset.nodata
    if nodata is not None and not math.isnan(nodata):
        data[data == nodata] = np.nan
    transform = dataset.transform @ Affine.scale(dataset.width / w, dataset.height / h)
    return data, transform


def _read_factor(dataset: Any, dst_res: float, lat: float) -> int:
    """Largest power of two no larger than the ground size of a Web Mercator pixel of
    ``dst_res`` at latitude ``lat`` in raster pixels (1 when that is under 2)."""
    ground = dst_res * math.cos(math.radians(lat))
    ratio = ground / min(abs(dataset.res[0]), abs(dataset.res[1]))
    return 1 << max(0, int(math.floor(math.log2(ratio)))) if ratio >= 2 else 1


def encode_tile(rgb: np.ndarray, alpha: np.ndarray) -> bytes:
    """A (3, 256, 256) uint8 RGB tile and its (256, 256) alpha as lossless WebP bytes.

    Example:
        >>> z = np.zeros((3, 2, 2), np.uint8)
        >>> encode_tile(z, np.full((2, 2), 255, np.uint8))[:4]
        b'RIFF'
    """
    buf = io.BytesIO()
    Image.fromarray(np.dstack([rgb[0], rgb[1], rgb[2], alpha]), "RGBA").save(
        buf, "WEBP", **WEBP_OPTIONS
    )
    return buf.getvalue()


def write_tiles(
    dataset: Any,
    out_dir: Path,
    stretch: Stretch,
    zooms: range,
    *,
    progress: Callable[[int], None] | None = None,
) -> TilePyramid:
    """Write every WebMercatorQuad tile covering ``dataset`` at ``zooms`` as lossless WebP.

    Tiles inside the raster's bounds are written even where all pixels are nodata
    (transparent), so a map asking only for tiles in :attr:`TilePyramid.zoom_ranges`
    never meets a missing file.

    Each zoom level is reprojected once, as one mosaic of whole tiles whose pixel grid is the
    tiles' own (so cutting it into tiles is exact): the raster is first read from the overview
    (averages) closest to and not coarser than the zoom's ground resolution, then warped by
    nearest neighbour, as rio-tiler renders a tile (``resampling_method="average"``,
    ``reproject_method="nearest"``).

    Args:
        dataset: An open rasterio dataset of a grid raster (blue, green, red, nir).
        out_dir: Directory receiving ``{z}/{x}/{y}.webp``.
        stretch: The colour stretch (see :func:`percentile_stretch`).
        zooms: Zoom levels to write.
        progress: Called with the number of tiles written so far, after each tile.

    Example:
        >>> # with rasterio.open(p) as ds:
        >>> #     write_tiles(ds, out / "tiles" / "cap1", stretch, range(14, 19))
    """
    from rio_tiler.io import Reader

    indexes = rgb_indexes(dataset)
    ranges: dict[int, tuple[int, int, int, int]] = {}
    count = 0
    reads: dict[int, tuple[np.ndarray, Affine]] = {}
    with quiet_affine_warnings(), Reader(None, dataset=dataset, tms=TMS) as reader:
        west, south, east, north = reader.get_geographic_bounds(TMS.rasterio_geographic_crs)
    for z in zooms:
        tiles = list(TMS.tiles(west, south, east, north, zooms=[z]))
        if not tiles:
            continue
        xmin, xmax = min(t.x for t in tiles), max(t.x for t in tiles)
        ymin, ymax = min(t.y for t in tiles), max(t.y for t in tiles)
        ranges[z] = (xmin, xmax, ymin, ymax)
        left, bottom, right, top = _tile_bounds(tiles)
        width, height = (xmax - xmin + 1) * TILE_SIZE, (ymax - ymin + 1) * TILE_SIZE
        res_x, res_y = (right - left) / width, (top - bottom) / height
        dst_transform = Affine(res_x, 0.0, left, 0.0, -res_y, top)
        factor = _read_factor(dataset, res_x, (south + north) / 2)
        if factor not in reads:
            reads[factor] = _read_rgb(dataset, indexes, factor)
        src, src_transform = reads[factor]
        mosaic = np.full((3, height, width), np.nan, dtype=np.float32)
        with quiet_affine_warnings():
            reproject(
                src, mosaic, src_transform=src_transform, src_crs=dataset.crs,
                src_nodata=np.nan, dst_transform=dst_transform, dst_crs=TMS.rasterio_crs,
                dst_nodata=np.nan, resampling=Resampling.nearest,
            )
        rgb, alpha = _stretch_nan(mosaic, stretch)
        del mosaic
        for t in tiles:
            r0 = (t.y - ymin) * TILE_SIZE
            c0 = (t.x - xmin) * TILE_SIZE
            rows, cols = slice(r0, r0 + TILE_SIZE), slice(c0, c0 + TILE_SIZE)
            path = out_dir / str(t.z) / str(t.x) / f"{t.y}.{TILE_EXT}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_tile(rgb[:, rows, cols], alpha[rows, cols]))
            count += 1
            if progress is not None:
                progress(count)
    log.debug("%s: %d tiles at zooms %s", dataset.name, count, sorted(ranges))
    return TilePyramid(
        ranges, (float(west), float(south), float(east), float(north)), stretch, count
    )


def count_tiles(dataset: Any, zooms: range) -> int:
    """How many tiles :func:`write_tiles` would write (for progress totals)."""
    from rio_tiler.io import Reader

    with quiet_affine_warnings(), Reader(None, dataset=dataset, tms=TMS) as reader:
        west, south, east, north = reader.get_geographic_bounds(TMS.rasterio_geographic_crs)
    return len(list(TMS.tiles(west, south, east, north, zooms=list(zooms))))
