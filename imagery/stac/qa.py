"""Clear-sky masks from Sentinel-2 scene classes and Landsat QA_PIXEL bits (pure array maths).

Sentinel-2 L2A scene classification (SCL) classes and what campwatch makes of them:

====  ==============================  =========
0     no data                         not clear
1     saturated or defective          not clear (the pixel is not a measurement)
2     dark area / topographic shadow  clear (dark roofs and hill shade are real surface)
3     cloud shadow                    not clear
4     vegetation                      clear
5     not vegetated (bare, built-up)  clear
6     water                           clear
7     unclassified                    clear (often bright built-up surfaces)
8     cloud, medium probability       not clear
9     cloud, high probability         not clear
10    thin cirrus                     not clear
11    snow or ice                     not clear (hides ground change)
====  ==============================  =========

Landsat Collection 2 QA_PIXEL: a pixel is clear when none of the bits fill (0),
dilated cloud (1), cirrus (2), cloud (3), cloud shadow (4) or snow (5) is set.
"""

from __future__ import annotations

import numpy as np

from imagery.errors import ImageryError
from imagery.stac.bands import MaskKind

SCL_NOT_CLEAR: frozenset[int] = frozenset({0, 1, 3, 8, 9, 10, 11})
"""SCL classes that make a pixel not clear."""
SCL_CLEAR: frozenset[int] = frozenset({2, 4, 5, 6, 7})
"""SCL classes counted as clear."""

QA_FILL, QA_DILATED, QA_CIRRUS, QA_CLOUD, QA_SHADOW, QA_SNOW = 0, 1, 2, 3, 4, 5
"""Landsat C2 QA_PIXEL bit positions."""
QA_NOT_CLEAR_BITS: int = sum(
    1 << b for b in (QA_FILL, QA_DILATED, QA_CIRRUS, QA_CLOUD, QA_SHADOW, QA_SNOW)
)
"""Mask of the QA_PIXEL bits that make a pixel not clear (0b111111)."""


def scl_clear(scl: np.ndarray) -> np.ndarray:
    """True where a Sentinel-2 SCL class is clear (see the module table).

    Classes outside 0..11 are not clear.

    Example:
        >>> import numpy as np
        >>> scl_clear(np.array([0, 4, 9, 7, 12], np.uint8)).tolist()
        [False, True, False, True, False]
    """
    return np.isin(scl, np.array(sorted(SCL_CLEAR), dtype=np.int64))


def qa_pixel_clear(qa: np.ndarray) -> np.ndarray:
    """True where no fill, dilated cloud, cirrus, cloud, shadow or snow bit is set.

    Example:
        >>> import numpy as np
        >>> qa_pixel_clear(np.array([21824, 1, 22280, 0b1000000], np.uint16)).tolist()
        [True, False, False, True]
    """
    clear: np.ndarray = (qa.astype(np.uint32) & QA_NOT_CLEAR_BITS) == 0
    return clear


def clear_mask(kind: MaskKind, quality: np.ndarray) -> np.ndarray:
    """Clear-sky mask of a quality band of ``kind`` ("scl" or "qa_pixel").

    Example:
        >>> import numpy as np
        >>> clear_mask("scl", np.array([[4, 8]], np.uint8)).tolist()
        [[True, False]]
    """
    if kind == "scl":
        return scl_clear(quality)
    if kind == "qa_pixel":
        return qa_pixel_clear(quality)
    raise ImageryError(f"unknown quality band kind {kind!r} (expected 'scl' or 'qa_pixel')")
