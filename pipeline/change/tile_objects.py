"""Change objects of a tiled detection: per-core pieces, merged across tile edges.

Pure: arrays and small records in, :class:`~pipeline.change.objects.ChangeObject` out. Each core's
cleaned change is labelled (4-connectivity, as :func:`pipeline.change.objects.change_objects`) and
polygonised in grid pixel coordinates; pieces whose pixels touch across a core edge are
joined with a union-find. Type and confidence are means over the object's pixels, computed
from per-piece sums, so they equal the untiled computation; outlines are put in a canonical
form (no collinear vertices, normalised order), so they do not depend on the tiling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry import Polygon

from imagery.tiles import Tile
from imagery.types import ChangeType
from pipeline.change.detect import ChangeParams
from pipeline.change.objects import (
    BARE_NDVI,
    NDVI_STEP,
    ChangeObject,
    band_role,
    evidence_labels,
    min_pixels,
    ndvi,
)

_FOUR = ndimage.generate_binary_structure(2, 1)
EDGES = ("top", "bottom", "left", "right")
"""Names of a core's edges in :attr:`TileChange.edges`."""


@dataclass(frozen=True)
class Piece:
    """The part of one change object inside one tile core, with the sums its stats need."""

    key: tuple[int, int]
    """(tile index, local label)."""
    pixels: int
    """Changed pixels of the piece."""
    first: tuple[int, int]
    """(row, col) of its first pixel in raster order, grid pixels."""
    polygons: tuple[Polygon, ...]
    """Outline(s) in grid pixel coordinates (col, row edges)."""
    sums: dict[str, float]
    """Sums and counts of score, NDVI, band differences (see :func:`_piece_sums`)."""


@dataclass(frozen=True)
class TileChange:
    """What :func:`detect_tile` returns for one tile."""

    index: int
    """Position of the tile in the tile index."""
    tile_id: str
    """The tile's stable id."""
    window: Window
    """The tile core on the grid."""
    mask: np.ndarray
    """uint8 core mask: 1 change, 0 none, 255 nodata."""
    valid_pixels: int
    """Core pixels valid in both captures (0: the tile was skipped)."""
    edges: dict[str, np.ndarray]
    """Object labels along the core's "top", "bottom", "left" and "right" edges."""
    pieces: tuple[Piece, ...]
    """Object pieces in the core."""
    before_stats: np.ndarray
    """(bands, 3) count, mean, M2 of BEFORE over valid core pixels (for the band scale)."""


def _label_sums(values: np.ndarray, labels: np.ndarray, n: int, prefix: str,
                out: dict[str, np.ndarray]) -> None:
    """Per-label nan-aware sum and count of ``values`` (same shape as ``labels``, all > 0)."""
    ok = np.isfinite(values)
    out[prefix] = np.bincount(labels[ok], weights=values[ok].astype(np.float64), minlength=n)
    out[prefix + "_n"] = np.bincount(labels[ok], minlength=n).astype(np.float64)


def _piece_sums(labels: np.ndarray, n: int, score: np.ndarray, b: np.ndarray, a: np.ndarray,
                bands: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Per-label sums the object statistics of :mod:`pipeline.change.objects` are means of.

    Only the labelled pixels are gathered (in raster order, so every sum adds the same
    values in the same order as over the whole core), not the whole core per statistic."""
    rows, cols = np.nonzero(labels)
    lab = labels[rows, cols]
    sc = score[rows, cols]
    b = b[:, rows, cols]
    a = a[:, rows, cols]
    out: dict[str, np.ndarray] = {}
    _label_sums(sc, lab, n, "score", out)
    for i in range(b.shape[0]):
        diff = a[i].astype(np.float64) - b[i].astype(np.float64)
        _label_sums(diff, lab, n, f"diff{i}", out)
    red, nir = band_role(bands, "red"), band_role(bands, "nir", "nir08")
    blue, swir = band_role(bands, "blue"), band_role(bands, "swir16", "swir1", "swir")
    if red is not None and nir is not None:
        nb, na = ndvi(b, red, nir), ndvi(a, red, nir)
        _label_sums(na - nb, lab, n, "dndvi", out)
        _label_sums(na, lab, n, "ndvi_after", out)
        if swir is not None and blue is not None:
            px = a.astype(np.float64)
            s, r, nn, bl = px[swir], px[red], px[nir], px[blue]
            with np.errstate(divide="ignore", invalid="ignore"):
                bsi = ((s + r) - (nn + bl)) / ((s + r) + (nn + bl))
            _label_sums(bsi, lab, n, "bsi", out)
        elif blue is not None:
            _label_sums(a[red].astype(np.float64), lab, n, "red_after", out)
            _label_sums(a[blue].astype(np.float64), lab, n, "blue_after", out)
    return out


def band_stats(b: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(bands, 3) count, mean and M2 of the finite valid pixels of each band.

    Example:
        >>> band_stats(np.array([[[1.0, 3.0]]]), np.ones((1, 2), bool)).tolist()
        [[2.0, 2.0, 2.0]]
    """
    out = np.zeros((b.shape[0], 3), np.float64)
    every = bool(valid.all())  # then no gather: the same values in the same order
    for i in range(b.shape[0]):
        v = (b[i].astype(np.float64).ravel() if every else b[i][valid].astype(np.float64))
        finite = np.isfinite(v)
        if not finite.all():
            v = v[finite]
        if v.size:
            m = float(v.mean())
            d = v - m
            d *= d  # what ** 2 computes, without a second array
            out[i] = (v.size, m, float(d.sum()))
    return out


def no_edges(h: int, w: int) -> dict[str, np.ndarray]:
    """Edge labels of a core without objects.

    Example:
        >>> {k: v.shape for k, v in no_edges(2, 3).items()}["left"]
        (2,)
    """
    return {k: np.zeros(w if k in ("top", "bottom") else h, np.int32) for k in EDGES}


def core_pieces(
    change: np.ndarray, score: np.ndarray, before: np.ndarray, after: np.ndarray,
    bands: Sequence[str] | None, index: int, origin: tuple[int, int],
) -> tuple[tuple[Piece, ...], dict[str, np.ndarray]]:
    """The object pieces of one tile core and the labels along its edges.

    Args:
        change: bool (h, w) cleaned change of the core (before the size filter).
        score: float32 (h, w) change score of the core (NaN where nodata).
        before: (bands, h, w) BEFORE pixels of the core as stored.
        after: (bands, h, w) AFTER pixels.
        bands: band roles (for NDVI and bare-soil typing).
        index: the tile's position in the index (keys the pieces).
        origin: (row, col) of the core on the grid.

    Returns:
        (pieces, labels along the "top", "bottom", "left" and "right" edges).

    Example:
        >>> ch = np.zeros((4, 4), bool); ch[1:3, 2:] = True
        >>> pcs, edges = core_pieces(ch, np.ones((4, 4), np.float32), np.ones((1, 4, 4)),
        ...                          np.ones((1, 4, 4)), None, 0, (10, 20))
        >>> pcs[0].pixels, pcs[0].first, edges["right"].tolist()
        (4, (11, 22), [0, 1, 1, 0])
    """
    h, w = change.shape
    r0, c0 = origin
    labels, count = ndimage.label(change, structure=_FOUR)
    if count == 0:
        return (), no_edges(h, w)
    labels = labels.astype(np.int32)
    n = count + 1
    sums = _piece_sums(labels, n, score, before, after, bands)
    pixels = np.bincount(labels.ravel(), minlength=n)
    # each piece's first pixel in raster order, from the labelled pixels alone (sorting the
    # whole core's labels cost as much as polygonising it)
    flat = np.flatnonzero(labels)
    flat_first = np.full(n, -1, np.int64)
    uniq, first_idx = np.unique(labels.ravel()[flat], return_index=True)
    flat_first[uniq] = flat[first_idx]
    # polygonised over the rows and columns that hold change, not the whole core: the same
    # outlines, vertex for vertex (the same scan order, shifted)
    fr0, fr1 = int(flat[0]) // w, int(flat[-1]) // w + 1
    cols = np.flatnonzero(change.any(axis=0))
    fc0, fc1 = int(cols[0]), int(cols[-1]) + 1
    polys: dict[int, list[Polygon]] = {}
    shift = Affine.translation(c0 + fc0, r0 + fr0)
    for geom, value in features.shapes(labels[fr0:fr1, fc0:fc1], mask=change[fr0:fr1, fc0:fc1],
                                       connectivity=4, transform=shift):
        polys.setdefault(int(value), []).append(cast(Polygon, shapely.geometry.shape(geom)))
    pieces = []
    for lab in range(1, n):
        fr, fc = divmod(int(flat_first[lab]), w)
        pieces.append(Piece(
            key=(index, lab),
            pixels=int(pixels[lab]),
            first=(r0 + fr, c0 + fc),
            polygons=tuple(polys.get(lab, [])),
            sums={k: float(v[lab]) for k, v in sums.items()},
        ))
    edges = {"top": labels[0].copy(), "bottom": labels[-1].copy(),
             "left": labels[:, 0].copy(), "right": labels[:, -1].copy()}
    return tuple(pieces), edges


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(self, x: tuple[int, int]) -> tuple[int, int]:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, x: tuple[int, int], y: tuple[int, int]) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)


def _join_edges(uf: _UnionFind, ia: int, ea: np.ndarray, ib: int, eb: np.ndarray) -> None:
    both = (ea > 0) & (eb > 0)
    for la, lb in set(zip(ea[both].tolist(), eb[both].tolist(), strict=True)):
        uf.union((ia, la), (ib, lb))


def _band_scale(stats: np.ndarray) -> np.ndarray:
    """Per-band standard deviation from per-tile (count, mean, M2) rows (Chan et al.)."""
    nb = stats.shape[1]
    out = np.empty(nb)
    for i in range(nb):
        n, mean, m2 = 0.0, 0.0, 0.0
        for cnt, mu, s2 in stats[:, i]:
            if cnt == 0:
                continue
            delta = mu - mean
            tot = n + cnt
            mean += delta * cnt / tot
            m2 += s2 + delta * delta * n * cnt / tot
            n = tot
        out[i] = max(math.sqrt(m2 / n), 1e-12) if n else 1e-12
    return out


def _mean(s: dict[str, float], key: str) -> float:
    n = s.get(key + "_n", 0.0)
    return s[key] / n if n else float("nan")


def _classify(s: dict[str, float], scale: np.ndarray) -> ChangeType:
    """:func:`pipeline.change.objects._classify` from sums instead of pixels."""
    if "dndvi" in s:
        d = _mean(s, "dndvi")
        if d >= NDVI_STEP:
            return "vegetation_gain"
        if d <= -NDVI_STEP:
            bare = False
            if _mean(s, "ndvi_after") < BARE_NDVI:
                if "bsi" in s:
                    bare = _mean(s, "bsi") > 0.0
                elif "red_after" in s:
                    bare = _mean(s, "red_after") > 1.1 * _mean(s, "blue_after")
            return "earthworks" if bare else "vegetation_loss"
    total = sum(s[f"diff{i}"] / scale[i] for i in range(scale.size))
    n = sum(s[f"diff{i}_n"] for i in range(scale.size))
    diff = total / n if n else float("nan")
    return "new_or_brighter" if diff >= 0 else "removed_or_darker"


def canonical(geom: shapely.Geometry) -> Polygon:
    """A pixel-space outline in canonical form: no collinear vertices, normalised order.

    Example:
        >>> canonical(shapely.box(0, 0, 2, 1).union(shapely.box(2, 0, 3, 1))).wkt
        'POLYGON ((0 0, 0 1, 3 1, 3 0, 0 0))'
    """
    if not isinstance(geom, Polygon):
        geom = max(getattr(geom, "geoms", []), key=lambda g: g.area)
    out = shapely.normalize(shapely.simplify(geom, 0.0, preserve_topology=True))
    assert isinstance(out, Polygon)
    return out


def _to_crs(geom: Polygon, transform: Affine) -> Polygon:
    t = transform

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack((t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f))

    out = shapely.transform(geom, fn)
    assert isinstance(out, Polygon)
    return out


def merge_pieces(tiles: Sequence[TileChange], grid_tiles: Sequence[Tile], params: ChangeParams,
                 transform: Affine) -> list[ChangeObject]:
    """Join pieces that touch across core edges into change objects, typed and scored.

    Args:
        tiles: every tile's :class:`TileChange` (order of ``grid_tiles``).
        grid_tiles: the tile index.
        params: minimum mapping unit, pixel size, band roles.
        transform: the grid's affine.

    Returns:
        Change objects, largest first (ties in raster order of their first pixel).

    Example:
        >>> # objs = merge_pieces(results, tiles, params, grid.transform)
    """
    uf = _UnionFind()
    pos = {(t.row, t.col): i for i, t in enumerate(grid_tiles)}
    by_index = {tc.index: tc for tc in tiles}
    for (row, col), i in pos.items():
        here = by_index[i]
        right = pos.get((row, col + 1))
        if right is not None:
            _join_edges(uf, i, here.edges["right"], right, by_index[right].edges["left"])
        below = pos.get((row + 1, col))
        if below is not None:
            _join_edges(uf, i, here.edges["bottom"], below, by_index[below].edges["top"])
    groups: dict[tuple[int, int], list[Piece]] = {}
    for tc in tiles:
        for p in tc.pieces:
            groups.setdefault(uf.find(p.key), []).append(p)
    stats = np.stack([tc.before_stats for tc in tiles])
    scale = _band_scale(stats)
    least = min_pixels(params)
    pixel_area = params.pixel_size_m**2 if params.pixel_size_m is not None else 1.0
    found: list[tuple[int, tuple[int, int], ChangeObject]] = []
    for parts in groups.values():
        count = sum(p.pixels for p in parts)
        if count < least:
            continue
        sums: dict[str, float] = {}
        for p in parts:
            for k, v in p.sums.items():
                sums[k] = sums.get(k, 0.0) + v
        conf = _mean(sums, "score")
        conf = 0.0 if math.isnan(conf) else min(max(conf, 0.0), 1.0)
        polys = [g for p in parts for g in p.polygons]
        geom = canonical(polys[0] if len(polys) == 1 else shapely.union_all(polys))
        obj = ChangeObject(
            geometry=_to_crs(geom, transform),
            area_m2=count * pixel_area,
            pixel_count=count,
            change_type=_classify(sums, scale),
            confidence=conf,
            confidence_label="low",  # provisional: evidence_labels sets it
        )
        found.append((count, min(p.first for p in parts), obj))
    found.sort(key=lambda x: (-x[0], x[1]))
    return evidence_labels([o for _, _, o in found])
