"""Write rasters on a facility grid atomically, and hash files (an I/O module)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader, MemoryFile
from rasterio.windows import Window

from facilities.grid import FacilityGrid
from imagery.errors import ImageryError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, as lowercase hex.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkstemp()[1]); _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:12]
        'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def created_mode() -> int:
    """The mode a new file gets from the process umask (0o644 under umask 022).

    Files written through a temporary file (``mkstemp`` creates them 0600) are given this
    mode before they are renamed into place, so other analysts can read the outputs just
    as if they had been opened directly.

    Example:
        >>> created_mode() & 0o600
        384
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _temp_path(path: Path, suffix: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(name, created_mode())  # mkstemp's 0600 would hide outputs from other analysts
    return Path(name)


class GridRasterSink:
    """Receives blocks for a raster being written by :func:`grid_raster_writer`."""

    def __init__(self, dataset: Any, grid: FacilityGrid) -> None:
        self._dst = dataset
        self.grid = grid
        """The grid being written."""
        self.sha256 = ""
        """SHA-256 of the finished file (set when the ``with`` block ends)."""

    def write(self, window: Window, array: np.ndarray) -> None:
        """Write a (bands, h, w) block at ``window``."""
        self._dst.write(array, window=window)


COG_BLOCK = 256
"""Block side of the COGs :func:`grid_raster_writer` writes, pixels."""

STAGE_IN_MEMORY = 128 * 1024 * 1024
"""A raster of at most this many bytes (full resolution) is staged in memory (GDAL's
``/vsimem/``), not in a temporary file beside its destination: the demo's sixteen captures
(67 MB each and their overviews, uncompressed) no longer go through the disk, which cut
what a demo writes from 4.1 to 2.5 GB (the kernel's writeback of those files took CPU from
the two cores too). Larger rasters (an 8000² px capture is 1 GB) keep the file, so memory
stays bounded by the block size there."""


def cog_overview_factors(width: int, height: int, block: int = COG_BLOCK) -> list[int]:
    """The overview factors GDAL's COG driver makes by default: halve until the raster
    fits in one block (none for a raster that already does).

    Example:
        >>> cog_overview_factors(2040, 2040)
        [2, 4, 8]
        >>> cog_overview_factors(257, 10), cog_overview_factors(256, 256)
        ([2], [])
    """
    factors: list[int] = []
    w, h, f = width, height, 1
    while w > block or h > block:
        f *= 2
        factors.append(f)
        w, h = -(-width // f), -(-height // f)
    return factors


@contextmanager
def grid_raster_writer(
    path: Path,
    grid: FacilityGrid,
    *,
    count: int,
    dtype: str,
    nodata: float | int | None,
    band_names: Sequence[str],
    tags: Mapping[str, str] | None = None,
) -> Iterator[GridRasterSink]:
    """Write a raster on ``grid`` block by block, finishing as a COG, atomically.

    Blocks go into a temporary tiled GeoTIFF (in memory up to :data:`STAGE_IN_MEMORY`
    bytes, else a file beside ``path``); when the ``with`` block ends it is
    copied into a Cloud-Optimized GeoTIFF (ZSTD level 1 with a predictor: about as
    small as DEFLATE on imagery and three times faster; 256 px blocks, overviews:
    average for float, nearest for integers) under a temporary name that is then
    renamed into place. Memory stays bounded by the block size (and the in-memory staging
    limit). If anything fails, no file is left at ``path`` and the temporary files are
    removed.

    When the grid divides by the coarsest overview factor (the demo's 2040² px, any 8000²
    px), the overviews are built in the staging file (the factors the COG driver would
    choose, :func:`cog_overview_factors`) and copied as they are: the same pixels as the
    driver's own overview pass, at half the CPU of the whole copy (0.7 s instead of 1.5 s
    for a 4-band float32 2040² px capture). Other grids keep the driver's pass (it rounds
    odd overview sizes differently).

    Example:
        >>> # with grid_raster_writer(p, grid, count=1, dtype="uint8", nodata=None,
        >>> #                         band_names=("clear",)) as sink:
        >>> #     for window, block in blocks: sink.write(window, block)
        >>> # sink.sha256
    """
    if len(band_names) != count:
        raise ImageryError(f"{path}: {count} bands but band names {list(band_names)}")
    resampling = Resampling.average if np.dtype(dtype).kind == "f" else Resampling.nearest
    in_memory = count * np.dtype(dtype).itemsize * grid.width * grid.height <= STAGE_IN_MEMORY
    memory = MemoryFile(ext=".tif") if in_memory else None
    staging = Path(memory.name) if memory is not None else _temp_path(path, ".stage.tif")
    final_tmp = _temp_path(path, ".tmp")
    try:
        with rasterio.open(
            staging,
            "w",
            driver="GTiff",
            width=grid.width,
            height=grid.height,
            count=count,
            dtype=dtype,
            crs=grid.crs,
            transform=grid.transform,
            nodata=nodata,
            tiled=True,
            blockxsize=256,
            blockysize=256,
            BIGTIFF="IF_SAFER",
        ) as dst:
            for i, name in enumerate(band_names, start=1):
                dst.set_band_description(i, name)
            if tags:
                dst.update_tags(**tags)
            sink = GridRasterSink(dst, grid)
            yield sink
            factors = cog_overview_factors(grid.width, grid.height, COG_BLOCK)
            own = bool(factors) and grid.width % factors[-1] == grid.height % factors[-1] == 0
            if own:
                # built here, in the uncompressed staging file: the COG driver's own overview
                # pass costs twice the CPU for the same pixels (see the docstring)
                dst.build_overviews(factors, resampling)
        rasterio.shutil.copy(
            staging,
            final_tmp,
            driver="COG",
            compress="zstd",
            level=1,
            predictor="YES",
            blocksize=COG_BLOCK,
            overviews="FORCE_USE_EXISTING" if own else "AUTO",
            overview_resampling=resampling.name,
            bigtiff="IF_SAFER",
        )
        sink.sha256 = sha256_file(final_tmp)
        os.replace(final_tmp, path)
    finally:
        if memory is not None:
            memory.close()
        else:
            staging.unlink(missing_ok=True)
        final_tmp.unlink(missing_ok=True)


def write_grid_raster(
    path: Path,
    array: np.ndarray,
    grid: FacilityGrid,
    *,
    nodata: float | int | None,
    band_names: Sequence[str],
    tags: Mapping[str, str] | None = None,
) -> str:
    """Write a whole (bands, H, W) array on ``grid`` as a COG, atomically; return its SHA-256.

    Example:
        >>> # write_grid_raster(ws.captures_dir / "x.tif", arr, grid, nodata=np.nan,
        >>> #                   band_names=("blue", "green", "red", "nir"))
    """
    if array.ndim != 3 or array.shape[1:] != grid.shape:
        raise ImageryError(
            f"{path}: array shape {array.shape} does not match grid shape (bands, {grid.height}, "
            f"{grid.width})"
        )
    with grid_raster_writer(
        path,
        grid,
        count=array.shape[0],
        dtype=array.dtype.name,
        nodata=nodata,
        band_names=band_names,
        tags=tags,
    ) as sink:
        sink.write(Window(0, 0, grid.width, grid.height), array)
    return sink.sha256


def read_clear(raster: Path, mask: Path, window: Window) -> np.ndarray:
    """A window of a stored capture as float32 reflectance, NaN where its mask is not clear.

    Example:
        >>> # refl = read_clear(ws.absolute(cap.raster_path), ws.absolute(cap.mask_path),
        >>> #                   Window(0, 0, 512, 512))
    """
    with rasterio.open(raster) as src, rasterio.open(mask) as clear:
        return clear_pixels(src.read(window=window), clear.read(1, window=window))


def clear_pixels(refl: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """(bands, h, w) reflectance as float32, NaN where the (h, w) clear mask is not 1: what
    :func:`read_clear` returns, for callers that keep the files open or plan their reads
    (float32 input is changed in place).

    Example:
        >>> import numpy as np
        >>> clear_pixels(np.ones((1, 1, 2), np.float32), np.array([[1, 0]], np.uint8))
        array([[[ 1., nan]]], dtype=float32)
    """
    out: np.ndarray = refl.astype(np.float32, copy=False)
    out[:, clear != 1] = np.nan
    return out


def read_decimated(
    raster: Path, mask: Path, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """A whole stored capture at ``shape`` (rows, cols), read through its COG overviews.

    Reflectance is area-averaged; the clear mask takes the nearest value. Memory follows
    ``shape``, not the grid.

    Returns:
        (float32 reflectance (bands, rows, cols), bool clear (rows, cols)).

    Example:
        >>> # refl, clear = read_decimated(raster, mask, (1000, 1000))
    """
    with rasterio.open(raster) as src:
        refl: np.ndarray = src.read(out_shape=(src.count, *shape), resampling=Resampling.average)
    with rasterio.open(mask) as src:
        clear: np.ndarray = src.read(1, out_shape=shape, resampling=Resampling.nearest) == 1
    return refl, clear


def read_window_averaged(
    src: DatasetReader, window: Window, shape: tuple[int, int, int]
) -> tuple[np.ndarray, Affine]:
    """A window of an open stored capture at ``shape`` (bands, rows, cols), area-averaged,
    NaN outside the raster; and the transform of the returned pixels.

    Reads bands 1..``shape[0]`` (the capture's blue, green, red, nir for 4). Memory follows
    ``shape``, not the window. A window inside the raster at its own size is read as it is:
    the same pixels as the boundless read, without the warped VRT that read goes through.

    Example:
        >>> # with rasterio.open(raster) as src:
        >>> #     refl, transform = read_window_averaged(src, Window(0, 0, 4096, 4096),
        >>> #                                            (4, 512, 512))
    """
    indexes = list(range(1, shape[0] + 1))
    inside = (window.col_off >= 0 and window.row_off >= 0
              and window.col_off + window.width <= src.width
              and window.row_off + window.height <= src.height)
    if inside and shape[1:] == (window.height, window.width):
        refl: np.ndarray = src.read(indexes=indexes, window=window).astype(np.float32)
    else:
        refl = src.read(
            indexes=indexes, window=window, out_shape=shape,
            boundless=True, fill_value=np.nan, resampling=Resampling.average,
        ).astype(np.float32)
    transform = src.window_transform(window) @ Affine.scale(
        window.width / shape[2], window.height / shape[1])
    return refl, transform


# Codecs whose blocks carry their own checksum in a GeoTIFF: a deflate block is a zlib
# stream ending in an Adler-32 of the decoded bytes (RFC 1950). libtiff stops inflating
# once a tile's bytes are filled and never reads that trailer, so flipped bytes inside a
# deflate block can decode to wrong pixels without any error.
_CHECKSUMMED = {"DEFLATE"}


def check_blocks(src: DatasetReader, path: Path, indexes: Sequence[int]) -> str:
    """Decode every block of an open raster once and check each block's own checksum.

    Every block of ``indexes`` is decoded (so data the decoder finds corrupt is refused
    before anything is written). For a GeoTIFF compressed with deflate, each block's raw
    bytes (full resolution and every internal overview) are inflated in full, which checks
    the Adler-32 that ends each zlib stream: corruption that decodes silently is caught
    there. That inflation is the block's decoding (a stream that stops short of the block's
    size is refused, as libtiff refuses it), so deflate blocks are not decoded a second
    time through GDAL. Other codecs (LZW, ZSTD as GDAL writes it, none) carry no per-block
    checksum: their blocks are decoded through GDAL, and the returned statement says so.

    Args:
        src: the open raster.
        path: its file (for the messages, and to read raw block bytes).
        indexes: the bands that will be read.

    Returns:
        What was checked, in one sentence for the log.

    Raises:
        ImageryError: naming the file, the band or overview, and the tile (block row and
            column, pixel ranges) that cannot be decoded or fails its checksum.

    Example:
        >>> # with rasterio.open(p) as src: note = check_blocks(src, p, [1, 2, 3, 4])
    """
    codec = src.compression.name.upper() if src.compression is not None else "NONE"
    if src.driver != "GTiff" or codec not in _CHECKSUMMED:
        for band in indexes:
            for (row, col), window in src.block_windows(band):
                try:
                    src.read(band, window=window)
                except RasterioError as exc:
                    raise ImageryError(
                        f"{path}: band {band} {_tile(row, col, window)} cannot be decoded "
                        f"(corrupt data): {error_causes(exc)}"
                    ) from exc
        return (
            f"{path}: every block decoded; {codec.lower()} blocks carry no checksum, so only "
            "corruption the decoder detects is refused (the file's SHA-256 guards it from now on)"
        )
    with open(path, "rb") as raw:
        _check_deflate(src, path, raw, indexes, level="")
        for level, factor in enumerate(src.overviews(indexes[0])):
            with rasterio.open(path, overview_level=level) as ovr:
                _check_deflate(ovr, path, raw, indexes, level=f"overview 1/{factor} ")
    return f"{path}: every block decoded and every deflate block's Adler-32 checked"


def _check_deflate(
    src: DatasetReader, path: Path, raw: BinaryIO, indexes: Sequence[int], *, level: str
) -> None:
    pixel_interleaved = src.interleaving is not None and src.interleaving.name == "pixel"
    samples = src.count if pixel_interleaved else 1
    for band in indexes[:1] if pixel_interleaved else indexes:
        what = f"bands {indexes[0]}-{indexes[-1]}" if pixel_interleaved and len(indexes) > 1 \
            else f"band {band}"
        bh, bw = src.block_shapes[band - 1]
        itemsize = np.dtype(src.dtypes[band - 1]).itemsize
        for (row, col), window in src.block_windows(band):
            offset = src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=band)
            size = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=band)
            if not offset or not size or int(size) == 0:
                continue  # a sparse (never written) block reads as nodata
            raw.seek(int(offset))
            block = raw.read(int(size))
            # a tile decodes to the whole tile; a strip (as wide as the image) to its rows
            rows = int(window.height) if bw == src.width else bh
            expected = rows * bw * itemsize * samples
            try:
                inflater = zlib.decompressobj()
                decoded = len(inflater.decompress(block))
                complete = inflater.eof
            except zlib.error as exc:
                raise ImageryError(
                    f"{path}: {level}{what} {_tile(row, col, window)} fails its deflate "
                    f"checksum (corrupt data: {exc}); {int(size)} bytes at offset {int(offset)}"
                ) from exc
            if not complete:
                raise ImageryError(
                    f"{path}: {level}{what} {_tile(row, col, window)} is a truncated deflate "
                    f"stream (corrupt data); {int(size)} bytes at offset {int(offset)}"
                )
            if decoded < expected:
                raise ImageryError(
                    f"{path}: {level}{what} {_tile(row, col, window)} decodes to {decoded} "
                    f"bytes, not the block's {expected} ({samples} band(s) x {rows} x {bw} x "
                    f"{itemsize} bytes; corrupt data); {int(size)} bytes at offset {int(offset)}"
                )


def _tile(row: int, col: int, window: Window) -> str:
    return (
        f"tile (block row {row}, col {col}; pixels "
        f"x {int(window.col_off)}..{int(window.col_off + window.width) - 1}, "
        f"y {int(window.row_off)}..{int(window.row_off + window.height) - 1})"
    )


def error_causes(exc: BaseException) -> str:
    """An exception and its causes in one line (GDAL's reason is often in the cause).

    Example:
        >>> error_causes(ValueError("bad"))
        'bad'
    """
    causes = [str(exc)]
    inner = exc.__cause__ or exc.__context__
    while inner is not None and len(causes) < 4:
        if str(inner) not in causes:
            causes.append(str(inner))
        inner = inner.__cause__ or inner.__context__
    return ": ".join(causes)
