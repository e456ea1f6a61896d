"""Fixtures for the vendor-ingest and verify tests: tiny georeferenced rasters in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

TinyRaster = Callable[..., Path]


@pytest.fixture
def tiny_raster() -> TinyRaster:
    """Write a 4x4 one-band uint16 GeoTIFF (EPSG:32652, 0.5 m) at a path, with optional tags."""

    def make(path: Path, **tags: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=4,
            height=4,
            count=1,
            dtype="uint16",
            crs="EPSG:32652",
            transform=Affine(0.5, 0.0, 360000.0, 0.0, -0.5, 4330000.0),
        ) as dst:
            dst.write(np.arange(16, dtype="uint16").reshape(1, 4, 4))
            if tags:
                dst.update_tags(**tags)
        return path

    return make
