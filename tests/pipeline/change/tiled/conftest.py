"""Tiny georeferenced pairs on a facility grid for the tiled-processing tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

from facilities.grid import FacilityGrid
from pipeline.change.tiled import PairFiles

GRID = FacilityGrid("EPSG:32652", 10.0, 363000.0, 4320000.0, 300, 260)
"""300 x 260 px at 10 m: tile_size 128 gives 96 px cores, so objects are cut."""


def write(path: Path, array: np.ndarray, grid: FacilityGrid, nodata: float | None) -> Path:
    """Write a (bands, H, W) array on ``grid`` as a tiled GeoTIFF."""
    with rasterio.open(
        path, "w", driver="GTiff", width=grid.width, height=grid.height, count=array.shape[0],
        dtype=array.dtype.name, crs=grid.crs, transform=grid.transform, nodata=nodata,
    ) as dst:
        dst.write(array)
    return path


def texture(shape: tuple[int, ...], seed: int, sigma: float = 1.5) -> np.ndarray:
    """Smooth random texture around 1000."""
    t = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), (0, sigma, sigma))
    return (1000 + 200 * t / t.std()).astype(np.float32)


def simulated_pair(tmp: Path, grid: FacilityGrid = GRID) -> PairFiles:
    """A 4-band pair with bright, dark and vegetated changes straddling tile cores (96 px),
    a cloud in AFTER's mask and an empty corner (no clear pixel)."""
    h, w = grid.height, grid.width
    rng = np.random.default_rng(3)
    before = texture((4, h, w), seed=1)
    after = before + rng.normal(0, 5, before.shape).astype(np.float32)
    after[:, 80:115, 85:110] = texture((4, 35, 25), seed=9, sigma=0.7) + 600  # 4 tiles
    after[:, 150:170, 180:230] -= 500  # crosses the col 192 edge
    after[3, 20:60, 186:200] += 900  # nir up: vegetation gain across col 192
    after[2, 20:60, 186:200] -= 300
    after[:, 200:240, 90:100] += 700  # crosses the row 192 edge
    bm = np.ones((1, h, w), np.uint8)
    am = np.ones((1, h, w), np.uint8)
    am[0, 230:, 250:] = 0  # cloud
    bm[0, :40, :40] = 0
    before[:, :40, :40] = np.nan  # nodata corner
    return PairFiles(
        write(tmp / "before.tif", before, grid, float("nan")),
        write(tmp / "after.tif", after, grid, float("nan")),
        write(tmp / "before_mask.tif", bm, grid, None),
        write(tmp / "after_mask.tif", am, grid, None),
    )
