"""Records of the change-detection stage: parameters, calibration and result.

They live apart from :mod:`pipeline.change.detect` so that the calibration and block machinery can
use them; import them from :mod:`pipeline.change.detect`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.change.detectors import IrmadFit
from pipeline.change.normalise import Normalisation

METHODS = ("default", "difference", "cva", "irmad", "structural", "index", "learned")
"""Names accepted by :attr:`ChangeParams.method`."""


@dataclass(frozen=True)
class Calibration:
    """Everything :func:`detect_change` estimates globally, so blocks can share it."""

    shift_px: tuple[float, float] | None
    """(dy, dx) applied to AFTER, None if none."""
    registration_note: str
    """Why the shift was applied or rejected."""
    normalisation: Normalisation
    """How AFTER is mapped onto BEFORE's radiometry."""
    mean: tuple[float, ...]
    """Per-band mean of BEFORE used to standardise both dates."""
    std: tuple[float, ...]
    """Per-band standard deviation of BEFORE used to standardise both dates."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Threshold of each detector statistic (empty: estimate them from the image)."""
    irmad: IrmadFit | None = None
    """IR-MAD transformation fitted on the standardised sample (method "irmad" only)."""


@dataclass(frozen=True)
class ChangeParams:
    """How to detect change between two dates."""

    method: str = "default"
    """Detector: one of :data:`METHODS`."""
    pixel_size_m: float | None = None
    """Ground size of a pixel in metres; None when not georeferenced (sizes are then pixels)."""
    bands: tuple[str, ...] | None = None
    """Band roles in order, e.g. ("blue", "green", "red", "nir"); None = unknown order."""
    min_area_m2: float = 100.0
    """Minimum mapping unit of change objects, m² (pixels when ``pixel_size_m`` is None)."""
    coregister: bool = True
    """Estimate and apply a sub-pixel shift of AFTER onto BEFORE before comparing."""
    max_shift_m: float | None = 20.0
    """Largest shift searched by co-registration, metres (None: up to a quarter of the image)."""
    max_shift_px: float = 8.0
    """Largest shift searched when ``pixel_size_m`` is None, pixels."""
    block_size: int = 2048
    """Rows and columns of a processing block: larger images are calibrated on sample tiles
    and processed block by block, so memory stays flat as the image grows."""
    block_overlap: int = 32
    """Minimum pixels of overlap on each side of a block (raised to cover the shift bound,
    the structural window and the smoothing)."""
    workers: int = 0
    """Threads processing blocks in parallel (0: one per CPU core, at most 4). Results do not
    depend on it; memory grows by one block per worker."""
    calibration_tiles: int = 16
    """Large images: number of sample tiles the thresholds are estimated on."""
    calibration_tile_size: int = 512
    """Large images: side of a calibration tile, pixels."""
    normalisation: str = "auto"
    """"auto" (IR-MAD regression, histogram-matching fallback), "irmad", "histogram", "none"."""
    structure_window_px: int = 5
    """Window of the structural detector, in pixels of the structural grid (see
    ``structure_scale``): 5 there is 10 image pixels. A texture-statistics window, not scaled
    by the pixel size (chosen on the TUNE pairs at 0.5 m and 10 m)."""
    structure_scale: int = 2
    """The structural statistic is computed on the means of ``structure_scale`` x
    ``structure_scale`` pixel blocks and interpolated back to pixels (1 = full resolution).
    At 2 it costs a quarter, and on the TUNE pairs it scored as well as full resolution
    with a 7 px window (macro-F1 0.348 against 0.345; benchmarks/accuracy.py). The default
    method's smoothing of the CVA and envelope statistics is done on the same grid."""
    structural_threshold: str = "yen"
    """Automatic threshold of the structural statistic (see detectors.THRESHOLD_METHODS);
    the other detectors use Otsu, IR-MAD its chi-square quantile."""
    min_structural: float = 0.15
    """Floor of the structural threshold: local correlation must fall below about 0.85
    (0 = identical structure, 1 = unrelated), so a pair without change stays quiet."""
    max_structural: float = 1.0
    """Cap of the structural threshold: local structure that no longer correlates at all
    (statistic 1) is change, whatever the histogram says. Yen's split sometimes asked for
    anti-correlated structure (up to 1.28), which no real change reliably gives."""
    min_spectral: float = 0.5
    """Floor of the CVA and difference thresholds, in standard deviations of BEFORE."""
    smooth_sigma_px: float = 1.0
    """Gaussian smoothing of the structural and CVA statistics, pixels (suppresses speckle of
    single-pixel noise and misregistration)."""
    smooth_cva: bool = True
    """Default method: smooth the CVA statistic too before gating."""
    gate: float = 0.25
    """Default method: structural change counts only where the CVA confidence exceeds this."""
    noise_floor: float = 0.4
    """Default method: change must also show a misregistration- and blur-tolerant spectral
    difference (:func:`~pipeline.change.detectors.envelope_excess`, smoothed) above this
    multiple of the pair's noise level (the median smoothed CVA magnitude). An absolute
    floor, not a histogram split: a pair without change stays quiet. Chosen on the TUNE pairs
    and the null pairs (benchmarks/accuracy.py, benchmarks/null_pairs.py)."""
    fill_px: int = 5
    """Default method: side of the square closing that fills gaps between structural
    detections, pixels (1 = off). The structural statistic fires on the edges of a large
    uniform change (a flood, a razed block) more than inside it; a gap narrower than this
    joins the detection where the spectral evidence supports it (``fill_gate``). Local, so
    blocks stay exact; it never starts a detection, so a pair without change stays quiet.
    Chosen on the TUNE pairs (benchmarks/accuracy.py)."""
    fill_gate: float = 0.1
    """Default method: a gap pixel is filled only where the CVA confidence exceeds this and
    the envelope excess exceeds its noise floor."""
    envelope_sigma_px: float = 2.0
    """Default method: Gaussian smoothing of the envelope excess, pixels."""
    irmad_threshold: str = "chi2"
    """IR-MAD threshold: "chi2" (the chi-square quantile ``irmad_significance``) or an
    automatic histogram threshold (see detectors.THRESHOLD_METHODS)."""
    irmad_significance: float = 0.999
    """IR-MAD: chi-square quantile above which a pixel is change (``irmad_threshold="chi2"``)."""
    model_path: Path | None = None
    """Method "learned": the ONNX change model to run (None: the one shipped in
    ``pipeline/change/models/``; see :mod:`pipeline.change.learned` for its inputs)."""
    calibration: Calibration | None = None
    """Fixed shift, normalisation and thresholds from an earlier run (block processing);
    None = estimate them from these arrays."""


@dataclass(frozen=True)
class ChangeResult:
    """What :func:`detect_change` found."""

    mask: np.ndarray
    """uint8 (H, W): 1 change, 0 no change, 255 nodata (either input invalid)."""
    score: np.ndarray
    """float32 (H, W) change confidence 0..1, 0.5 at the threshold; NaN where nodata."""
    method: str
    """The detector used."""
    shift_px: tuple[float, float] | None
    """(dy, dx) shift applied to AFTER in pixels, None if none was applied."""
    registration_note: str
    """Why the shift was applied, or why it was rejected or skipped."""
    normalisation: str
    """Which radiometric normalisation was used."""
    threshold: float
    """Threshold on the raw detector statistic that separates change from no change."""
    detector_thresholds: dict[str, float] = field(default_factory=dict)
    """Threshold of each detector that contributed (raw statistic units)."""
    calibration: Calibration | None = None
    """What was estimated globally; pass it back in :attr:`ChangeParams.calibration`."""
