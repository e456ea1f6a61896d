"""Zone-level quality: clear fractions inside the AOI and each zone (pure array maths)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from rasterio.features import rasterize
from rasterio.windows import Window, from_bounds
from rasterio.windows import transform as window_transform

from facilities.grid import FacilityGrid, to_grid_crs
from facilities.model import Facility

DEFAULT_MIN_CLEAR = 0.6
"""A capture whose AOI is less clear than this is kept but not used for detection."""


@dataclass(frozen=True)
class Quality:
    """How clear a capture is over a facility."""

    clear_fraction: float
    """Fraction of AOI pixels that are clear."""
    zone_clear: dict[str, float] = field(default_factory=dict)
    """Clear fraction per zone id."""
    usable: bool = True
    """Whether detection may use the capture."""
    reason: str = ""
    """Why it is not usable (empty when usable)."""


def region_masks(facility: Facility, grid: FacilityGrid) -> dict[str, np.ndarray]:
    """Boolean masks on ``grid`` of the AOI (key ``"aoi"``) and of every zone (by zone id).

    A pixel belongs to a region when its centre is inside it (GDAL's rasterize rule).

    Example:
        >>> # masks = region_masks(facility, facility_grid(facility, 10.0)); masks["aoi"].sum()
    """
    out: dict[str, np.ndarray] = {}
    for key, box in region_boxes(facility, grid).items():
        out[key] = np.zeros(grid.shape, bool)
        out[key][box.rows, box.cols] = box.mask
    return out


@dataclass(frozen=True)
class RegionBox:
    """A region's mask cut to the pixels of its bounding box on the grid."""

    rows: slice
    """Grid rows of the box."""
    cols: slice
    """Grid columns of the box."""
    mask: np.ndarray
    """bool (rows, cols): True where a pixel's centre is inside the region."""


def region_boxes(facility: Facility, grid: FacilityGrid) -> dict[str, RegionBox]:
    """The AOI's (key ``"aoi"``) and every zone's mask on ``grid``, each cut to the region's
    bounding box: a pixel belongs to a region when its centre is inside it (GDAL's
    rasterize rule), and such a pixel is inside the region's bounding box. A zone a tenth
    of the grid's side holds a hundredth of the grid's memory: ingesting an 8000² px
    capture no longer holds a full-grid mask per zone (:func:`region_masks` puts the boxes
    on the whole grid).

    Example:
        >>> # boxes = region_boxes(facility, grid); boxes["aoi"].mask.sum()
    """
    regions = {"aoi": facility.aoi} | {z.id: z.geometry for z in facility.zones}
    out: dict[str, RegionBox] = {}
    for key, geom in regions.items():
        shape = to_grid_crs(geom, grid.crs)
        w = from_bounds(*shape.bounds, transform=grid.transform)
        r0, c0 = max(0, math.floor(w.row_off)), max(0, math.floor(w.col_off))
        r1 = max(r0, min(grid.height, math.ceil(w.row_off + w.height)))
        c1 = max(c0, min(grid.width, math.ceil(w.col_off + w.width)))
        mask = np.zeros((r1 - r0, c1 - c0), bool)
        if mask.size:
            mask = rasterize(
                [(shape, 1)],
                out_shape=mask.shape,
                transform=window_transform(Window(c0, r0, c1 - c0, r1 - r0), grid.transform),
                fill=0,
                dtype="uint8",
            ).view(bool)
        out[key] = RegionBox(slice(r0, r1), slice(c0, c1), mask)
    return out


def assess_quality(
    clear: np.ndarray,
    regions: Mapping[str, np.ndarray | RegionBox],
    *,
    min_clear: float = DEFAULT_MIN_CLEAR,
) -> Quality:
    """Clear fractions of a capture inside the AOI and each zone.

    Args:
        clear: bool (H, W), True where the capture has valid, cloud-free data.
        regions: masks from :func:`region_masks` or :func:`region_boxes` (must include
            ``"aoi"``).
        min_clear: the AOI clear fraction below which the capture is not usable.

    Example:
        >>> import numpy as np
        >>> regions = {"aoi": np.ones((2, 2), bool)}
        >>> assess_quality(np.array([[1, 0], [1, 1]], bool), regions).clear_fraction
        0.75
    """
    def fraction(region: np.ndarray | RegionBox) -> float:
        part, mask = ((clear[region.rows, region.cols], region.mask)
                      if isinstance(region, RegionBox) else (clear, region))
        n = int(np.count_nonzero(mask))
        return float(np.count_nonzero(part & mask)) / n if n else 0.0

    aoi = fraction(regions["aoi"])
    zones = {k: round(fraction(m), 4) for k, m in regions.items() if k != "aoi"}
    usable = aoi >= min_clear
    reason = (
        "" if usable else f"AOI clear fraction {aoi:.2f} is below the threshold {min_clear:.2f}"
    )
    return Quality(round(aoi, 4), zones, usable, reason)
