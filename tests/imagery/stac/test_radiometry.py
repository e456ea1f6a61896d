"""Reflectance scale/offset decided from the real STAC item JSON of every provider family."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagery.errors import RadiometryError
from imagery.stac.bands import band_map
from imagery.stac.radiometry import (
    Radiometry,
    parse_baseline,
    radiometry_for,
    to_reflectance,
)

pytestmark = pytest.mark.shared


def _item(shared_data: Path, name: str, index: int = 0) -> dict[str, Any]:
    data = json.loads((shared_data / "stac" / name).read_text(encoding="utf-8"))
    item: dict[str, Any] = data["features"][index] if "features" in data else data
    return item


def _red(provider: str, item: dict[str, Any]) -> Radiometry:
    bands = band_map(provider, item["collection"], item["assets"])
    red = bands.reflectance[2]
    return radiometry_for(bands.family, item["properties"], item["assets"][red], where=item["id"])


# (provider, file, expected offset, expected processing baseline)
CASES = [
    # ES v1 sentinel-2-l2a: boa_offset_applied=true, pixels already harmonised; the declared
    # raster:bands offset -0.1 must not be applied a second time.
    ("earth-search", "earth-search-v1_sentinel-2-l2a_S2A_13TDE_20231008_0_L2A.json", 0.0, "05.09"),
    ("earth-search", "earth-search-v1_sentinel-2-l2a_S2B_20EPT_20250731_0_L2A.json", 0.0, "05.11"),
    # ES sentinel-2-c1-l2a: no flag; raster:bands offset -0.1 is the truth.
    (
        "earth-search",
        "earth-search-v1_sentinel-2-c1-l2a_S2B_T20EPT_20250731T131905_L2A.json",
        -0.1,
        "05.11",
    ),
    # Planetary Computer: neither; the processing baseline decides.
    (
        "planetary-computer",
        "planetary-computer_sentinel-2-l2a_S2A_MSIL2A_20190101T000001_R116_T60VUK_20201007T214652.json",
        0.0,
        "02.12",
    ),
    (
        "planetary-computer",
        "planetary-computer_sentinel-2-l2a_S2B_MSIL2A_20220612T182919_R027_T24XWR_20220613T123251.json",
        -0.1,
        "04.00",
    ),
    ("planetary-computer", "planetary-computer_sentinel-2-l2a_itemcollection_2024-04-19.json", -0.1,
     "05.10"),
]


@pytest.mark.parametrize(("provider", "name", "offset", "baseline"), CASES)
def test_sentinel2_offset_removed_exactly_once(
    shared_data: Path, provider: str, name: str, offset: float, baseline: str
) -> None:
    item = _item(shared_data, name)
    assert item["properties"]["s2:processing_baseline"] == baseline
    r = _red(provider, item)
    assert r.scale == pytest.approx(1e-4)
    assert r.offset == pytest.approx(offset)
    # The same surface (reflectance 0.25) as each product encodes it gives the same value.
    dn = np.array([2500 + (1000 if offset else 0)], np.uint16)
    assert to_reflectance(dn, r)[0] == pytest.approx(0.25, abs=1e-6)


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        ("earth-search", "earth-search-v1_landsat-c2-l2_LC08_L2SP_033032_20231008_02_T1.json"),
        ("planetary-computer", "planetary-computer_landsat-c2-l2_itemcollection_2024-04-17.json"),
    ],
)
def test_landsat_c2_l2_scale_and_offset(shared_data: Path, provider: str, name: str) -> None:
    item = _item(shared_data, name)
    bands = band_map(provider, item["collection"], item["assets"])
    assert bands.reflectance == ("blue", "green", "red", "nir08")
    assert bands.mask == "qa_pixel"
    r = _red(provider, item)
    assert (r.scale, r.offset) == (2.75e-5, -0.2)
    # DN 16000 -> 0.24 reflectance.
    assert to_reflectance(np.array([16000], np.uint16), r)[0] == pytest.approx(0.24, abs=1e-6)


def test_planetary_computer_band_names(shared_data: Path) -> None:
    item = _item(shared_data, "planetary-computer_sentinel-2-l2a_itemcollection_2024-04-19.json")
    bands = band_map("planetary-computer", item["collection"], item["assets"])
    assert bands.asset_keys() == ("B02", "B03", "B04", "B08", "SCL")


def test_generic_stac_matches_band_names_from_assets(shared_data: Path) -> None:
    name = "earth-search-v1_sentinel-2-c1-l2a_S2B_T20EPT_20250731T131905_L2A.json"
    item = _item(shared_data, name)
    bands = band_map("stac", item["collection"], item["assets"])
    assert bands.asset_keys() == ("blue", "green", "red", "nir", "scl")


def test_missing_baseline_is_an_error_naming_the_field() -> None:
    with pytest.raises(RadiometryError) as err:
        radiometry_for("sentinel-2", {}, {}, where="pc sentinel-2-l2a/X")
    assert str(err.value) == (
        "pc sentinel-2-l2a/X: property 's2:processing_baseline' is missing and the asset declares "
        "no raster:bands offset, so the +1000 DN offset of baseline 04.00+ cannot be decided"
    )


def test_flag_false_uses_the_baseline() -> None:
    props = {"earthsearch:boa_offset_applied": False, "s2:processing_baseline": "04.00"}
    assert radiometry_for("sentinel-2", props, {}).offset == -0.1
    props["s2:processing_baseline"] = "03.01"
    assert radiometry_for("sentinel-2", props, {}).offset == 0.0


def test_landsat_with_wrong_declared_scale_is_refused() -> None:
    asset = {"raster:bands": [{"scale": 0.0001, "offset": -0.2}]}
    with pytest.raises(RadiometryError, match=r"raster:bands scale = 0.0001, but Landsat"):
        radiometry_for("landsat", {}, asset, where="x")


def test_parse_baseline_forms() -> None:
    assert parse_baseline("04.00") == (4, 0)
    assert parse_baseline("N0511") == (5, 11)
    with pytest.raises(ValueError, match="not a processing baseline"):
        parse_baseline("four")


def test_nodata_and_nan_become_nan() -> None:
    r = Radiometry(1e-4, -0.1, "t")
    out = to_reflectance(np.array([0.0, np.nan, 1500.0], np.float32), r)
    assert out.dtype == np.float32
    assert np.isnan(out[:2]).all() and out[2] == pytest.approx(0.05)
