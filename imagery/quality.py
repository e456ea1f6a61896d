"""Zone-level quality: clear fractions inside the AOI and each zone (pure array maths)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rasterio.features import rasterize

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
    regions = {"aoi": facility.aoi} | {z.id: z.geometry for z in facility.zones}
    out: dict[str, np.ndarray] = {}
    for key, geom in regions.items():
        out[key] = rasterize(
            [(to_grid_crs(geom, grid.crs), 1)],
            out_shape=grid.shape,
            transform=grid.transform,
            fill=0,
            dtype="uint8",
        ).astype(bool)
    return out


def assess_quality(
    clear: np.ndarray,
    regions: dict[str, np.ndarray],
    *,
    min_clear: float = DEFAULT_MIN_CLEAR,
) -> Quality:
    """Clear fractions of a capture inside the AOI and each zone.

    Args:
        clear: bool (H, W), True where the capture has valid, cloud-free data.
        regions: masks from :func:`region_masks` (must include ``"aoi"``).
        min_clear: the AOI clear fraction below which the capture is not usable.

    Example:
        >>> import numpy as np
        >>> regions = {"aoi": np.ones((2, 2), bool)}
        >>> assess_quality(np.array([[1, 0], [1, 1]], bool), regions).clear_fraction
        0.75
    """
    def fraction(region: np.ndarray) -> float:
        n = int(region.sum())
        return float((clear & region).sum()) / n if n else 0.0

    aoi = fraction(regions["aoi"])
    zones = {k: round(fraction(m), 4) for k, m in regions.items() if k != "aoi"}
    usable = aoi >= min_clear
    reason = (
        "" if usable else f"AOI clear fraction {aoi:.2f} is below the threshold {min_clear:.2f}"
    )
    return Quality(round(aoi, 4), zones, usable, reason)
