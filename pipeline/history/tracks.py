"""Tracks: one identity per physical change, whatever capture pair it is seen in (pure).

A change object's ``change_id`` depends on its capture pair. When a capture lands
between two existing ones (a purchased archive image, a late fetch), the rerun
compares new pairs and the same physical change is found again under a new id.
Decisions and alerts hang on the *track*: the id of the change that first showed
it. A new detection inherits the track of a previous one when it is

- the same detection (same ``change_id``), or
- the same kind of change, its outline overlaps the previous one with an
  intersection over union of at least :data:`TRACK_IOU`, and the two brackets
  (before → after acquisition) overlap in time: a backfilled capture only narrows
  the bracket.

Otherwise it starts a new track, named by its own ``change_id`` (so a change seen
once keeps the key its alert and reviews always had).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from shapely import STRtree

from imagery.records import StoredChange

TRACK_IOU = 0.5
"""Smallest intersection over union for a detection to continue a previous track."""


def _iou(a: StoredChange, b: StoredChange) -> float:
    union = a.geometry.union(b.geometry).area
    return float(a.geometry.intersection(b.geometry).area / union) if union > 0 else 0.0


def _track(c: StoredChange) -> str:
    return c.track_id or c.change_id


def _brackets_overlap(a: StoredChange, b: StoredChange) -> bool:
    return a.before_acquired < b.after_acquired and b.before_acquired < a.after_acquired


def assign_tracks(
    changes: Sequence[StoredChange], previous: Sequence[StoredChange]
) -> list[StoredChange]:
    """``changes`` with their ``track_id`` set from ``previous`` (the catalogue before the run).

    Each previous track is continued by at most one new change of a pair (the best
    overlap wins); ties go to the earlier id, so the result does not depend on order.

    Example:
        >>> assign_tracks([], [])
        []
    """
    by_id = {p.change_id: p for p in previous}
    tree = STRtree([p.geometry for p in previous])  # near ones only: runs grow to 10^4 rows
    out: list[StoredChange] = []
    taken: set[tuple[str, str, str]] = set()  # (track, before_id, after_id)
    candidates = []
    for i, c in enumerate(changes):
        same = by_id.get(c.change_id)
        if same is not None:
            candidates.append((2.0, _track(same), i))
            continue
        for j in tree.query(c.geometry, predicate="intersects"):
            p = previous[int(j)]
            if p.change_type != c.change_type or not _brackets_overlap(p, c):
                continue
            score = _iou(p, c)
            if score >= TRACK_IOU:
                candidates.append((score, _track(p), i))
    chosen: dict[int, str] = {}
    for _score, track, i in sorted(candidates, key=lambda t: (-t[0], t[1], t[2])):
        c = changes[i]
        key = (track, c.before_id, c.after_id)
        if i in chosen or key in taken:
            continue
        chosen[i] = track
        taken.add(key)
    for i, c in enumerate(changes):
        out.append(dataclasses.replace(c, track_id=chosen.get(i, c.change_id)))
    return out
