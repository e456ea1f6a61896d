"""Provenance of a facility definition: its sources, the quotes that state its location, its
status and its published size.

A definition's facility feature may carry (all optional, so that private registries written
before sourced definitions still load; ``strict=True`` requires them, and the bundled registry
is tested strictly)::

    "sources": [{"id", "title", "authors", "publisher", "date", "url", "quote",
                 "read_at"?, "lat"?, "lon"?, "note"?}, ...],
    "reported_source": "<id of the source whose lat/lon are reported_lat/reported_lon>",
    "status": {"value", "as_of"?, "source"?, "quote"?, "note"?},
    "extent": {"source", "quote", "area_m2"?, "length_m"?, "width_m"?},
    "names_source": "<URL the names were taken from>"

The rule that matters most: a source that gives ``lat``/``lon`` must *quote* them, so the quote
has to contain both numbers within the rounding they are printed with (decimal degrees, or
degrees-minutes-seconds). A typo in either the numbers or the quote is then a validation error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, cast

from facilities.model import Extent, Source, StatusReport
from facilities.types import FACILITY_STATUSES, FacilityStatus

Add = Callable[[str, str, object, str], None]
"""Records a problem: (feature label, field, value, problem)."""

SOURCE_ID_PATTERN = r"[a-z0-9][a-z0-9-]{1,62}"
"""Source ids: the same safe slugs as facility ids."""

DATE_PATTERN = r"\d{4}(-\d{2}(-\d{2})?)?|n\.d\."
"""ISO 8601 to the precision published (YYYY, YYYY-MM, YYYY-MM-DD), or "n.d." (undated)."""

MIN_DECIMALS = 2
"""A decimal-degree number in a quote counts as a coordinate only with this many decimals (about
1 km); "39" in a quote does not locate anything."""

_DECIMAL = re.compile(r"(?<![\d.])(\d{1,3})\.(\d+)(?!\d|\s*[″\"”])")
"""Decimal degrees; not the decimal seconds of a degrees-minutes-seconds value."""
_DMS = re.compile(r"(\d{1,3})\s*°\s*(\d{1,2})\s*[′'’](?:\s*(\d{1,2}(?:\.\d+)?)\s*[″\"”])?")
"""Degrees-minutes(-seconds); minutes and seconds marked with primes, ASCII quotes or the
typographic quotes (’ ”) some publishers print instead."""


def stated_values(quote: str) -> list[tuple[float, float]]:
    """Every coordinate-like number in ``quote`` as (value, half its rounding step).

    Decimal degrees with at least :data:`MIN_DECIMALS` decimals, and degrees-minutes(-seconds).

    Example:
        >>> stated_values("Coordinates: 42.209410 N, 39°34′16″N")
        [(42.20941, 5e-07), (39.571111111111115, 0.0001388888888888889)]
        >>> [round(v, 6) for v, _ in stated_values("38° 30’45.41”N 125° 46’26.59”E")]
        [38.512614, 125.774053]
    """
    out: list[tuple[float, float]] = []
    for m in _DECIMAL.finditer(quote):
        decimals = len(m.group(2))
        if decimals >= MIN_DECIMALS:
            out.append((float(m.group(0)), 0.5 * 10.0**-decimals))
    for m in _DMS.finditer(quote):
        deg, minutes, seconds = m.group(1), m.group(2), m.group(3)
        value = int(deg) + int(minutes) / 60.0
        if seconds is None:
            out.append((value, 0.5 / 60.0))
        else:
            out.append((value + float(seconds) / 3600.0, 0.5 / 3600.0))
    return out


def quote_states(quote: str, value: float) -> bool:
    """True when ``quote`` prints ``value`` (a latitude or longitude) within its rounding.

    Example:
        >>> quote_states("(39.008838° 126.153277°)", 39.008838)
        True
        >>> quote_states("(39.008838° 126.153277°)", 39.008883)
        False
    """
    target = abs(value)
    return any(abs(v - target) <= step + 1e-12 for v, step in stated_values(quote))


def _text(obj: dict[str, Any], key: str, where: str, label: str, add: Add) -> str | None:
    value = obj.get(key)
    if value is None:
        add(label, f"{where}.{key}", None, "missing (required)")
        return None
    if not isinstance(value, str) or not value.strip():
        add(label, f"{where}.{key}", value, "must be a non-empty string")
        return None
    return value


def _opt_text(obj: dict[str, Any], key: str, where: str, label: str, add: Add) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        add(label, f"{where}.{key}", value, "must be a non-empty string when given")
        return None
    return value


def _url(
    obj: dict[str, Any], key: str, where: str, label: str, add: Add, *, required: bool
) -> str | None:
    value = (_text if required else _opt_text)(obj, key, where, label, add)
    if value is not None and not re.match(r"https?://\S+$", value):
        add(label, f"{where}.{key}", value, "must be an http(s) URL without spaces")
        return None
    return value


def _date(
    obj: dict[str, Any], key: str, where: str, label: str, add: Add, *, required: bool
) -> str | None:
    value = (_text if required else _opt_text)(obj, key, where, label, add)
    if value is not None and not re.fullmatch(DATE_PATTERN, value):
        add(label, f"{where}.{key}", value, "must be YYYY, YYYY-MM, YYYY-MM-DD or 'n.d.'")
        return None
    return value


def _coord(
    obj: dict[str, Any], key: str, where: str, label: str, add: Add, limit: float
) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        add(label, f"{where}.{key}", value, "must be a finite number")
        return None
    if not -limit <= value <= limit:
        add(label, f"{where}.{key}", value, f"out of range: must be within [-{limit:g}, {limit:g}]")
        return None
    return float(value)


def _source(raw: Any, i: int, label: str, add: Add) -> Source | None:
    where = f"sources[{i}]"
    if not isinstance(raw, dict):
        add(label, where, raw, "must be an object")
        return None
    sid = _text(raw, "id", where, label, add)
    if sid is not None and not re.fullmatch(SOURCE_ID_PATTERN, sid):
        add(label, f"{where}.id", sid, f"not a safe slug: must match ^{SOURCE_ID_PATTERN}$")
        sid = None
    title = _text(raw, "title", where, label, add)
    publisher = _text(raw, "publisher", where, label, add)
    date = _date(raw, "date", where, label, add, required=True)
    url = _url(raw, "url", where, label, add, required=True)
    read_at = _url(raw, "read_at", where, label, add, required=False)
    quote = _text(raw, "quote", where, label, add)
    note = _opt_text(raw, "note", where, label, add)
    authors = raw.get("authors", [])
    if not isinstance(authors, list) or not all(isinstance(a, str) and a.strip() for a in authors):
        add(label, f"{where}.authors", authors, "must be a list of names (empty when none)")
        authors = None
    lat = _coord(raw, "lat", where, label, add, 90.0)
    lon = _coord(raw, "lon", where, label, add, 180.0)
    if ("lat" in raw) != ("lon" in raw):
        add(
            label,
            f"{where}.lat, {where}.lon",
            [raw.get("lat"), raw.get("lon")],
            "give both lat and lon, or neither",
        )
    elif quote is not None:
        for key, value in (("lat", lat), ("lon", lon)):
            if value is not None and not quote_states(quote, value):
                found = [round(v, 7) for v, _ in stated_values(quote)]
                add(
                    label,
                    f"{where}.quote",
                    quote,
                    f"does not state {where}.{key} = {value!r} (within the rounding it is "
                    f"printed with); coordinates found in the quote: {found}",
                )
    parts = (sid, title, publisher, date, url, quote, authors)
    if any(p is None for p in parts):
        return None
    return Source(
        id=cast(str, sid),
        title=cast(str, title),
        authors=tuple(cast(list[str], authors)),
        publisher=cast(str, publisher),
        date=cast(str, date),
        url=cast(str, url),
        quote=cast(str, quote),
        read_at=read_at,
        lat=lat,
        lon=lon,
        note=note,
    )


def check_sources(props: dict[str, Any], label: str, add: Add) -> tuple[Source, ...] | None:
    """The ``sources`` list of a facility feature; None after recording problems.

    Example:
        >>> problems = []
        >>> check_sources({"sources": [{"id": "hrnk"}]}, "camp", lambda *p: problems.append(p))
        >>> problems[0][1:3]
        ('sources[0].title', None)
    """
    raw = props.get("sources")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        add(label, "sources", raw, "must be a list of source objects")
        return None
    sources = [_source(item, i, label, add) for i, item in enumerate(raw)]
    seen: dict[str, int] = {}
    for i, s in enumerate(sources):
        if s is None:
            continue
        if s.id in seen:
            add(
                label,
                f"sources[{i}].id",
                s.id,
                f"duplicate source id: sources[{seen[s.id]}] has it",
            )
        seen.setdefault(s.id, i)
    if any(s is None for s in sources):
        return None
    return tuple(cast(list[Source], sources))


def check_reported_source(
    props: dict[str, Any],
    sources: tuple[Source, ...],
    point: tuple[float, float] | None,
    label: str,
    add: Add,
) -> str | None:
    """``reported_source``: a source that prints exactly ``reported_lat``/``reported_lon``."""
    sid = props.get("reported_source")
    if sid is None:
        return None
    by_id = {s.id: s for s in sources}
    if not isinstance(sid, str) or sid not in by_id:
        add(label, "reported_source", sid, f"names no source; source ids: {sorted(by_id)}")
        return None
    src = by_id[sid]
    if not src.has_point:
        add(label, "reported_source", sid, "that source gives no lat/lon")
        return None
    if point is not None and (src.lat, src.lon) != point:
        add(
            label,
            "reported_lat, reported_lon",
            list(point),
            f"differ from source {sid!r} ({src.lat}, {src.lon}): the reported point is the "
            "published point, unchanged",
        )
    return sid


def _ref(obj: dict[str, Any], where: str, ids: set[str], label: str, add: Add) -> str | None:
    sid = obj.get("source")
    if sid is None:
        add(label, f"{where}.source", None, "missing (required)")
        return None
    if sid not in ids:
        add(label, f"{where}.source", sid, f"names no source; source ids: {sorted(ids)}")
        return None
    return cast(str, sid)


def check_status(
    props: dict[str, Any], sources: tuple[Source, ...], label: str, add: Add
) -> StatusReport | None:
    """``status``: a value, and unless it is "unknown", its date, source and quote."""
    raw = props.get("status")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        add(label, "status", raw, "must be an object {value, as_of, source, quote, note}")
        return None
    value = raw.get("value")
    if value not in FACILITY_STATUSES:
        add(label, "status.value", value, f"must be one of {', '.join(FACILITY_STATUSES)}")
        return None
    known = value != "unknown"
    as_of = _date(raw, "as_of", "status", label, add, required=known)
    quote = (_text if known else _opt_text)(raw, "quote", "status", label, add)
    note = _opt_text(raw, "note", "status", label, add)
    ids = {s.id for s in sources}
    sid = _ref(raw, "status", ids, label, add) if known or "source" in raw else None
    if known and None in (as_of, quote, sid):
        return None
    return StatusReport(cast(FacilityStatus, value), as_of, sid, quote, note)


def check_extent(
    props: dict[str, Any], sources: tuple[Source, ...], label: str, add: Add
) -> Extent | None:
    """``extent``: the published size (area and/or sides in metres) with source and quote."""
    raw = props.get("extent")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        add(label, "extent", raw, "must be an object {source, quote, area_m2, length_m, width_m}")
        return None
    sid = _ref(raw, "extent", {s.id for s in sources}, label, add)
    quote = _text(raw, "quote", "extent", label, add)
    sizes: dict[str, float | None] = {}
    for key in ("area_m2", "length_m", "width_m"):
        v = raw.get(key)
        ok = v is None or (
            not isinstance(v, bool) and isinstance(v, int | float) and v > 0 and math.isfinite(v)
        )
        if not ok:
            add(label, f"extent.{key}", v, "must be a positive number")
        sizes[key] = float(v) if ok and v is not None else None
    if all(v is None for v in sizes.values()):
        add(label, "extent", raw, "give at least one of area_m2, length_m, width_m")
        return None
    if sid is None or quote is None:
        return None
    return Extent(sid, quote, sizes["area_m2"], sizes["length_m"], sizes["width_m"])


def check_strict(
    props: dict[str, Any], sources: tuple[Source, ...] | None, label: str, add: Add
) -> None:
    """Strict mode (the bundled registry): sources, reported_source and status are required."""
    if sources == ():
        add(label, "sources", props.get("sources"), "missing (required in strict mode)")
    for key in ("reported_source", "status"):
        if props.get(key) is None:
            add(label, key, None, "missing (required in strict mode)")
