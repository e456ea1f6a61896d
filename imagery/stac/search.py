"""Search a STAC API for a facility's items (an I/O module, through pystac-client).

POST item search by the AOI's bounding box, a date range and one collection,
with a bounded page size and item count. Every request is retried with
exponential backoff on 429, 5xx, connection errors and timeouts (urllib3
``Retry`` on the requests session pystac-client uses); a final failure names
the provider, URL and status. ``query``/``filter``/``sortby`` are never relied
on: the date range and cloud cover are checked again on the client, and items
returned twice (across pages) are kept once. The raw result is cached, as JSON
written atomically, in the facility workspace's cache directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import requests
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from facilities.model import Facility
from imagery.errors import ItemError, ProviderError
from imagery.stac.item import CandidateItem, candidate_from_dict

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
"""HTTP statuses that are retried."""
DEFAULT_PAGE_SIZE = 100
"""Items per search page (servers commonly cap at 100 to 1000)."""
DEFAULT_MAX_ITEMS = 1000
"""At most this many items are taken from one search."""
CACHE_VERSION = 1


@dataclass(frozen=True)
class SearchPolicy:
    """How hard to try and how much to take from a STAC API."""

    timeout_s: float = 30.0
    """Connect and read timeout of one request, seconds."""
    retries: int = 4
    """Retries per request (on 429, 5xx, connection errors and timeouts)."""
    backoff_s: float = 1.0
    """Backoff factor: waits backoff_s * 2**(n-1) seconds before retry n."""
    backoff_max_s: float = 30.0
    """Upper bound on one wait (also caps a server's Retry-After)."""
    page_size: int = DEFAULT_PAGE_SIZE
    """``limit`` sent with the search (never 0)."""
    max_items: int = DEFAULT_MAX_ITEMS
    """Stop after this many distinct items."""


@dataclass(frozen=True)
class SearchResult:
    """What a search returned, after client-side filtering."""

    items: tuple[CandidateItem, ...]
    """Distinct items inside the date range and cloud limit, oldest first."""
    pages: int = 0
    """Pages read from the server (0 when served from the cache)."""
    duplicates: int = 0
    """Items seen more than once across pages (kept once)."""
    filtered: tuple[tuple[str, str], ...] = ()
    """(item id, reason) of items dropped on the client (date, cloud, collection)."""
    truncated: bool = False
    """True when ``max_items`` stopped the search before the last page."""
    from_cache: bool = False
    """True when the result was read from the workspace cache."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Further facts (conformance used, request body)."""


class _CappedRetry(Retry):
    """urllib3 Retry whose waits (including Retry-After) never exceed ``backoff_max``."""

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, float(self.backoff_max))


def retry_policy(policy: SearchPolicy) -> Retry:
    """The urllib3 ``Retry`` used for every request to a STAC API (POST included).

    Example:
        >>> retry_policy(SearchPolicy(retries=2)).total
        2
    """
    return _CappedRetry(
        total=policy.retries,
        connect=policy.retries,
        read=policy.retries,
        status=policy.retries,
        backoff_factor=policy.backoff_s,
        backoff_max=policy.backoff_max_s,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST", "HEAD"}),
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def retrying_session(policy: SearchPolicy) -> requests.Session:
    """A requests session with :func:`retry_policy` mounted (for token endpoints and such)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=retry_policy(policy))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _api_error(provider: str, url: str, exc: BaseException) -> ProviderError:
    status = getattr(exc, "status_code", None)
    detail = str(exc).strip().replace("\n", " ")[:300] or type(exc).__name__
    what = f"HTTP status {status}" if status else "no HTTP response"
    return ProviderError(f"{provider}: STAC API {url} failed ({what}): {detail}")


def open_client(provider: str, url: str, policy: SearchPolicy) -> Client:
    """Open a STAC API's landing page with retries and timeouts.

    Raises:
        ProviderError: naming the provider, URL and status.

    Example:
        >>> # client = open_client("earth-search", EARTH_SEARCH_URL, SearchPolicy())
    """
    timeout = (policy.timeout_s, policy.timeout_s)
    stac_io = StacApiIO(timeout=timeout, max_retries=retry_policy(policy))
    try:
        # Client.open re-applies its own ``timeout`` to the StacApiIO: pass it there too.
        return Client.open(url, stac_io=stac_io, timeout=timeout)
    except (APIError, requests.RequestException, OSError, ValueError) as exc:
        raise _api_error(provider, url, exc) from exc


def search_body(
    facility: Facility,
    collection: str,
    start: date,
    end: date,
    page_size: int,
) -> dict[str, Any]:
    """The POST body of a facility search (AOI bbox, whole days UTC, one collection).

    Example:
        >>> # search_body(facility, "sentinel-2-l2a", date(2024, 1, 1), date(2024, 2, 1), 100)
    """
    west, south, east, north = facility.aoi.bounds
    t0 = datetime.combine(start, time.min, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    t1 = datetime.combine(end, time(23, 59, 59), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "collections": [collection],
        "bbox": [west, south, east, north],
        "datetime": f"{t0}/{t1}",
        "limit": max(1, int(page_size)),
    }


def _cache_path(cache_dir: Path, provider: str, url: str, body: Mapping[str, Any]) -> Path:
    key = json.dumps({"url": url, "body": body}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    name = f"search-{provider}-{body['collections'][0]}-{digest}.json"
    return cache_dir / name


def _write_json_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _filter(
    provider: str,
    features: Sequence[Mapping[str, Any]],
    collection: str,
    start: date,
    end: date,
    max_cloud: float | None,
) -> tuple[list[CandidateItem], list[tuple[str, str]], int]:
    seen: dict[tuple[str, str], CandidateItem] = {}
    dropped: list[tuple[str, str]] = []
    duplicates = 0
    t0 = datetime.combine(start, time.min, UTC)
    t1 = datetime.combine(end, time.max, UTC)
    for feature in features:
        try:
            item = candidate_from_dict(provider, feature)
        except ItemError as exc:
            dropped.append((str(feature.get("id", "?")), str(exc)))
            continue
        key = (item.collection, item.item_id)
        if key in seen:
            duplicates += 1
            continue
        seen[key] = item
        if item.collection != collection:
            dropped.append((item.item_id, f"collection {item.collection!r} is not {collection!r}"))
        elif not t0 <= item.acquired <= t1:
            dropped.append(
                (item.item_id, f"acquired {item.acquired.isoformat()} is outside {start}..{end}")
            )
        elif (
            max_cloud is not None and item.cloud_cover is not None and item.cloud_cover > max_cloud
        ):
            dropped.append(
                (item.item_id, f"eo:cloud_cover {item.cloud_cover} > max_cloud {max_cloud}")
            )
    dropped_ids = {i for i, _ in dropped}
    kept = [it for it in seen.values() if it.item_id not in dropped_ids]
    kept.sort(key=lambda it: (it.acquired, it.item_id))
    return kept, dropped, duplicates


def search_items(
    provider: str,
    url: str,
    facility: Facility,
    collection: str,
    start: date,
    end: date,
    *,
    max_cloud: float | None = None,
    policy: SearchPolicy | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SearchResult:
    """Search ``url`` for the items of ``collection`` over the facility's AOI.

    Args:
        provider: provider name (named in errors and stored with each item).
        url: the STAC API root.
        facility: its AOI's bounding box is the search area.
        collection: one STAC collection id.
        start, end: inclusive dates (UTC days).
        max_cloud: drop items whose scene ``eo:cloud_cover`` exceeds this (percent).
        policy: timeouts, retries, page size and item bound.
        cache_dir: where the raw result is cached (the facility workspace's cache dir).
        use_cache: answer from the cache when it holds this exact search.
        progress: called with a short message per page.

    Raises:
        ProviderError: the API failed after retries (names provider, URL and status),
            or does not offer item search.

    Example:
        >>> # search_items("earth-search", EARTH_SEARCH_URL, facility, "sentinel-2-l2a",
        >>> #              date(2024, 1, 1), date(2024, 12, 31), cache_dir=ws.cache_dir)
    """
    if end < start:
        raise ProviderError(f"{provider}: search end {end} is before start {start}")
    policy = policy or SearchPolicy()
    body = search_body(facility, collection, start, end, policy.page_size)
    cache = _cache_path(cache_dir, provider, url, body) if cache_dir is not None else None
    if use_cache and cache is not None and cache.is_file():
        payload = json.loads(cache.read_text(encoding="utf-8"))
        items, dropped, dups = _filter(
            provider, payload["features"], collection, start, end, max_cloud
        )
        log.info("%s: %d items from cache %s", provider, len(items), cache)
        return SearchResult(
            tuple(items),
            0,
            dups,
            tuple(dropped),
            payload.get("truncated", False),
            True,
            {"cache": str(cache)},
        )

    client = open_client(provider, url, policy)
    if not client.conforms_to(ConformanceClasses.ITEM_SEARCH):
        raise ProviderError(f"{provider}: STAC API {url} does not declare item-search conformance")
    features: list[dict[str, Any]] = []
    ids: set[tuple[str, str]] = set()
    pages = 0
    truncated = False
    # Every page must bring a new item, else the server is looping; bound pages too.
    max_pages = math.ceil(policy.max_items / max(1, policy.page_size)) * 2 + 2
    search = client.search(method="POST", **body)
    try:
        for page in search.pages_as_dicts():
            pages += 1
            page_features = page.get("features", [])
            new = 0
            for f in page_features:
                features.append(f)
                key = (str(f.get("collection", "")), str(f.get("id", "")))
                if key not in ids:
                    ids.add(key)
                    new += 1
            if progress:
                progress(f"{provider}: page {pages}, {len(ids)} items")
            if len(ids) >= policy.max_items:
                truncated = True
                log.warning("%s: search stopped at max_items=%d", provider, policy.max_items)
                break
            if new == 0 or pages >= max_pages:
                log.warning("%s: page %d brought no new item; stopping", provider, pages)
                break
    except (APIError, requests.RequestException, OSError) as exc:
        raise _api_error(provider, f"{url.rstrip('/')}/search", exc) from exc
    if cache is not None:
        _write_json_atomic(
            cache,
            {
                "version": CACHE_VERSION,
                "provider": provider,
                "url": url,
                "body": body,
                "searched_at": datetime.now(UTC).isoformat(),
                "pages": pages,
                "truncated": truncated,
                "features": features,
            },
        )
    items, dropped, dups = _filter(provider, features, collection, start, end, max_cloud)
    if dups:
        log.info("%s: %d duplicate item(s) across pages kept once", provider, dups)
    return SearchResult(
        tuple(items),
        pages,
        dups,
        tuple(dropped),
        truncated,
        False,
        {"body": body},
    )
