"""Read only the facility window of a STAC item's assets onto the facility grid (I/O).

Each asset is opened through GDAL's ``/vsicurl/`` (``/vsis3/`` for ``s3://``
hrefs) and read through a ``WarpedVRT`` onto the facility grid, so GDAL fetches
only the byte ranges of the tiles that cover the window, never the whole scene.
Reflectance is resampled with ``average`` when the source is finer than the
grid and ``nearest`` otherwise (no invented detail); SCL and QA_PIXEL always
with ``nearest``.

GDAL options belong to the caller: enter ``rasterio.Env(**gdal_env_options())``
once at the edge (CLI or run loop); nothing here sets them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.errors import RasterioError

from facilities.grid import FacilityGrid
from imagery.errors import AssetReadError, WarpError
from imagery.stac.bands import BandMap
from imagery.stac.item import CandidateItem
from imagery.stac.qa import clear_mask
from imagery.stac.radiometry import Radiometry, radiometry_for, to_reflectance
from imagery.warp import warp_to_grid

log = logging.getLogger(__name__)

Signer = Callable[[str], str]
"""Turns an unsigned asset href into one the server accepts (called at read time)."""

_QUERY = re.compile(r"\?[^\s'\"]*")


def gdal_env_options(
    *,
    timeout_s: int = 30,
    connect_timeout_s: int = 10,
    retries: int = 4,
    retry_delay_s: float = 1.0,
) -> dict[str, str]:
    """GDAL configuration for reading remote COGs by range request; enter it once at the edge.

    Example:
        >>> import rasterio
        >>> with rasterio.Env(**gdal_env_options()):
        ...     pass
    """
    return {
        # Never list the remote "directory" looking for sidecars (.aux.xml, .ovr, .msk).
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF",
        "GDAL_HTTP_TIMEOUT": str(int(timeout_s)),
        "GDAL_HTTP_CONNECTTIMEOUT": str(int(connect_timeout_s)),
        "GDAL_HTTP_MAX_RETRY": str(int(retries)),
        "GDAL_HTTP_RETRY_DELAY": str(retry_delay_s),
        # 429 and 502-504 are retried by default; 500 too (GDAL >= 3.10 reads this list).
        "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIPLEX": "YES",
        "GDAL_HTTP_VERSION": "2",
        "VSI_CACHE": "TRUE",
        "CPL_VSIL_CURL_CHUNK_SIZE": "65536",
        # Public buckets (Sentinel-2 COGs) without credentials.
        "AWS_NO_SIGN_REQUEST": "YES",
    }


def vsi_path(href: str) -> str:
    """The GDAL path of an asset href.

    Example:
        >>> vsi_path("https://example.org/B04.tif")
        '/vsicurl/https://example.org/B04.tif'
        >>> vsi_path("s3://bucket/key/B04.tif")
        '/vsis3/bucket/key/B04.tif'
    """
    if href.startswith(("http://", "https://")):
        return f"/vsicurl/{href}"
    if href.startswith("s3://"):
        return f"/vsis3/{href[len('s3://') :]}"
    if href.startswith("/vsi"):
        return href
    if href.startswith("file://"):
        return href[len("file://") :]
    return href


@dataclass(frozen=True)
class ItemPixels:
    """One item's pixels on the facility grid."""

    reflectance: np.ndarray
    """float32 (4, H, W) surface reflectance in BANDS order; NaN where no data."""
    clear: np.ndarray
    """bool (H, W): valid in every band and clear of cloud, shadow, cirrus and snow."""
    valid: np.ndarray
    """bool (H, W): has data in every band and in the quality band."""
    radiometry: tuple[Radiometry, ...]
    """Scale/offset used per reflectance band."""
    hrefs: tuple[str, ...]
    """Unsigned hrefs read: reflectance bands then the quality band."""
    bands: BandMap
    """The band map the assets were read with."""


def _scrub(text: str, signed: str, unsigned: str) -> str:
    """Error text without signatures: the signed href becomes the unsigned one."""
    return _QUERY.sub("", text.replace(signed, unsigned))


def _chain(exc: BaseException) -> str:
    """The messages of an exception and its causes ("See previous exception" resolved)."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 4:
        text = str(seen).replace("See previous exception for details.", "").strip(" .")
        if text and text not in parts:
            parts.append(text)
        seen = seen.__cause__ or seen.__context__
    return ": ".join(parts)


def read_band(
    path: str,
    grid: FacilityGrid,
    *,
    categorical: bool,
    src_nodata: float | None,
) -> np.ndarray:
    """Read band 1 of ``path`` on ``grid`` (only the window's blocks), exactly as ingest
    lands a raster (:func:`imagery.warp.warp_to_grid`: the project's one resampling rule).

    Reflectance (``categorical=False``) comes back float32 with NaN for no data;
    categorical bands keep their dtype, with ``src_nodata`` outside the source.

    Example:
        >>> # dn = read_band("/vsicurl/https://.../B04.tif", grid, categorical=False, src_nodata=0)
    """
    with rasterio.open(path) as src:
        if src.crs is None:
            raise AssetReadError(f"{path}: the raster has no CRS")
        try:
            data: np.ndarray = warp_to_grid(
                src, grid, bands=[1], categorical=categorical, src_nodata=src_nodata
            )[0]
        except WarpError as exc:
            raise AssetReadError(str(exc)) from exc
    return data


def read_item(
    item: CandidateItem,
    bands: BandMap,
    grid: FacilityGrid,
    *,
    sign: Signer | None = None,
) -> ItemPixels:
    """Read an item's four reflectance bands and quality band on ``grid``.

    Hrefs are signed (``sign``) just before each open, never earlier; errors and
    the returned hrefs carry the unsigned href only.

    Raises:
        AssetReadError: an asset cannot be opened or read (names item, asset and href).
        RadiometryError: the item's metadata cannot decide scale/offset.

    Example:
        >>> # with rasterio.Env(**gdal_env_options()):
        >>> #     pixels = read_item(item, band_map("earth-search", item.collection), grid)
    """
    where = f"{item.provider} {item.collection}/{item.item_id}"
    radiometry = tuple(
        radiometry_for(bands.family, item.properties, item.assets[k], where=where)
        for k in bands.reflectance
    )
    hrefs = tuple(item.asset_href(k) for k in bands.asset_keys())
    layers: list[np.ndarray] = []
    for key, href in zip(bands.asset_keys(), hrefs, strict=True):
        signed = sign(href) if sign is not None else href
        path = vsi_path(signed)
        categorical = key == bands.mask
        default_nodata = 1 if bands.mask_kind == "qa_pixel" and categorical else 0
        log.debug("%s: reading %s (%s)", where, key, href)
        try:
            layers.append(read_band(path, grid, categorical=categorical, src_nodata=default_nodata))
        except AssetReadError as exc:
            raise AssetReadError(
                f"{where}: asset {key!r} {href}: {_scrub(str(exc), path, href)}"
            ) from None
        except (RasterioError, OSError, ValueError, RuntimeError) as exc:
            msg = _scrub(_chain(exc), signed, href) or type(exc).__name__
            raise AssetReadError(f"{where}: asset {key!r} {href} cannot be read: {msg}") from None
    reflectance = np.stack(
        [to_reflectance(dn, r) for dn, r in zip(layers[:4], radiometry, strict=True)]
    ).astype(np.float32)
    quality = layers[4]
    quality_nodata = 1 if bands.mask_kind == "qa_pixel" else 0
    valid = np.isfinite(reflectance).all(axis=0) & (quality != quality_nodata)
    clear = valid & clear_mask(bands.mask_kind, quality)
    return ItemPixels(reflectance, clear, valid, radiometry, hrefs, bands)
