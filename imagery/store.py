"""Write rasters on a facility grid atomically, and hash files (an I/O module)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio

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


def write_grid_raster(
    path: Path,
    array: np.ndarray,
    grid: FacilityGrid,
    *,
    nodata: float | int | None,
    band_names: Sequence[str],
    tags: Mapping[str, str] | None = None,
) -> str:
    """Write ``array`` (bands, H, W) on ``grid`` as a Cloud-Optimized GeoTIFF, atomically.

    DEFLATE compression, 256 px blocks and overviews (average for float
    reflectance, nearest for integer masks), so viewers and windowed readers
    can use the file directly.

    The file is written to a temporary name in the same directory and renamed
    into place, so a reader never sees half a file. Returns the SHA-256 of the
    written file.

    Example:
        >>> # write_grid_raster(ws / "captures/x.tif", arr, grid, nodata=np.nan,
        >>> #                   band_names=("blue", "green", "red", "nir"))
    """
    if array.ndim != 3 or array.shape[1:] != grid.shape:
        raise ImageryError(
            f"{path}: array shape {array.shape} does not match grid shape (bands, {grid.height}, "
            f"{grid.width})"
        )
    if len(band_names) != array.shape[0]:
        raise ImageryError(f"{path}: {array.shape[0]} bands but band names {list(band_names)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    profile = {
        "driver": "COG",
        "width": grid.width,
        "height": grid.height,
        "count": array.shape[0],
        "dtype": array.dtype.name,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "blocksize": 256,
        "compress": "deflate",
        "predictor": 3 if array.dtype.kind == "f" else 2,
        "overview_resampling": "average" if array.dtype.kind == "f" else "nearest",
    }
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array)
            for i, name in enumerate(band_names, start=1):
                dst.set_band_description(i, name)
            if tags:
                dst.update_tags(**tags)
        digest = sha256_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest
