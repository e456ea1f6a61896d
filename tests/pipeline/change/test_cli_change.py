"""``campwatch change`` on files: formats, grids, outputs and every bad input."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner, Result
from rasterio.errors import NotGeoreferencedWarning

from pipeline.cli.change import change
from tests.pipeline.change.conftest import texture

UTM = "EPSG:32652"
TRANSFORM = Affine(10.0, 0.0, 300_000.0, 0.0, -10.0, 4_400_000.0)
SQUARE = (slice(40, 56), slice(60, 76))


def _pair(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    before = texture((3, 96, 128), seed=11)
    rng = np.random.default_rng(2)
    after = before + rng.normal(0, 4, before.shape).astype(np.float32)
    after[:, SQUARE[0], SQUARE[1]] = texture((3, 16, 16), seed=12, sigma=0.7) + 500
    if dtype == "uint8":
        return (before / 8).astype(np.uint8), np.clip(after / 8, 0, 255).astype(np.uint8)
    if dtype == "uint16":
        return before.astype(np.uint16), after.astype(np.uint16)
    return before / 10000, after / 10000  # float reflectance


def _write(path: Path, data: np.ndarray, georef: bool = True, **extra: Any) -> Path:
    profile: dict[str, Any] = {
        "driver": "PNG" if path.suffix == ".png" else "GTiff",
        "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
        "dtype": data.dtype.name,
    }
    if georef:
        profile.update(crs=UTM, transform=TRANSFORM)
    profile.update(extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
    return path


def _run(*args: object) -> Result:
    return CliRunner().invoke(change, [str(a) for a in args])


def _read(path: Path) -> tuple[np.ndarray, Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read(1), src.crs, src.profile


def _assert_square_found(mask: np.ndarray) -> None:
    truth = np.zeros(mask.shape, bool)
    truth[SQUARE] = True
    pred = mask == 1
    assert (pred & truth).sum() / truth.sum() > 0.7
    assert (pred & truth).sum() / max(pred.sum(), 1) > 0.5


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_geotiff_inputs(tmp_path: Path, dtype: str) -> None:
    b, a = _pair(dtype)
    out = tmp_path / "mask.tif"
    res = _run(_write(tmp_path / "b.tif", b), _write(tmp_path / "a.tif", a), "-o", out)
    assert res.exit_code == 0, res.output
    mask, crs, profile = _read(out)
    assert profile["dtype"] == "uint8" and profile["nodata"] == 255
    assert crs == UTM and profile["transform"] == TRANSFORM
    _assert_square_found(mask)
    assert "changed pixels" in res.output


def test_png_inputs_not_georeferenced(tmp_path: Path) -> None:
    b, a = _pair("uint8")
    out = tmp_path / "mask.tif"
    res = _run(_write(tmp_path / "b.png", b, georef=False),
               _write(tmp_path / "a.png", a, georef=False), "-o", out)
    assert res.exit_code == 0, res.output
    mask, crs, _ = _read(out)
    assert crs is None and mask.shape == (96, 128)
    _assert_square_found(mask)


def test_float_nan_is_nodata(tmp_path: Path) -> None:
    b, a = _pair("float32")
    a = a.astype(np.float32)
    a[:, :10, :10] = np.nan
    out = tmp_path / "mask.tif"
    res = _run(_write(tmp_path / "b.tif", b.astype(np.float32)),
               _write(tmp_path / "a.tif", a, nodata=np.nan), "-o", out)
    assert res.exit_code == 0, res.output
    mask, _, _ = _read(out)
    assert (mask[:10, :10] == 255).all()


def test_after_on_another_grid_is_warped(tmp_path: Path) -> None:
    b, a = _pair("uint16")
    fine = np.repeat(np.repeat(a, 2, axis=1), 2, axis=2)  # 5 m pixels, same footprint
    after = _write(tmp_path / "a.tif", fine, transform=Affine(5.0, 0, 300_000.0, 0, -5.0,
                                                              4_400_000.0))
    out = tmp_path / "mask.tif"
    res = _run(_write(tmp_path / "b.tif", b), after, "-o", out)
    assert res.exit_code == 0, res.output
    assert "AFTER warped onto BEFORE's grid" in res.output
    mask, _, profile = _read(out)
    assert mask.shape == (96, 128) and profile["transform"] == TRANSFORM
    _assert_square_found(mask)


def test_polygons_geopackage(tmp_path: Path) -> None:
    b, a = _pair("uint16")
    gpkg = tmp_path / "changes.gpkg"
    res = _run(_write(tmp_path / "b.tif", b), _write(tmp_path / "a.tif", a),
               "-o", tmp_path / "mask.tif", "--polygons", gpkg, "--min-area", "500")
    assert res.exit_code == 0, res.output
    frame = pyogrio.read_dataframe(gpkg)
    assert len(frame) == 1
    assert frame.crs.to_string() == UTM
    west, _, east, _ = frame.geometry.iloc[0].bounds
    assert 300_550 <= west <= 300_610 and 300_750 <= east <= 300_810
    assert frame["change_type"].iloc[0] == "new_or_brighter"
    assert frame["area_m2"].iloc[0] >= 500


def test_overwrite(tmp_path: Path) -> None:
    b, a = _pair("uint8")
    bp, ap = _write(tmp_path / "b.tif", b), _write(tmp_path / "a.tif", a)
    out = tmp_path / "mask.tif"
    out.write_bytes(b"keep me")
    res = _run(bp, ap, "-o", out)
    assert res.exit_code == 1
    assert res.output == f"Error: output {out} exists; pass --overwrite to replace it\n"
    assert out.read_bytes() == b"keep me"
    assert _run(bp, ap, "-o", out, "--overwrite").exit_code == 0


def _assert_clean_error(res: Result, message: str) -> None:
    assert res.exit_code == 1
    assert isinstance(res.exception, SystemExit)  # no traceback
    assert res.output == f"Error: {message}\n"


def test_mismatched_band_counts(tmp_path: Path) -> None:
    b, a = _pair("uint8")
    bp = _write(tmp_path / "b.tif", b)
    ap = _write(tmp_path / "a.tif", a[:2])
    res = _run(bp, ap, "-o", tmp_path / "m.tif")
    _assert_clean_error(
        res, f"band counts differ: BEFORE {bp} has 3 bands, AFTER {ap} has 2"
    )


def test_no_overlap(tmp_path: Path) -> None:
    b, a = _pair("uint8")
    bp = _write(tmp_path / "b.tif", b)
    ap = _write(tmp_path / "a.tif", a,
                transform=Affine(10.0, 0, 400_000.0, 0, -10.0, 4_400_000.0))
    res = _run(bp, ap, "-o", tmp_path / "m.tif")
    _assert_clean_error(
        res,
        f"BEFORE {bp} and AFTER {ap} do not overlap: BEFORE covers "
        "(300000.0, 4399040.0, 301280.0, 4400000.0) and AFTER covers "
        "(400000.0, 4399040.0, 401280.0, 4400000.0) in EPSG:32652",
    )


def test_unreadable_file(tmp_path: Path) -> None:
    b, _ = _pair("uint8")
    bp = _write(tmp_path / "b.tif", b)
    ap = tmp_path / "a.tif"
    ap.write_text("not a raster")
    res = _run(bp, ap, "-o", tmp_path / "m.tif")
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert res.output.startswith(f"Error: AFTER {ap} is not a raster GDAL can read: ")


def test_missing_file(tmp_path: Path) -> None:
    b, _ = _pair("uint8")
    bp = _write(tmp_path / "b.tif", b)
    res = _run(bp, tmp_path / "nope.tif", "-o", tmp_path / "m.tif")
    _assert_clean_error(res, f"AFTER {tmp_path / 'nope.tif'} does not exist")


def test_constant_image(tmp_path: Path) -> None:
    b, _ = _pair("uint8")
    bp = _write(tmp_path / "b.tif", b)
    ap = _write(tmp_path / "a.tif", np.full(b.shape, 7, np.uint8))
    res = _run(bp, ap, "-o", tmp_path / "m.tif")
    _assert_clean_error(res, "AFTER is constant (every valid pixel is 7): nothing to compare")
    assert not (tmp_path / "m.tif").exists()


def test_zero_size_image(tmp_path: Path) -> None:
    b, _ = _pair("uint8")
    empty = tmp_path / "b.tif"
    empty.write_bytes(b"")
    res = _run(empty, _write(tmp_path / "a.tif", b), "-o", tmp_path / "m.tif")
    _assert_clean_error(res, f"BEFORE {empty} is empty (0 bytes)")


def test_shapes_must_match_when_not_georeferenced(tmp_path: Path) -> None:
    b, a = _pair("uint8")
    bp = _write(tmp_path / "b.png", b, georef=False)
    ap = _write(tmp_path / "a.png", a[:, :, :100], georef=False)
    res = _run(bp, ap, "-o", tmp_path / "m.tif")
    _assert_clean_error(
        res,
        f"neither is georeferenced, so the shapes must match: BEFORE {bp} is 96x128, "
        f"AFTER {ap} is 96x100 (rows x cols)",
    )


def test_index_method_needs_roles(tmp_path: Path) -> None:
    b, a = _pair("uint16")
    res = _run(_write(tmp_path / "b.tif", b), _write(tmp_path / "a.tif", a),
               "-o", tmp_path / "m.tif", "--method", "index", "--bands", "blue,green,red")
    _assert_clean_error(res, "method 'index' needs red and nir bands, got roles blue,green,red")
