"""Tiny synthetic georeferenced scenes near Kangdong (EPSG:32652, 1 m pixels)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Polygon, box

from pipeline.report.figures import Caption, FigureImage, Overlay

WEST, NORTH, SIZE = 252480.0, 4322640.0, 200
CRS = "EPSG:32652"


class Scene:
    """Builders of the synthetic scene (a fixture: test modules do not import conftest)."""

    west = WEST
    north = NORTH
    size = SIZE
    crs = CRS

    @staticmethod
    def caption(simulated: bool = False, year: int = 2015) -> Caption:
        """The caption of the issue's example figure."""
        return make_caption(simulated, year)

    @staticmethod
    def image(simulated: bool = False, year: int = 2015, nodata: bool = False) -> FigureImage:
        """A 200×200 m gradient scene at 1 m."""
        return make_image(simulated, year, nodata)

    @staticmethod
    def cell(c0: float, r0: float, c1: float, r1: float) -> Polygon:
        """A box from pixel columns/rows to grid metres."""
        return cell(c0, r0, c1, r1)


@pytest.fixture
def scene() -> Scene:
    """Builders of the synthetic scene."""
    return Scene()


def make_caption(simulated: bool = False, year: int = 2015) -> Caption:
    """The caption of the issue's example figure."""
    return Caption(
        facility="Kyo-hwa-so No. 4, Kangdong",
        acquired=datetime(year, 6, 30, 2, 13, tzinfo=UTC),
        sensor="WorldView-2",
        gsd_m=0.5,
        lat=39.008838,
        lon=126.153277,
        credit=f"© {year} DigitalGlobe",
        simulated=simulated,
    )


def make_image(simulated: bool = False, year: int = 2015, nodata: bool = False) -> FigureImage:
    """A 200×200 m gradient scene at 1 m with a bright 'roof'."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype("float32")
    base = 0.05 + 0.2 * xx / SIZE + 0.1 * yy / SIZE
    img = np.stack([base, base * 1.1, base * 1.2, base * 2.0]).astype("float32")
    img[:, 60:80, 100:130] = 0.6
    if nodata:
        img[:, :30, :50] = np.nan
    return FigureImage(img, Affine(1.0, 0.0, WEST, 0.0, -1.0, NORTH), CRS,
                       make_caption(simulated, year))


def cell(c0: float, r0: float, c1: float, r1: float) -> Polygon:
    """A box from pixel columns/rows to grid metres."""
    return box(WEST + c0, NORTH - r1, WEST + c1, NORTH - r0)


@pytest.fixture
def after() -> FigureImage:
    """The later image."""
    return make_image()


@pytest.fixture
def overlays() -> list[Overlay]:
    """Two zones, a change and an event."""
    return [
        Overlay(cell(10, 10, 190, 190), "Perimeter", "zone:perimeter"),
        Overlay(cell(90, 50, 140, 90), "Housing blocks", "zone:housing"),
        Overlay(cell(100, 60, 130, 80), "New roof, 600 m²", "change:new_structure"),
        Overlay(cell(20, 140, 60, 180), "Quarry extension", "event"),
    ]
