"""One file is one capture; corrupt data and bad resolutions are refused before anything is
written (issue #12, item 4)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.enums
import rasterio.shutil
from affine import Affine
from click.testing import CliRunner

from facilities.load import load_facility_by_id
from imagery.catalogue import open_catalogue
from imagery.errors import ImageryError, IngestError
from imagery.ingest import ingest_file, ingest_paths
from imagery.vendor.metadata import Overrides
from imagery.workspace import FacilityWorkspace, workspace_grid
from pipeline.cli.main import main

FACILITY = load_facility_by_id("kangdong-kyohwaso-4")


def delivery(path: Path, *, compress: str = "zstd") -> Path:
    grid = workspace_grid(FacilityWorkspace(path.parent / "g", FACILITY.id), FACILITY, 10.0)
    rng = np.random.default_rng(3)
    data = (rng.normal(0.1, 0.01, (4, grid.height, grid.width)) * 10000).astype(np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=grid.width, height=grid.height,
                       count=4, dtype="uint16", crs=grid.crs, nodata=0, tiled=True,
                       blockxsize=64, blockysize=64, compress=compress,
                       transform=Affine(10, 0, grid.west, 0, -10, grid.north)) as dst:
        dst.write(data)
        dst.update_tags(ACQUISITION_DATETIME="2014-06-30T02:13:00Z", SENSOR="WorldView-2",
                        GSD_M="0.5")
    return path


def test_same_file_with_other_overrides_is_refused(tmp_path: Path) -> None:
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY.id)
    grid = workspace_grid(ws, FACILITY, 10.0)
    src = delivery(tmp_path / "a.tif")
    cap = ingest_file(src, FACILITY, grid, ws)
    assert cap is not None
    copy = tmp_path / "renamed-copy.tif"
    shutil.copy(src, copy)
    report = ingest_paths([copy], FACILITY, grid, ws)
    assert report.skipped == ((str(copy), f"already catalogued as {cap.capture_id} (same sha256)"),)
    other_date = Overrides(date=datetime(2019, 1, 2, tzinfo=UTC))
    with pytest.raises(IngestError) as err:
        ingest_file(copy, FACILITY, grid, ws, overrides=other_date)
    assert str(err.value) == (
        f"{copy}: this file (sha256 {cap.source_sha256}) is already capture {cap.capture_id}; "
        "--date 2019-01-02T00:00:00+00:00 (catalogued 2014-06-30T02:13:00+00:00) "
        "contradict(s) it. One file is one capture: drop the override, or correct the "
        "catalogued capture instead"
    )
    with pytest.raises(IngestError, match=r"--sensor 'SkySat' \(catalogued 'WorldView-2'\)"):
        ingest_file(src, FACILITY, grid, ws, overrides=Overrides(sensor="SkySat"))
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        assert [c.capture_id for c in cat.captures()] == [cap.capture_id]


def test_corrupt_tile_is_refused_naming_the_tile(tmp_path: Path) -> None:
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY.id)
    grid = workspace_grid(ws, FACILITY, 10.0)
    src = delivery(tmp_path / "bad.tif")
    with rasterio.open(src) as ds:
        off = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_1_1", "TIFF", bidx=1))
    # Only what the decoder detects can be refused: zstd frames carry no checksum, so bytes
    # flipped inside a frame's literals may decode to wrong values silently (verify's hashes
    # are the defence there); a broken frame is refused here.
    assert size > 64
    with open(src, "r+b") as fh:  # 64 bytes at the start of a compressed tile
        fh.seek(off)
        fh.write(bytes(range(64)))
    with pytest.raises(IngestError) as err:
        ingest_file(src, FACILITY, grid, ws)
    assert str(err.value).startswith(
        f"{src}: band 1 tile (block row 1, col 1; pixels x 64..127, y 64..127) cannot be "
        "decoded (corrupt data): "
    )
    assert not any(ws.captures_dir.glob("*")) if ws.captures_dir.exists() else True
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        assert cat.captures() == []


def _flip_inside_block(path: Path, block: str, *, overview: int | None = None) -> tuple[int, int]:
    """Overwrite 64 bytes in the middle of one compressed block; return its offset and size."""
    kwargs = {} if overview is None else {"overview_level": overview}
    with rasterio.open(path, **kwargs) as ds:
        off = int(ds.get_tag_item(f"BLOCK_OFFSET_{block}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{block}", "TIFF", bidx=1))
    assert size > 256
    with open(path, "r+b") as fh:
        fh.seek(off + size // 2)
        fh.write(bytes(range(64)))
    return off, size


def test_deflate_tile_that_decodes_silently_is_refused_by_its_checksum(tmp_path: Path) -> None:
    """The issue's own example: 64 bytes flipped inside a compressed COG tile."""
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY.id)
    grid = workspace_grid(ws, FACILITY, 10.0)
    good = delivery(tmp_path / "good.tif", compress="deflate")
    src = tmp_path / "cog.tif"
    with rasterio.open(good) as ds:
        rasterio.shutil.copy(ds, src, driver="COG", compress="DEFLATE", blocksize=64)
    with rasterio.open(src) as ds:
        intact = ds.read()
    off, size = _flip_inside_block(src, "1_1")
    with rasterio.open(src) as ds:  # the premise: GDAL decodes it without a word
        damaged = ds.read()
    assert int((damaged != intact).any(axis=0).sum()) > 100
    with pytest.raises(IngestError) as err:
        ingest_file(src, FACILITY, grid, ws)
    assert str(err.value) == (
        f"{src}: bands 1-4 tile (block row 1, col 1; pixels x 64..127, y 64..127) fails its "
        "deflate checksum (corrupt data: Error -3 while decompressing data: incorrect data "
        f"check); {size} bytes at offset {off}"
    )
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        assert cat.captures() == []
    assert not ws.captures_dir.exists() or not any(ws.captures_dir.glob("*"))


def test_deflate_overview_tile_is_checked_too(tmp_path: Path) -> None:
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY.id)
    grid = workspace_grid(ws, FACILITY, 10.0)
    src = delivery(tmp_path / "ovr.tif", compress="deflate")
    with rasterio.open(src, "r+") as ds:
        ds.build_overviews([2], rasterio.enums.Resampling.average)
    _flip_inside_block(src, "0_0", overview=0)
    with pytest.raises(IngestError, match=r"ovr\.tif: overview 1/2 bands 1-4 tile \(block row 0, "
                       r"col 0; .*\) fails its deflate checksum"):
        ingest_file(src, FACILITY, grid, ws)


def test_intact_deflate_and_zstd_files_are_ingested_and_say_what_was_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY.id)
    grid = workspace_grid(ws, FACILITY, 10.0)
    caplog.set_level("INFO", logger="imagery.ingest")
    deflate = delivery(tmp_path / "d.tif", compress="deflate")
    assert ingest_file(deflate, FACILITY, grid, ws) is not None
    assert f"{deflate}: every block decoded and every deflate block's Adler-32 checked" in (
        caplog.text
    )
    zstd = delivery(tmp_path / "z.tif", compress="zstd")
    with rasterio.open(zstd, "r+") as ds:  # another file: other bytes, other sha256
        ds.update_tags(ACQUISITION_DATETIME="2015-06-30T02:13:00Z")
    assert ingest_file(zstd, FACILITY, grid, ws) is not None
    assert f"{zstd}: every block decoded; zstd blocks carry no checksum" in caplog.text


def test_bad_resolution_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    src = delivery(tmp_path / "a.tif")
    ws_dir = tmp_path / "ws"
    result = CliRunner().invoke(main, ["ingest", FACILITY.id, str(src), "--workspace",
                                       str(ws_dir), "--resolution", "1e-9"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{ws_dir / FACILITY.id / 'grid.json'}: field 'resolution' = 1e-09 m gives a " in (
        result.output
    )
    assert "choose a coarser resolution" in result.output
    assert not ws_dir.exists()
    result = CliRunner().invoke(main, ["ingest", FACILITY.id, str(src), "--workspace",
                                       str(ws_dir), "--resolution", "7"])
    assert result.exit_code == 1
    assert "field 'resolution' = 7.0: grid resolution 7.0 m does not divide the snap" in (
        result.output
    )
    assert not ws_dir.exists()
    ok = CliRunner().invoke(main, ["ingest", FACILITY.id, str(src), "--workspace",
                                   str(ws_dir), "--resolution", "10"])
    assert ok.exit_code == 0, ok.output


def test_workspace_grid_refuses_a_huge_grid(tmp_path: Path) -> None:
    ws = FacilityWorkspace(tmp_path / "ws", FACILITY.id)
    with pytest.raises(ImageryError, match="more than 400,000,000 px"):
        workspace_grid(ws, FACILITY, 0.001)
    assert not (ws.dir / "grid.json").exists()


def test_deflate_tile_that_stops_short_is_refused(tmp_path: Path) -> None:
    # deflate blocks are decoded once, by the checksum check: a valid zlib stream that
    # decodes to fewer bytes than the tile holds is refused there (libtiff refuses it too)
    import zlib

    ws = FacilityWorkspace(tmp_path / "ws", FACILITY.id)
    grid = workspace_grid(ws, FACILITY, 10.0)
    src = delivery(tmp_path / "short.tif", compress="deflate")
    with rasterio.open(src) as ds:
        assert ds.interleaving is not None and ds.interleaving.name == "pixel"
        off = int(ds.get_tag_item("BLOCK_OFFSET_1_0", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_1_0", "TIFF", bidx=1))
    stream = zlib.compress(bytes(100))
    assert len(stream) < size
    with open(src, "r+b") as fh:
        fh.seek(off)
        fh.write(stream)
    with pytest.raises(IngestError) as err:
        ingest_file(src, FACILITY, grid, ws)
    assert str(err.value) == (
        f"{src}: bands 1-4 tile (block row 0, col 1; pixels x 64..127, y 0..63) decodes to "
        f"100 bytes, not the block's 32768 (4 band(s) x 64 x 64 x 2 bytes; corrupt data); "
        f"{size} bytes at offset {off}"
    )
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        assert cat.captures() == []


def test_intact_deflate_strips_pass_the_check(tmp_path: Path) -> None:
    # strips: the last one holds only the rows left, and decodes to that many
    from imagery.store import check_blocks

    grid = workspace_grid(FacilityWorkspace(tmp_path / "g", FACILITY.id), FACILITY, 10.0)
    path = tmp_path / "strips.tif"
    data = np.random.default_rng(1).integers(1, 60000, (4, 203, grid.width), dtype=np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=grid.width, height=203, count=4,
                       dtype="uint16", crs=grid.crs, nodata=0, compress="deflate",
                       blockysize=16, transform=Affine(10, 0, grid.west, 0, -10, grid.north)
                       ) as dst:
        dst.write(data)
    with rasterio.open(path) as ds:
        assert ds.block_shapes[0] == (16, grid.width) and ds.height % 16
        assert check_blocks(ds, path, [1, 2, 3, 4]).endswith("Adler-32 checked")
