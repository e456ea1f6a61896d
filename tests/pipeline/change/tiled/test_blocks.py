"""Planned window reads decode each block once and give the pixels of direct reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from pipeline.change.blocks import PlannedPair, PlannedReader


def _raster(path: Path, count: int, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = (rng.random((count, 70, 90)) * 200).astype(dtype)
    with rasterio.open(path, "w", driver="GTiff", width=90, height=70, count=count,
                       dtype=dtype, crs="EPSG:32652", transform=Affine(0.5, 0, 0, 0, -0.5, 0),
                       tiled=True, blockxsize=16, blockysize=16, compress="zstd") as dst:
        dst.write(data)
    return data


def _halos() -> list[Window]:
    # overlapping windows not aligned on the 16 px blocks, row-major like a tile index
    out = []
    for r0 in range(0, 70, 25):
        for c0 in range(0, 90, 30):
            r, c = max(0, r0 - 5), max(0, c0 - 5)
            out.append(Window(c, r, min(90, c0 + 35) - c, min(70, r0 + 30) - r))
    return out


def test_planned_windows_equal_direct_reads_and_nothing_is_held_after(tmp_path: Path) -> None:
    data = _raster(tmp_path / "a.tif", 3, "float32", 1)
    halos = _halos()
    reader = PlannedReader(tmp_path / "a.tif", halos)
    for w in halos:
        (r0, r1), (c0, c1) = w.toranges()
        got = reader.read(w)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, data[:, r0:r1, c0:c1])
    assert not reader._blocks  # every block dropped after its last window
    # a window outside the plan is read directly
    np.testing.assert_array_equal(reader.read(Window(3, 4, 5, 6)), data[:, 4:10, 3:8])


def test_planned_pair_combines_the_masks_as_read_pair(tmp_path: Path) -> None:
    before = _raster(tmp_path / "b.tif", 2, "float32", 2)
    after = _raster(tmp_path / "a.tif", 2, "float32", 3)
    mb = _raster(tmp_path / "mb.tif", 1, "uint8", 4) % 2
    ma = _raster(tmp_path / "ma.tif", 1, "uint8", 5) % 2
    gap = _raster(tmp_path / "g.tif", 1, "uint8", 6) % 2
    for name, arr in (("mb", mb), ("ma", ma), ("g", gap)):
        with rasterio.open(tmp_path / f"{name}.tif", "r+") as dst:
            dst.write(arr)
    halos = _halos()
    with PlannedPair(tmp_path / "b.tif", tmp_path / "a.tif",
                     [(tmp_path / "mb.tif", True), (tmp_path / "ma.tif", True),
                      (None, True), (tmp_path / "g.tif", False)], halos) as read:
        for w in halos:
            (r0, r1), (c0, c1) = w.toranges()
            b, a, ok = read(w)
            np.testing.assert_array_equal(b, before[:, r0:r1, c0:c1])
            np.testing.assert_array_equal(a, after[:, r0:r1, c0:c1])
            want = (mb[0] == 1) & (ma[0] == 1) & (gap[0] != 1)
            assert ok is not None
            np.testing.assert_array_equal(ok, want[r0:r1, c0:c1])


def test_only_what_later_windows_read_is_held(tmp_path: Path) -> None:
    data = _raster(tmp_path / "a.tif", 2, "float32", 7)
    halos = _halos()
    reader = PlannedReader(tmp_path / "a.tif", halos)
    for i, w in enumerate(halos):
        (r0, r1), (c0, c1) = w.toranges()
        np.testing.assert_array_equal(reader.read(w), data[:, r0:r1, c0:c1])
        later = [h.toranges() for h in halos[i + 1:]]
        for top, left, block in reader._blocks.values():
            # every held pixel is one a later window reads, along rows and along columns
            rows = range(top, top + block.shape[1])
            cols = range(left, left + block.shape[2])
            assert any(a <= rows[0] < b for (a, b), _ in later)
            assert any(a < rows[-1] + 1 <= b for (a, b), _ in later)
            assert any(a <= cols[0] < b for _, (a, b) in later)
            assert any(a < cols[-1] + 1 <= b for _, (a, b) in later)
            np.testing.assert_array_equal(block, data[:, rows[0]:rows[-1] + 1,
                                                      cols[0]:cols[-1] + 1])
    assert not reader._blocks


def test_an_open_dataset_gives_the_same_pixels_and_stays_the_callers(tmp_path: Path) -> None:
    data = _raster(tmp_path / "a.tif", 3, "float32", 8)
    halos = _halos()
    with rasterio.open(tmp_path / "a.tif") as src:
        with PlannedReader(src, halos) as reader:
            for w in halos:
                (r0, r1), (c0, c1) = w.toranges()
                np.testing.assert_array_equal(reader.read(w), data[:, r0:r1, c0:c1])
            # a window outside the plan is read directly from the same dataset
            np.testing.assert_array_equal(reader.read(Window(3, 4, 5, 6)), data[:, 4:10, 3:8])
        assert not src.closed  # closing the reader leaves the caller's dataset open
    assert src.closed
