"""Imagery providers: one Protocol, implementations for STAC APIs.

* :class:`EarthSearch` — Element84 Earth Search v1 (``sentinel-2-l2a``,
  ``sentinel-2-c1-l2a``, ``landsat-c2-l2``).
* :class:`PlanetaryComputer` — Microsoft Planetary Computer (``sentinel-2-l2a``,
  ``landsat-c2-l2``); asset hrefs are signed when a band is opened, never
  earlier, because signatures expire. The signer is injectable (tests pass
  their own); by default the ``planetary-computer`` SDK's ``sign`` is used when
  installed, else the SAS token endpoint.
* :class:`StacApi` — any STAC API by URL; band names are matched from the item's assets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse

from facilities.grid import FacilityGrid
from facilities.model import Facility
from imagery.errors import ProviderError
from imagery.stac.bands import BandMap, band_map
from imagery.stac.item import CandidateItem
from imagery.stac.read import ItemPixels, Signer, read_item
from imagery.stac.search import SearchPolicy, SearchResult, retrying_session, search_items

log = logging.getLogger(__name__)

EARTH_SEARCH_URL = "https://earth-search.aws.element84.com/v1"
"""Earth Search v1 STAC API root."""
PLANETARY_COMPUTER_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"
"""Planetary Computer STAC API root."""
PC_TOKEN_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token"
"""Planetary Computer SAS token endpoint: ``{PC_TOKEN_URL}/{account}/{container}``."""

PROVIDER_NAMES = ("earth-search", "planetary-computer", "stac")
"""Names accepted by :func:`make_provider` and ``campwatch fetch --provider``."""


@runtime_checkable
class ImageryProvider(Protocol):
    """A source of captures for a facility."""

    name: str
    """Provider name stored with every capture."""

    def search(
        self,
        facility: Facility,
        start: date,
        end: date,
        collection: str,
        max_cloud: float | None = None,
    ) -> list[CandidateItem]:
        """Items of ``collection`` over the facility between ``start`` and ``end`` (inclusive)."""
        ...

    def read(self, item: CandidateItem, grid: FacilityGrid) -> ItemPixels:
        """The item's reflectance and clear mask on ``grid`` (only the window is fetched)."""
        ...


@dataclass
class StacApi:
    """Any STAC API with item search, by URL.

    Example:
        >>> p = StacApi("http://127.0.0.1:7822")
        >>> p.name
        'stac'
    """

    url: str
    """The API root."""
    name: str = "stac"
    """Provider name stored with captures."""
    policy: SearchPolicy = field(default_factory=SearchPolicy)
    """Timeouts, retries, page size and item bound of searches."""
    cache_dir: Path | None = None
    """Where search results are cached (the facility workspace's cache dir)."""
    use_cache: bool = False
    """Answer searches from the cache when it holds the same search."""
    signer: Signer | None = None
    """Signs asset hrefs at read time (None: hrefs are read as they are)."""
    last_search: SearchResult | None = field(default=None, init=False, repr=False)
    """The full result of the latest search (duplicates, filtered items, pages)."""

    def search(
        self,
        facility: Facility,
        start: date,
        end: date,
        collection: str,
        max_cloud: float | None = None,
    ) -> list[CandidateItem]:
        """Search the API (see :func:`imagery.stac.search.search_items`).

        Raises:
            BandMapError: the collection is not supported by this provider (checked
                before any request).
            ProviderError: the API failed after retries.
        """
        if self.name in ("earth-search", "planetary-computer"):
            band_map(self.name, collection)
        result = search_items(
            self.name,
            self.url,
            facility,
            collection,
            start,
            end,
            max_cloud=max_cloud,
            policy=self.policy,
            cache_dir=self.cache_dir,
            use_cache=self.use_cache,
        )
        self.last_search = result
        return list(result.items)

    def band_map(self, item: CandidateItem) -> BandMap:
        """The item's band map (by provider and collection, else by its assets)."""
        return band_map(self.name, item.collection, item.assets)

    def read(self, item: CandidateItem, grid: FacilityGrid) -> ItemPixels:
        """Read the item's window on ``grid``, signing hrefs as each is opened."""
        return read_item(item, self.band_map(item), grid, sign=self.signer)


def EarthSearch(url: str = EARTH_SEARCH_URL, **kwargs: object) -> StacApi:  # noqa: N802
    """Earth Search v1 (public, unsigned COGs).

    Example:
        >>> EarthSearch("http://127.0.0.1:1").name
        'earth-search'
    """
    return StacApi(url, name="earth-search", **kwargs)  # type: ignore[arg-type]


class PlanetaryComputerSigner:
    """Sign Azure Blob hrefs for the Planetary Computer, at read time.

    Uses ``planetary_computer.sign`` when the SDK is installed; otherwise asks
    the SAS token endpoint for the account/container token and keeps it until
    shortly before it expires. Hrefs that already carry a query are left alone.
    """

    def __init__(self, token_url: str = PC_TOKEN_URL, policy: SearchPolicy | None = None) -> None:
        self.token_url = token_url.rstrip("/")
        self.policy = policy or SearchPolicy()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._sdk: Callable[[str], str] | None = None
        try:  # optional dependency
            import planetary_computer  # type: ignore[import-not-found]

            self._sdk = planetary_computer.sign
        except ImportError:
            self._sdk = None

    def __call__(self, href: str) -> str:
        parsed = urlparse(href)
        if parsed.query or not parsed.netloc.endswith(".blob.core.windows.net"):
            return href
        if self._sdk is not None:
            return self._sdk(href)
        account = parsed.netloc.split(".")[0]
        container = parsed.path.lstrip("/").split("/")[0]
        return f"{href}?{self._token(account, container)}"

    def _token(self, account: str, container: str) -> str:
        key = (account, container)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.time() + 300:
                return cached[0]
            url = f"{self.token_url}/{account}/{container}"
            try:
                resp = retrying_session(self.policy).get(url, timeout=self.policy.timeout_s)
            except OSError as exc:
                raise ProviderError(
                    f"planetary-computer: token endpoint {url} failed: {exc}"
                ) from exc
            if resp.status_code != 200:
                raise ProviderError(
                    f"planetary-computer: token endpoint {url} failed (HTTP status "
                    f"{resp.status_code}): {resp.text[:200]}"
                )
            body = resp.json()
            token = str(body["token"])
            expiry = body.get("msft:expiry")
            expires = (
                datetime.fromisoformat(str(expiry).replace("Z", "+00:00")).timestamp()
                if expiry
                else time.time() + 600
            )
            self._tokens[key] = (token, expires)
            return token


def PlanetaryComputer(  # noqa: N802
    url: str = PLANETARY_COMPUTER_URL, signer: Signer | None = None, **kwargs: object
) -> StacApi:
    """Microsoft Planetary Computer; hrefs signed at read time by ``signer``.

    Example:
        >>> PlanetaryComputer("http://127.0.0.1:1", signer=lambda h: h).name
        'planetary-computer'
    """
    return StacApi(
        url,
        name="planetary-computer",
        signer=signer if signer is not None else PlanetaryComputerSigner(),
        **kwargs,  # type: ignore[arg-type]
    )


def make_provider(
    name: str,
    url: str | None = None,
    *,
    signer: Signer | None = None,
    policy: SearchPolicy | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = False,
) -> StacApi:
    """Build a provider by name ("earth-search", "planetary-computer" or "stac").

    ``url`` defaults to the provider's public API; it is required for "stac".

    Raises:
        ProviderError: unknown name, or "stac" without a URL.

    Example:
        >>> make_provider("stac", "http://127.0.0.1:7822").url
        'http://127.0.0.1:7822'
    """
    common: dict[str, object] = {
        "policy": policy or SearchPolicy(),
        "cache_dir": cache_dir,
        "use_cache": use_cache,
    }
    if name == "earth-search":
        return EarthSearch(url or EARTH_SEARCH_URL, signer=signer, **common)
    if name == "planetary-computer":
        return PlanetaryComputer(url or PLANETARY_COMPUTER_URL, signer=signer, **common)
    if name == "stac":
        if not url:
            raise ProviderError("provider 'stac' needs the API URL (--stac-url URL)")
        return StacApi(url, name="stac", signer=signer, **common)  # type: ignore[arg-type]
    raise ProviderError(f"unknown provider {name!r} (expected one of {list(PROVIDER_NAMES)})")
