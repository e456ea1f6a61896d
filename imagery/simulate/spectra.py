"""Spectra of the simulated scene: materials, phenology and illumination.

Rough, plausible surface reflectances (blue, green, red, nir) for the materials of
:mod:`imagery.simulate.scene`, vegetation that greens up and senesces with the Korean
seasons (forest, grass, crops, flooded paddies), and the brightness of the sun elevation.
Pure functions of the day of year; no pixels.
"""

from __future__ import annotations

import math

Spectrum = tuple[float, float, float, float]

SPECTRA: dict[str, Spectrum] = {
    "forest_summer": (0.025, 0.045, 0.030, 0.30),
    "forest_winter": (0.035, 0.050, 0.055, 0.15),
    "grass_green": (0.040, 0.080, 0.050, 0.32),
    "grass_dormant": (0.070, 0.095, 0.120, 0.19),
    "crop_green": (0.030, 0.075, 0.040, 0.42),
    "field_soil": (0.070, 0.100, 0.130, 0.19),
    "straw": (0.100, 0.130, 0.170, 0.25),
    "water": (0.050, 0.060, 0.050, 0.03),
    "bare": (0.090, 0.120, 0.150, 0.21),
    "yard": (0.110, 0.140, 0.170, 0.22),
    "fresh_soil": (0.140, 0.180, 0.230, 0.28),
    "rubble": (0.120, 0.130, 0.150, 0.18),
    "rock": (0.240, 0.260, 0.290, 0.31),
    "road": (0.120, 0.140, 0.160, 0.20),
    "paved": (0.150, 0.160, 0.170, 0.19),
    "roof_bright": (0.330, 0.350, 0.360, 0.37),
    "roof_dark": (0.050, 0.055, 0.060, 0.08),
    "roof_blue": (0.170, 0.130, 0.070, 0.10),
    "roof_red": (0.060, 0.070, 0.150, 0.20),
    "roof_grey": (0.190, 0.200, 0.210, 0.23),
    "fence": (0.050, 0.050, 0.050, 0.07),
    "snow": (0.820, 0.820, 0.800, 0.68),
    "cloud": (0.620, 0.630, 0.640, 0.64),
}
"""Reflectance (blue, green, red, nir) of each material or state."""

TEXTURE: dict[str, float] = {
    "forest": 0.35,
    "grass": 0.12,
    "bare": 0.10,
    "crop": 0.08,
    "paddy": 0.06,
    "yard": 0.07,
    "fresh_soil": 0.06,
    "rubble": 0.30,
    "rock": 0.15,
    "road": 0.05,
    "paved": 0.03,
    "fence": 0.05,
}
"""Relative texture amplitude per material (roofs: 0.03)."""

SNOW_COVER: dict[str, float] = {
    "forest": 0.35,
    "grass": 0.9,
    "bare": 0.9,
    "crop": 0.95,
    "paddy": 0.95,
    "yard": 0.85,
    "fresh_soil": 0.9,
    "rubble": 0.7,
    "rock": 0.75,
    "road": 0.35,
    "paved": 0.5,
    "roof_bright": 0.5,
    "roof_dark": 0.6,
    "fence": 0.2,
}
"""Fraction of a material under snow on a snowy day (others: 0.7)."""


def _ramp(x: float, x0: float, x1: float) -> float:
    """0 before x0, 1 after x1, linear between."""
    return min(1.0, max(0.0, (x - x0) / (x1 - x0)))


def _mix(*parts: tuple[float, Spectrum]) -> Spectrum:
    total = sum(w for w, _ in parts) or 1.0
    out = [sum(w * s[b] for w, s in parts) / total for b in range(4)]
    return (out[0], out[1], out[2], out[3])


def greenness(doy: float) -> float:
    """Greenness 0..1 of natural vegetation at day of year ``doy`` (Korean climate).

    Example:
        >>> greenness(15), greenness(200)
        (0.0, 1.0)
    """
    return _ramp(doy, 100, 165) * (1.0 - _ramp(doy, 245, 300))


def spectrum(material: str, doy: float, phase: float = 0.0, vigour: float = 1.0) -> Spectrum:
    """Reflectance of ``material`` on day of year ``doy`` (phenology for vegetation).

    Example:
        >>> spectrum("crop", 210)[3] > spectrum("crop", 60)[3]
        True
    """
    s = SPECTRA
    g = greenness(doy)
    if material == "forest":
        return _mix((g, s["forest_summer"]), (1 - g, s["forest_winter"]))
    if material == "grass":
        return _mix((g, s["grass_green"]), (1 - g, s["grass_dormant"]))
    if material in ("crop", "paddy"):
        d = doy - phase
        start = 165.0 if material == "paddy" else 150.0
        green = _ramp(d, start, start + 45) * (1 - _ramp(d, 245, 275)) * vigour
        ripe = _ramp(d, 245, 275) * (1 - _ramp(d, 280, 290))
        flooded = (
            _ramp(d, 125, 135) * (1 - _ramp(d, start, start + 30)) if material == "paddy" else 0.0
        )
        stubble = 0.6 if (d >= 290 or d < 100) else 0.0
        soil = max(0.0, 1.0 - green - ripe - flooded - stubble)
        return _mix(
            (green, s["crop_green"]),
            (ripe + stubble, s["straw"]),
            (flooded, s["water"]),
            (soil, s["field_soil"]),
        )
    return s[material]


def illumination(sun_elevation_deg: float) -> float:
    """Brightness factor of the sun elevation (1 at 55 degrees, lower in winter)."""
    ratio = math.sin(math.radians(max(sun_elevation_deg, 5.0))) / math.sin(math.radians(55.0))
    return float(min(1.2, max(0.45, ratio)) ** 0.6)
