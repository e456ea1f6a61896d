"""Which captures are compared: consecutive usable captures of the same series."""

from __future__ import annotations

from dataclasses import dataclass

from imagery.capture import Capture
from imagery.types import Series

VHR_MAX_GSD_M = 5.0
"""Captures at or finer than this GSD form the very-high-resolution series."""


def series_of(capture: Capture) -> Series:
    """The series a capture belongs to: ``"vhr"`` (≤ 5 m GSD) or ``"medium"``.

    Comparing a 0.5 m capture with a 10 m one would flag every roof edge, so
    change is only detected between captures of the same series.

    Example:
        >>> from datetime import datetime, UTC
        >>> from shapely.geometry import Polygon
        >>> c = Capture("c", "f", datetime(2020, 1, 1, tzinfo=UTC), "S2", 10.0, Polygon(),
        ...             "local", "", "")
        >>> series_of(c)
        'medium'
    """
    return "vhr" if capture.gsd_m <= VHR_MAX_GSD_M else "medium"


@dataclass(frozen=True)
class CapturePair:
    """Two consecutive usable captures of one series."""

    before: Capture
    """The earlier capture."""
    after: Capture
    """The later capture."""
    series: Series
    """Their series."""
    gap_of: Capture | None = None
    """For a gap-filling pair: the usable but partly unclear capture between ``before``
    and ``after``; only the pixels it did not see clearly are compared."""

    @property
    def key(self) -> str:
        """File-name-safe key of the pair."""
        return f"{self.before.capture_id}__{self.after.capture_id}"


def _usable_by_series(captures: list[Capture]) -> dict[Series, list[Capture]]:
    """Usable captures per series, oldest first."""
    by_series: dict[Series, list[Capture]] = {}
    for c in sorted(captures, key=lambda c: (c.acquired, c.capture_id)):
        if c.usable:
            by_series.setdefault(series_of(c), []).append(c)
    return by_series


def capture_pairs(captures: list[Capture]) -> list[CapturePair]:
    """Consecutive usable captures per series, oldest first.

    Example:
        >>> capture_pairs([])
        []
    """
    by_series = _usable_by_series(captures)
    pairs = [
        CapturePair(s[i], s[i + 1], name)
        for name, s in sorted(by_series.items())
        for i in range(len(s) - 1)
    ]
    return sorted(pairs, key=lambda p: (p.after.acquired, p.series))


GAP_FILL_BELOW = 0.98
"""A usable capture clearer than this over the AOI leaves no gap worth filling."""


def gap_pairs(captures: list[Capture]) -> list[CapturePair]:
    """Pairs that look past a usable capture where it was not clear.

    Between consecutive usable captures A, B, C of a series, where B saw only part
    of the AOI (a strip's edge, a cloud), change under B's gap happened between A
    and C: this pair compares A with C on those pixels alone, so the event is
    found and bracketed by A and C instead of being lost.

    Example:
        >>> gap_pairs([])
        []
    """
    by_series = _usable_by_series(captures)
    out = [
        CapturePair(s[i - 1], s[i + 1], name, gap_of=s[i])
        for name, s in sorted(by_series.items())
        for i in range(1, len(s) - 1)
        if (s[i].clear_fraction or 0.0) < GAP_FILL_BELOW
    ]
    return sorted(out, key=lambda p: (p.after.acquired, p.series))
