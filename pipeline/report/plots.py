"""The timeline plot: one track per zone, capture ticks by sensor, events marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from imagery.records import TimelineRow
from pipeline.history.events import Event

REVIEW_STYLE: dict[str, tuple[str, str, str]] = {
    "accepted": ("D", "crimson", "crimson"),
    "pending": ("D", "white", "crimson"),
    "needs_vhr": ("s", "white", "darkorange"),
    "rejected": ("X", "0.55", "0.55"),
}
"""Event marker, face colour and edge colour per review status."""
REVIEW_LABEL = {
    "accepted": "event, accepted (finding)",
    "pending": "event, pending review",
    "needs_vhr": "event, needs VHR imagery",
    "rejected": "event, rejected",
}


def plot_timeline(
    rows: Sequence[TimelineRow],
    events: Sequence[Event],
    out_paths: Sequence[Path],
    *,
    title: str,
    simulated: bool,
    statuses: Mapping[str, str] | None = None,
) -> list[Path]:
    """Draw the activity timeline to each path (PNG and/or SVG by suffix).

    The top track shows every capture as a tick coloured by sensor (faint when
    not usable). Each zone has its own track: a small tick per capture in the
    sensor's colour (faint where the zone was not clear), a grey disc sized by
    the area changed since the previous usable capture, and for events a thin
    bracket from the last capture before to the first capture after with one
    marker per bracket (filled: accepted, hollow: pending; "×n" when several
    events share the bracket). ``statuses`` maps change ids to review statuses.

    Example:
        >>> # plot_timeline(rows, events, [report / "timeline.png"], title="Kangdong",
        >>> #               simulated=True, statuses={"3f9a…": "accepted"})
    """
    statuses = statuses or {}
    zones = sorted({(r.zone_id, r.zone_type) for r in rows if r.zone_id != "aoi"})
    if any(ev.change.zone_id == "" for ev in events):
        zones.append(("", "outside the zones"))
    captures = sorted({(r.acquired, r.capture_id, r.sensor, r.usable) for r in rows})
    sensors = sorted({c[2] for c in captures})
    colours = dict(zip(sensors, plt.get_cmap("tab10")(range(10)), strict=False))
    n = len(zones) + 1
    fig, ax = plt.subplots(figsize=(11, 0.5 * n + 2.0), dpi=120)
    ylabels = ["All captures"] + [
        f"{zid} ({ztype.replace('_', ' ')})" if zid else ztype for zid, ztype in zones
    ]
    index = {zid: i + 1 for i, (zid, _) in enumerate(zones)}
    for i in range(1, n, 2):
        ax.axhspan(i - 0.5, i + 0.5, color="0.96", zorder=0)
    for when, _cid, sensor, usable in captures:
        t = mdates.date2num(when)
        ax.plot([t, t], [-0.35, 0.35], color=colours[sensor], lw=2.2 if usable else 0.8,
                alpha=1.0 if usable else 0.45)
    for r in rows:
        y = index.get(r.zone_id)
        if y is None:
            continue
        clear = r.usable and r.clear_fraction >= 0.5
        t = mdates.date2num(r.acquired)
        ax.plot([t, t], [y + 0.22, y + 0.4], color=colours[r.sensor],
                lw=1.6 if clear else 0.7, alpha=1.0 if clear else 0.35, zorder=1)
        if r.changed_area_m2 > 0:
            ax.scatter(t, y, s=min(300.0, 8 + r.changed_area_m2 / 20),
                       color="0.75", edgecolor="0.45", zorder=2)
    groups: dict[tuple[int, datetime, datetime, str], int] = {}
    for ev in events:
        y = index.get(ev.change.zone_id)
        if y is None:
            continue
        status = statuses.get(ev.change.change_id, "pending")
        key = (y, ev.before.acquired, ev.after.acquired, status)
        groups[key] = groups.get(key, 0) + 1
    brackets: dict[tuple[int, datetime, datetime], list[str]] = {}
    for y, when0, when1, status in groups:
        brackets.setdefault((y, when0, when1), []).append(status)
    for (y, when0, when1, status), count in sorted(groups.items()):
        t0, t1 = mdates.date2num(when0), mdates.date2num(when1)
        shared = sorted(brackets[(y, when0, when1)], key=list(REVIEW_STYLE).index)
        k = shared.index(status)  # statuses sharing a bracket sit side by side on it
        yy = y - 0.22
        ax.plot([t0, t1], [yy, yy], color="crimson", lw=1.2, alpha=0.7, zorder=3)
        ax.plot([t0, t0], [yy - 0.08, yy + 0.08], color="crimson", lw=1.2, alpha=0.7, zorder=3)
        ax.plot([t1, t1], [yy - 0.08, yy + 0.08], color="crimson", lw=1.2, alpha=0.7, zorder=3)
        mid = t0 + (t1 - t0) * (k + 1) / (len(shared) + 1)
        marker, face, edge = REVIEW_STYLE.get(status, REVIEW_STYLE["pending"])
        ax.scatter(mid, yy, s=34, linewidths=1.3, zorder=4, marker=marker,
                   facecolors=face, edgecolors=edge)
        if count > 1:
            ax.annotate(f"×{count}", (mid, yy), xytext=(6, -1),
                        textcoords="offset points", fontsize=7, va="center", color="crimson",
                        zorder=4)
    for sensor in sensors:
        ax.plot([], [], color=colours[sensor], lw=2.2, label=f"capture: {sensor}")
    ax.plot([], [], color="grey", lw=0.8, alpha=0.45, label="not usable / zone not clear")
    ax.scatter([], [], color="0.75", edgecolor="0.45", label="changed area (disc size)")
    ax.plot([], [], color="crimson", lw=1.2, alpha=0.7, label="event bracket")
    for status in sorted({k[3] for k in groups}, key=list(REVIEW_STYLE).index):
        marker, face, edge = REVIEW_STYLE[status]
        ax.scatter([], [], s=34, linewidths=1.3, marker=marker, facecolors=face,
                   edgecolors=edge, label=REVIEW_LABEL[status])
    ax.set_yticks(range(n), ylabels)
    ax.set_ylim(n - 0.5, -0.6)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=16)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(axis="x", color="0.88")
    ax.set_title(title + ("  —  SIMULATED IMAGERY, NOT EVIDENCE" if simulated else ""),
                 color="crimson" if simulated else "black", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    written = []
    for p in out_paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, metadata={"Software": "campwatch"} if p.suffix == ".png" else None)
        written.append(p)
    plt.close(fig)
    return written
