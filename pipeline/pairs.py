"""Which captures are compared: consecutive usable captures of the same series."""

from __future__ import annotations

from dataclasses import dataclass

from imagery.capture import Capture

VHR_MAX_GSD_M = 5.0
"""Captures at or finer than this GSD form the very-high-resolution series."""


def series_of(capture: Capture) -> str:
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
    series: str
    """Their series."""

    @property
    def key(self) -> str:
        """File-name-safe key of the pair."""
        return f"{self.before.capture_id}__{self.after.capture_id}"


def capture_pairs(captures: list[Capture]) -> list[CapturePair]:
    """Consecutive usable captures per series, oldest first.

    Example:
        >>> capture_pairs([])
        []
    """
    by_series: dict[str, list[Capture]] = {}
    for c in sorted(captures, key=lambda c: (c.acquired, c.capture_id)):
        if c.usable:
            by_series.setdefault(series_of(c), []).append(c)
    pairs = [
        CapturePair(s[i], s[i + 1], name)
        for name, s in sorted(by_series.items())
        for i in range(len(s) - 1)
    ]
    return sorted(pairs, key=lambda p: (p.after.acquired, p.series))
