"""The timeline plot: one track per zone, capture ticks by sensor, events marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from imagery.records import TimelineRow  # noqa: E402
from pipeline.events import Event  # noqa: E402


def plot_timeline(
    rows: Sequence[TimelineRow],
    events: Sequence[Event],
    out_paths: Sequence[Path],
    *,
    title: str,
    simulated: bool,
) -> list[Path]:
    """Draw the activity timeline to each path (PNG and/or SVG by suffix).

    Example:
        >>> # plot_timeline(rows, events, [report / "timeline.png"], title="Kangdong",
        >>> #               simulated=True)
    """
    zones = sorted({(r.zone_id, r.zone_type) for r in rows if r.zone_id != "aoi"})
    captures = sorted({(r.acquired, r.capture_id, r.sensor, r.usable) for r in rows})
    sensors = sorted({c[2] for c in captures})
    colours = dict(zip(sensors, plt.get_cmap("tab10").colors, strict=False))
    n = len(zones) + 1
    fig, ax = plt.subplots(figsize=(11, 0.45 * n + 2.2), dpi=120)
    ylabels = ["Captures"] + [f"{zid} ({ztype.replace('_', ' ')})" for zid, ztype in zones]
    for t, _cid, sensor, usable in captures:
        ax.plot([t, t], [-0.35, 0.35], color=colours[sensor], lw=2.2 if usable else 0.8,
                alpha=1.0 if usable else 0.45)
    for sensor in sensors:
        ax.plot([], [], color=colours[sensor], lw=2.2, label=sensor)
    ax.plot([], [], color="grey", lw=0.8, alpha=0.45, label="not usable (cloud/coverage)")
    index = {zid: i + 1 for i, (zid, _) in enumerate(zones)}
    for r in rows:
        if r.zone_id in index and r.changed_area_m2 > 0:
            ax.scatter(r.acquired, index[r.zone_id], s=min(300.0, 8 + r.changed_area_m2 / 20),
                       color="0.7", edgecolor="0.4", zorder=2)
    for ev in events:
        y = index.get(ev.change.zone_id)
        if y is None:
            continue
        mid = ev.before.acquired + (ev.after.acquired - ev.before.acquired) / 2
        ax.plot([ev.before.acquired, ev.after.acquired], [y, y], color="crimson", lw=3,
                alpha=0.6, solid_capstyle="butt", zorder=3)
        ax.scatter(mid, y, marker="D", color="crimson", s=28, zorder=4)
    ax.plot([], [], color="crimson", lw=3, alpha=0.6, label="event (bracket)")
    ax.scatter([], [], color="0.7", edgecolor="0.4", label="changed area (size)")
    ax.set_yticks(range(n), ylabels)
    ax.set_ylim(n - 0.5, -0.6)
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.grid(axis="x", color="0.9")
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
