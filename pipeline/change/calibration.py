"""Global estimates shared by every block of a change detection: shift, radiometry, thresholds.

Large rasters are processed block by block; the estimates that need the whole image are made
once, from bounded samples, so their cost and memory do not grow with the image:

- co-registration on a central crop (at most ``REGISTRATION_CROP`` pixels a side);
- normalisation and standardisation on a regular subsample of pixels;
- thresholds on a few full-resolution tiles spread over the image.

Pure numpy. The file I/O layer (:mod:`pipeline.change.rasters`) feeds the same functions with
windows read from disk.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from pipeline.change import detectors, filters
from pipeline.change.coregister import Registration, apply_shift, coregister
from pipeline.change.envelope import envelope_rows, envelope_strips
from pipeline.change.normalise import normalise
from pipeline.change.records import Calibration, ChangeParams
from pipeline.errors import ChangeInputError

log = logging.getLogger(__name__)

REGISTRATION_CROP = 1024
"""Side of the central crop co-registration is estimated on, pixels."""
SAMPLE_PIXELS = 250_000
"""Pixels sampled for the radiometric statistics."""

Tile = tuple[np.ndarray, np.ndarray, np.ndarray, tuple[slice, slice]]
"""(before, after, valid, inner) of one window read with context: (bands, h, w),
(bands, h, w), (h, w), and the slices of the tile proper inside the window."""


def max_shift_px(params: ChangeParams, shape: tuple[int, int]) -> float:
    """The co-registration search bound in pixels.

    Args:
        params: ``max_shift_m`` and ``pixel_size_m`` (``max_shift_px`` when not georeferenced).
        shape: (H, W) of the image.

    Returns:
        Largest accepted shift, pixels.

    Example:
        >>> max_shift_px(ChangeParams(pixel_size_m=0.5, max_shift_m=10.0), (100, 100))
        20.0
    """
    if params.max_shift_m is None:
        return min(shape) / 4
    if params.pixel_size_m is None:
        return params.max_shift_px
    return params.max_shift_m / params.pixel_size_m


def margin_px(params: ChangeParams) -> int:
    """Overlap each block needs so its interior is exact: shift, window, smoothing and the
    default method's gap filling.

    Args:
        params: shift bound, structural window, smoothing, gap filling, minimum overlap.

    Returns:
        Overlap in pixels.

    Example:
        >>> margin_px(ChangeParams(pixel_size_m=10.0)) >= 32
        True
    """
    shift = params.max_shift_px if params.pixel_size_m is None else (
        (params.max_shift_m or 0.0) / params.pixel_size_m
    )
    smoothing = max(math.ceil(4 * params.smooth_sigma_px),
                    2 + math.ceil(3 * params.envelope_sigma_px))
    structure = params.structure_scale * (params.structure_window_px + 2)
    fill = params.fill_px - 1 if params.method == "default" else 0  # dilation + erosion
    need = math.ceil(shift) + structure + smoothing + fill
    margin = int(max(params.block_overlap, need + 8))
    # Even, so that blocks starting at multiples of an even block size bin the structural
    # grid (``structure_scale``) in the same phase as the whole image does.
    return margin + margin % 2


def central_crop(shape: tuple[int, int], size: int = REGISTRATION_CROP) -> tuple[slice, slice]:
    """The central window of at most ``size`` pixels a side.

    Example:
        >>> central_crop((3000, 100), 1024)
        (slice(988, 2012, None), slice(0, 100, None))
    """
    h, w = shape
    ch, cw = min(h, size), min(w, size)
    r0, c0 = (h - ch) // 2, (w - cw) // 2
    return slice(r0, r0 + ch), slice(c0, c0 + cw)


def sample_step(shape: tuple[int, int], samples: int = SAMPLE_PIXELS) -> int:
    """Stride of a regular subsample of about ``samples`` pixels.

    Example:
        >>> sample_step((1000, 1000), 10_000)
        10
    """
    return max(1, math.ceil(math.sqrt(shape[0] * shape[1] / samples)))


def estimate_registration(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray, params: ChangeParams,
    full_shape: tuple[int, int],
) -> Registration:
    """Co-register on a crop (the central one, typically).

    Args:
        before: float32 (bands, h, w) crop, zero where invalid.
        after: float32 (bands, h, w) crop.
        valid: bool (h, w).
        params: shift bound and ``coregister`` switch.
        full_shape: (H, W) of the whole image (for a bound of None).

    Returns:
        The :class:`~pipeline.change.coregister.Registration` (shift None when not applied).

    Example:
        >>> z = np.zeros((1, 8, 8), np.float32)
        >>> estimate_registration(z, z, np.ones((8, 8), bool),
        ...                       ChangeParams(coregister=False), (8, 8)).note
        'not attempted (coregister=False)'
    """
    if not params.coregister:
        return Registration(None, None, False, "not attempted (coregister=False)")
    reg = coregister(before, after, valid, max_shift_px(params, full_shape))
    log.info("co-registration: %s", reg.note)
    return reg


def check_variation(before: np.ndarray, after: np.ndarray, valid: np.ndarray) -> None:
    """Raise when nothing is valid or either date is constant over the valid pixels.

    Args:
        before: (bands, h, w) (a sample is enough).
        after: (bands, h, w).
        valid: bool (h, w).

    Raises:
        ChangeInputError: with the constant value in the message.

    Example:
        >>> check_variation(np.zeros((1, 2, 2)), np.eye(2)[None], np.ones((2, 2), bool))
        Traceback (most recent call last):
        ...
        pipeline.errors.ChangeInputError: BEFORE is constant (every valid pixel is 0): \
nothing to compare
    """
    if not valid.any():
        raise ChangeInputError("no pixel is valid in both BEFORE and AFTER")
    for name, stack in (("BEFORE", before), ("AFTER", after)):
        vals = stack[:, valid]
        if float(np.ptp(vals)) == 0.0:
            raise ChangeInputError(
                f"{name} is constant (every valid pixel is {float(vals.flat[0]):g}): "
                "nothing to compare"
            )


def radiometry(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray, params: ChangeParams,
    registration: Registration,
) -> Calibration:
    """Normalisation and standardisation from a pixel sample; thresholds left empty.

    Args:
        before: float32 (bands, h, w) sample image (e.g. a regular subsample), 0 where invalid.
        after: float32 (bands, h, w).
        valid: bool (h, w).
        params: normalisation method.
        registration: the co-registration outcome to record.

    Returns:
        A :class:`Calibration` without thresholds.

    Raises:
        ChangeInputError: no valid pixel, or an image constant over the valid pixels.

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(9, 2, (2, 40, 40)).astype(np.float32)
        >>> reg = Registration(None, None, False, "skipped")
        >>> cal = radiometry(b, b * 2, np.ones((40, 40), bool), ChangeParams(), reg)
        >>> cal.normalisation.method
        'irmad-regression'
    """
    check_variation(before, after, valid)
    norm = normalise(before, after, valid, method=params.normalisation)
    vals = before[:, valid]
    mean = vals.mean(axis=1)
    std = vals.std(axis=1)
    std[std == 0] = 1.0
    fit = None
    if params.method == "irmad":
        m = mean[:, None, None].astype(np.float32)
        sd = std[:, None, None].astype(np.float32)
        fit = detectors.irmad_fit(
            (before - m) / sd, (norm.apply(after) - m) / sd, valid
        )
    return Calibration(
        shift_px=registration.shift_px,
        registration_note=registration.note,
        normalisation=norm,
        mean=tuple(float(x) for x in mean),
        std=tuple(float(x) for x in std),
        irmad=fit,
    )


def block_statistics(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray,
    cal: Calibration, params: ChangeParams,
    thresholds: dict[str, float] | None = None, envelope: bool = True,
    overwrite: bool = False,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Detector statistics of one block (or of a whole small image).

    Applies the calibration's shift and normalisation to AFTER, standardises both dates
    with BEFORE's statistics, and computes the statistics ``params.method`` needs.

    The default method's envelope excess (the costliest statistic) only confirms candidates:
    pixels whose structural statistic passes its threshold where the CVA gate is open. Given
    ``thresholds``, it is computed only in the row strips near such a candidate and is
    absent when the block has none; elsewhere the decision and the score do not depend on
    it (:func:`pipeline.change.envelope.envelope_rows`, :func:`pipeline.change.detect.decide`).

    Args:
        before: float32 (bands, h, w), 0 where invalid.
        after: float32 (bands, h, w), 0 where invalid.
        valid: bool (h, w).
        cal: the calibration (thresholds not needed).
        params: method and detector settings.
        thresholds: the decision thresholds, when known (blocks of a large image).
        envelope: False skips the envelope excess (its threshold comes from the CVA).
        overwrite: ``before`` and ``after`` are the caller's own copies (e.g. from
            :func:`prepare`) and may be standardised in place, saving two arrays.

    Returns:
        (statistics by detector name, valid after shifting).

    Raises:
        ChangeInputError: method "index" without red and nir band roles.

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(9, 2, (2, 40, 40)).astype(np.float32)
        >>> reg = Registration(None, None, False, "skipped")
        >>> ok = np.ones((40, 40), bool)
        >>> cal = radiometry(b, b, ok, ChangeParams(), reg)
        >>> sorted(block_statistics(b, b, ok, cal, ChangeParams())[0])
        ['cva', 'envelope', 'structural']
    """
    a = after
    ok = valid
    if cal.shift_px is not None:
        a = apply_shift(after, cal.shift_px)
        ok = ok & np.isfinite(a).all(axis=0)
        a[:, ~ok] = 0.0
    m = params.method
    a_norm = cal.normalisation.apply(a) if m == "index" else None
    bs, as_ = _standardised(before, a, cal, overwrite and m != "index",
                            overwrite or a is not after)
    if not ok.all():
        bs[:, ~ok] = 0.0
        as_[:, ~ok] = 0.0
    out: dict[str, np.ndarray] = {}
    if m == "difference":
        out["difference"] = detectors.difference_magnitude(bs, as_)
    if m in ("cva", "default"):
        cva = detectors.cva_magnitude(bs, as_)
        smooth_cva = m == "default" and params.smooth_cva
        out["cva"] = _smooth_coarse(cva, params.smooth_sigma_px, params) if smooth_cva else cva
    if m in ("structural", "default"):
        out["structural"] = _structural(bs, as_, params)
    rows = envelope_rows(out, ok, thresholds, params) if m == "default" and envelope else None
    if rows is not None and rows.any():
        env = envelope_strips(bs, as_, needed=rows)
        env[~ok] = 0.0
        out["envelope"] = _smooth_coarse(env, params.envelope_sigma_px, params)
    if m == "irmad":
        out["irmad"] = _irmad(bs, as_, ok, cal)
    if m == "index" and a_norm is not None:
        out["index"] = _index(before, a_norm, params)
    return out, ok


def _standardised(before: np.ndarray, after: np.ndarray, cal: Calibration,
                  in_place_before: bool = False, in_place_after: bool = False,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Both dates in BEFORE's standard units, AFTER normalised first; a linear normalisation
    and the standardisation are applied as one gain and offset per band (in place into
    float32 arrays the caller gave away: the same operations, the same values)."""
    mean = np.array(cal.mean, np.float32)[:, None, None]
    inv = (1.0 / np.array(cal.std, np.float32))[:, None, None]
    own_b = in_place_before and before.dtype == np.float32
    bs = np.subtract(before, mean, out=before) if own_b else np.subtract(
        before, mean, dtype=np.float32)
    bs *= inv
    norm = cal.normalisation
    if norm.quantiles_after is not None:
        as_ = norm.apply(after)
        as_ -= mean
        as_ *= inv
        return bs, as_
    gain = np.array(norm.gain, np.float32)[:, None, None] * inv
    offset = (np.array(norm.offset, np.float32)[:, None, None] - mean) * inv
    own_a = in_place_after and after.dtype == np.float32
    as_ = np.multiply(after, gain, out=after) if own_a else np.multiply(
        after, gain, dtype=np.float32)
    as_ += offset
    return bs, as_


def _smooth_coarse(stat: np.ndarray, sigma_px: float, params: ChangeParams) -> np.ndarray:
    """Gaussian smoothing of a (H, W) statistic by ``sigma_px`` image pixels, done on the
    ``structure_scale`` grid of block means and interpolated back (a quarter of the cost at
    2; on the TUNE pairs the same macro-F1 as full-resolution smoothing)."""
    f = params.structure_scale
    if f <= 1:
        return detectors.smooth(stat, sigma_px)
    coarse = detectors.smooth(filters.bin_mean(stat[np.newaxis], f)[0], sigma_px / f)
    return filters.upsample(coarse, f, (stat.shape[0], stat.shape[1]))


def _structural(bs: np.ndarray, as_: np.ndarray, params: ChangeParams) -> np.ndarray:
    """The structural statistic on the ``structure_scale`` grid, smoothed there (the same
    ground distance, ``smooth_sigma_px`` image pixels) and interpolated back to pixels."""
    f = params.structure_scale
    if f <= 1:
        st = detectors.structural_change(bs, as_, params.structure_window_px)
        return detectors.smooth(st, params.smooth_sigma_px)
    coarse = detectors.structural_change(
        filters.bin_mean(bs, f), filters.bin_mean(as_, f), params.structure_window_px
    )
    coarse = detectors.smooth(coarse, params.smooth_sigma_px / f)
    return filters.upsample(coarse, f, (bs.shape[1], bs.shape[2]))


def _irmad(bs: np.ndarray, as_: np.ndarray, ok: np.ndarray, cal: Calibration) -> np.ndarray:
    fit = cal.irmad if cal.irmad is not None else detectors.irmad_fit(bs, as_, ok)
    return detectors.irmad_chi2(bs, as_, fit)


def _index(before: np.ndarray, after: np.ndarray, params: ChangeParams) -> np.ndarray:
    if params.bands is None:
        raise ChangeInputError(
            "method 'index' needs the band roles (e.g. --bands blue,green,red,nir)"
        )
    idx = detectors.index_change(before, after, params.bands)
    if idx is None:
        raise ChangeInputError(
            f"method 'index' needs red and nir bands, got roles {','.join(params.bands)}"
        )
    return idx


def thresholds(
    statistics: dict[str, np.ndarray], valid: np.ndarray, params: ChangeParams, nbands: int
) -> dict[str, float]:
    """Automatic threshold of each statistic.

    Args:
        statistics: detector statistics (any common shape).
        valid: bool mask of the same shape.
        params: threshold choices.
        nbands: band count (degrees of freedom of IR-MAD's chi-square).

    Returns:
        Threshold by detector name.

    Example:
        >>> s = {"cva": np.array([[0.0, 0.1], [0.9, 1.0]], np.float32)}
        >>> 0.1 <= thresholds(s, np.ones((2, 2), bool), ChangeParams(), 1)["cva"] < 0.9
        True
    """
    out: dict[str, float] = {}
    for name, stat in statistics.items():
        if name == "irmad" and params.irmad_threshold == "chi2":
            out[name] = float(stats.chi2.ppf(params.irmad_significance, nbands))
        elif name == "irmad":
            out[name] = detectors.auto_threshold(stat, valid, params.irmad_threshold)
        elif name == "structural":
            thr = detectors.auto_threshold(stat, valid, params.structural_threshold)
            out[name] = max(min(thr, params.max_structural), params.min_structural)
        elif name == "envelope":
            continue  # its floor comes from the CVA, below
        elif name in ("cva", "difference"):
            thr = detectors.auto_threshold(stat, valid, "otsu")
            out[name] = max(thr, params.min_spectral)
        else:
            out[name] = detectors.auto_threshold(stat, valid, "otsu")
    if params.method == "default" and "cva" in statistics:
        # the envelope's floor: a multiple of the pair's noise level (the median smoothed
        # CVA magnitude); the envelope statistic itself is not needed
        noise = float(np.median(statistics["cva"][valid])) if valid.any() else 0.0
        out["envelope"] = params.noise_floor * noise
    return out


def tile_thresholds(tiles: Sequence[Tile], cal: Calibration, params: ChangeParams
                    ) -> dict[str, float]:
    """Thresholds pooled over sample tiles read with context.

    Args:
        tiles: (before, after, valid, inner) windows with context around the tile proper.
        cal: calibration without thresholds.
        params: method and detector settings.

    Returns:
        Threshold by detector name.

    Example:
        >>> rng = np.random.default_rng(0); b = rng.normal(9, 2, (2, 64, 64)).astype(np.float32)
        >>> ok = np.ones((64, 64), bool)
        >>> cal = radiometry(b, b + 1, ok, ChangeParams(), Registration(None, None, False, ""))
        >>> inner = (slice(8, 56), slice(8, 56))
        >>> sorted(tile_thresholds([(b, b + 1, ok, inner)], cal, ChangeParams(method="cva")))
        ['cva']
    """
    pooled: dict[str, list[np.ndarray]] = {}
    for before, after, valid, inner in tiles:
        st, ok = block_statistics(before, after, valid, cal, params, envelope=False)
        for name, values in st.items():
            pooled.setdefault(name, []).append(values[inner][ok[inner]])
    flat = {k: np.concatenate(v)[None, :] for k, v in pooled.items()}
    if not flat:
        return {}
    first = next(iter(flat.values()))
    return thresholds(flat, np.ones(first.shape, bool), params, tiles[0][0].shape[0])


def prepare(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 copies of two (bands, h, w) windows, 0 where invalid, and their validity.

    Args:
        before: (bands, h, w) any numeric dtype; NaN/inf are invalid.
        after: (bands, h, w).
        valid: optional bool (h, w) (False = invalid).

    Returns:
        (before float32, after float32, valid bool).

    Example:
        >>> b, a, ok = prepare(np.array([[[1, 2]]], np.uint16),
        ...                    np.array([[[np.nan, 3.0]]]), None)
        >>> b.tolist(), a.tolist(), ok.tolist()
        ([[[0.0, 2.0]]], [[[0.0, 3.0]]], [[False, True]])
    """
    b = before.astype(np.float32, copy=True)
    a = after.astype(np.float32, copy=True)
    ok = np.ones(b.shape[1:], bool)
    for raw, x in ((before, b), (after, a)):
        if not np.issubdtype(raw.dtype, np.integer):  # integers are never NaN or infinite
            ok &= np.isfinite(x).all(axis=0)
    if valid is not None:
        ok &= valid
    if not ok.all():
        b[:, ~ok] = 0.0
        a[:, ~ok] = 0.0
    return b, a, ok
