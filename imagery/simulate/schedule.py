"""When the simulated captures are taken, under which conditions, and when events happen.

Dates and conditions depend only on the parameters and the seed (each capture has its
own generator ``default_rng([seed, 1, index])``), never on the scene size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import numpy as np

from imagery.errors import SimulationError
from imagery.simulate.records import (
    S2_GSD_M,
    SENSOR_S2,
    SENSOR_VHR,
    SimulationParams,
)
from imagery.simulate.scene import PlannedEvent

S2_FIRST_DATE = date(2015, 7, 1)
"""Sentinel-2-like captures are placed after this date when enough captures are."""

GEOGRAPHIC_CRS = "EPSG:4326"
"""CRS of every fourth VHR capture (so that warping is exercised)."""

MOSTLY_CLOUDY_COVER = 0.9
"""Cloud cover of the one capture the pipeline must skip."""


@dataclass(frozen=True)
class CapturePlan:
    """Everything needed to render one capture."""

    index: int
    """Position in acquisition order."""
    acquired: datetime
    """Acquisition time (UTC)."""
    sensor: str
    """``SIM-VHR-1`` or ``SIM-S2``."""
    gsd_m: float
    """Ground sample distance in metres."""
    geographic: bool
    """True when the GeoTIFF is delivered in EPSG:4326 instead of UTM."""
    shift_px: tuple[float, float]
    """Misregistration: content displaced (east, south) by this many pixels."""
    cloud_cover: float
    """Target fraction of the scene under cloud."""
    cloud_height_m: float
    """Cloud height: sets how far shadows fall from their clouds."""
    haze: float
    """Haze strength 0..1 (additive path radiance, strongest in blue)."""
    snow: bool
    """Snow on the ground."""
    coverage: float
    """Fraction of the scene the strip covers (1 = full)."""
    coverage_angle_deg: float
    """Direction of the strip edge's normal (partial captures)."""
    sun_elevation_deg: float
    """Sun elevation at acquisition."""
    sun_azimuth_deg: float
    """Sun azimuth at acquisition, clockwise from north."""
    off_nadir_deg: float
    """Recorded view angle."""

    @property
    def season(self) -> str:
        """Meteorological season of the acquisition (northern hemisphere)."""
        return ("winter", "spring", "summer", "autumn")[(self.acquired.month % 12) // 3]

    @property
    def nuisances(self) -> tuple[str, ...]:
        """Nuisance tokens recorded in the truth file."""
        out: list[str] = []
        if self.cloud_cover > 0:
            out.append("cloud")
        if self.cloud_cover >= MOSTLY_CLOUDY_COVER:
            out.append("mostly_cloudy")
        if self.haze > 0:
            out.append("haze")
        if self.snow:
            out.append("snow")
        if self.coverage < 1.0:
            out.append("partial")
        if self.shift_px != (0.0, 0.0):
            out.append(f"shift:{self.shift_px[0] + 0.0:.2f},{self.shift_px[1] + 0.0:.2f}px")
        out.append(f"season:{self.season}")
        return tuple(out)


def sun_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Approximate sun (elevation, azimuth) in degrees; good to a degree or two.

    Example:
        >>> el, az = sun_position(datetime(2020, 6, 21, 2, 0, tzinfo=UTC), 126.15, 39.0)
        >>> 60 < el < 75 and 100 < az < 160
        True
    """
    doy = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60.0 + when.second / 3600.0
    gamma = 2 * math.pi / 365.0 * (doy - 1 + (hours - 12) / 24.0)
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
    )
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    solar_minutes = hours * 60.0 + eqtime + 4.0 * lon
    ha = math.radians(solar_minutes / 4.0 - 180.0)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    az = math.degrees(
        math.atan2(math.sin(ha), math.cos(ha) * math.sin(phi) - math.tan(decl) * math.cos(phi))
    )
    return 90.0 - math.degrees(zen), (az + 180.0) % 360.0


def _dates(params: SimulationParams, rng: np.random.Generator) -> list[datetime]:
    """One acquisition per equal slot of the span, at a random time of year within it."""
    start = datetime(params.start_year, 3, 1, tzinfo=UTC)
    end = datetime(params.end_year, 6, 30, tzinfo=UTC)
    n = params.captures
    slot = (end - start) / n
    out: list[datetime] = []
    for i in range(n):
        day = start + slot * (i + float(rng.uniform(0.1, 0.9)))
        # VHR satellites pass at about 10:30 local solar time: ~02:00 UTC in Korea
        out.append(
            datetime(
                day.year,
                day.month,
                day.day,
                2,
                int(rng.integers(0, 40)),
                int(rng.integers(0, 60)),
                tzinfo=UTC,
            )
        )
    if n >= 6 and not any(d.month in (12, 1, 2) for d in out):
        k = n // 3  # make sure a winter capture exists (snow)
        out[k] = out[k].replace(month=1, day=20)
    for i in range(1, n):  # keep at least 3 days between captures
        if (out[i].date() - out[i - 1].date()).days < 3:
            out[i] = out[i - 1] + timedelta(days=3)
    return out


def plan_captures(params: SimulationParams, lon: float, lat: float) -> tuple[CapturePlan, ...]:
    """Dates, sensors and nuisances of every capture, from the seed.

    The first and last captures are clear, full-coverage VHR; one VHR capture in the middle
    is mostly cloudy; Sentinel-2-like captures come after mid-2015 when possible.

    Example:
        >>> plans = plan_captures(SimulationParams(), 126.15, 39.0)
        >>> len(plans), plans[0].sensor, sum(p.sensor == "SIM-S2" for p in plans)
        (16, 'SIM-VHR-1', 5)
    """
    rng = np.random.default_rng([params.seed, 0])
    dates = _dates(params, rng)
    n = params.captures
    n_s2 = min(int(round(n * params.s2_fraction)), max(0, n - 2))
    inner = list(range(1, n - 1))
    late = [i for i in inner if dates[i].date() >= S2_FIRST_DATE]
    pool = late if len(late) >= n_s2 else inner
    s2 = {pool[int(round(k))] for k in np.linspace(0, len(pool) - 1, n_s2)} if n_s2 else set()
    vhr = [i for i in range(n) if i not in s2]
    cloudy = vhr[len(vhr) // 2] if len(vhr) >= 4 else -1
    geographic = {v for k, v in enumerate(vhr) if k % 4 == 3}
    partial_done = False
    plans: list[CapturePlan] = []
    for i, when in enumerate(dates):
        r = np.random.default_rng([params.seed, 1, i])
        is_s2 = i in s2
        edge = i in (0, n - 1)
        elev, az = sun_position(when, lon, lat)
        cover = 0.0
        if i == cloudy:
            cover = MOSTLY_CLOUDY_COVER
        elif not edge and r.random() < 0.5:
            cover = float(r.uniform(0.03, 0.25))
        haze = float(r.uniform(0.3, 1.0)) if not edge and r.random() < 0.4 else 0.0
        snow = not edge and when.month in (12, 1, 2) and r.random() < 0.45
        coverage = 1.0
        if not (is_s2 or edge or i == cloudy) and (
            r.random() < 0.25 or (not partial_done and i >= n // 2 and n >= 5)
        ):
            coverage = float(r.uniform(0.55, 0.85))
            partial_done = True
        angle = float(r.uniform(20.0, 70.0) + 90.0 * r.integers(0, 4))
        if is_s2:
            shift = (0.0, 0.0)
        else:
            mag, theta = float(r.uniform(0.0, 4.0)), float(r.uniform(0.0, 2 * math.pi))
            shift = (round(mag * math.cos(theta), 2), round(mag * math.sin(theta), 2))
        plans.append(
            CapturePlan(
                index=i,
                acquired=when,
                sensor=SENSOR_S2 if is_s2 else SENSOR_VHR,
                gsd_m=S2_GSD_M if is_s2 else params.vhr_gsd_m,
                geographic=i in geographic,
                shift_px=shift,
                cloud_cover=cover,
                cloud_height_m=float(r.uniform(300.0, 1200.0)),
                haze=haze,
                snow=snow,
                coverage=coverage,
                coverage_angle_deg=angle,
                sun_elevation_deg=round(elev, 2),
                sun_azimuth_deg=round(az, 2),
                off_nadir_deg=round(
                    float(r.uniform(0.0, 8.0) if is_s2 else r.uniform(2.0, 28.0)), 1
                ),
            )
        )
    return tuple(plans)


def date_events(
    events: tuple[PlannedEvent, ...], plans: tuple[CapturePlan, ...], seed: int
) -> list[tuple[PlannedEvent, date]]:
    """Give every event a date strictly between two consecutive capture dates.

    An event's ``when`` (0..1 of the span) picks the gap; the date is drawn inside it, at
    least a day from either capture. Within a gap, dates keep the plan order of ``when``.

    Raises:
        SimulationError: when no two consecutive captures are at least two days apart.
    """
    first, last = plans[0].acquired.date(), plans[-1].acquired.date()
    gaps = [
        (a.acquired.date(), b.acquired.date())
        for a, b in pairwise(plans)
        if (b.acquired.date() - a.acquired.date()).days >= 2
    ]
    if not gaps:
        raise SimulationError(
            f"no gap of two days between captures from {first} to {last}: events need one"
        )
    rng = np.random.default_rng([seed, 2])
    span = (last - first).days
    by_gap: dict[tuple[date, date], list[PlannedEvent]] = {}
    for ev in sorted(events, key=lambda e: e.when):
        target = first + timedelta(days=ev.when * span)
        gap = min(
            gaps,
            key=lambda g: (
                0
                if g[0] <= target < g[1]
                else min(abs((g[0] - target).days), abs((g[1] - target).days))
            ),
        )
        by_gap.setdefault(gap, []).append(ev)
    out: list[tuple[PlannedEvent, date]] = []
    for (lo, hi), evs in sorted(by_gap.items()):
        inside = (hi - lo).days - 1  # days strictly between the two captures
        picks = rng.choice(inside, size=len(evs), replace=len(evs) > inside)
        for ev, offset in zip(evs, sorted(int(p) for p in picks), strict=True):
            out.append((ev, lo + timedelta(days=1 + offset)))
    return out
