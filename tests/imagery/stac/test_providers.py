"""Providers, signing, band maps and a Landsat read (local COGs, no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from facilities.grid import facility_grid
from facilities.load import load_facility_by_id
from imagery.errors import BandMapError, ProviderError
from imagery.stac.bands import band_map
from imagery.stac.item import CandidateItem, candidate_from_dict
from imagery.stac.providers import PlanetaryComputerSigner, StacApi, make_provider
from imagery.stac.read import gdal_env_options, read_item, vsi_path

FACILITY_ID = "kangdong-kyohwaso-4"


def test_make_provider_names_and_errors() -> None:
    assert make_provider("earth-search").url == "https://earth-search.aws.element84.com/v1"
    assert make_provider("planetary-computer").signer is not None
    with pytest.raises(ProviderError, match=r"^unknown provider 'usgs' \(expected one of"):
        make_provider("usgs")
    with pytest.raises(ProviderError, match=r"needs the API URL \(--stac-url URL\)"):
        make_provider("stac")


def test_unsupported_collection_fails_before_any_request() -> None:
    provider = make_provider("planetary-computer", "http://127.0.0.1:9")  # nothing listens
    facility = load_facility_by_id(FACILITY_ID)
    with pytest.raises(BandMapError) as err:
        provider.search(facility, datetime(2024, 1, 1).date(), datetime(2024, 2, 1).date(),
                        "sentinel-2-c1-l2a")
    assert str(err.value) == (
        "planetary-computer: collection 'sentinel-2-c1-l2a' is not supported "
        "(supported: ['landsat-c2-l2', 'sentinel-2-l2a'])"
    )


def test_band_map_names_missing_assets() -> None:
    with pytest.raises(BandMapError, match=r"item has no asset\(s\) \['scl'\]"):
        band_map("earth-search", "sentinel-2-l2a", {"blue": {}, "green": {}, "red": {}, "nir": {}})


def test_pc_signer_uses_token_endpoint_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class Resp:
        status_code = 200
        text = ""

        def json(self) -> dict[str, str]:
            return {"token": "sv=2021&sig=abc", "msft:expiry": "2099-01-01T00:00:00Z"}

    class Session:
        def get(self, url: str, timeout: float) -> Resp:
            calls.append(url)
            return Resp()

    monkeypatch.setattr("imagery.stac.providers.retrying_session", lambda policy: Session())
    signer = PlanetaryComputerSigner(token_url="http://tokens.invalid/token")
    signer._sdk = None  # exercise the token endpoint even where the SDK is installed
    href = "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/24/X/B04.tif"
    assert signer(href) == f"{href}?sv=2021&sig=abc"
    assert signer(href + "x") == f"{href}x?sv=2021&sig=abc"
    assert calls == ["http://tokens.invalid/token/sentinel2l2a01/sentinel2-l2"]
    # Not Azure blob, or already signed: untouched.
    assert signer("https://example.org/a.tif") == "https://example.org/a.tif"
    assert signer(f"{href}?se=1") == f"{href}?se=1"


def test_vsi_paths() -> None:
    assert vsi_path("http://h/a.tif") == "/vsicurl/http://h/a.tif"
    assert vsi_path("s3://usgs-landsat/x.TIF") == "/vsis3/usgs-landsat/x.TIF"
    assert gdal_env_options()["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"


def test_item_without_datetime_is_refused() -> None:
    with pytest.raises(Exception, match=r"stac c/x: property 'datetime' is missing or null"):
        candidate_from_dict("stac", {"id": "x", "collection": "c", "properties": {},
                                     "geometry": {"type": "Point", "coordinates": [0, 0]}})


def test_search_answered_from_cache_without_network(tmp_path: Path) -> None:
    facility = load_facility_by_id(FACILITY_ID)
    provider = StacApi("http://127.0.0.1:9", cache_dir=tmp_path, use_cache=True)
    from imagery.stac.search import _cache_path, search_body

    start, end = datetime(2024, 1, 1).date(), datetime(2024, 12, 31).date()
    body = search_body(facility, "sentinel-2-l2a", start, end, provider.policy.page_size)
    feature = {
        "id": "A", "collection": "sentinel-2-l2a", "type": "Feature",
        "properties": {"datetime": "2024-03-01T02:00:00Z", "eo:cloud_cover": 80.0},
        "geometry": {"type": "Polygon", "coordinates": [[[126, 38], [127, 38], [127, 39.5],
                                                          [126, 39.5], [126, 38]]]},
        "links": [], "assets": {},
    }
    late = dict(feature, id="B", properties={"datetime": "2025-03-01T02:00:00Z"})
    _cache_path(tmp_path, "stac", provider.url, body).write_text(
        json.dumps({"features": [feature, feature, late]}))
    items = provider.search(facility, start, end, "sentinel-2-l2a")
    assert [i.item_id for i in items] == ["A"]
    assert provider.last_search is not None and provider.last_search.duplicates == 1
    assert provider.last_search.filtered == (
        ("B", "acquired 2025-03-01T02:00:00+00:00 is outside 2024-01-01..2024-12-31"),)
    assert provider.search(facility, start, end, "sentinel-2-l2a", max_cloud=50) == []


def _cog(path: Path, array: np.ndarray, transform: Affine, nodata: int) -> str:
    with rasterio.open(path, "w", driver="COG", width=array.shape[1], height=array.shape[0],
                       count=1, dtype=array.dtype.name, crs="EPSG:32652", transform=transform,
                       nodata=nodata) as dst:
        dst.write(array, 1)
    return str(path)


def test_landsat_read_upsamples_nearest_and_masks_qa_bits(tmp_path: Path) -> None:
    facility = load_facility_by_id(FACILITY_ID)
    grid = facility_grid(facility, 10.0)
    tr30 = Affine(30.0, 0, grid.west - 300, 0, -30.0, grid.north + 300)
    n = grid.width // 3 + 25
    dn = np.full((n, n), 16000, np.uint16)  # reflectance 0.24
    qa = np.full((n, n), 21824, np.uint16)  # clear land
    qa[:, : n // 2] = 22280  # cloud on the western half
    assets: dict[str, Any] = {}
    for key in ("blue", "green", "red", "nir08"):
        assets[key] = {"href": _cog(tmp_path / f"{key}.tif", dn, tr30, 0),
                       "raster:bands": [{"scale": 2.75e-05, "offset": -0.2}]}
    assets["qa_pixel"] = {"href": _cog(tmp_path / "qa.tif", qa, tr30, 1)}
    raw = {"properties": {"platform": "landsat-9"}, "assets": assets}
    item = CandidateItem("earth-search", "landsat-c2-l2", "LC09_TEST",
                         datetime(2024, 4, 17, tzinfo=UTC), box(0, 0, 1, 1), "", None, raw)
    with rasterio.Env(**gdal_env_options()):
        pixels = read_item(item, band_map("earth-search", "landsat-c2-l2", assets), grid)
    assert pixels.reflectance.shape == (4, grid.height, grid.width)
    np.testing.assert_allclose(pixels.reflectance, 0.24, atol=1e-6)
    assert pixels.valid.all()
    # Cloud covers grid columns west of the QA's middle column (30 m cells -> 3 grid px).
    split = (n // 2) * 3 - 30
    assert not pixels.clear[:, :split].any() and pixels.clear[:, split:].all()
