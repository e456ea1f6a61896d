"""Annotated imagery figures: files, caption, marks, labels, scale bar, north arrow."""

from __future__ import annotations

import itertools
import math
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import CRS, Proj, Transformer

from pipeline.errors import FigureError
from pipeline.report.figure_parts import grid_north_offset, stretch_rgb
from pipeline.report.figures import (
    SIMULATED_MARK,
    Caption,
    FigureImage,
    Overlay,
    compose_figure,
    render_figure,
)
from pipeline.report.labels import label_box


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def test_caption_text_has_every_part(scene: Any) -> None:
    assert scene.caption().text() == (
        "Kyo-hwa-so No. 4, Kangdong — 2015-06-30 02:13 UTC — WorldView-2, 0.5 m — "
        "39.0088° N 126.1533° E — © 2015 DigitalGlobe"
    )
    assert scene.caption(simulated=True).text().startswith(SIMULATED_MARK + " — Kyo-hwa-so")


def test_caption_rejects_naive_time() -> None:
    with pytest.raises(FigureError, match=r"caption acquired time '2015-06-30T02:13:00' has no "
                                          r"timezone; give a timezone-aware \(UTC\) datetime"):
        Caption("X", datetime(2015, 6, 30, 2, 13), "WV2", 0.5, 39.0, 126.1, "c", False)


def test_image_with_wrong_band_count_is_refused(scene: Any) -> None:
    good = scene.image()
    with pytest.raises(FigureError, match=r"FigureImage.image must be a \(4, H, W\) array of "
                                          r"blue, green, red, nir; got \(3, 200, 200\)"):
        FigureImage(good.image[:3], good.transform, good.crs, good.caption)


def test_geographic_crs_is_refused(scene: Any) -> None:
    good = scene.image()
    with pytest.raises(FigureError, match=r"FigureImage.crs 'EPSG:4326' is not projected"):
        FigureImage(good.image, good.transform, "EPSG:4326", good.caption)


def test_bad_overlay_kind_is_refused(scene: Any) -> None:
    with pytest.raises(FigureError, match="overlay kind 'zone:prison' is not 'event'"):
        Overlay(scene.cell(0, 0, 10, 10), "x", "zone:prison")


@pytest.mark.parametrize("dpi", [0, -10, True, 72.5])
def test_bad_dpi_is_refused(scene: Any, dpi: object, tmp_path: Path) -> None:
    with pytest.raises(FigureError, match=f"dpi must be a positive integer, got {dpi!r}"):
        render_figure(scene.image(), [], tmp_path / "f.png", dpi=dpi)  # type: ignore[arg-type]
    assert not (tmp_path / "f.png").exists()


def test_png_has_the_size_of_the_figure_at_dpi(
    scene: Any, tmp_path: Path, overlays: list[Overlay]
) -> None:
    sizes = {}
    for dpi in (60, 120):
        out = render_figure(scene.image(), overlays, tmp_path / f"f{dpi}.png", dpi=dpi)
        composed = compose_figure(scene.image(), overlays, dpi=dpi)
        w_in, h_in = composed.figure.get_size_inches()
        sizes[dpi] = png_size(out)
        assert sizes[dpi] == composed.size_px
        assert abs(sizes[dpi][0] - w_in * dpi) <= 1 and abs(sizes[dpi][1] - h_in * dpi) <= 1
    assert abs(sizes[120][0] - 2 * sizes[60][0]) <= 1
    assert abs(sizes[120][1] - 2 * sizes[60][1]) <= 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_svg_is_written_when_asked(
    scene: Any, tmp_path: Path, overlays: list[Overlay]
) -> None:
    out = render_figure(scene.image(), overlays, tmp_path / "f.svg", dpi=72)
    text = out.read_text()
    assert "<svg" in text[:2000]
    assert text.rstrip().endswith("</svg>")


def test_other_suffix_is_refused(scene: Any, tmp_path: Path) -> None:
    with pytest.raises(FigureError, match=r"figure path '.*f\.jpg' must end \.png or \.svg"):
        render_figure(scene.image(), [], tmp_path / "f.jpg")


def test_simulated_mark_on_image_banner_and_caption(scene: Any) -> None:
    composed = compose_figure(scene.image(simulated=True), [], dpi=50)
    panel = composed.panels[0]
    assert panel.mark is not None and panel.mark.get_text() == SIMULATED_MARK.replace(" — ", "\n")
    assert panel.caption is not None
    assert panel.caption.get_text().replace("\n", " ").startswith("SIMULATED IMAGERY — NOT")
    assert SIMULATED_MARK in [t.get_text() for t in composed.figure.texts]
    plain = compose_figure(scene.image(), [], dpi=50)
    assert plain.panels[0].mark is None
    assert SIMULATED_MARK not in [t.get_text() for t in plain.figure.texts]


def test_side_by_side_has_two_captioned_panels(scene: Any, overlays: list[Overlay]) -> None:
    composed = compose_figure(scene.image(), overlays, before=scene.image(year=2009), dpi=50)
    assert len(composed.panels) == 2
    captions = [p.caption.get_text().replace("\n", " ") for p in composed.panels if p.caption]
    assert "2009-06-30 02:13 UTC" in captions[0] and "© 2009 DigitalGlobe" in captions[0]
    assert "2015-06-30 02:13 UTC" in captions[1] and "© 2015 DigitalGlobe" in captions[1]
    b0 = composed.panels[0].ax.get_position()
    b1 = composed.panels[1].ax.get_position()
    assert b0.x1 < b1.x0 and math.isclose(b0.y0, b1.y0)


def test_every_text_is_inside_the_figure(scene: Any, overlays: list[Overlay]) -> None:
    composed = compose_figure(scene.image(simulated=True), overlays,
                              before=scene.image(simulated=True), dpi=80)
    fig = composed.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = fig.bbox
    texts = list(fig.texts) + [t for p in composed.panels for t in p.labels]
    for legend in fig.legends:
        texts += list(legend.get_texts())
    assert len(texts) >= 10
    for t in texts:
        ext = t.get_window_extent(renderer)
        assert frame.x0 - 0.5 <= ext.x0 and ext.x1 <= frame.x1 + 0.5, t.get_text()
        assert frame.y0 - 0.5 <= ext.y0 and ext.y1 <= frame.y1 + 0.5, t.get_text()


def test_dense_labels_do_not_overlap(scene: Any) -> None:
    overlays = [
        Overlay(scene.cell(40 + 7 * i, 60 + 5 * i, 52 + 7 * i, 70 + 5 * i),
                f"Structure {i}: a long descriptive label", "change:new_structure")
        for i in range(12)
    ] + [Overlay(scene.cell(30, 30, 170, 170), "Housing zone with a long name", "zone:housing")]
    composed = compose_figure(scene.image(), overlays, dpi=100)
    fig = composed.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    panel = composed.panels[0]
    assert len(panel.labels) + len(composed.unplaced) == len(overlays)
    assert len(panel.labels) >= 8
    boxes = [label_box(t, renderer) for t in panel.labels]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    axbox = panel.ax.get_window_extent(renderer)
    north = panel.north.axes.get_window_extent(renderer)
    for b in boxes:
        assert axbox.x0 <= b.x0 and b.x1 <= axbox.x1 and axbox.y0 <= b.y0 and b.y1 <= axbox.y1
        assert not b.overlaps(north)


def test_scale_bar_length_is_in_ground_metres(scene: Any) -> None:
    composed = compose_figure(scene.image(), [], dpi=100)
    composed.figure.canvas.draw()
    info = composed.panels[0].scalebar.info
    factor = {"m": 1.0, "km": 1000.0, "cm": 0.01}[info.units]
    cx, cy = scene.west + scene.size / 2, scene.north - scene.size / 2
    lon, lat = Transformer.from_crs(scene.crs, 4326, always_xy=True).transform(cx, cy)
    k = Proj(CRS.from_user_input(scene.crs)).get_factors(lon, lat).meridional_scale
    # length_px is in data units (grid metres); ground metres = grid metres / k
    assert info.length_px / k == pytest.approx(info.value * factor, rel=1e-9)
    assert 20 <= info.value * factor <= 100  # a round number near a fifth of 200 m


def test_north_arrow_turns_by_the_convergence_at_kangdong(scene: Any) -> None:
    cx, cy = scene.west + scene.size / 2, scene.north - scene.size / 2
    to_grid = Transformer.from_crs(4326, scene.crs, always_xy=True)
    lon, lat = Transformer.from_crs(scene.crs, 4326, always_xy=True).transform(cx, cy)
    x0, y0 = to_grid.transform(lon, lat)
    x1, y1 = to_grid.transform(lon, lat + 0.001)
    expected = math.degrees(math.atan2(x1 - x0, y1 - y0))  # clockwise from grid up
    assert expected == pytest.approx(1.79, abs=0.02)  # west of 129° E: true north is east
    assert grid_north_offset(scene.crs, cx, cy) == pytest.approx(expected, abs=1e-3)
    convergence = Proj(CRS.from_user_input(scene.crs)).get_factors(lon, lat).meridian_convergence
    assert convergence == pytest.approx(-expected, abs=1e-3)
    composed = compose_figure(scene.image(), [], dpi=50)
    assert composed.panels[0].north.angle_deg == pytest.approx(expected, abs=1e-3)
    notes = [t.get_text() for t in composed.panels[0].north.axes.texts]
    assert "true north\n1.8° E of grid" in notes


def test_extent_crops_and_bad_extent_is_refused(scene: Any, overlays: list[Overlay]) -> None:
    ext = (scene.west + 50, scene.north - 150, scene.west + 150, scene.north - 50)
    composed = compose_figure(scene.image(), overlays, extent=ext, dpi=50)
    ax = composed.panels[0].ax
    assert ax.get_xlim() == (ext[0], ext[2]) and ax.get_ylim() == (ext[1], ext[3])
    with pytest.raises(FigureError, match="does not overlap the image bounds"):
        compose_figure(scene.image(), [], extent=(0.0, 0.0, 10.0, 10.0))
    with pytest.raises(FigureError, match="west < east and south < north"):
        compose_figure(scene.image(), [], extent=(ext[2], ext[1], ext[0], ext[3]))


def test_no_data_is_in_the_legend_only_when_present(scene: Any) -> None:
    def legend_labels(img: FigureImage) -> list[str]:
        quarry = Overlay(scene.cell(5, 5, 50, 50), "A", "zone:quarry")
        composed = compose_figure(img, [quarry], dpi=50)
        return [t.get_text() for lg in composed.figure.legends for t in lg.get_texts()]

    assert legend_labels(scene.image(nodata=True)) == ["zone: quarry", "no data"]
    assert legend_labels(scene.image()) == ["zone: quarry"]


def test_stretch_uses_percentiles_of_valid_pixels(scene: Any) -> None:
    img = scene.image(nodata=True).image
    rgb = stretch_rgb(img)
    assert np.isnan(rgb[:30, :50]).all() and np.isfinite(rgb[30:]).all()
    red = img[2][np.isfinite(img[2])]
    lo, hi = np.percentile(red, [2, 98])
    assert rgb[100, 100, 0] == pytest.approx((img[2, 100, 100] - lo) / (hi - lo), abs=1e-6)
    assert np.nanmin(rgb) == 0.0 and np.nanmax(rgb) == 1.0
