"""End to end against real components on loopback: rustac serve + a Range file server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.errors import ProviderError
from imagery.stac.fetch import FetchReport, fetch_captures
from imagery.stac.providers import make_provider
from imagery.stac.read import gdal_env_options
from imagery.stac.search import SearchPolicy
from imagery.store import sha256_file
from imagery.workspace import FacilityWorkspace

pytestmark = pytest.mark.shared

FACILITY_ID = "kangdong-kyohwaso-4"
LoopbackServer = Any

ES_KEYS = ("blue", "green", "red", "nir", "scl")
PC_KEYS = ("B02", "B03", "B04", "B08", "SCL")
C1 = "earth-search-v1_sentinel-2-c1-l2a_itemcollection_T13TDE_2024-04.json"
# Grid rows 142..178 (the fields-south zone) as rows of the relabelled scene (+96).
CLOUD_ROWS = slice(142 + 96, 178 + 96)
START, END = date(2018, 1, 1), date(2025, 12, 31)
POLICY = SearchPolicy(timeout_s=2.0, retries=3, backoff_s=0.05, backoff_max_s=0.2, page_size=2)
GDAL_TEST_ENV = gdal_env_options(timeout_s=1, connect_timeout_s=1, retries=2, retry_delay_s=0.05)


def _serve(items: list[dict[str, Any]], tmp: Path) -> Path:
    path = tmp / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    return path


@pytest.fixture(scope="module")
def es(
    shared_data: Path, files_server: Any, kit: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LoopbackServer, dict[str, dict[str, Any]]]]:
    """Earth Search-shaped API: l2a (offset applied) and c1-l2a items with every fault."""
    assert files_server.root is not None
    specs = {
        "l2a": kit.SceneSpec("earth-search-v1_sentinel-2-l2a_S2A_13TDE_20231008_0_L2A.json"),
        "c1": kit.SceneSpec(
            "earth-search-v1_sentinel-2-c1-l2a_S2B_T20EPT_20250731T131905_L2A.json",
            epoch=2, dn_offset=1000, cloud_rows=CLOUD_ROWS,
        ),
        "cloudy": kit.SceneSpec(C1, index=0, dn_offset=1000, all_cloud=True),
        "miss": kit.SceneSpec(C1, index=1, dn_offset=1000, miss_aoi=True),
        "corrupt": kit.SceneSpec(C1, index=2, dn_offset=1000, truncate="red"),
        "hung": kit.SceneSpec(C1, index=3, dn_offset=1000),
    }
    items = {
        k: kit.build_item(s, shared_data, files_server.root, files_server.url, "es", ES_KEYS)
        for k, s in specs.items()
    }
    tmp = tmp_path_factory.mktemp("es-api")
    with kit.rustac_api([_serve(list(items.values()), tmp)], tmp) as api:
        yield api, items


@pytest.fixture(scope="module")
def pc(
    shared_data: Path, files_server: Any, kit: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LoopbackServer, dict[str, dict[str, Any]]]]:
    """Planetary Computer-shaped API: baselines 02.12 (no offset) and 04.00 (+1000 DN)."""
    assert files_server.root is not None
    specs = {
        "pb0212": kit.SceneSpec(
            "planetary-computer_sentinel-2-l2a_S2A_MSIL2A_20190101T000001_R116_T60VUK_"
            "20201007T214652.json"
        ),
        "pb0400": kit.SceneSpec(
            "planetary-computer_sentinel-2-l2a_S2B_MSIL2A_20220612T182919_R027_T24XWR_"
            "20220613T123251.json",
            dn_offset=1000,
        ),
    }
    items = {
        k: kit.build_item(s, shared_data, files_server.root, files_server.url, "pc", PC_KEYS)
        for k, s in specs.items()
    }
    tmp = tmp_path_factory.mktemp("pc-api")
    with kit.rustac_api([_serve(list(items.values()), tmp)], tmp) as api:
        yield api, items


def _fetch(
    provider_name: str, api: LoopbackServer, collection: str, ws: FacilityWorkspace, **kw: Any
) -> FetchReport:
    facility = load_facility_by_id(FACILITY_ID)
    provider = make_provider(provider_name, api.url, policy=POLICY, cache_dir=ws.cache_dir, **kw)
    with rasterio.Env(**GDAL_TEST_ENV):
        return fetch_captures(
            facility, provider, collection, START, END, ws, resolution=10.0, min_clear=0.6
        )


def _read(ws: FacilityWorkspace, stored: str) -> np.ndarray:
    with rasterio.open(ws.absolute(stored)) as src:
        data: np.ndarray = src.read()
    return data


def test_earth_search_c1_every_fault(
    es: tuple[LoopbackServer, dict[str, dict[str, Any]]],
    files_server: Any,
    shared_data: Path,
    kit: Any,
    tmp_path: Path,
) -> None:
    api, items = es
    ids = {k: v["id"] for k, v in items.items()}
    # Search: 500 then 429 then page 1; page 2 repeats an item of page 1.
    api.faults["/search"] = ["500", "429", "", "dup"]
    # COG: 500 then 429 on the first requests for c1's blue band, then success.
    blue = f"/es/{ids['c1']}/blue.tif"
    files_server.faults[blue] = ["500", "429"]
    files_server.always[f"/es/{ids['hung']}/nir.tif"] = "hang"
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY_ID)
    t0 = time.perf_counter()
    report = _fetch("earth-search", api, "sentinel-2-c1-l2a", ws)
    elapsed = time.perf_counter() - t0
    files_server.always.clear()

    statuses = {o.item_id: (o.status, o.reason) for o in report.outcomes}
    assert report.found == 5
    assert report.duplicates == 1
    assert [r.status for r in api.requests_to("/search")][:3] == [500, 429, 200]
    assert [r.status for r in files_server.requests_to(blue)][:2] == [500, 429]
    assert statuses[ids["c1"]] == ("added", "")
    assert statuses[ids["cloudy"]] == (
        "added", "AOI clear fraction 0.00 is below the threshold 0.60")
    assert statuses[ids["miss"]] == ("skipped", "item footprint misses the AOI")
    status, reason = statuses[ids["corrupt"]]
    assert status == "failed"
    assert f"asset 'red' {files_server.url}/es/{ids['corrupt']}/red.tif" in reason
    assert "cannot be read: Read failed" in reason
    status, reason = statuses[ids["hung"]]
    assert status == "failed" and "asset 'nir'" in reason
    hung = next(o for o in report.outcomes if o.item_id == ids["hung"])
    assert hung.seconds < 15, "a hung connection must time out, bounded"
    assert elapsed < 40

    # Nothing half-written: exactly the two added captures, their files, no temp files.
    with open_catalogue(ws.catalogue_path, "EPSG:32652") as cat:
        captures = {c.item_id: c for c in cat.captures()}
    assert set(captures) == {ids["c1"], ids["cloudy"]}
    stored = sorted(p.name for p in ws.captures_dir.iterdir())
    assert stored == sorted(f"{c.capture_id}.tif" for c in captures.values())
    assert sorted(p.name for p in ws.masks_dir.iterdir()) == stored

    c1 = captures[ids["c1"]]
    assert c1.usable is True and c1.reason == ""
    assert c1.zone_clear["fields-south"] == 0.0
    assert c1.zone_clear["housing-1"] == 1.0
    assert 0.6 < (c1.clear_fraction or 0) < 0.95
    assert captures[ids["cloudy"]].usable is False
    # Reflectance: the +1000 DN and declared offset -0.1 removed exactly once.
    got = _read(ws, c1.raster_path)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, kit.expected_reflectance(shared_data, 2), atol=1e-6)
    mask = _read(ws, c1.mask_path)[0]
    assert mask.dtype == np.uint8 and mask[150:170].max() == 0 and mask[80:100].min() == 1
    # Provenance.
    assert c1.raster_sha256 == sha256_file(ws.absolute(c1.raster_path))
    assert c1.mask_sha256 == sha256_file(ws.absolute(c1.mask_path))
    assert c1.provider == "earth-search" and c1.collection == "sentinel-2-c1-l2a"
    assert c1.source_path == (
        "https://earth-search.aws.element84.com/v1/collections/sentinel-2-c1-l2a/items/"
        + ids["c1"])
    assert c1.sensor == "Sentinel-2B" and c1.platform == "sentinel-2b"
    assert c1.processing_baseline == "05.11"
    assert c1.gsd_m == 10.0
    assert c1.sun_elevation_deg == pytest.approx(4.164002081708503)
    assert c1.credit == "Contains modified Copernicus Sentinel data 2025"
    assert c1.asset_hrefs == tuple(
        f"{files_server.url}/es/{ids['c1']}/{k}.tif" for k in ES_KEYS)
    assert c1.gdal_version == rasterio.__gdal_version__ and c1.fetched_at is not None
    assert c1.footprint.area > 0.9 * 204 * 204 * 100
    # The search result is cached in the workspace.
    (cache,) = ws.cache_dir.glob("search-earth-search-sentinel-2-c1-l2a-*.json")
    assert len(json.loads(cache.read_text())["features"]) == 6  # 5 items + the duplicate

    # A rerun adds nothing and changes nothing (idempotent).
    again = _fetch("earth-search", api, "sentinel-2-c1-l2a", ws, use_cache=True)
    assert {o.item_id: o.status for o in again.outcomes if o.status == "exists"} == {
        ids["c1"]: "exists", ids["cloudy"]: "exists"}
    assert sha256_file(ws.absolute(c1.raster_path)) == c1.raster_sha256


def test_earth_search_l2a_offset_already_applied(
    es: tuple[Any, dict[str, dict[str, Any]]], shared_data: Path, kit: Any, tmp_path: Path
) -> None:
    api, items = es
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY_ID)
    report = _fetch("earth-search", api, "sentinel-2-l2a", ws)
    assert [(o.item_id, o.status) for o in report.outcomes] == [(items["l2a"]["id"], "added")]
    with open_catalogue(ws.catalogue_path, "EPSG:32652") as cat:
        (capture,) = cat.captures()
    # boa_offset_applied=true: DN/10000, the declared -0.1 NOT applied again.
    np.testing.assert_allclose(
        _read(ws, capture.raster_path), kit.expected_reflectance(shared_data, 1), atol=1e-6)
    assert capture.processing_baseline == "05.09" and capture.clear_fraction == 1.0


def test_planetary_computer_baselines_and_signing(
    pc: tuple[LoopbackServer, dict[str, dict[str, Any]]],
    files_server: Any,
    shared_data: Path,
    kit: Any,
    tmp_path: Path,
) -> None:
    api, _ = pc
    signed: list[str] = []

    def signer(href: str) -> str:
        signed.append(href)
        return f"{href}?sig=ok&se=2099"

    ws = FacilityWorkspace(tmp_path / "ws", FACILITY_ID)
    report = _fetch("planetary-computer", api, "sentinel-2-l2a", ws, signer=signer)
    assert [o.status for o in report.outcomes] == ["added", "added"]
    assert len(signed) == 10  # every asset signed once, as it was opened
    with open_catalogue(ws.catalogue_path, "EPSG:32652") as cat:
        captures = {c.processing_baseline: c for c in cat.captures()}
    expected = kit.expected_reflectance(shared_data, 1)
    for baseline in ("02.12", "04.00"):
        capture = captures[baseline]
        np.testing.assert_allclose(_read(ws, capture.raster_path), expected, atol=1e-6)
        assert all("sig" not in h for h in capture.asset_hrefs)
        assert capture.asset_hrefs[0].endswith("/B02.tif")
        assert capture.sensor.startswith("Sentinel-2")
    pc_requests = [r for r in files_server.log if r.path.startswith("/pc/")]
    assert pc_requests and all("sig=ok" in r.query for r in pc_requests)


def test_unsigned_planetary_computer_read_fails_with_reason(
    pc: tuple[LoopbackServer, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    api, _ = pc
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY_ID)
    report = _fetch("planetary-computer", api, "sentinel-2-l2a", ws, signer=lambda h: h)
    assert [o.status for o in report.outcomes] == ["failed", "failed"]
    assert "asset 'B02'" in report.outcomes[0].reason
    with open_catalogue(ws.catalogue_path, "EPSG:32652") as cat:
        assert cat.captures() == []
    assert not ws.captures_dir.exists() or not any(ws.captures_dir.iterdir())


def test_search_gives_up_naming_provider_url_and_status(
    es: tuple[LoopbackServer, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    api, _ = es
    api.always["/search"] = "500"
    try:
        ws = FacilityWorkspace(tmp_path / "ws", FACILITY_ID)
        with pytest.raises(ProviderError) as err:
            _fetch("stac", api, "sentinel-2-c1-l2a", ws)
    finally:
        api.always.clear()
    message = str(err.value)
    assert message.startswith(f"stac: STAC API {api.url}/search failed (HTTP status 500)")
    assert len(api.requests_to("/search")) >= 1 + POLICY.retries


def test_hung_api_times_out_bounded(
    es: tuple[LoopbackServer, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    api, _ = es
    api.always["/"] = "hang"
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY_ID)
    policy = SearchPolicy(timeout_s=0.5, retries=1, backoff_s=0.01)
    provider = make_provider("earth-search", api.url, policy=policy)
    t0 = time.perf_counter()
    try:
        with pytest.raises(ProviderError) as err:
            provider.search(load_facility_by_id(FACILITY_ID), START, END, "sentinel-2-l2a")
    finally:
        api.always.clear()
    assert time.perf_counter() - t0 < 5
    assert str(err.value).startswith(f"earth-search: STAC API {api.url} failed (no HTTP response)")
    assert not ws.dir.exists()


def test_cli_fetch_json(
    es: tuple[Any, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from pipeline.cli.fetch import fetch

    api, items = es
    args = [
        FACILITY_ID, "--provider", "stac", "--stac-url", api.url,
        "--collection", "sentinel-2-l2a", "--start", "2023-10-01", "--end", "2023-10-31",
        "--resolution", "10", "--workspace", str(tmp_path / "ws"), "--json",
    ]
    result = CliRunner().invoke(fetch, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["found"] == 1
    (item,) = payload["items"]
    assert (item["item_id"], item["status"], item["usable"]) == (items["l2a"]["id"], "added", True)
    assert item["capture_id"] == f"stac_sentinel-2-l2a_{items['l2a']['id']}"
    # Rerun: nothing new, nothing clobbered.
    again = CliRunner().invoke(fetch, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["items"][0]["status"] == "exists"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--provider", "stac"], "Error: provider 'stac' needs the API URL (--stac-url URL)"),
        (
            ["--provider", "earth-search", "--collection", "sentinel-1-grd"],
            "Error: earth-search: collection 'sentinel-1-grd' is not supported",
        ),
    ],
)
def test_cli_fetch_bad_input(
    extra: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from pipeline.cli.fetch import fetch

    args = [FACILITY_ID, "--collection", "sentinel-2-l2a", "--start", "2024-01-01",
            "--end", "2024-02-01", "--resolution", "10", "--workspace", str(tmp_path), *extra]
    result = CliRunner().invoke(fetch, args)
    assert result.exit_code == 1
    assert message in result.output
