"""File I/O of ``campwatch change``: any two rasters GDAL reads in, a uint8 change mask out.

AFTER is warped onto BEFORE's grid when both are georeferenced and their grids differ;
when neither is, they must have the same shape. The mask is computed block by block with
overlap, after a calibration on bounded crops, samples and tiles
(:mod:`pipeline.change.calibration`), so peak memory stays flat as the image grows.
Functions take open datasets: the caller owns their lifetimes (and the ``rasterio.Env``).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import DatasetReader, DatasetWriter
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from imagery.warp import warped
from pipeline.change.calibration import margin_px
from pipeline.change.detect import Calibration, ChangeParams, ChangeResult, detect_change
from pipeline.change.estimate import calibrate_windows
from pipeline.change.objects import ChangeObject, change_objects
from pipeline.errors import ChangeInputError, OutputExistsError

log = logging.getLogger(__name__)

POLYGON_MAX_PIXELS = 100_000_000
"""--polygons reads the whole pair into memory: refused above this many pixels."""

Progress = Callable[[int, int], None]
"""Called with (blocks done, blocks in total)."""

Source: TypeAlias = Any
"""An open rasterio dataset or a WarpedVRT over one (rasterio ships no type stubs)."""


@dataclass(frozen=True)
class ChangeSummary:
    """What :func:`write_change` did."""

    shape: tuple[int, int]
    """(rows, cols) of the output mask (BEFORE's grid)."""
    georeferenced: bool
    """True when the mask carries BEFORE's CRS and transform."""
    warped: bool
    """True when AFTER was warped onto BEFORE's grid."""
    pixel_size_m: float | None
    """Pixel size used for metre-based parameters, None when not georeferenced."""
    changed_pixels: int
    """Pixels marked 1."""
    valid_pixels: int
    """Pixels not marked 255."""
    calibration: Calibration
    """Shift, normalisation and thresholds used for every block."""


def is_georeferenced(ds: Source) -> bool:
    """True when the dataset has a CRS and a non-identity transform.

    Example:
        >>> # with rasterio.open("a.png") as ds: is_georeferenced(ds)  -> False
    """
    return ds.crs is not None and ds.transform != Affine.identity()


def image_bands(ds: Source) -> list[int]:
    """1-based indexes of the image bands (alpha bands are masks, not data).

    Example:
        >>> # RGBA PNG -> [1, 2, 3]
    """
    bands = [
        i + 1 for i, ci in enumerate(ds.colorinterp) if ci != ColorInterp.alpha
    ]
    return bands or list(range(1, ds.count + 1))


def pixel_size_m(ds: Source) -> float | None:
    """Ground pixel size in metres (geometric mean of x and y), None if not georeferenced.

    Geographic CRSs are converted at the centre latitude.

    Example:
        >>> # UTM 10 m grid -> 10.0
    """
    if not is_georeferenced(ds):
        return None
    t = ds.transform
    sx = math.hypot(t.a, t.d)
    sy = math.hypot(t.b, t.e)
    if ds.crs.is_geographic:
        lat = math.radians(ds.bounds.bottom / 2 + ds.bounds.top / 2)
        sx *= 111_320.0 * math.cos(lat)
        sy *= 110_574.0
    else:
        factor = ds.crs.linear_units_factor[1] if ds.crs.linear_units_factor else 1.0
        sx *= factor
        sy *= factor
    return math.sqrt(sx * sy)


def _same_grid(before: Source, after: Source) -> bool:
    return (
        before.crs == after.crs
        and before.transform.almost_equals(after.transform)
        and before.shape == after.shape
    )


def check_pair(before: DatasetReader, after: DatasetReader) -> None:
    """Raise :class:`ChangeInputError` when the pair cannot be compared.

    Checks: non-empty images, the same number of image bands, overlapping footprints
    (both georeferenced) or equal shapes (otherwise).

    Example:
        >>> # with rasterio.open(b) as before, rasterio.open(a) as after: check_pair(before, after)
    """
    for name, ds in (("BEFORE", before), ("AFTER", after)):
        if ds.width == 0 or ds.height == 0:
            raise ChangeInputError(f"{name} {ds.name} is empty: {ds.height}x{ds.width} pixels")
    nb, na = len(image_bands(before)), len(image_bands(after))
    if nb != na:
        raise ChangeInputError(
            f"band counts differ: BEFORE {before.name} has {nb} bands, "
            f"AFTER {after.name} has {na}"
        )
    gb, ga = is_georeferenced(before), is_georeferenced(after)
    if gb and ga:
        west, south, east, north = transform_bounds(after.crs, before.crs, *after.bounds)
        b = before.bounds
        if west >= b.right or east <= b.left or south >= b.top or north <= b.bottom:
            raise ChangeInputError(
                f"BEFORE {before.name} and AFTER {after.name} do not overlap: BEFORE covers "
                f"{tuple(round(v, 6) for v in b)} and AFTER covers "
                f"{tuple(round(v, 6) for v in (west, south, east, north))} in {before.crs}"
            )
        return
    if before.shape != after.shape:
        which = "neither is" if not (gb or ga) else "only one is"
        raise ChangeInputError(
            f"{which} georeferenced, so the shapes must match: BEFORE {before.name} is "
            f"{before.height}x{before.width}, AFTER {after.name} is "
            f"{after.height}x{after.width} (rows x cols)"
        )
    if gb != ga:
        log.warning("only one input is georeferenced; assuming the same pixel grid")


@contextmanager
def aligned_after(before: DatasetReader, after: DatasetReader) -> Iterator[Source]:
    """AFTER on BEFORE's grid: the dataset itself, or a WarpedVRT when the grids differ.

    Example:
        >>> # with aligned_after(before, after) as src: src.read(window=w)
    """
    if not (is_georeferenced(before) and is_georeferenced(after)) or _same_grid(before, after):
        yield after
        return
    log.info("warping AFTER %s onto BEFORE's grid", after.name)
    nodata = after.nodata
    with warped(
        after,
        before.crs,
        before.transform,
        before.width,
        before.height,
        src_nodata=nodata,
        nodata=nodata,
        add_alpha=nodata is None,
    ) as vrt:
        yield vrt


def read_window(
    src: Source, window: Window, bands: list[int], out_shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Image bands as float32 and the dataset validity mask of a window.

    Args:
        src: open dataset or WarpedVRT.
        window: the window to read (clipped to the dataset by the caller).
        bands: 1-based image band indexes.
        out_shape: (rows, cols) to decimate to (nearest), None for full resolution.

    Returns:
        (float32 (bands, h, w), bool (h, w) valid).

    Example:
        >>> # data, valid = read_window(ds, Window(0, 0, 256, 256), [1, 2, 3])
    """
    kwargs: dict[str, Any] = {"window": window}
    mkw: dict[str, Any] = {"window": window}
    if out_shape is not None:
        kwargs["out_shape"] = (len(bands), *out_shape)
        kwargs["resampling"] = Resampling.nearest
        mkw["out_shape"] = out_shape
        mkw["resampling"] = Resampling.nearest
    data = src.read(bands, **kwargs).astype(np.float32, copy=False)
    valid = src.dataset_mask(**mkw) > 0
    valid &= np.isfinite(data).all(axis=0)
    data[:, ~valid] = 0.0
    return data, valid


def _clip(r0: int, c0: int, r1: int, c1: int, shape: tuple[int, int]) -> Window:
    r0, c0 = max(0, r0), max(0, c0)
    r1, c1 = min(shape[0], r1), min(shape[1], c1)
    return Window(c0, r0, c1 - c0, r1 - r0)


def calibrate_files(
    before: DatasetReader, after: Source, params: ChangeParams
) -> Calibration:
    """Calibration of a file pair from bounded reads (crop, decimated sample, tiles).

    Args:
        before: BEFORE dataset.
        after: AFTER on BEFORE's grid (see :func:`aligned_after`).
        params: detection settings (``pixel_size_m`` already set).

    Returns:
        The :class:`Calibration` shared by every block.

    Raises:
        ChangeInputError: no valid pixel, or a constant image.

    Example:
        >>> # cal = calibrate_files(before, after_on_grid, params)
    """
    shape = (before.height, before.width)
    bands = image_bands(before)
    abands = image_bands(after) if isinstance(after, DatasetReader) else bands

    def read(rows: slice, cols: slice, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = None
        if step > 1:
            out = (max(1, shape[0] // step), max(1, shape[1] // step))
        win = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        b, vb = read_window(before, win, bands, out)
        a, va = read_window(after, win, abands, out)
        return b, a, vb & va

    return calibrate_windows(read, shape, params, source=f"{before.name} / {after.name}")


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse to clobber an existing output without ``overwrite``.

    Raises:
        OutputExistsError: the path exists and ``overwrite`` is False.

    Example:
        >>> check_output(Path("/nonexistent/x.tif"), overwrite=False)
    """
    if path.exists() and not overwrite:
        raise OutputExistsError(f"output {path} exists; pass --overwrite to replace it")


def mask_profile(before: DatasetReader) -> dict[str, Any]:
    """GeoTIFF profile of the change mask on BEFORE's grid (uint8, nodata 255, tiled).

    Example:
        >>> # profile = mask_profile(before)
    """
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": before.width,
        "height": before.height,
        "count": 1,
        "dtype": "uint8",
        "nodata": 255,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    if before.width >= 256 and before.height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if is_georeferenced(before):
        profile.update(crs=before.crs, transform=before.transform)
    elif before.gcps[0]:
        profile.update(gcps=before.gcps[0], crs=before.gcps[1])
    return profile


def write_change(
    before: DatasetReader,
    after: DatasetReader,
    dst: DatasetWriter,
    params: ChangeParams,
    progress: Progress | None = None,
) -> ChangeSummary:
    """Detect change between two open rasters, block by block, into an open mask dataset.

    Args:
        before: BEFORE dataset (defines the grid).
        after: AFTER dataset (warped onto BEFORE's grid when both are georeferenced).
        dst: open uint8 1-band writer on BEFORE's grid (see :func:`mask_profile`).
        params: detection settings; ``pixel_size_m`` None is filled from BEFORE's grid.
        progress: optional callable (blocks done, blocks in total).

    Returns:
        A :class:`ChangeSummary`.

    Raises:
        ChangeInputError: the pair cannot be compared (see :func:`check_pair`), or is
            constant or has no valid pixel.

    Example:
        >>> # with rasterio.open(o, "w", **mask_profile(bf)) as d:
        >>> #     write_change(bf, af, d, ChangeParams())
    """
    check_pair(before, after)
    if params.pixel_size_m is None:
        params = replace(params, pixel_size_m=pixel_size_m(before))
    shape = (before.height, before.width)
    bands = image_bands(before)
    changed = valid_px = 0
    with aligned_after(before, after) as src:
        abands = image_bands(src) if src is after else bands
        cal = params.calibration or calibrate_files(before, src, params)
        block_params = replace(params, calibration=cal)
        margin = margin_px(params)
        size = params.block_size
        starts = [(r, c) for r in range(0, shape[0], size) for c in range(0, shape[1], size)]
        for done, (r, c) in enumerate(starts, start=1):
            win = _clip(r - margin, c - margin, r + size + margin, c + size + margin, shape)
            b, vb = read_window(before, win, bands)
            a, va = read_window(src, win, abands)
            ok = vb & va
            rr, cc = min(r + size, shape[0]), min(c + size, shape[1])
            inner = (slice(r - win.row_off, rr - win.row_off),
                     slice(c - win.col_off, cc - win.col_off))
            if ok.any():
                mask = detect_change(b, a, block_params, ok).mask[inner]
            else:
                mask = np.full((rr - r, cc - c), 255, np.uint8)
            dst.write(mask[np.newaxis], window=Window(c, r, cc - c, rr - r))
            changed += int((mask == 1).sum())
            valid_px += int((mask != 255).sum())
            if progress is not None:
                progress(done, len(starts))
        warped = src is not after
    return ChangeSummary(
        shape=shape,
        georeferenced=is_georeferenced(before),
        warped=warped,
        pixel_size_m=params.pixel_size_m,
        changed_pixels=changed,
        valid_pixels=valid_px,
        calibration=cal,
    )


def pair_objects(
    before: DatasetReader, after: DatasetReader, mask_ds: DatasetReader, params: ChangeParams
) -> list[ChangeObject]:
    """Change polygons of a written mask, typed with the pair's pixels (whole-image read).

    Args:
        before: BEFORE dataset.
        after: AFTER dataset.
        mask_ds: the mask written by :func:`write_change`.
        params: the same parameters (``pixel_size_m`` None is filled from BEFORE).

    Returns:
        Change objects in BEFORE's CRS (pixel coordinates when not georeferenced).

    Raises:
        ChangeInputError: the raster is larger than :data:`POLYGON_MAX_PIXELS`.

    Example:
        >>> # objs = pair_objects(before, after, mask_ds, params)
    """
    if before.width * before.height > POLYGON_MAX_PIXELS:
        raise ChangeInputError(
            f"--polygons reads the whole pair into memory and supports up to "
            f"{POLYGON_MAX_PIXELS} pixels; {before.name} has {before.width * before.height}"
        )
    if params.pixel_size_m is None:
        params = replace(params, pixel_size_m=pixel_size_m(before))
    full = Window(0, 0, before.width, before.height)
    bands = image_bands(before)
    with aligned_after(before, after) as src:
        abands = image_bands(src) if src is after else bands
        b, vb = read_window(before, full, bands)
        a, va = read_window(src, full, abands)
    mask = mask_ds.read(1)
    score = np.where(mask == 1, np.float32(1.0), np.float32(0.0))
    result = ChangeResult(mask=mask, score=score, method=params.method, shift_px=None,
                          registration_note="", normalisation="", threshold=float("nan"))
    b[:, ~vb] = np.nan
    a[:, ~va] = np.nan
    transform = before.transform if is_georeferenced(before) else None
    return change_objects(result, b, a, params, transform)


def write_objects(objects: list[ChangeObject], path: Path, crs: Any | None) -> None:
    """Write change objects to a GeoPackage layer "changes".

    Args:
        objects: the objects.
        path: output .gpkg (replaced if it exists; the caller checks ``--overwrite``).
        crs: CRS of the geometries, None for pixel coordinates.

    Example:
        >>> # write_objects(objs, Path("changes.gpkg"), before.crs)
    """
    import geopandas as gpd

    frame = gpd.GeoDataFrame(
        {
            "area_m2": [o.area_m2 for o in objects],
            "pixel_count": [o.pixel_count for o in objects],
            "change_type": [o.change_type for o in objects],
            "confidence": [o.confidence for o in objects],
            "confidence_label": [o.confidence_label for o in objects],
        },
        geometry=[o.geometry for o in objects],
        crs=crs,
    )
    if path.exists():
        path.unlink()
    with warnings.catch_warnings():
        # Pixel-coordinate polygons have no CRS on purpose.
        warnings.filterwarnings("ignore", message="'crs' was not provided", category=UserWarning)
        frame.to_file(path, layer="changes", driver="GPKG")


def open_input(path: Path, name: str) -> DatasetReader:
    """Open an input raster, turning every failure into a clear :class:`ChangeInputError`.

    Args:
        path: the file.
        name: "BEFORE" or "AFTER" (for the message).

    Returns:
        The open dataset (the caller closes it).

    Raises:
        ChangeInputError: missing, empty or unreadable file.

    Example:
        >>> open_input(Path("/nonexistent.tif"), "BEFORE")
        Traceback (most recent call last):
        ...
        pipeline.errors.ChangeInputError: BEFORE /nonexistent.tif does not exist
    """
    if not path.exists():
        raise ChangeInputError(f"{name} {path} does not exist")
    if path.is_file() and path.stat().st_size == 0:
        raise ChangeInputError(f"{name} {path} is empty (0 bytes)")
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise ChangeInputError(f"{name} {path} is not a raster GDAL can read: {exc}") from exc
    return ds
