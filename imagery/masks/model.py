"""Cloud and cloud-shadow probability from a trained CNN (pure array maths around ONNX).

The models are those of ``ukis-csmask`` (DLR, Apache-2.0; Wieland et al. 2019, RSE 230): a
U-Net (EfficientNet-B4 encoder) with three classes, background / cloud / cloud shadow, trained
on SPARCS (Landsat 8, USGS, public domain) and CloudSEN12+ (Sentinel-2, CC0) for Level-1C
(top-of-atmosphere) and Level-2A (surface) reflectance. The ONNX files ship inside the wheel:
nothing is downloaded, and onnxruntime runs them on the CPU. Four models: 6 bands (blue, green,
red, nir, swir16, swir22) or 4 bands (blue, green, red, nir), each for L1C or L2A. Inputs are
reflectance 0..1 standardised with the model's own band statistics; the package documents its
best results at about 30 m, and we measured false "cloud" on dark vegetated hills at 10 m
(OSCD Hong Kong: 29 % at 10 m, 0 % at 30 m; ``benchmarks/masks.py``), so the model runs at
:data:`MODEL_RESOLUTION_M`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from imagery.errors import CloudModelError

log = logging.getLogger(__name__)

ProductLevel = Literal["l1c", "l2a"]
"""Processing level the model was trained for: top-of-atmosphere or surface reflectance."""

BANDS_6: tuple[str, ...] = ("blue", "green", "red", "nir", "swir16", "swir22")
"""Bands of the 6-band models (STAC common names)."""
BANDS_4: tuple[str, ...] = ("blue", "green", "red", "nir")
"""Bands of the 4-band models."""

MODEL_RESOLUTION_M = 30.0
"""Pixel size the model runs at (the package's documented best; finer grids are averaged)."""
DEFAULT_CLOUD_THRESHOLD = 0.5
"""A pixel is not clear when P(cloud) + P(cloud shadow) reaches this."""

TILE = 256
"""The models' input size in pixels."""
OVERLAP = 0.2
"""Fraction of a tile shared with its neighbour (blended with a Tukey window)."""


@dataclass(frozen=True)
class ModelInfo:
    """Which trained model produced a probability map."""

    name: str
    """Package, its version and the model's version, e.g. "ukis-csmask 1.0.0 1.0.0-6BL1C"."""
    bands: tuple[str, ...]
    """The bands it read, in its order."""
    level: ProductLevel
    """The processing level it was trained for."""


def model_bands(available: tuple[str, ...]) -> tuple[str, ...]:
    """The bands of the best model that ``available`` can feed (6-band when SWIR is there).

    Raises:
        CloudModelError: fewer than blue, green, red and nir.

    Example:
        >>> model_bands(("blue", "green", "red", "nir", "swir16", "swir22"))
        ('blue', 'green', 'red', 'nir', 'swir16', 'swir22')
        >>> model_bands(("blue", "green", "red", "nir"))
        ('blue', 'green', 'red', 'nir')
    """
    if all(b in available for b in BANDS_6):
        return BANDS_6
    if all(b in available for b in BANDS_4):
        return BANDS_4
    raise CloudModelError(
        f"the cloud model needs at least bands {list(BANDS_4)}; got {list(available)}"
    )


@lru_cache(maxsize=4)
def _session(bands: tuple[str, ...], level: ProductLevel) -> tuple[Any, ModelInfo, np.ndarray,
                                                                    np.ndarray]:
    """The ONNX session of a model, its info and its band means and standard deviations."""
    import onnxruntime  # imported here: the CLI starts fast when no model is needed

    stem = f"model_{len(bands)}b_{level}"
    root = resources.files("ukis_csmask")
    try:
        spec = json.loads((root / f"{stem}.json").read_text(encoding="utf-8"))
        model_bytes = (root / f"{stem}.onnx").read_bytes()
    except OSError as exc:
        raise CloudModelError(f"ukis_csmask/{stem}.onnx: cannot be read: {exc}") from exc
    stats = spec["data"]["dataset_statistics"]
    if tuple(stats["band_names"]) != bands:
        raise CloudModelError(
            f"ukis_csmask/{stem}.json: band_names {stats['band_names']} (expected {list(bands)})"
        )
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )
    info = ModelInfo(
        f"ukis-csmask {metadata.version('ukis-csmask')} {spec['model']['version']}", bands, level
    )
    mean = np.asarray(stats["img"][0], np.float32).reshape(-1, 1, 1)
    std = np.asarray(stats["img"][1], np.float32).reshape(-1, 1, 1)
    return session, info, mean, std


def _starts(n: int) -> list[int]:
    """Tile origins along an axis of ``n`` >= TILE pixels: a step of TILE x (1 - OVERLAP),
    the last tile flush with the end."""
    step = int(TILE * (1 - OVERLAP))
    out = list(range(0, n - TILE + 1, step))
    if out[-1] != n - TILE:
        out.append(n - TILE)
    return out


def _window() -> np.ndarray:
    """Tukey blending weights of one tile (never exactly zero)."""
    from scipy.signal.windows import tukey

    w = tukey(TILE, alpha=2 * OVERLAP).astype(np.float32) + np.float32(1e-3)
    return np.outer(w, w)


def cloud_probability(
    reflectance: np.ndarray, bands: tuple[str, ...], level: ProductLevel
) -> tuple[np.ndarray, ModelInfo]:
    """P(cloud) + P(cloud shadow) per pixel of ``reflectance`` (bands, H, W; NaN = no data).

    Runs the 6-band model when ``bands`` holds swir16 and swir22, else the 4-band one.
    The model sees the bounding box of the valid pixels, mirrored at its edges to whole
    tiles; no-data pixels inside it are filled with the band's median and come back NaN.
    Overlapping tiles are blended.

    Raises:
        CloudModelError: missing bands, a shape that does not match ``bands``, or no valid pixel.

    Example:
        >>> import numpy as np
        >>> img = np.full((4, 40, 40), 0.05, np.float32)   # dark, clear ground
        >>> p, info = cloud_probability(img, ("blue", "green", "red", "nir"), "l1c")
        >>> p.shape, bool(p.max() < 0.5), info.bands
        ((40, 40), True, ('blue', 'green', 'red', 'nir'))
    """
    if reflectance.ndim != 3 or reflectance.shape[0] != len(bands):
        raise CloudModelError(
            f"reflectance of shape {reflectance.shape} does not match bands {list(bands)}"
        )
    use = model_bands(bands)
    session, info, mean, std = _session(use, level)
    full = reflectance[[bands.index(b) for b in use]].astype(np.float32)
    full_valid = np.all(np.isfinite(full), axis=0)
    if not full_valid.any():
        raise CloudModelError("the cloud model was given no valid pixel")
    # the model sees the data's bounding box, mirrored at its edges, not a flat fill around it
    rows, cols = np.nonzero(full_valid.any(axis=1))[0], np.nonzero(full_valid.any(axis=0))[0]
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    img, valid = full[:, box[0], box[1]], full_valid[box]
    for b in range(img.shape[0]):
        img[b][~valid] = np.median(img[b][valid])
    img = (img - mean) / std
    _, h, w = img.shape
    pad = TILE - int(TILE * (1 - OVERLAP))
    ph, pw = max(h + 2 * pad, TILE), max(w + 2 * pad, TILE)
    img = np.pad(img, ((0, 0), (pad, ph - h - pad), (pad, pw - w - pad)), mode="symmetric")
    total = np.zeros((ph, pw), np.float32)
    weight = np.zeros((ph, pw), np.float32)
    win = _window()
    name = session.get_inputs()[0].name
    for r in _starts(ph):
        for c in _starts(pw):
            logits = session.run(None, {name: img[np.newaxis, :, r : r + TILE, c : c + TILE]})[0][0]
            logits = logits - logits.max(axis=0)
            e = np.exp(logits)
            p_not_clear = (e[1] + e[2]) / e.sum(axis=0)
            total[r : r + TILE, c : c + TILE] += p_not_clear * win
            weight[r : r + TILE, c : c + TILE] += win
    prob = np.full(full_valid.shape, np.nan, np.float32)
    prob[box] = (total / weight)[pad : pad + h, pad : pad + w]
    prob[~full_valid] = np.nan
    log.debug("%s: %d x %d px, %.3f not clear", info.name, h, w, float(np.nanmean(prob >= 0.5)))
    return prob, info


def not_clear(prob: np.ndarray, threshold: float = DEFAULT_CLOUD_THRESHOLD) -> np.ndarray:
    """True where P(cloud) + P(shadow) reaches ``threshold``, grown by one pixel (soft cloud
    edges); no-data (NaN) is not counted.

    Example:
        >>> import numpy as np
        >>> p = np.zeros((5, 5), np.float32); p[2, 2] = 0.9
        >>> int(not_clear(p).sum())
        5
    """
    grown: np.ndarray = ndimage.binary_dilation(np.nan_to_num(prob, nan=0.0) >= threshold)
    return grown
