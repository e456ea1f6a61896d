"""build_viewer without a browser: output layout, offline assets, data, tiles and errors."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import LineString, box

from facilities.grid import FacilityGrid
from imagery.capture import BANDS
from imagery.store import write_grid_raster
from pipeline.errors import OutputExistsError, ViewerError
from pipeline.viewer.build import STATIC_DIR, ViewerCapture, ViewerFeature, build_viewer
from pipeline.viewer.tiles import Stretch, percentile_stretch, to_rgba

Scene = tuple[list[ViewerCapture], list[ViewerFeature]]


def load_data(out: Path) -> dict[str, Any]:
    text = (out / "data.js").read_text(encoding="utf-8")
    prefix = "window.CAMPWATCH_VIEWER = "
    assert text.startswith(prefix) and text.endswith(";\n")
    data: dict[str, Any] = json.loads(text[len(prefix) : -2])
    return data


def test_output_layout_and_vendored_leaflet(built_viewer: Path) -> None:
    out = built_viewer
    for name in ("leaflet.js", "leaflet.css", "LICENSE", "images/layers.png"):
        assert (out / "lib/leaflet" / name).read_bytes() == (
            STATIC_DIR / "leaflet" / name
        ).read_bytes()
    assert (out / "lib/campwatch/viewer.js").is_file()
    assert not list(out.parent.glob(f".{out.name}.tmp-*"))
    manifest = json.loads((out / "viewer.json").read_text())
    tiles = sorted((out / "tiles").rglob("*.webp"))
    assert len(tiles) == sum(c["tile_count"] for c in manifest["captures"]) > 0
    assert {p.relative_to(out / "tiles").parts[0] for p in tiles} == {"cap0", "cap1"}
    assert manifest["features"] == {"zones": 1, "changes": 1, "events": 1}


def test_page_loads_nothing_from_the_network(built_viewer: Path) -> None:
    out = built_viewer
    html = (out / "index.html").read_text()
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs and all(not re.match(r"^[a-z]+://|^//", s) for s in srcs), srcs
    for s in srcs:
        assert s.startswith("data:") or (out / s).is_file(), s
    for own in ("lib/campwatch/viewer.js", "lib/campwatch/viewer.css", "data.js"):
        text = (out / own).read_text()
        assert "fetch(" not in text and "XMLHttpRequest" not in text
        assert not re.search(r"https?://", text), own
    assert not re.search(
        r"url\(\s*['\"]?(https?:)?//", (out / "lib/leaflet/leaflet.css").read_text()
    )


def test_data_holds_captures_and_overlays_in_wgs84(built_viewer: Path) -> None:
    data = load_data(built_viewer)
    assert data["captures"][0]["date"] == "2015-03-02"
    assert data["captures"][0]["acquired"] == "2015-03-02T02:10:00Z"
    assert data["captures"][0]["stretch"] == data["captures"][1]["stretch"]
    assert data["simulated"] is True
    change = data["layers"]["changes"]["features"][0]
    assert change["properties"]["area_m2"] == 9600.0
    lon, lat = change["geometry"]["coordinates"][0][0]
    assert 127.41 < lon < 127.43 and 39.0 < lat < 39.02  # grid near x=363 km in UTM 52N
    (s, w), (n, e) = data["captures"][0]["bounds"]
    assert w < lon < e and s < lat < n


def test_script_closing_text_in_labels_is_escaped(built_viewer: Path) -> None:
    assert "</script><b>" not in (built_viewer / "data.js").read_text()
    props = load_data(built_viewer)["layers"]["events"]["features"][0]["properties"]
    assert props["label"].endswith("</script><b>x</b>")


def test_simulated_banner_only_when_a_capture_is_simulated(
    tmp_path: Path, scene: Scene, built_viewer: Path
) -> None:
    captures, features = scene
    real = [dataclasses.replace(c, simulated=False) for c in captures]
    build_viewer(tmp_path / "real", "Camp </script>", "EPSG:32652", real, features, max_zoom=13)
    assert "SIMULATED IMAGERY" in (built_viewer / "index.html").read_text()
    html = (tmp_path / "real/index.html").read_text()
    assert "SIMULATED IMAGERY" not in html
    assert "Camp &lt;/script&gt;" in html


def _tile_rgba(path: Path) -> np.ndarray:
    with Image.open(io.BytesIO(path.read_bytes())) as im:
        assert im.size == (256, 256)
        return np.asarray(im.convert("RGBA"))


def test_tiles_show_the_new_building_only_after(built_viewer: Path) -> None:
    out = built_viewer
    data = load_data(out)
    z = data["captures"][0]["max_zoom"]
    xmin, xmax, ymin, ymax = data["captures"][0]["zooms"][str(z)]
    before = np.concatenate(
        [_tile_rgba(p) for p in sorted((out / f"tiles/cap0/{z}").rglob("*.webp"))]
    )
    after = np.concatenate(
        [_tile_rgba(p) for p in sorted((out / f"tiles/cap1/{z}").rglob("*.webp"))]
    )
    assert len(list((out / f"tiles/cap0/{z}").rglob("*.webp"))) == (xmax - xmin + 1) * (
        ymax - ymin + 1
    )
    opaque = (before[..., 3] == 255) & (after[..., 3] == 255)
    assert opaque.mean() > 0.3
    assert (before[..., 3] == 0).any()  # outside the grid and the nodata strip
    bright_before = (before[..., :3].min(axis=-1) > 240) & opaque
    bright_after = (after[..., :3].min(axis=-1) > 240) & opaque
    # the block: 60 x 40 px at 2 m = 9600 m²; the road appears in both
    assert bright_after.sum() > bright_before.sum() + 1000


def test_zoom_range_progress_and_date_order(tmp_path: Path, scene: Scene) -> None:
    captures, features = scene
    calls: list[tuple[int, int]] = []
    build_viewer(
        tmp_path / "out",
        "T",
        "EPSG:32652",
        captures[::-1],
        features,
        min_zoom=13,
        max_zoom=15,
        progress=lambda d, t: calls.append((d, t)),
    )
    data = load_data(tmp_path / "out")
    assert [c["id"] for c in data["captures"]] == ["cap0", "cap1"]
    assert sorted(int(z) for z in data["captures"][0]["zooms"]) == [13, 14, 15]
    assert sorted(int(p.name) for p in (tmp_path / "out/tiles/cap0").iterdir()) == [13, 14, 15]
    total = calls[-1][1]
    assert [d for d, _ in calls] == list(range(1, total + 1))
    assert total == len(list((tmp_path / "out/tiles").rglob("*.webp")))


def test_an_earlier_viewer_is_replaced_but_not_other_directories(
    tmp_path: Path, scene: Scene
) -> None:
    out = tmp_path / "out"
    build_viewer(out, "first", "EPSG:32652", *scene, max_zoom=12)
    (out / "stale.txt").write_text("old")
    build_viewer(out, "second", "EPSG:32652", *scene, max_zoom=12)
    assert not (out / "stale.txt").exists()
    assert "second" in (out / "index.html").read_text()
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.jpg").write_text("x")
    with pytest.raises(
        OutputExistsError,
        match=r"photos: exists, is not empty and has no viewer\.json: it is not a campwatch "
        r"viewer, so it is not replaced$",
    ):
        build_viewer(other, "T", "EPSG:32652", *scene)
    assert (other / "keep.jpg").read_text() == "x"
    assert not list(tmp_path.glob(".photos.tmp-*"))


def test_percentile_stretch_pools_captures_and_ignores_nodata() -> None:
    a = np.ma.masked_invalid(np.stack([np.linspace(0.0, 1.0, 101, dtype=np.float32)] * 3)[:, None])
    b = np.ma.masked_invalid(np.full((3, 1, 101), np.nan, dtype=np.float32))
    s = percentile_stretch([a, b], (0.0, 100.0))
    assert s == Stretch((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    with pytest.raises(ViewerError, match=r"^no valid pixel to compute a stretch from$"):
        percentile_stretch([b])


def test_to_rgba_clips_and_makes_nodata_transparent() -> None:
    a = np.ma.masked_invalid(np.array([[[-1.0, 0.05, 0.1, 5.0, np.nan]]] * 3, dtype=np.float32))
    rgb, alpha = to_rgba(a, Stretch((0.0,) * 3, (0.1,) * 3))
    assert rgb[0, 0].tolist() == [0, 128, 255, 255, 0]
    assert alpha[0].tolist() == [255, 255, 255, 255, 0]


def _write(path: Path, grid: FacilityGrid, arr: np.ndarray) -> Path:
    write_grid_raster(path, arr, grid, nodata=np.nan, band_names=BANDS)
    return path


def test_bad_inputs_name_the_value(tmp_path: Path, scene: Scene, scene_grid: FacilityGrid) -> None:
    captures, features = scene
    out = tmp_path / "out"
    with pytest.raises(
        ViewerError, match=r"^no captures to show: the viewer needs at least one capture raster$"
    ):
        build_viewer(out, "T", "EPSG:32652", [], features)
    with pytest.raises(ViewerError, match=r"^capture_id 'cap0' appears twice in the captures$"):
        build_viewer(out, "T", "EPSG:32652", [captures[0], captures[0]], features)
    naive = dataclasses.replace(captures[0], acquired=datetime(2015, 3, 2))
    with pytest.raises(
        ViewerError, match=r"^capture 'cap0': acquired 2015-03-02T00:00:00 has no time zone$"
    ):
        build_viewer(out, "T", "EPSG:32652", [naive], features)
    bad_layer = ViewerFeature(box(0, 0, 1, 1), "roads", {})
    with pytest.raises(
        ViewerError, match=r"^feature 0: layer 'roads' is not one of zones, changes, events$"
    ):
        build_viewer(out, "T", "EPSG:32652", captures, [bad_layer])
    line = ViewerFeature(LineString([(0, 0), (1, 1)]), "zones", {})  # type: ignore[arg-type]
    with pytest.raises(
        ViewerError, match=r"^feature 0 \(zones\): geometry LineString is not a polygon$"
    ):
        build_viewer(out, "T", "EPSG:32652", captures, [line])
    missing = dataclasses.replace(captures[0], raster=tmp_path / "nope.tif")
    with pytest.raises(ViewerError, match=r"^capture 'cap0': cannot open raster .*nope\.tif"):
        build_viewer(out, "T", "EPSG:32652", [missing], features)
    with pytest.raises(
        ViewerError,
        match=r"^capture 'cap0': raster .*cap0\.tif is in EPSG:32652, not the facility grid "
        r"CRS EPSG:32651$",
    ):
        build_viewer(out, "T", "EPSG:32651", captures, features)
    empty = _write(
        tmp_path / "empty.tif",
        scene_grid,
        np.full((4, *scene_grid.shape), np.nan, dtype=np.float32),
    )
    with pytest.raises(
        ViewerError, match=r"^capture 'e': .*empty\.tif: no valid pixel \(all nodata\)$"
    ):
        build_viewer(
            out,
            "T",
            "EPSG:32652",
            [dataclasses.replace(captures[0], capture_id="e", raster=empty)],
            features,
        )
    with pytest.raises(ViewerError, match=r"^min_zoom 16 is above max_zoom 14$"):
        build_viewer(out, "T", "EPSG:32652", captures, features, min_zoom=16, max_zoom=14)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_coarse_captures_stop_at_the_zoom_of_their_gsd(tmp_path: Path, scene: Scene) -> None:
    # a 10 m capture stored on the 2 m grid: tiled to zoom 14 (7.4 m pixels at 39° N), not to
    # the grid's native zoom; the page enlarges it (maxNativeZoom), so nothing is lost
    captures, features = scene
    coarse = [captures[0], dataclasses.replace(captures[1], gsd_m=10.0)]
    build_viewer(tmp_path / "out", "T", "EPSG:32652", coarse, features)
    data = load_data(tmp_path / "out")
    fine, s2 = data["captures"]
    assert s2["max_zoom"] == 14 < fine["max_zoom"]
    assert max(int(p.name) for p in (tmp_path / "out/tiles/cap1").iterdir()) == 14


def test_tiles_are_lossless(tmp_path: Path, scene: Scene) -> None:
    # WebP tiles hold exactly the stretched pixels (as the PNG tiles did)
    from pipeline.viewer.tiles import encode_tile

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (3, 256, 256), dtype=np.uint8)
    alpha = np.where(rng.random((256, 256)) < 0.1, 0, 255).astype(np.uint8)
    with Image.open(io.BytesIO(encode_tile(rgb, alpha))) as im:
        back = np.asarray(im.convert("RGBA"))
    assert (back[..., 3] == alpha).all()
    opaque = alpha == 255
    assert (back[..., :3].transpose(2, 0, 1)[:, opaque] == rgb[:, opaque]).all()


def test_tiling_in_worker_processes_writes_the_same_files(
    tmp_path: Path, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.viewer.build as build

    captures, features = scene
    outs = {}
    for name, (workers, least) in {"one": (1, 10**9), "two": (2, 0)}.items():
        monkeypatch.setattr(build, "TILE_WORKERS", workers)
        monkeypatch.setattr(build, "PARALLEL_MIN_TILES", least)
        calls: list[tuple[int, int]] = []
        build_viewer(tmp_path / name, "T", "EPSG:32652", captures, features, min_zoom=13,
                     max_zoom=16, progress=lambda d, t, c=calls: c.append((d, t)))
        assert calls[-1][0] == calls[-1][1] > 0, name
        tiles = tmp_path / name / "tiles"
        outs[name] = {p.relative_to(tiles): p.read_bytes() for p in tiles.rglob("*.webp")}
        outs[name + ".json"] = load_data(tmp_path / name)["captures"]
    assert outs["one"] and outs["one"] == outs["two"]
    assert outs["one.json"] == outs["two.json"]
