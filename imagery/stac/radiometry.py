"""Digital numbers to surface reflectance, the same convention for every provider.

Every stored raster holds float32 surface reflectance (0..1 nominal, NaN where
the source has no data): ``reflectance = DN * scale + offset``. The work here is
choosing ``scale`` and ``offset`` so that the Sentinel-2 +1000 DN offset of
processing baseline 04.00 and later (from 25 January 2022) is removed exactly
once, whichever provider harmonised what:

* Earth Search v1 ``sentinel-2-l2a`` says it with ``earthsearch:boa_offset_applied``:
  ``true`` means the COG pixels were already shifted back (Element84 documents
  the flag as the truth; the asset's ``raster:bands`` still declares
  ``offset -0.1``, which must then NOT be applied again); ``false`` means the
  pixels are as ESA delivered them, so the offset depends on the baseline.
* Earth Search ``sentinel-2-c1-l2a`` has no flag; its ``raster:bands`` declare
  ``scale 0.0001, offset -0.1`` and the pixels carry the +1000: apply them.
* Planetary Computer carries neither; ``s2:processing_baseline`` decides:
  ``>= 04.00`` subtract 1000 DN, older baselines subtract nothing.
* Landsat Collection 2 Level-2 surface reflectance: ``DN * 0.0000275 - 0.2``.

DN 0 is no data in every one of these products.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from imagery.errors import RadiometryError
from imagery.stac.bands import Family

S2_SCALE = 1e-4
"""Sentinel-2 L2A quantification: reflectance = DN / 10000."""
S2_OFFSET = -0.1
"""Sentinel-2 BOA_ADD_OFFSET -1000 DN, as reflectance."""
S2_OFFSET_BASELINE = (4, 0)
"""First processing baseline whose pixels carry the +1000 DN offset."""
LANDSAT_SCALE = 2.75e-5
"""Landsat Collection 2 Level-2 surface reflectance scale."""
LANDSAT_OFFSET = -0.2
"""Landsat Collection 2 Level-2 surface reflectance offset."""

_BOA_FLAGS = ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied")
_BASELINE = re.compile(r"^\s*[Nn]?(\d{1,2})\.?(\d{2})\s*$")


@dataclass(frozen=True)
class Radiometry:
    """How one asset's digital numbers become reflectance."""

    scale: float
    """Multiplier applied to the DN."""
    offset: float
    """Added after scaling."""
    rule: str
    """Why these values: which metadata decided (recorded with the capture)."""


def parse_baseline(text: str) -> tuple[int, int]:
    """Parse a processing baseline such as "04.00", "05.09" or "N0400".

    Example:
        >>> parse_baseline("05.09")
        (5, 9)
    """
    m = _BASELINE.match(str(text))
    if not m:
        raise ValueError(f"not a processing baseline: {text!r}")
    return int(m.group(1)), int(m.group(2))


def _declared(asset: Mapping[str, Any]) -> tuple[float | None, float | None]:
    bands = asset.get("raster:bands")
    if isinstance(bands, list) and bands and isinstance(bands[0], Mapping):
        scale, offset = bands[0].get("scale"), bands[0].get("offset")
        return (
            float(scale) if isinstance(scale, int | float) else None,
            float(offset) if isinstance(offset, int | float) else None,
        )
    return None, None


def radiometry_for(
    family: Family,
    properties: Mapping[str, Any],
    asset: Mapping[str, Any],
    *,
    where: str = "item",
) -> Radiometry:
    """Scale and offset of one reflectance asset of a STAC item.

    Args:
        family: "sentinel-2" or "landsat" (from :func:`imagery.stac.bands.band_map`).
        properties: the item's ``properties``.
        asset: the asset object (its ``raster:bands`` are read when relevant).
        where: names the item in error messages.

    Raises:
        RadiometryError: the metadata cannot decide (names the field and value).

    Example:
        >>> radiometry_for("sentinel-2", {"s2:processing_baseline": "04.00"}, {}).offset
        -0.1
    """
    d_scale, d_offset = _declared(asset)
    if family == "landsat":
        checks = (("scale", d_scale, LANDSAT_SCALE), ("offset", d_offset, LANDSAT_OFFSET))
        for name, got, want in checks:
            if got is not None and abs(got - want) > 1e-12:
                raise RadiometryError(
                    f"{where}: raster:bands {name} = {got!r}, but Landsat Collection 2 Level-2 "
                    f"surface reflectance uses {want!r}"
                )
        return Radiometry(LANDSAT_SCALE, LANDSAT_OFFSET, "Landsat C2 L2: DN * 2.75e-05 - 0.2")

    scale = S2_SCALE if d_scale is None else d_scale
    if abs(scale - S2_SCALE) > 1e-12:
        raise RadiometryError(
            f"{where}: raster:bands scale = {scale!r}, expected {S2_SCALE} for Sentinel-2 L2A"
        )
    pb_text = properties.get("s2:processing_baseline")
    if pb_text is None:
        pb_text = properties.get("sentinel:processing_baseline")
    pb: tuple[int, int] | None = None
    if pb_text is not None:
        try:
            pb = parse_baseline(str(pb_text))
        except ValueError as exc:
            raise RadiometryError(
                f"{where}: property 's2:processing_baseline' = {pb_text!r} is not a baseline"
            ) from exc
    flag_key = next((k for k in _BOA_FLAGS if k in properties), None)

    if flag_key is not None:
        flag = properties[flag_key]
        if not isinstance(flag, bool):
            raise RadiometryError(f"{where}: property {flag_key!r} = {flag!r} is not a boolean")
        if flag:
            return Radiometry(
                S2_SCALE,
                0.0,
                f"{flag_key}=true: pixels already harmonised, declared offset "
                f"{d_offset!r} not applied again",
            )
        if pb is None:
            raise RadiometryError(
                f"{where}: {flag_key}=false but 's2:processing_baseline' is missing, so the "
                "+1000 DN offset cannot be decided"
            )
        offset = S2_OFFSET if pb >= S2_OFFSET_BASELINE else 0.0
        return Radiometry(
            S2_SCALE, offset, f"{flag_key}=false, baseline {pb_text}: offset {offset}"
        )

    if d_offset is not None:
        if d_offset not in (0.0, S2_OFFSET):
            raise RadiometryError(
                f"{where}: raster:bands offset = {d_offset!r}; expected 0 or {S2_OFFSET}"
            )
        return Radiometry(
            scale, d_offset, f"raster:bands scale {scale} offset {d_offset} (baseline {pb_text})"
        )

    if pb is None:
        raise RadiometryError(
            f"{where}: property 's2:processing_baseline' is missing and the asset declares no "
            "raster:bands offset, so the +1000 DN offset of baseline 04.00+ cannot be decided"
        )
    offset = S2_OFFSET if pb >= S2_OFFSET_BASELINE else 0.0
    return Radiometry(S2_SCALE, offset, f"s2:processing_baseline {pb_text}: offset {offset}")


def to_reflectance(dn: np.ndarray, radiometry: Radiometry, *, nodata: float = 0) -> np.ndarray:
    """Apply ``radiometry`` to digital numbers; ``nodata`` DN and NaN become NaN (float32).

    Example:
        >>> import numpy as np
        >>> r = Radiometry(1e-4, -0.1, "test")
        >>> to_reflectance(np.array([0, 1000, 3500], np.uint16), r).tolist()
        [nan, 0.0, 0.25]
    """
    values = dn.astype(np.float64)
    invalid = np.isnan(values) | (values == nodata)
    out = values * radiometry.scale + radiometry.offset
    out[invalid] = np.nan
    return out.astype(np.float32)
