"""A STAC item found by a search, reduced to what campwatch needs (a record, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from imagery.errors import ItemError


@dataclass(frozen=True)
class CandidateItem:
    """One STAC item returned by a provider's search."""

    provider: str
    """Provider name: "earth-search", "planetary-computer" or "stac"."""
    collection: str
    """STAC collection id."""
    item_id: str
    """STAC item id."""
    acquired: datetime
    """Acquisition time (the item's ``datetime``), timezone-aware UTC."""
    footprint: BaseGeometry
    """The item's geometry in WGS 84 (lon, lat)."""
    self_href: str
    """The item's ``self`` link ("" when the server gave none)."""
    cloud_cover: float | None
    """Scene ``eo:cloud_cover`` in percent (of the whole tile, not the AOI)."""
    raw: Mapping[str, Any] = field(compare=False, repr=False)
    """The item's JSON as the server returned it (asset hrefs unsigned)."""

    @property
    def properties(self) -> Mapping[str, Any]:
        """The item's ``properties``."""
        props: Mapping[str, Any] = self.raw.get("properties", {})
        return props

    @property
    def assets(self) -> Mapping[str, Any]:
        """The item's ``assets`` (key -> asset object)."""
        assets: Mapping[str, Any] = self.raw.get("assets", {})
        return assets

    def asset_href(self, key: str) -> str:
        """The unsigned href of asset ``key``.

        Raises:
            ItemError: the asset or its href is missing.
        """
        asset = self.assets.get(key)
        if not isinstance(asset, Mapping) or not isinstance(asset.get("href"), str):
            raise ItemError(
                f"{self.provider} {self.collection}/{self.item_id}: asset {key!r} has no href "
                f"(assets: {sorted(self.assets)[:30]})"
            )
        href: str = asset["href"]
        return href


def parse_datetime(text: str) -> datetime:
    """Parse a STAC datetime (RFC 3339, ``Z`` or offset; a space instead of ``T`` accepted).

    Example:
        >>> parse_datetime("2022-10-03 16:02:35Z").isoformat()
        '2022-10-03T16:02:35+00:00'
    """
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def candidate_from_dict(provider: str, item: Mapping[str, Any]) -> CandidateItem:
    """Build a :class:`CandidateItem` from an item's JSON.

    Raises:
        ItemError: naming the item and the missing or malformed field.

    Example:
        >>> # candidate_from_dict("earth-search", json.load(open("item.json")))
    """
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise ItemError(f"{provider}: STAC item without an id: {str(item)[:200]}")
    props = item.get("properties") or {}
    collection = item.get("collection") or ""
    where = f"{provider} {collection}/{item_id}"
    dt = props.get("datetime") or props.get("start_datetime")
    if not isinstance(dt, str):
        raise ItemError(f"{where}: property 'datetime' is missing or null ({dt!r})")
    try:
        acquired = parse_datetime(dt)
    except ValueError as exc:
        raise ItemError(f"{where}: property 'datetime' = {dt!r} is not RFC 3339") from exc
    geometry = item.get("geometry")
    if not isinstance(geometry, Mapping):
        raise ItemError(f"{where}: field 'geometry' is missing ({geometry!r})")
    try:
        footprint = shape(dict(geometry))
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ItemError(f"{where}: field 'geometry' is not valid GeoJSON: {exc}") from exc
    self_href = next(
        (lk.get("href", "") for lk in item.get("links", []) if lk.get("rel") == "self"), ""
    )
    cc = props.get("eo:cloud_cover")
    return CandidateItem(
        provider=provider,
        collection=str(collection),
        item_id=item_id,
        acquired=acquired,
        footprint=footprint,
        self_href=str(self_href),
        cloud_cover=float(cc) if isinstance(cc, int | float) else None,
        raw=dict(item),
    )
