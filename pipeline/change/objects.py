"""Change objects: clean the change mask, drop specks, vectorise, type and score each patch.

Pure: works on arrays and an affine transform (no file I/O). Zone attribution is done by the
pipeline, not here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage
from shapely.geometry import Polygon, shape

from imagery.types import ChangeType, ConfidenceLabel
from pipeline.change import filters
from pipeline.change.detect import ChangeParams, ChangeResult
from pipeline.errors import ChangeInputError

log = logging.getLogger(__name__)

CHANGE_TYPES = (
    "new_or_brighter",
    "removed_or_darker",
    "vegetation_gain",
    "vegetation_loss",
    "earthworks",
)
"""Every value :attr:`ChangeObject.change_type` can take."""

NDVI_STEP = 0.1
"""Mean NDVI change beyond which an object is typed as vegetation gain or loss."""
BARE_NDVI = 0.2
"""NDVI below which the AFTER surface of a vegetation loss counts as bare (earthworks)."""
HIGH_CONFIDENCE = 0.6
"""Mean score at or above which an object may be labelled "high"."""
MEDIUM_CONFIDENCE = 0.55
"""Mean score at or above which an object may be labelled "medium" (below: "low")."""
HIGH_SHARE = 0.15
"""Share of the pair's changed area at or above which an object may be labelled "high"."""
MEDIUM_SHARE = 0.03
"""Share of the pair's changed area at or above which an object may be "medium"."""
_LABELS: tuple[ConfidenceLabel, ...] = ("low", "medium", "high")

_FOUR = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class ChangeObject:
    """One connected patch of change."""

    geometry: Polygon
    """Outline in CRS coordinates when a transform was given, else pixel (col, row) edges."""
    area_m2: float
    """Area in m² (in pixels when not georeferenced)."""
    pixel_count: int
    """Number of changed pixels in the patch."""
    change_type: ChangeType
    """One of :data:`CHANGE_TYPES`."""
    confidence: float
    """Mean change score of the patch, 0..1."""
    confidence_label: ConfidenceLabel
    """"low", "medium" or "high"."""


def min_pixels(params: ChangeParams) -> int:
    """Minimum mapping unit in pixels.

    Args:
        params: ``min_area_m2`` and ``pixel_size_m`` (None: the area is already in pixels).

    Returns:
        Smallest pixel count an object may have (at least 1).

    Example:
        >>> min_pixels(ChangeParams(min_area_m2=100.0, pixel_size_m=5.0))
        4
    """
    if params.pixel_size_m is None:
        return max(1, math.ceil(params.min_area_m2))
    return max(1, math.ceil(params.min_area_m2 / params.pixel_size_m**2 - 1e-9))


def closed_change(mask: np.ndarray) -> np.ndarray:
    """The change pixels (1) of a mask closed with a 3 x 3 square, never across nodata (255):
    the first step of :func:`clean_mask`, which tiled detection applies to a tile's core with
    a ring of context.

    Example:
        >>> m = np.zeros((3, 5), np.uint8); m[1, [1, 3]] = 1
        >>> closed_change(m).astype(int)[1].tolist()
        [0, 1, 1, 1, 0]
    """
    change = mask == 1
    if not change.any():
        return change
    change = filters.close3(change) | change
    # Closing must not invent change across nodata.
    change &= mask != 255
    return change


def clean_mask(mask: np.ndarray, params: ChangeParams) -> np.ndarray:
    """Morphological clean-up: fill pinholes, drop patches under the minimum mapping unit.

    Args:
        mask: uint8 (H, W) with 1 = change (other values are not change).
        params: minimum mapping unit and pixel size.

    Returns:
        bool (H, W) cleaned change.

    Example:
        >>> m = np.zeros((8, 8), np.uint8); m[1:5, 1:5] = 1; m[7, 7] = 1
        >>> int(clean_mask(m, ChangeParams(min_area_m2=4)).sum())
        16
    """
    change = closed_change(mask)
    if not change.any():
        return change
    labels, count = ndimage.label(change, structure=_FOUR)
    if count == 0:
        return change
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_pixels(params)
    keep[0] = False
    return keep[labels]


def evidence_labels(objects: Sequence[ChangeObject]) -> list[ChangeObject]:
    """Confidence labels that measure evidence, from all the objects of one pair.

    An object's label is the lower of two: its mean score (``HIGH_CONFIDENCE``,
    ``MEDIUM_CONFIDENCE``) and its share of the pair's changed area (``HIGH_SHARE``,
    ``MEDIUM_SHARE``). A real change is usually one of few objects in its pair; a pair whose
    change is spread over hundreds of small objects is dominated by view angle, shadows or
    season, and none of them is "high". Measured by benchmarks/events.py (share of events
    that are real per label).

    Args:
        objects: every change object of one pair.

    Returns:
        The objects with ``confidence_label`` set, in the same order.

    Example:
        >>> from shapely.geometry import box
        >>> objs = [ChangeObject(box(0, 0, 1, 1), a, int(a), "new_or_brighter", 0.9, "")
        ...         for a in (900.0, 90.0, 10.0)]
        >>> [o.confidence_label for o in evidence_labels(objs)]
        ['high', 'medium', 'low']
    """
    total = sum(o.area_m2 for o in objects)
    out = []
    for o in objects:
        by_score = 2 if o.confidence >= HIGH_CONFIDENCE else 1 if (
            o.confidence >= MEDIUM_CONFIDENCE) else 0
        share = o.area_m2 / total if total > 0 else 0.0
        by_share = 2 if share >= HIGH_SHARE else 1 if share >= MEDIUM_SHARE else 0
        out.append(replace(o, confidence_label=_LABELS[min(by_score, by_share)]))
    return out


def band_role(bands: Sequence[str] | None, *names: str) -> int | None:
    """Index of the first band whose role is one of ``names`` (None when unknown).

    Example:
        >>> band_role(("blue", "green", "red", "nir"), "nir", "nir08")
        3
    """
    if bands is None:
        return None
    roles = [b.lower() for b in bands]
    for name in names:
        if name in roles:
            return roles.index(name)
    return None


def _role(params: ChangeParams, *names: str) -> int | None:
    return band_role(params.bands, *names)


def ndvi(stack: np.ndarray, red: int, nir: int) -> np.ndarray:
    """NDVI of a (bands, ...) stack; 0 where red + nir is 0."""
    r = stack[red].astype(np.float64)
    n = stack[nir].astype(np.float64)
    total = n + r
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total != 0, (n - r) / total, 0.0)
    return out


def _classify(
    idx: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    scale: np.ndarray,
    params: ChangeParams,
) -> ChangeType:
    red = _role(params, "red")
    nir = _role(params, "nir", "nir08")
    if red is not None and nir is not None:
        nb = ndvi(before[:, idx[0], idx[1]], red, nir)
        na = ndvi(after[:, idx[0], idx[1]], red, nir)
        d = float(np.nanmean(na - nb))
        if d >= NDVI_STEP:
            return "vegetation_gain"
        if d <= -NDVI_STEP:
            return "earthworks" if _is_bare(after, idx, params, float(np.nanmean(na))) else (
                "vegetation_loss"
            )
    diff = (after[:, idx[0], idx[1]] - before[:, idx[0], idx[1]]) / scale[:, None]
    return "new_or_brighter" if float(np.nanmean(diff)) >= 0 else "removed_or_darker"


def _is_bare(after: np.ndarray, idx: np.ndarray, params: ChangeParams, ndvi_after: float) -> bool:
    if ndvi_after >= BARE_NDVI:
        return False
    swir = _role(params, "swir16", "swir1", "swir")
    nir = _role(params, "nir", "nir08")
    red = _role(params, "red")
    blue = _role(params, "blue")
    px = after[:, idx[0], idx[1]].astype(np.float64)
    if swir is not None and nir is not None and red is not None and blue is not None:
        s, r, n, b = px[swir], px[red], px[nir], px[blue]
        with np.errstate(divide="ignore", invalid="ignore"):
            bsi = ((s + r) - (n + b)) / ((s + r) + (n + b))
        return float(np.nanmean(bsi)) > 0.0
    if red is not None and blue is not None:
        # Soil is redder than roofs, roads and water: red clearly above blue.
        return float(np.nanmean(px[red])) > 1.1 * float(np.nanmean(px[blue]))
    return False


def _largest(geom: shapely.Geometry) -> Polygon:
    if isinstance(geom, Polygon):
        return geom
    return max(getattr(geom, "geoms", []), key=lambda g: g.area)


def change_objects(
    result: ChangeResult,
    before: np.ndarray,
    after: np.ndarray,
    params: ChangeParams,
    transform: Affine | None = None,
) -> list[ChangeObject]:
    """Turn a change mask into typed, scored polygons.

    Args:
        result: output of :func:`pipeline.change.detect.detect_change` on ``before``/``after``.
        before: (bands, H, W) BEFORE stack (same one given to ``detect_change``).
        after: (bands, H, W) AFTER stack.
        params: minimum mapping unit, pixel size, band roles.
        transform: affine of the grid (pixel edges to CRS); None gives pixel coordinates.

    Returns:
        Change objects, largest first.

    Raises:
        ChangeInputError: the arrays do not match the mask's shape.

    Example:
        >>> from pipeline.change.detect import detect_change
        >>> rng = np.random.default_rng(1)
        >>> b = rng.normal(100, 5, (3, 64, 64)); a = b + rng.normal(0, 1, b.shape)
        >>> a[:, 20:30, 20:30] += 80
        >>> p = ChangeParams(method="cva", min_area_m2=20, coregister=False)
        >>> objs = change_objects(detect_change(b, a, p), b, a, p)
        >>> len(objs), 100 <= objs[0].pixel_count <= 110, objs[0].change_type
        (1, True, 'new_or_brighter')
    """
    shape_hw = result.mask.shape
    b = np.asarray(before)
    a = np.asarray(after)
    if b.ndim == 2:
        b = b[np.newaxis]
    if a.ndim == 2:
        a = a[np.newaxis]
    if b.shape[1:] != shape_hw or a.shape[1:] != shape_hw:
        raise ChangeInputError(
            f"images {b.shape[1:]} / {a.shape[1:]} do not match the change mask {shape_hw}"
        )
    change = clean_mask(result.mask, params)
    # 4-connected patches: each is exactly one polygon (possibly with holes).
    labels, count = ndimage.label(change, structure=_FOUR)
    if count == 0:
        return []
    valid = result.mask != 255
    scale = np.array(
        [max(float(np.nanstd(b[i][valid])), 1e-12) for i in range(b.shape[0])], dtype=np.float64
    )
    affine = transform if transform is not None else Affine.identity()
    polys: dict[int, list[Polygon]] = {}
    for geom, value in features.shapes(
        labels.astype(np.int32), mask=change, connectivity=4, transform=affine
    ):
        polys.setdefault(int(value), []).append(cast(Polygon, shape(geom)))
    objects = dict(enumerate(ndimage.find_objects(labels), start=1))
    pixel_area = params.pixel_size_m**2 if params.pixel_size_m is not None else 1.0
    out: list[ChangeObject] = []
    for lab, parts in polys.items():
        sl = objects[lab]
        assert sl is not None
        local = labels[sl] == lab
        rows, cols = np.nonzero(local)
        idx = np.stack([rows + sl[0].start, cols + sl[1].start])
        count_px = int(rows.size)
        conf = float(np.nanmean(result.score[idx[0], idx[1]]))
        conf = 0.0 if math.isnan(conf) else min(max(conf, 0.0), 1.0)
        geom = parts[0] if len(parts) == 1 else _largest(shapely.union_all(parts))
        out.append(
            ChangeObject(
                geometry=geom,
                area_m2=count_px * pixel_area,
                pixel_count=count_px,
                change_type=_classify(idx, b, a, scale, params),
                confidence=conf,
                confidence_label="low",  # provisional: evidence_labels sets it
            )
        )
    out.sort(key=lambda o: o.pixel_count, reverse=True)
    return evidence_labels(out)
