"""Which STAC asset holds which band, per provider and collection.

Earth Search v1 names assets by colour (``blue green red nir scl``), Planetary
Computer by Sentinel-2 band number (``B02 B03 B04 B08 SCL``); both name the
Landsat Collection 2 Level-2 assets ``blue green red nir08 qa_pixel``. A STAC
API of unknown flavour is matched by the asset keys its item actually carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from imagery.capture import BANDS
from imagery.errors import BandMapError

MaskKind = Literal["scl", "qa_pixel"]
"""How the quality asset encodes clouds: Sentinel-2 scene classes or Landsat QA bits."""

Family = Literal["sentinel-2", "landsat"]
"""The radiometric family of a collection (decides scale/offset rules)."""


@dataclass(frozen=True)
class BandMap:
    """Asset keys of one collection's reflectance bands and quality asset."""

    family: Family
    """Radiometric family: "sentinel-2" or "landsat"."""
    reflectance: tuple[str, str, str, str]
    """Asset keys of blue, green, red and nir, in :data:`imagery.capture.BANDS` order."""
    mask: str
    """Asset key of the quality asset (SCL or QA_PIXEL)."""
    mask_kind: MaskKind
    """How the quality asset encodes clouds."""

    def asset_keys(self) -> tuple[str, ...]:
        """Every asset key read for a capture, reflectance first then the mask."""
        return (*self.reflectance, self.mask)


EARTH_SEARCH_S2 = BandMap("sentinel-2", ("blue", "green", "red", "nir"), "scl", "scl")
"""Earth Search v1 ``sentinel-2-l2a`` and ``sentinel-2-c1-l2a``."""
PLANETARY_COMPUTER_S2 = BandMap("sentinel-2", ("B02", "B03", "B04", "B08"), "SCL", "scl")
"""Planetary Computer ``sentinel-2-l2a``."""
LANDSAT_C2L2 = BandMap("landsat", ("blue", "green", "red", "nir08"), "qa_pixel", "qa_pixel")
"""Landsat Collection 2 Level-2 on both Earth Search v1 and Planetary Computer."""

KNOWN: dict[tuple[str, str], BandMap] = {
    ("earth-search", "sentinel-2-l2a"): EARTH_SEARCH_S2,
    ("earth-search", "sentinel-2-c1-l2a"): EARTH_SEARCH_S2,
    ("earth-search", "landsat-c2-l2"): LANDSAT_C2L2,
    ("planetary-computer", "sentinel-2-l2a"): PLANETARY_COMPUTER_S2,
    ("planetary-computer", "landsat-c2-l2"): LANDSAT_C2L2,
}
"""Band maps of the supported (provider, collection) pairs."""

_CANDIDATES = (EARTH_SEARCH_S2, PLANETARY_COMPUTER_S2, LANDSAT_C2L2)


def band_map(provider: str, collection: str, assets: Mapping[str, Any] | None = None) -> BandMap:
    """The band map of a collection, by provider; for other STAC APIs, by the item's assets.

    Args:
        provider: "earth-search", "planetary-computer" or "stac".
        collection: STAC collection id.
        assets: the item's ``assets`` (needed for ``provider="stac"``, checked otherwise).

    Raises:
        BandMapError: naming the provider, collection and the missing asset keys.

    Example:
        >>> band_map("planetary-computer", "sentinel-2-l2a").reflectance
        ('B02', 'B03', 'B04', 'B08')
    """
    known = KNOWN.get((provider, collection))
    if known is None and provider in ("earth-search", "planetary-computer"):
        supported = sorted(c for p, c in KNOWN if p == provider)
        raise BandMapError(
            f"{provider}: collection {collection!r} is not supported (supported: {supported})"
        )
    if known is not None:
        if assets is not None:
            missing = [k for k in known.asset_keys() if k not in assets]
            if missing:
                raise BandMapError(
                    f"{provider} {collection}: item has no asset(s) {missing} "
                    f"(needed for bands {list(BANDS)} and mask {known.mask_kind})"
                )
        return known
    if assets is None:
        raise BandMapError(f"{provider} {collection}: the item's assets are needed to map bands")
    landsat_like = "landsat" in collection.lower()
    for candidate in _CANDIDATES:
        if (candidate.family == "landsat") != landsat_like:
            continue
        if all(k in assets for k in candidate.asset_keys()):
            return candidate
    raise BandMapError(
        f"{provider} {collection}: no known band naming fits the item's assets "
        f"{sorted(assets)[:30]} (expected one of "
        f"{[list(c.asset_keys()) for c in _CANDIDATES]})"
    )
