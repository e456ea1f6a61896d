"""Records of the figure stage: caption, image on the grid, overlay outline."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from affine import Affine
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon

from pipeline.errors import FigureError
from pipeline.report.figure_parts import check_kind

__all__ = ["SIMULATED_MARK", "Caption", "Density", "FigureImage", "Overlay", "format_when"]

SIMULATED_MARK = "SIMULATED IMAGERY — NOT EVIDENCE"
"""Text stamped on every figure made from simulated imagery."""


def format_when(when: datetime) -> str:
    """A UTC time as "YYYY-MM-DD HH:MM UTC", or the date alone when it is exactly midnight
    (a capture dated by day only: no time of day is known).

    Example:
        >>> format_when(datetime(2015, 6, 30, 2, 13, tzinfo=UTC))
        '2015-06-30 02:13 UTC'
        >>> format_when(datetime(2016, 11, 30, tzinfo=UTC))
        '2016-11-30'
    """
    utc = when.astimezone(UTC)
    if (utc.hour, utc.minute, utc.second, utc.microsecond) == (0, 0, 0, 0):
        return f"{utc:%Y-%m-%d}"
    return f"{utc:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Caption:
    """What a figure says about its image."""

    facility: str
    """Facility name, e.g. "Kyo-hwa-so No. 4, Kangdong"."""
    acquired: datetime
    """Acquisition time, timezone-aware (printed in UTC)."""
    sensor: str
    """Sensor or satellite, e.g. "WorldView-2"."""
    gsd_m: float
    """Ground sample distance of the source in metres."""
    lat: float
    """Latitude of the facility (WGS 84 degrees)."""
    lon: float
    """Longitude of the facility (WGS 84 degrees)."""
    credit: str
    """Credit or licence line, e.g. "© 2015 DigitalGlobe"."""
    simulated: bool
    """True when the image is simulated: the figure is marked as not evidence."""
    place: str = ""
    """What the coordinates are and their grid reference, e.g. "event centre, UTM 31N
    452,345 E 5,409,876 N" ("" for the facility's reported point)."""
    bracket: str = ""
    """The dates that bracket what the figure shows, e.g. "change between 2016-11-30 and
    2017-08-29" ("" when the figure shows one capture)."""

    def when(self) -> str:
        """The acquisition time in UTC; the date alone when no time of day is known.

        A capture dated by day only (``--date 2016-11-30``, a date in its file name) is
        stored at 00:00:00 UTC: printing "00:00 UTC" would claim a time nobody recorded.

        Example:
            >>> Caption("C", datetime(2016, 11, 30, tzinfo=UTC), "S2A", 10, 0, 0, "", False).when()
            '2016-11-30'
        """
        return format_when(self.acquired)

    def __post_init__(self) -> None:
        if self.acquired.tzinfo is None or self.acquired.utcoffset() is None:
            raise FigureError(
                f"caption acquired time {self.acquired.isoformat()!r} has no timezone; "
                "give a timezone-aware (UTC) datetime"
            )
        if not (math.isfinite(self.gsd_m) and self.gsd_m > 0):
            raise FigureError(
                f"caption gsd_m must be a positive number of metres, got {self.gsd_m!r}"
            )
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise FigureError(
                f"caption lat={self.lat!r}, lon={self.lon!r} is outside WGS 84 bounds"
            )

    def text(self) -> str:
        """One-line caption: facility — time — sensor, GSD — coordinates — credit.

        Example:
            >>> c = Caption("Kyo-hwa-so No. 4, Kangdong", datetime(2015, 6, 30, 2, 13, tzinfo=UTC),
            ...             "WorldView-2", 0.5, 39.008838, 126.153277, "© 2015 DigitalGlobe", False)
            >>> c.text()
            'Kyo-hwa-so No. 4, Kangdong — 2015-06-30 02:13 UTC — WorldView-2, 0.5 m — 39.0088° N 126.1533° E — © 2015 DigitalGlobe'
        """  # noqa: E501
        when = self.when()
        ns = "N" if self.lat >= 0 else "S"
        ew = "E" if self.lon >= 0 else "W"
        where = f"{abs(self.lat):.4f}° {ns} {abs(self.lon):.4f}° {ew}"
        if self.place:
            where = f"{self.place}: {where}"
        credit = self.credit.strip() or "no credit line recorded"
        parts = [self.facility, when, f"{self.sensor}, {self.gsd_m:g} m", where, credit]
        if self.bracket:
            parts.insert(2, self.bracket)
        if self.simulated:
            parts.insert(0, SIMULATED_MARK)
        return " — ".join(parts)


@dataclass(frozen=True)
class FigureImage:
    """One capture's reflectance on the facility grid, ready to draw."""

    image: np.ndarray
    """(4, H, W) float32 reflectance: blue, green, red, nir; NaN = no data."""
    transform: Affine
    """Facility-grid affine (metres, north-up)."""
    crs: str
    """Projected CRS of the grid, e.g. "EPSG:32652"."""
    caption: Caption
    """What the figure says about this image."""

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[0] != 4:
            shape = getattr(img, "shape", type(img).__name__)
            raise FigureError(
                f"FigureImage.image must be a (4, H, W) array of blue, green, red, nir; got {shape}"
            )
        if img.shape[1] < 1 or img.shape[2] < 1:
            raise FigureError(f"FigureImage.image is empty: shape {img.shape}")
        if not np.issubdtype(img.dtype, np.floating):
            raise FigureError(f"FigureImage.image must be float reflectance, got dtype {img.dtype}")
        t = self.transform
        if not (t.b == 0 and t.d == 0 and t.a > 0 and t.e < 0 and math.isclose(t.a, -t.e)):
            raise FigureError(
                f"FigureImage.transform must be north-up with square pixels, got {tuple(t)[:6]}"
            )
        try:
            crs = CRS.from_user_input(self.crs)
        except CRSError as exc:  # keep the value in the message
            raise FigureError(f"FigureImage.crs {self.crs!r} is not a CRS: {exc}") from exc
        if not crs.is_projected:
            raise FigureError(f"FigureImage.crs {self.crs!r} is not projected (metres expected)")

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the image in grid metres."""
        _, h, w = self.image.shape
        t = self.transform
        return (t.c, t.f + t.e * h, t.c + t.a * w, t.f)


@dataclass(frozen=True)
class Overlay:
    """An outline drawn on the image, with its label."""

    geometry: Polygon | MultiPolygon
    """Outline in the grid CRS."""
    label: str
    """Label text ("" draws the outline without a label)."""
    kind: str
    """"zone:<zone_type>", "change:<change_type>" or "event"."""

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, Polygon | MultiPolygon) or self.geometry.is_empty:
            raise FigureError(
                f"overlay {self.label!r}: geometry must be a non-empty Polygon or MultiPolygon, "
                f"got {getattr(self.geometry, 'geom_type', type(self.geometry).__name__)}"
            )
        check_kind(self.kind)


@dataclass(frozen=True)
class Density:
    """Detections not drawn one by one, summarised as changed area per coarse cell."""

    values: np.ndarray
    """(rows, cols) float changed area in m² per cell, north row first (0 = none)."""
    bounds: tuple[float, float, float, float]
    """(west, south, east, north) of the cells in grid metres."""
    count: int
    """How many detections the layer summarises."""

    def __post_init__(self) -> None:
        v = self.values
        if not isinstance(v, np.ndarray) or v.ndim != 2 or v.size == 0:
            raise FigureError(f"Density.values must be a non-empty 2-D array, got "
                              f"{getattr(v, 'shape', type(v).__name__)}")
        w, s, e, n = self.bounds
        if not (w < e and s < n):
            raise FigureError(f"Density.bounds must have west < east and south < north, "
                              f"got {self.bounds!r}")

    @property
    def cell_m2(self) -> float:
        """Area of one cell in m²."""
        w, s, e, n = self.bounds
        return (e - w) / self.values.shape[1] * (n - s) / self.values.shape[0]
