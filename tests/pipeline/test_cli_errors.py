"""Commands fail in one line, take the workspace lock and clean up after killed runs
(issue #12, item 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner

from pipeline.cli.change import change
from pipeline.cli.main import main
from pipeline.lock import is_temporary, workspace_lock
from pipeline.watch.config import WatchConfigError, load_watch_config

FID = "kangdong-kyohwaso-4"
UTM = "EPSG:32652"


def _raster(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    data = rng.normal(1000, 50, (3, 64, 64)).astype(np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint16",
                       crs=UTM, transform=Affine(10, 0, 300_000, 0, -10, 4_400_000)) as dst:
        dst.write(data)
    return path


def test_change_with_a_truncated_after_is_one_line(tmp_path: Path) -> None:
    before = _raster(tmp_path / "before.tif", 1)
    after = _raster(tmp_path / "after.tif", 2)
    raw = after.read_bytes()
    after.write_bytes(raw[: len(raw) // 2])
    out = tmp_path / "mask.tif"
    result = CliRunner().invoke(change, [str(before), str(after), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception is not None
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert str(after) in lines[0]
    assert not out.exists() and not (tmp_path / "mask.tif.partial").exists()


def test_change_into_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    before = _raster(tmp_path / "before.tif", 1)
    after = _raster(tmp_path / "after.tif", 2)
    result = CliRunner().invoke(change, [str(before), str(after), "-o", "/proc/x.tif"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: writing the change mask /proc/x.tif: ")
    assert len(result.output.strip().splitlines()) == 1


def test_change_with_unwritable_polygons_leaves_no_mask(tmp_path: Path) -> None:
    before = _raster(tmp_path / "before.tif", 1)
    after = _raster(tmp_path / "after.tif", 2)
    out = tmp_path / "mask.tif"
    result = CliRunner().invoke(
        change, [str(before), str(after), "-o", str(out), "--polygons", "/proc/p.gpkg"]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: writing the change polygons /proc/p.gpkg: ")
    assert not out.exists(), "the mask of a failed output set was left behind"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[settings]\nmethod = 'nonsense'\n",
         "key 'settings.method' = 'nonsense': unknown change detection method (one of default, "
         "difference, cva, irmad, structural, index, learned)"),
        ("[facilities.f]\nmethod = 'nonsense'\n",
         "key 'facilities.f.method' = 'nonsense': unknown change detection method"),
        ("[settings]\nresolution = 7\n",
         "key 'settings.resolution' = 7: must divide 60 m (e.g. 0.5, 1, 10, 30)"),
        ("[settings]\nwebhook_retries = 1000\n",
         "key 'settings.webhook_retries' = 1000: must be at most 20"),
    ],
)
def test_watch_config_values_are_validated_before_any_pass(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WatchConfigError) as info:
        load_watch_config(path)
    assert str(info.value) == f"{path}: {message}" or str(info.value).startswith(
        f"{path}: {message}"
    )


def test_fetch_takes_the_workspace_lock(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    args = ["fetch", FID, "--provider", "stac", "--stac-url", "http://127.0.0.1:9/stac",
            "--collection", "c", "--start", "2020-01-01", "--end", "2020-02-01",
            "--workspace", str(ws), "--resolution", "10"]
    with workspace_lock(ws, "campwatch watch"):
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output
    assert f"workspace {ws} is locked by another campwatch run: pid " in result.output
    assert "(campwatch watch)" in result.output
    assert not (ws / FID).exists(), "fetch wrote into a locked workspace"


def test_the_lock_sweeps_temporaries_at_any_depth(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    deep = ws / FID / "report" / "figures" / "zones"
    deep.mkdir(parents=True)
    left = [
        ws / FID / "captures" / ".x.tif.ab12cd34.stage.tif",
        ws / FID / "report" / ".report.html.tmp",
        deep / ".timeline.png.k2j4_x9q.png",
        ws / FID / "report" / ".timeline.csv.abcd1234",
        ws / ".alerts.jsonl.q1w2e3r4.tmp",
    ]
    kept = [ws / FID / "catalogue.gpkg", deep / "timeline.png", ws / FID / ".notes"]
    for p in left + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    with workspace_lock(ws, "campwatch run") as held:
        assert sorted(held.swept) == sorted(left)
    assert all(not p.exists() for p in left) and all(p.exists() for p in kept)
    assert not is_temporary(".campwatch.lock")
