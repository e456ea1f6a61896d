"""Put a source raster onto a facility grid (an I/O module: reads open datasets).

Reads go through a :class:`rasterio.vrt.WarpedVRT` whose output *is* the facility
grid, so GDAL reads only the source pixels under each requested window (and only
the overlapping part of a large scene). Output is float32 with NaN for nodata.

This module holds the project's one resampling rule (:func:`resampling_for`) and the one
place a ``WarpedVRT`` is set up (:func:`warped`): vendor ingest, STAC fetch and
``campwatch change`` all land pixels on a grid through it, so the same raster lands the
same way whichever path brought it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform
from rasterio.windows import Window

from facilities.grid import FacilityGrid
from imagery.errors import WarpError

log = logging.getLogger(__name__)

DEFAULT_BLOCK = 1024
"""Rows and columns read per block: bounds memory whatever the grid size."""


def grid_blocks(grid: FacilityGrid, block: int = DEFAULT_BLOCK) -> Iterator[Window]:
    """Windows that partition ``grid`` into blocks of at most ``block`` × ``block`` pixels.

    Example:
        >>> from facilities.grid import FacilityGrid
        >>> g = FacilityGrid("EPSG:32652", 1.0, 0.0, 10.0, 5, 3)
        >>> [(w.col_off, w.row_off, w.width, w.height) for w in grid_blocks(g, 4)]
        [(0, 0, 4, 3), (4, 0, 1, 3)]
    """
    for row in range(0, grid.height, block):
        for col in range(0, grid.width, block):
            yield Window(col, row, min(block, grid.width - col), min(block, grid.height - row))


FINER_TOLERANCE = 0.999
"""A source counts as finer than the target only below this share of the target's pixel size
(a 10 m source on a 10 m grid is not downsampled because of rounding in its transform)."""


def resampling_for(
    src: DatasetReader, crs: str, transform: Affine, *, categorical: bool = False
) -> Resampling:
    """The one resampling rule for landing ``src`` on a target grid (``crs``, ``transform``).

    Categorical rasters (masks, class bands) take the nearest value. Reflectance from a
    finer source is area-averaged, as a coarser sensor would see it; from a source as fine
    as the target or coarser it is bilinear. The source's pixel size is measured in the
    target CRS, so a geographic source is compared in metres, not degrees.

    Example:
        >>> import numpy as np, rasterio
        >>> from rasterio.io import MemoryFile
        >>> with MemoryFile() as mem, mem.open(driver="GTiff", width=4, height=4, count=1,
        ...         dtype="uint8", crs="EPSG:32652",
        ...         transform=Affine(0.5, 0, 0, 0, -0.5, 0)) as src:
        ...     resampling_for(src, "EPSG:32652", Affine(1, 0, 0, 0, -1, 0)).name
        'average'
    """
    if categorical:
        return Resampling.nearest
    if src.crs is None:
        raise WarpError(f"{src.name}: has no CRS; refusing to guess where it lies")
    moved, _, _ = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds)
    src_res = max(abs(moved.a), abs(moved.e))
    if src_res < abs(transform.a) * FINER_TOLERANCE:
        return Resampling.average
    return Resampling.bilinear


@contextmanager
def warped(
    src: DatasetReader,
    crs: str,
    transform: Affine,
    width: int,
    height: int,
    *,
    categorical: bool = False,
    **options: Any,
) -> Iterator[WarpedVRT]:
    """``src`` seen on a target grid, resampled by :func:`resampling_for`.

    ``options`` go to :class:`rasterio.vrt.WarpedVRT` (nodata, dtype, alpha, warp extras);
    the resampling is never one of them.

    Example:
        >>> # with warped(src, grid.crs, grid.transform, grid.width, grid.height) as vrt:
        >>> #     arr = vrt.read(1)
    """
    if "resampling" in options:
        raise WarpError(f"{src.name}: resampling is decided by resampling_for, not the caller")
    resampling = resampling_for(src, crs, transform, categorical=categorical)
    with WarpedVRT(
        src, crs=crs, transform=transform, width=width, height=height, resampling=resampling,
        **options,
    ) as vrt:
        yield vrt


def warp_blocks(
    src: DatasetReader,
    grid: FacilityGrid,
    *,
    bands: Sequence[int] | None = None,
    categorical: bool = False,
    scale: float | Sequence[float] = 1.0,
    offset: float | Sequence[float] = 0.0,
    block: int = DEFAULT_BLOCK,
    progress: Callable[[int, int], None] | None = None,
    src_nodata: float | None = None,
) -> Iterator[tuple[Window, np.ndarray]]:
    """Yield (window, array) blocks of ``src`` resampled onto ``grid``.

    Args:
        src: an open, georeferenced dataset.
        grid: the facility grid to land on.
        bands: 1-based band indexes to read (default: all).
        categorical: nearest-neighbour resampling (masks, class rasters).
        scale, offset: applied to valid values (``value * scale + offset``), one
            number for every band or one per band.
        block: block size in pixels.
        progress: called with (blocks done, blocks total).
        src_nodata: the source's no-data value when the file does not declare one
            (a declared one wins).

    Each array is float32 (bands, h, w) with NaN where the source has no data
    (outside its footprint or equal to its nodata value), or the source dtype
    when ``categorical``.

    Example:
        >>> # with rasterio.open(path) as src:
        >>> #     for window, arr in warp_blocks(src, grid): ...
    """
    if src.crs is None:
        raise WarpError(f"{src.name}: has no CRS; refusing to guess where it lies")
    if src.transform.is_identity:
        raise WarpError(f"{src.name}: has no geotransform; refusing to guess where it lies")
    indexes = list(bands) if bands is not None else list(range(1, src.count + 1))
    gain = np.asarray(scale, dtype=np.float32).reshape(-1, 1, 1)
    bias = np.asarray(offset, dtype=np.float32).reshape(-1, 1, 1)
    if gain.shape[0] not in (1, len(indexes)) or bias.shape[0] not in (1, len(indexes)):
        raise WarpError(
            f"{src.name}: {len(indexes)} bands but scale {scale!r} / offset {offset!r}"
        )
    windows = list(grid_blocks(grid, block))
    nodata = src.nodata if src.nodata is not None else src_nodata
    with warped(
        src,
        grid.crs,
        grid.transform,
        grid.width,
        grid.height,
        categorical=categorical,
        src_nodata=nodata,
        nodata=nodata if nodata is not None else 0,
        add_alpha=nodata is None,
        warp_extras={"NUM_THREADS": "ALL_CPUS"},
    ) as vrt:
        read = indexes + ([vrt.count] if nodata is None and not categorical else [])
        for i, window in enumerate(windows):
            data = vrt.read(read, window=window)
            if categorical:
                out = data
            else:
                if nodata is None:  # the alpha band added by the VRT marks the footprint
                    valid = data[-1] > 0
                    data = data[:-1]
                else:  # a pixel equal to the nodata value in any band is not data
                    valid = np.all(data != data.dtype.type(nodata), axis=0)
                out = data.astype(np.float32)  # scaled in place: no full-block temporaries
                out *= gain
                out += bias
                out[:, ~valid] = np.nan
            yield window, out
            if progress is not None:
                progress(i + 1, len(windows))


def warp_to_grid(
    src: DatasetReader,
    grid: FacilityGrid,
    *,
    bands: Sequence[int] | None = None,
    categorical: bool = False,
    scale: float | Sequence[float] = 1.0,
    offset: float | Sequence[float] = 0.0,
    src_nodata: float | None = None,
) -> np.ndarray:
    """The whole of ``src`` on ``grid`` as one array (see :func:`warp_blocks`).

    Example:
        >>> # with rasterio.open(path) as src:
        >>> #     arr = warp_to_grid(src, grid, scale=1e-4)   # DN -> reflectance
    """
    n = len(bands) if bands is not None else src.count
    dtype = src.dtypes[0] if categorical else "float32"
    out = np.empty((n, grid.height, grid.width), dtype=dtype)
    for window, arr in warp_blocks(
        src, grid, bands=bands, categorical=categorical, scale=scale, offset=offset,
        src_nodata=src_nodata,
    ):
        r, c = int(window.row_off), int(window.col_off)
        out[:, r : r + arr.shape[1], c : c + arr.shape[2]] = arr
    return out
