"""Paint the simulated scene into surface reflectance, one capture at a time.

Pure pixel maths on the render grid (the scene grid plus a margin of
:data:`MARGIN_PX` pixels so that misregistered captures still cover the scene):

* static per archive: background cover from smooth noise, a texture field at the GSD
  and a sensor-noise field (:func:`prepare_rasters`);
* per event state: surface labels (:func:`labels_for`, ``rasterio.features.rasterize``);
* per capture: season (phenology of forest, grass, crops and paddies), sun elevation
  (brightness and building-shadow length), snow, clouds with shadows displaced along the
  sun azimuth, haze (additive path radiance, strongest in blue) and sensor noise
  (:func:`render_reflectance`).

Spectra and phenology live in :mod:`imagery.simulate.spectra`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from scipy.ndimage import gaussian_filter

from facilities.grid import FacilityGrid
from imagery.simulate.scene import Scene
from imagery.simulate.schedule import CapturePlan
from imagery.simulate.spectra import (
    SNOW_COVER,
    SPECTRA,
    TEXTURE,
    Spectrum,
    illumination,
    spectrum,
)

MARGIN_PX = 6
"""Render-grid margin around the scene, in VHR pixels (covers shifts up to 4 px)."""

SHADOW_FACTOR = 0.35
"""Brightness of ground in a building's shadow (diffuse light only)."""

CLOUD_SHADOW_DEPTH = 0.65
"""How much a cloud shadow of full opacity darkens the ground."""

PATH_RADIANCE: Spectrum = (0.07, 0.05, 0.03, 0.012)
"""Additive haze reflectance at full haze strength."""

SENSOR_NOISE = 0.004
"""Standard deviation of sensor noise, in reflectance units."""


@dataclass(frozen=True)
class SceneRasters:
    """Static rasters on the render grid, shared by every capture of an archive."""

    grid: FacilityGrid
    """Render grid: the scene grid grown by :data:`MARGIN_PX` on every side."""
    background: np.ndarray
    """uint8 labels of forest (0), grass (1) and bare ground (2)."""
    texture: np.ndarray
    """float32 zero-mean texture at the GSD (fine grain plus tree-crown scale)."""
    patches: np.ndarray
    """float32 smooth noise (tens of metres) for snow patchiness."""
    noise: np.ndarray
    """float32 unit sensor noise; each capture uses a flipped or shifted view of it."""


def render_grid(scene: Scene) -> FacilityGrid:
    """The scene grid grown by :data:`MARGIN_PX` pixels on every side."""
    g = scene.grid
    m = MARGIN_PX
    return FacilityGrid(
        g.crs,
        g.resolution,
        g.west - m * g.resolution,
        g.north + m * g.resolution,
        g.width + 2 * m,
        g.height + 2 * m,
    )


def smooth_noise(
    rng: np.random.Generator, grid: FacilityGrid, cell_m: float, sigma_cells: float = 1.0
) -> np.ndarray:
    """Unit-variance noise with features of about ``cell_m`` metres, on ``grid``.

    White noise on a coarse grid, blurred and bilinearly upsampled (float32).

    Example:
        >>> g = FacilityGrid("EPSG:32652", 1.0, 0.0, 100.0, 100, 100)
        >>> n = smooth_noise(np.random.default_rng(0), g, 10.0, 2.0)
        >>> n.shape, n.dtype.name
        ((100, 100), 'float32')
    """
    if cell_m <= grid.resolution:
        return unit_noise(rng, grid.shape)
    pad = 3 + int(math.ceil(3 * sigma_cells))
    nx = int(math.ceil(grid.width * grid.resolution / cell_m)) + 2 * pad
    ny = int(math.ceil(grid.height * grid.resolution / cell_m)) + 2 * pad
    coarse = gaussian_filter(rng.standard_normal((ny, nx)), sigma_cells, mode="wrap")
    coarse = ((coarse - coarse.mean()) / (coarse.std() + 1e-12)).astype(np.float32)
    src = Affine(cell_m, 0, grid.west - pad * cell_m, 0, -cell_m, grid.north + pad * cell_m)
    return _resample(coarse, src, grid.transform, grid.shape)


def _resample(
    src: np.ndarray, src_transform: Affine, dst_transform: Affine, shape: tuple[int, int]
) -> np.ndarray:
    """Bilinear upsampling between two north-up grids of one CRS (separable, float32).

    Source pixels beyond the edge repeat the edge; callers pad their coarse grids.
    """
    h, w = shape
    u = (dst_transform.c + (np.arange(w) + 0.5) * dst_transform.a - src_transform.c) / (
        src_transform.a
    ) - 0.5
    v = (dst_transform.f + (np.arange(h) + 0.5) * dst_transform.e - src_transform.f) / (
        src_transform.e
    ) - 0.5
    ny, nx = src.shape
    x0 = np.floor(u).astype(np.intp)
    y0 = np.floor(v).astype(np.intp)
    fx = (u - x0).astype(np.float32)
    fy = (v - y0).astype(np.float32)[:, None]
    x0c, x1c = np.clip(x0, 0, nx - 1), np.clip(x0 + 1, 0, nx - 1)
    y0c, y1c = np.clip(y0, 0, ny - 1), np.clip(y0 + 1, 0, ny - 1)
    lo, hi = int(y0c.min()), int(y1c.max()) + 1
    rows = src[lo:hi].astype(np.float32)
    across = rows[:, x0c] * (np.float32(1.0) - fx) + rows[:, x1c] * fx
    out = across[y0c - lo]
    out *= np.float32(1.0) - fy
    below = across[y1c - lo]
    below *= fy
    out += below
    result: np.ndarray = out
    return result


def unit_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-variance uniform white noise (float32; faster than normal draws)."""
    out = rng.random(shape, dtype=np.float32)
    out -= np.float32(0.5)
    out *= np.float32(math.sqrt(12.0))
    return out


def prepare_rasters(scene: Scene) -> SceneRasters:
    """Build the static rasters of ``scene`` (deterministic from its seed).

    Example:
        >>> from facilities.load import load_facility_by_id
        >>> from imagery.simulate.records import SimulationParams
        >>> from imagery.simulate.scene import plan_scene
        >>> p = SimulationParams(size_m=100.0, vhr_gsd_m=2.0)
        >>> r = prepare_rasters(plan_scene(load_facility_by_id("kangdong-kyohwaso-4"), p))
        >>> r.background.shape
        (62, 62)
    """
    grid = render_grid(scene)
    rng = np.random.default_rng([scene.seed, 5])
    hills = smooth_noise(rng, grid, 25.0, 3.0)
    clearings = smooth_noise(rng, grid, 15.0, 2.0)
    background = np.where(hills > 0.1, 0, 1).astype(np.uint8)
    background[clearings > 1.6] = 2
    fine = unit_noise(rng, grid.shape)
    crowns = smooth_noise(rng, grid, 2.0, 1.0)
    texture = fine
    texture *= np.float32(0.55)
    texture += np.float32(0.85) * crowns
    del crowns
    patches = smooth_noise(rng, grid, 12.0, 1.5)
    return SceneRasters(grid, background, texture, patches, unit_noise(rng, grid.shape))


def labels_for(scene: Scene, rasters: SceneRasters, happened: frozenset[str]) -> np.ndarray:
    """Surface labels on the render grid once the events ``happened`` took place.

    Returned as ``numpy.intp`` so that look-ups (``numpy.take``) need no conversion.
    """
    labels = rasters.background.copy()
    shapes = [(f.geometry, f.surface) for f in scene.features if f.visible(happened)]
    if shapes:
        rasterio.features.rasterize(shapes, out=labels, transform=rasters.grid.transform)
    return labels.astype(np.intp)


def _luts(scene: Scene, plan: CapturePlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    doy = plan.acquired.timetuple().tm_yday
    n = 256
    refl = np.zeros((4, n), dtype=np.float32)
    amp = np.zeros(n, dtype=np.float32)
    snow = np.zeros(n, dtype=np.float32)
    for i, surf in enumerate(scene.surfaces):
        refl[:, i] = spectrum(surf.material, doy, surf.phase_days, surf.vigour)
        amp[i] = TEXTURE.get(surf.material, 0.03)
        snow[i] = SNOW_COVER.get(surf.material, 0.7)
    return refl, amp, snow


def _shadow_vector(plan: CapturePlan, height: float) -> tuple[float, float]:
    """(east, north) displacement of the shadow of something ``height`` metres up."""
    el = math.radians(max(plan.sun_elevation_deg, 5.0))
    az = math.radians(plan.sun_azimuth_deg)
    length = height / math.tan(el)
    return -math.sin(az) * length, -math.cos(az) * length


def _building_light(
    scene: Scene,
    plan: CapturePlan,
    happened: frozenset[str],
    transform: Affine,
    shape: tuple[int, int],
) -> np.ndarray:
    """float32 light factor: :data:`SHADOW_FACTOR` in building shadows, 1 elsewhere."""
    shadows: list[tuple[shapely.Geometry, float]] = []
    roofs: list[tuple[shapely.Geometry, float]] = []
    for f in scene.features:
        if f.height_m <= 0 or not f.visible(happened):
            continue
        if scene.surfaces[f.surface].material == "fence":
            continue
        dx, dy = _shadow_vector(plan, f.height_m)
        moved = shapely.affinity.translate(f.geometry, dx, dy)
        shadows.append((shapely.convex_hull(shapely.union(f.geometry, moved)), SHADOW_FACTOR))
        roofs.append((f.geometry, 1.0))
    light = np.ones(shape, dtype=np.float32)
    if shadows:
        rasterio.features.rasterize(shadows + roofs, out=light, transform=transform)
    return light


@dataclass(frozen=True)
class CloudField:
    """Cloud opacity on a coarse grid, and where its shadow falls."""

    field: np.ndarray
    """float32 smooth noise on the coarse grid; opacity is derived after upsampling so
    that cloud edges stay smooth at the GSD."""
    threshold: float
    """Field value of opacity one half."""
    softness: float
    """Field range over which opacity goes from 0 to 1."""
    transform: Affine
    """Transform of the coarse grid (the clouds as seen from above)."""
    shadow_transform: Affine
    """The same grid displaced along the sun azimuth by the cloud height's shadow length."""
    fraction: float
    """Fraction of the scene under cloud (opacity above one half)."""


def cloud_field(scene: Scene, plan: CapturePlan) -> CloudField | None:
    """The capture's clouds (None when it has none), from its own generator.

    Smooth noise thresholded at the quantile that leaves ``plan.cloud_cover`` of the
    scene under cloud, with soft edges.
    """
    if plan.cloud_cover <= 0:
        return None
    rng = np.random.default_rng([scene.seed, 3, plan.index])
    cell = max(12.0, scene.grid.resolution)
    dx, dy = _shadow_vector(plan, plan.cloud_height_m)
    west, south, east, north = scene.grid.bounds
    pad = 200.0
    x0, x1 = min(west, west - dx) - pad, max(east, east - dx) + pad
    y0, y1 = min(south, south - dy) - pad, max(north, north - dy) + pad
    nx, ny = int(math.ceil((x1 - x0) / cell)), int(math.ceil((y1 - y0) / cell))
    field = gaussian_filter(rng.standard_normal((ny, nx)), 4.0)
    field += 0.35 * gaussian_filter(rng.standard_normal((ny, nx)), 1.5)
    field = (field - field.mean()) / (field.std() + 1e-12)
    src = Affine(cell, 0, x0, 0, -cell, y1)
    c0, r0 = ~src @ (west, north)
    c1, r1 = ~src @ (east, south)
    inside = (slice(int(r0), int(math.ceil(r1))), slice(int(c0), int(math.ceil(c1))))
    threshold = float(np.quantile(field[inside], 1.0 - plan.cloud_cover))
    fraction = float(np.mean(field[inside] > threshold))
    shadow = Affine(cell, 0, x0 + dx, 0, -cell, y1 + dy)
    return CloudField(field.astype(np.float32), threshold, 0.3, src, shadow, fraction)


def _opacity(
    clouds: CloudField, src_transform: Affine, dst_transform: Affine, shape: tuple[int, int]
) -> np.ndarray:
    """Cloud opacity 0..1 (float32) on a fine grid, from the upsampled field."""
    alpha = _resample(clouds.field, src_transform, dst_transform, shape)
    alpha -= np.float32(clouds.threshold - 0.5 * clouds.softness)
    alpha *= np.float32(1.0 / clouds.softness)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    return alpha


def render_reflectance(
    scene: Scene,
    rasters: SceneRasters,
    plan: CapturePlan,
    labels: np.ndarray,
    happened: frozenset[str],
    work: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Reflectance of the whole render grid as seen by capture ``plan``.

    Returns float32 of shape (4, rows, cols), bands blue, green, red, nir. ``labels`` are
    :func:`labels_for` the same ``happened`` events. Sensor noise is included;
    misregistration, partial coverage and resampling are not (the caller crops, masks and
    georeferences the result). Whole contiguous arrays and in-place arithmetic keep it
    fast (look-ups need contiguous labels; fresh temporaries cost page faults). Pass the
    same ``work`` dict to successive calls to reuse its buffers: the array returned by one
    call is then overwritten by the next.
    """
    shape = rasters.grid.shape
    transform = rasters.grid.transform
    work = {} if work is None else work

    def buffer(name: str, *lead: int) -> np.ndarray:
        full = (*lead, *shape)
        if name not in work or work[name].shape != full:
            work[name] = np.empty(full, dtype=np.float32)
        return work[name]

    refl_lut, amp_lut, snow_lut = _luts(scene, plan)
    illum = np.float32(illumination(plan.sun_elevation_deg))
    tmp = buffer("tmp")
    factor = np.take(amp_lut, labels, out=buffer("factor"))
    factor *= rasters.texture
    factor += np.float32(1.0)
    light = _building_light(scene, plan, happened, transform, shape)
    light *= illum
    clouds = cloud_field(scene, plan)
    cover: np.ndarray | None = None
    if clouds is not None:
        shade = _opacity(clouds, clouds.shadow_transform, transform, shape)
        shade *= np.float32(-CLOUD_SHADOW_DEPTH)
        shade += np.float32(1.0)
        light *= shade
        del shade
        cover = _opacity(clouds, clouds.transform, transform, shape)
    snow: np.ndarray | None = None
    if plan.snow:
        snow = np.take(snow_lut, labels, out=buffer("snow"))
        np.multiply(rasters.patches, np.float32(0.25), out=tmp)
        snow += tmp
        np.clip(snow, 0.0, 1.0, out=snow)
    haze: np.ndarray | None = None
    transmit: np.ndarray | None = None
    if plan.haze > 0:
        h, w = shape
        a = math.radians(plan.coverage_angle_deg)
        haze = buffer("haze")
        haze[:] = np.linspace(0, math.cos(a), w, dtype=np.float32)[None, :]
        haze += np.linspace(0, math.sin(a), h, dtype=np.float32)[:, None]
        haze *= np.float32(0.35 * plan.haze)
        haze += np.float32(0.75 * plan.haze)
        transmit = np.multiply(haze, np.float32(-0.12), out=buffer("transmit"))
        transmit += np.float32(1.0)
    flip_r = 1 if plan.index % 2 == 0 else -1
    flip_c = 1 if plan.index % 4 < 2 else -1
    noise = rasters.noise[::flip_r, ::flip_c]
    noise_sign = np.float32(SENSOR_NOISE if plan.index % 8 < 4 else -SENSOR_NOISE)
    out = buffer("out", 4)
    for b in range(4):
        band = out[b]
        np.take(refl_lut[b], labels, out=band)
        band *= factor
        if snow is not None:
            np.subtract(np.float32(SPECTRA["snow"][b]), band, out=tmp)
            tmp *= snow
            band += tmp
        band *= light
        if cover is not None:
            np.subtract(np.float32(SPECTRA["cloud"][b]) * illum, band, out=tmp)
            tmp *= cover
            band += tmp
        if haze is not None and transmit is not None:
            band *= transmit
            np.multiply(haze, np.float32(PATH_RADIANCE[b]), out=tmp)
            band += tmp
        np.multiply(noise, noise_sign, out=tmp)
        band += tmp
    return out


def coverage_mask(
    plan: CapturePlan, grid: FacilityGrid, transform: Affine, shape: tuple[int, int]
) -> tuple[np.ndarray, float]:
    """Valid-data mask (bool) of a window for a partial strip, and the scene fraction kept.

    The strip edge is a straight line across the scene (as at the edge of a VHR strip),
    placed so that ``plan.coverage`` of the scene is kept.
    """
    if plan.coverage >= 1.0:
        return np.ones(shape, dtype=bool), 1.0
    a = math.radians(plan.coverage_angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    step = max(1, min(grid.width, grid.height) // 200)
    gx = grid.west + (np.arange(0, grid.width, step) + 0.5) * grid.resolution
    gy = grid.north - (np.arange(0, grid.height, step) + 0.5) * grid.resolution
    proj = gx[None, :] * ca + gy[:, None] * sa
    limit = float(np.quantile(proj, plan.coverage))
    h, w = shape
    xs = transform.c + (np.arange(w) + 0.5) * transform.a
    ys = transform.f + (np.arange(h) + 0.5) * transform.e
    mask = (xs[None, :] * ca + ys[:, None] * sa) <= limit
    return mask, float(np.mean(proj <= limit))


def block_mean(arr: np.ndarray, factor: int) -> np.ndarray:
    """Area average of ``arr`` (bands, rows, cols) over ``factor`` x ``factor`` blocks.

    Example:
        >>> block_mean(np.arange(16, dtype=np.float32).reshape(1, 4, 4), 2)[0].tolist()
        [[2.5, 4.5], [10.5, 12.5]]
    """
    b, h, w = arr.shape
    if h % factor or w % factor:
        raise ValueError(f"shape {arr.shape} is not a multiple of the block size {factor}")
    mean: np.ndarray = arr.reshape(b, h // factor, factor, w // factor, factor).mean(
        axis=(2, 4), dtype=np.float64
    )
    return mean
