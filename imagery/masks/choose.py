"""Which clear-sky mask a capture gets, and the masks that read more than its stored bands (I/O).

* An analyst's mask (``ingest --mask``) wins: a one-band raster on any CRS, nonzero = not
  usable, warped to the grid with nearest; it must cover every valid pixel of the capture.
* Real Sentinel-2 and Landsat captures (which, ingested from files, carry no SCL or QA_PIXEL)
  get the trained cloud model (:mod:`imagery.masks.model`), fed from the source file at
  :data:`~imagery.masks.model.MODEL_RESOLUTION_M`: the 6-band model when the file has bands
  described swir16 and swir22, else the 4-band model, and the record says which and why.
* Everything else keeps the brightness rules (:mod:`imagery.masks.rules`): very-high-resolution
  vendor imagery (RGB+NIR, no training data of that kind behind the model) and the simulated
  archive (synthetic clouds). The record names the rule and the reason.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
import shapely
from rasterio.errors import RasterioError
from rasterio.features import rasterize
from rasterio.io import DatasetReader
from rasterio.warp import transform_geom

from facilities.grid import FacilityGrid
from imagery.capture import Capture
from imagery.errors import IngestError, WarpError
from imagery.masks.model import (
    BANDS_4,
    DEFAULT_CLOUD_THRESHOLD,
    MODEL_RESOLUTION_M,
    ProductLevel,
    cloud_probability,
    not_clear,
)
from imagery.store import sha256_file
from imagery.types import MaskMethod
from imagery.warp import warp_to_grid

log = logging.getLogger(__name__)

Family = Literal["sentinel-2", "landsat"]
"""Sensors the cloud model was trained on."""

SWIR_NAMES: dict[str, tuple[str, ...]] = {
    "swir16": ("swir16", "swir1", "swir_1", "b11"),
    "swir22": ("swir22", "swir2", "swir_2", "b12"),
}
"""Band descriptions read as the 1.6 µm and 2.2 µm SWIR bands (case-insensitive)."""

_S2 = re.compile(r"sentinel[-_ ]?2|\bS2[AB]?\b|\bMSI\b", re.IGNORECASE)
_LANDSAT = re.compile(r"landsat|\bL[COTE]0?[4-9]\b|\bOLI\b|\bETM\+?\b|\bTM\b", re.IGNORECASE)
_L2A = re.compile(r"L2A|L2SP|L2SR|MSIL2A|surface reflectance|\bBOA\b", re.IGNORECASE)
_L1C = re.compile(r"L1C|L1TP|L1GT|L1GS|MSIL1C|top[- ]of[- ]atmosphere|\bTOA\b", re.IGNORECASE)


@dataclass(frozen=True)
class MaskOptions:
    """How an ingest is asked to mask clouds."""

    analyst_mask: Path | None = None
    """An analyst's raster (``--mask``): nonzero = not usable; replaces every automatic mask."""
    cloud_threshold: float | None = None
    """P(cloud) + P(shadow) at which the model calls a pixel not clear (``--cloud-threshold``);
    None for :data:`~imagery.masks.model.DEFAULT_CLOUD_THRESHOLD`."""

    def __post_init__(self) -> None:
        p = self.cloud_threshold
        if p is not None and not (isinstance(p, float | int) and 0.0 < p < 1.0):
            raise IngestError(
                f"--cloud-threshold {p!r}: must be a probability strictly between 0 and 1"
            )
        if p is not None and self.analyst_mask is not None:
            raise IngestError(
                f"--cloud-threshold {p!r} with --mask {self.analyst_mask}: an analyst's mask "
                "replaces the cloud model, so a threshold would not be used; give one or the other"
            )


@dataclass(frozen=True)
class ClearSky:
    """A capture's clear-sky mask on the facility grid and how it was made."""

    clear: np.ndarray
    """bool (H, W): True where clear (before and-ing with the capture's valid pixels)."""
    method: MaskMethod
    """Which mask: "model", "rules" or "analyst"."""
    detail: str
    """The recipe, or why the rules were used (stored in the capture's ``mask_detail``)."""
    threshold: float | None = None
    """The model's probability threshold (None unless the model ran)."""


def sensor_family(sensor: str) -> Family | None:
    """"sentinel-2" or "landsat" when ``sensor`` names one, else None.

    Example:
        >>> sensor_family("Sentinel-2A"), sensor_family("LC08"), sensor_family("WorldView-2")
        ('sentinel-2', 'landsat', None)
    """
    if _S2.search(sensor):
        return "sentinel-2"
    if _LANDSAT.search(sensor):
        return "landsat"
    return None


def product_level(texts: Sequence[str]) -> tuple[ProductLevel, str]:
    """The processing level ``texts`` (sensor, product id, file name) state,
    and where it came from; L1C when none does (said so).

    Example:
        >>> product_level(["S2B_MSIL2A_20200101.tif"])
        ('l2a', 'stated: S2B_MSIL2A_20200101.tif')
        >>> product_level(["scene.tif"])[0]
        'l1c'
    """
    for text in texts:
        if _L2A.search(text):
            return "l2a", f"stated: {text}"
        if _L1C.search(text):
            return "l1c", f"stated: {text}"
    return "l1c", "ASSUMED (no L1C/L2A in the sensor, product id or file name)"


def swir_indexes(src: DatasetReader) -> tuple[int, int] | None:
    """1-based indexes of the swir16 and swir22 bands by description, or None.

    Example:
        >>> # swir_indexes(src) -> (5, 6)
    """
    desc = [(d or "").strip().lower() for d in src.descriptions]
    found = []
    for names in SWIR_NAMES.values():
        hits = [i + 1 for i, d in enumerate(desc) if d in names]
        if not hits:
            return None
        found.append(hits[0])
    return found[0], found[1]


def mask_conflicts(known: Capture, options: MaskOptions | None) -> list[str]:
    """The mask options that contradict how a catalogued capture of the same file was masked
    (its mask is not silently kept when another was asked for).

    Example:
        >>> # mask_conflicts(catalogued, MaskOptions(cloud_threshold=0.3))
        >>> # ['--cloud-threshold 0.3 (catalogued mask: rules)']
    """
    if options is None:
        return []
    out = []
    p = options.cloud_threshold
    if p is not None and known.cloud_threshold != p:
        out.append(f"--cloud-threshold {p:g} (catalogued mask: {known.mask_method}, "
                   f"threshold {known.cloud_threshold})")
    if options.analyst_mask is not None:
        sha = sha256_file(Path(options.analyst_mask))
        if known.mask_method != "analyst" or sha not in (known.mask_detail or ""):
            out.append(f"--mask {options.analyst_mask} (sha256 {sha}; catalogued mask: "
                       f"{known.mask_method})")
    return out


def check_analyst_mask(path: Path) -> None:
    """Refuse an analyst's mask that cannot be used, before any imagery is warped.

    Raises:
        IngestError: naming the file, the field (raster, CRS, geotransform, band count) and
            its value.
    """
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise IngestError(
                    f"--mask {path}: field CRS: none (an analyst's mask must be georeferenced; "
                    "any CRS is warped to the facility grid)"
                )
            if src.transform.is_identity:
                raise IngestError(f"--mask {path}: field geotransform: none (identity)")
            if src.count != 1:
                raise IngestError(
                    f"--mask {path}: field band count: {src.count} (an analyst's mask has one "
                    "band: 0 = usable, nonzero = not usable)"
                )
    except RasterioError as exc:
        raise IngestError(f"--mask {path}: cannot be read as a raster: {exc}") from exc


def _analyst(path: Path, grid: FacilityGrid, valid: np.ndarray) -> ClearSky:
    check_analyst_mask(path)
    with rasterio.open(path) as src:
        try:
            data = warp_to_grid(src, grid, bands=[1], categorical=True)[0]
        except WarpError as exc:
            raise IngestError(f"--mask {path}: {exc}") from exc
        if src.nodata is not None:
            covered = data != data.dtype.type(src.nodata)
        else:
            outline = shapely.segmentize(shapely.box(*src.bounds), max(src.res) * 16)
            covered = rasterize(
                [(transform_geom(src.crs, grid.crs, shapely.geometry.mapping(outline)), 1)],
                out_shape=grid.shape, transform=grid.transform, fill=0, dtype="uint8",
            ).astype(bool)
        if np.issubdtype(data.dtype, np.floating):
            covered &= np.isfinite(data)
    n = int(valid.sum())
    missed = int((valid & ~covered).sum())
    if missed:
        raise IngestError(
            f"--mask {path}: field extent: covers {100 * (n - missed) / max(n, 1):.1f} % of the "
            f"capture's {n} valid pixels on the grid ({missed} uncovered); an analyst's mask "
            "must cover all of them (0 = usable, nonzero = not usable)"
        )
    sha = sha256_file(path)
    detail = (
        f"analyst mask {path.resolve()} (sha256 {sha}); nonzero = not usable; warped to the "
        f"{grid.resolution:g} m grid with nearest"
    )
    return ClearSky(covered & (data == 0), "analyst", detail)


def _model(
    src: DatasetReader,
    grid: FacilityGrid,
    indexes: Sequence[int],
    scale_offset: Callable[[Sequence[int]], tuple[Sequence[float], Sequence[float]]],
    level: tuple[ProductLevel, str],
    threshold: float,
    radiometry: str,
) -> ClearSky:
    k = max(1, int(round(max(MODEL_RESOLUTION_M, grid.resolution) / grid.resolution)))
    coarse = FacilityGrid(
        grid.crs, grid.resolution * k, grid.west, grid.north,
        math.ceil(grid.width / k), math.ceil(grid.height / k),
    )
    swir = swir_indexes(src)
    idx = [*indexes, *swir] if swir else list(indexes)
    names = (*BANDS_4, "swir16", "swir22") if swir else BANDS_4
    scale, offset = scale_offset(idx)
    refl = warp_to_grid(src, coarse, bands=idx, scale=scale, offset=offset)
    prob, info = cloud_probability(refl, names, level[0])
    cloudy = not_clear(prob, threshold)
    full = np.repeat(np.repeat(cloudy, k, axis=0), k, axis=1)[: grid.height, : grid.width]
    why = "" if swir else (
        "; FALLBACK to the 4-band model: the file has no bands described swir16/swir22 (or "
        "swir1/swir2, B11/B12), which the 6-band model needs"
    )
    detail = (
        f"cloud model {info.name} ({len(info.bands)} bands {','.join(info.bands)}; "
        f"{info.level.upper()} {level[1]}; at {coarse.resolution:g} m; not clear where "
        f"P(cloud)+P(shadow) >= {threshold:g}, grown by one {coarse.resolution:g} m pixel){why}"
    )
    if "ASSUMED" in radiometry:
        detail += (f"; its input scale is ASSUMED ({radiometry.split(' (')[0]}): a wrong scale "
                   "(e.g. a Landsat Collection 2 file without its scale tags) misleads the model")
    if not swir:
        log.warning("%s: %s", src.name, why.lstrip("; "))
    return ClearSky(~full, "model", detail, threshold)


def clear_sky(
    src: DatasetReader,
    *,
    sensor: str,
    simulated: bool,
    level_texts: Sequence[str],
    grid: FacilityGrid,
    valid: np.ndarray,
    indexes: Sequence[int],
    scale_offset: Callable[[Sequence[int]], tuple[Sequence[float], Sequence[float]]],
    rules: Callable[[], np.ndarray],
    options: MaskOptions | None = None,
    radiometry: str = "",
) -> ClearSky:
    """The clear-sky mask of one capture on ``grid``, chosen as the module says.

    Args:
        src: the open source file (the model reads its bands again at its own resolution).
        sensor: the capture's sensor; simulated: whether it comes from the simulator.
        level_texts: sensor, product id, file name... searched for L1C/L2A.
        grid: the facility grid; valid: bool (H, W), the capture's valid pixels on it.
        indexes: 1-based blue, green, red, nir band indexes in ``src``.
        scale_offset: the scale and offset of the given band indexes (the ingest's rule).
        rules: computes the brightness-rule mask on ``grid`` (called only when used).
        options: the analyst's mask or the model threshold.
        radiometry: how the ingest derived reflectance (an ASSUMED scale is noted).

    Raises:
        IngestError: an analyst's mask that cannot be used (names file, field and value).

    Example:
        >>> # sky = clear_sky(src, sensor="Sentinel-2A", simulated=False, level_texts=[path.name],
        >>> #                 grid=grid, valid=valid, indexes=[1, 2, 3, 4],
        >>> #                 scale_offset=lambda idx: ((1e-4,) * len(idx), (0.0,) * len(idx)),
        >>> #                 rules=lambda: rule_mask)
    """
    opts = options or MaskOptions()
    if opts.analyst_mask is not None:
        return _analyst(Path(opts.analyst_mask), grid, valid)
    family = sensor_family(sensor)
    if simulated:
        why = "simulated capture: its clouds are synthetic, the cloud model learnt real ones"
    elif family is None:
        why = (f"sensor {sensor!r} is not Sentinel-2 or Landsat, the sensors the cloud model "
               "was trained on")
    else:
        threshold = opts.cloud_threshold or DEFAULT_CLOUD_THRESHOLD
        return _model(src, grid, indexes, scale_offset, product_level(level_texts), threshold,
                      radiometry)
    detail = f"brightness rules (imagery/masks/rules.py): {why}"
    if opts.cloud_threshold is not None:
        detail += f"; --cloud-threshold {opts.cloud_threshold:g} not used (no cloud model here)"
        log.warning("%s: %s", src.name, detail)
    return ClearSky(rules(), "rules", detail)
