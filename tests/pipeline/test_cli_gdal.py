"""The GDAL environment every ``campwatch`` command runs in."""

from __future__ import annotations

from rasterio._env import get_gdal_config

from pipeline.cli.options import GDAL_CACHEMAX_MB, gdal_env


def test_the_block_cache_is_256_megabytes_not_bytes() -> None:
    # Regression: rasterio.Env takes an integer GDAL_CACHEMAX as bytes, so the value 256
    # gave every command a 256-byte block cache and GDAL decoded blocks again and again.
    with gdal_env():
        assert get_gdal_config("GDAL_CACHEMAX") == GDAL_CACHEMAX_MB * 1024 * 1024 == 268435456
