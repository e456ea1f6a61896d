"""Real labelled pairs from ../shared/data (read in place, never copied into the repo)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.errors import NotGeoreferencedWarning

from pipeline.change import detectors
from pipeline.change.detect import ChangeParams, detect_change
from pipeline.cli.change import change

pytestmark = pytest.mark.shared

BANDS = ("B02", "B03", "B04", "B08")


def _f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float((pred & truth).sum())
    return 2 * tp / (pred.sum() + truth.sum())


def _bercy(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stacks = []
    for folder in ("imgs_1", "imgs_2"):
        bands = []
        for band in BANDS:
            with rasterio.open(next((root / "oscd/bercy" / folder).glob(f"*_{band}.tif"))) as s:
                bands.append(s.read(1))
        stacks.append(np.stack(bands))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(root / "oscd/bercy/cm/bercy-cm.tif") as s:
            truth = s.read(1) == 2
    return stacks[0], stacks[1], truth


def test_default_beats_cva_otsu_on_bercy(shared_data: Path) -> None:
    before, after, truth = _bercy(shared_data)
    params = ChangeParams(pixel_size_m=10.0, bands=("blue", "green", "red", "nir"))
    ours = detect_change(before, after, params).mask == 1
    b, a = before.astype(np.float32), after.astype(np.float32)
    stat = detectors.cva_magnitude(b, a)
    baseline = stat > detectors.otsu_threshold(stat, np.ones(stat.shape, bool))
    assert _f1(ours, truth) > _f1(baseline, truth) + 0.1


def test_cli_on_levir_png_pair(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "levir_cd"
    out = tmp_path / "mask.tif"
    res = CliRunner().invoke(change, [str(root / "A/val_27_0000_0256.png"),
                                      str(root / "B/val_27_0000_0256.png"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(out) as s:
            mask = s.read(1)
            assert s.crs is None
    assert mask.shape == (256, 256)
    assert set(np.unique(mask)) <= {0, 1} and (mask == 1).any()


def test_cli_warps_hongkong_after_onto_before(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "oscd/hongkong"
    b = next((root / "imgs_1").glob("*_B04.tif"))
    a = next((root / "imgs_2").glob("*_B04.tif"))
    out = tmp_path / "mask.tif"
    res = CliRunner().invoke(change, [str(b), str(a), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "AFTER warped onto BEFORE's grid" in res.output
    with rasterio.open(out) as s, rasterio.open(b) as ref:
        assert s.shape == ref.shape == (695, 540)
        assert s.transform == ref.transform and s.crs == ref.crs
