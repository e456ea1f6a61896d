"""Clear-sky masks from SCL classes and Landsat QA_PIXEL bits."""

from __future__ import annotations

import numpy as np
import pytest

from imagery.errors import ImageryError
from imagery.stac.qa import clear_mask, qa_pixel_clear, scl_clear


def test_scl_every_class() -> None:
    scl = np.arange(13, dtype=np.uint8)
    expected = [False, False, True, False, True, True, True, True, False, False, False, False,
                False]
    assert scl_clear(scl).tolist() == expected


def test_qa_pixel_each_bit() -> None:
    # bits 0..5 (fill, dilated, cirrus, cloud, shadow, snow) each make a pixel not clear;
    # bit 6 (clear) and 7 (water) and the confidence bits do not.
    values = np.array([1 << b for b in range(16)], np.uint16)
    assert qa_pixel_clear(values).tolist() == [False] * 6 + [True] * 10
    # Real Landsat 8/9 values: 21824 clear land, 21952 water, 22280 high-confidence cloud.
    assert qa_pixel_clear(np.array([21824, 21952, 22280], np.uint16)).tolist() == [
        True, True, False]


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ImageryError, match=r"unknown quality band kind 'fmask'"):
        clear_mask("fmask", np.zeros(1))  # type: ignore[arg-type]
