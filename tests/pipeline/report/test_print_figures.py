"""Figure properties a printed report needs (issue #13): one stretch for before and after, the
event outline off its pixels, per-type colours, a bordered locator, and the demo's PDF."""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from pipeline.report import basemap
from pipeline.report.basemap import countries_near, towns_near
from pipeline.report.figure_parts import CHANGE_COLOURS, kind_colour
from pipeline.report.figures import Caption, FigureImage, Overlay, compose_figure

T = Affine(10, 0, 453720, 0, -10, 5410320)


def image(level: float, when: datetime) -> FigureImage:
    rng = np.random.default_rng(1)
    arr = (rng.random((4, 60, 60)) * 0.1 + level).astype(np.float32)
    cap = Caption("Site", when, "Sentinel-2A", 10.0, 48.83, 2.38, "Copernicus", False)
    return FigureImage(arr, T, "EPSG:32631", cap)


def test_before_and_after_share_one_stretch() -> None:
    """A darker 'before' stays darker: separate stretches would make both look alike."""
    before = image(0.05, datetime(2016, 11, 30, tzinfo=UTC))
    after = image(0.25, datetime(2017, 8, 29, tzinfo=UTC))
    composed = compose_figure(after, [], before=before, dpi=50)
    drawn = [np.asarray(p.ax.images[0].get_array())[..., :3] for p in composed.panels]
    assert drawn[0].mean() < 0.3 < 0.7 < drawn[1].mean()
    assert "Before: 2016-11-30, Sentinel-2A" in [t.get_text() for t in composed.figure.texts]


def test_event_outline_is_drawn_outside_the_event_pixels() -> None:
    after = image(0.2, datetime(2017, 8, 29, 10, 50, tzinfo=UTC))
    event = box(454000, 5409900, 454030, 5409930)  # 3 x 3 pixels
    composed = compose_figure(after, [Overlay(event, "U1", "event")], dpi=50)
    line = next(ln for ln in composed.panels[0].ax.lines if ln.get_linewidth() < 2)
    xs, ys = line.get_data()
    assert min(xs) < 454000 and max(xs) > 454030  # one pixel outside, not over the pixels
    assert min(ys) < 5409900 and max(ys) > 5409930


def test_each_change_type_has_its_own_colour() -> None:
    colours = {kind_colour(f"change:{k}") for k in CHANGE_COLOURS}
    assert len(colours) == len(CHANGE_COLOURS) == 5


def test_locator_has_borders_from_natural_earth_offline() -> None:
    assert {c.code for c in countries_near(126.153277, 39.008838, 0.5)} == {"PRK"}
    after = image(0.2, datetime(2017, 8, 29, tzinfo=UTC))
    composed = compose_figure(after, [], dpi=50)
    assert composed.locator is not None
    assert "Natural Earth" in composed.locator.get_title()
    # the country of the figure's place is named in the title (its label would sit on the
    # star and the towns); neighbours are named on the map
    assert "France" in composed.locator.get_title()
    assert "Belgium" in [t.get_text() for t in composed.locator.texts]


def test_demo_writes_a_pdf_beside_the_html(demo_workspace: Path, tmp_path: Path) -> None:
    report = demo_workspace / "kangdong-kyohwaso-4" / "report"
    pdf = report / "report.pdf"
    assert pdf.is_file() and (report / "report.html").is_file()
    assert stat.S_IMODE(pdf.stat().st_mode) & 0o044  # readable by group and others under 022
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("needs pdftoppm (apt-get install -y poppler-utils)")
    subprocess.run([pdftoppm, "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "p")], check=True, timeout=120)
    assert len(list(tmp_path.glob("p-*.png"))) == 1


def test_locator_names_the_nearest_towns_with_distance() -> None:
    """Natural Earth populated places ship in the package: no download, public domain."""
    kangdong = towns_near(126.153277, 39.008838, 3)
    assert [t.label() for t in kangdong] == [
        "Pyongyang, 35 km W", "Sunchon, 50 km N", "Sariwon, 65 km SW"]
    assert kangdong[0].country == "KP" and 34 < kangdong[0].distance_km < 35
    paris = towns_near(2.3805, 48.8365, 1)[0]  # Bercy: Paris centre 3 km away
    assert paris.name == "Paris" and paris.distance_km < 4
    after = image(0.2, datetime(2017, 8, 29, tzinfo=UTC))  # caption point: Paris
    composed = compose_figure(after, [], dpi=50)
    assert composed.towns and composed.towns[0].startswith("Paris, 4 km")
    assert composed.locator is not None
    texts = [t.get_text() for t in composed.locator.texts]
    assert composed.towns[0] in texts
    assert "towns: Natural Earth (public domain)" in composed.locator.get_title()
    data = Path(basemap.__file__).parent / "data"
    rows = (data / "ne_populated_places.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "name,iso_a2,lat,lon" and len(rows) == 7343
    assert "public domain" in (data / "PROVENANCE.md").read_text(encoding="utf-8")
