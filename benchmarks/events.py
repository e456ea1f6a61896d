"""Events an analyst can trust: precision, recall and share real per confidence label (demo).

Usage::

    .venv/bin/python benchmarks/events.py                          # full default demo (slow)
    .venv/bin/python benchmarks/events.py --resolution 2 --vhr-gsd 1  # 4x fewer pixels
    .venv/bin/python benchmarks/events.py --workspace /tmp/d11     # reuse a demo workspace

Runs ``campwatch demo`` (simulated Kangdong archive, whose truth lists every event) in a
temporary or given workspace, then prints the events found, recall and precision against the
simulated truth (pipeline/history/validation.py rules), and for each confidence label the
share of its events that are real. Goals (issue #11): precision >= 60 % at recall >= 90 %;
"high" >= 80 % real.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from facilities.load import load_facility_by_id  # noqa: E402
from imagery.catalogue import open_catalogue  # noqa: E402
from imagery.simulate.archive import read_truth  # noqa: E402
from imagery.workspace import FacilityWorkspace, workspace_grid  # noqa: E402
from pipeline.demo import DEMO_FACILITY, run_demo  # noqa: E402
from pipeline.history.events import find_events, read_events  # noqa: E402
from pipeline.history.validation import validate_events  # noqa: E402
from pipeline.runner import TRUTH_RELATIVE  # noqa: E402

LABELS = ("high", "medium", "low")


def report(workspace: Path) -> None:
    """Print recall, precision and share real per confidence label of a demo workspace."""
    facility = load_facility_by_id(DEMO_FACILITY)
    ws = FacilityWorkspace(workspace, facility.id)
    grid = workspace_grid(ws, facility, None)
    truth = read_truth(ws.dir / TRUTH_RELATIVE).events
    with open_catalogue(ws.catalogue_path, grid.crs) as cat:
        events = read_events(cat)  # as the run stored them
        captures, changes = cat.captures(), cat.changes()
    # ablation in the same run: the same stored changes without the series' evidence
    bare = [dataclasses.replace(c, extra={k: v for k, v in c.extra.items() if k != "evidence"})
            for c in changes]
    without = validate_events(truth, find_events(captures, bare))
    print(f"without the series evidence (pipeline/change/evidence.py): {without.events} events, "
          f"recall {without.recall:.1%}, precision {without.precision:.1%}")
    val = validate_events(truth, events)
    found = sum(m.found for m in val.matches)
    print(f"events {val.events}, truth events {len(val.matches)}: recall {val.recall:.1%} "
          f"({found}/{len(val.matches)}), precision {val.precision:.1%} "
          f"({val.true_events}/{val.events})")
    for label in LABELS:
        mine = [ev for ev in events if ev.change.confidence_label == label]
        real = sum(validate_events(truth, [ev]).true_events for ev in mine)
        share = f"{real / len(mine):.1%}" if mine else "n/a"
        print(f"  confidence {label:<6}: {len(mine):4d} events, {real:4d} real ({share})")
    print("goal: precision >= 60 % at recall >= 90 %; 'high' >= 80 % real")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=None,
                        help="demo workspace to run in (or reuse); default: a temporary one")
    parser.add_argument("--captures", type=int, default=None)
    parser.add_argument("--size", type=float, default=None, help="scene size, metres")
    parser.add_argument("--resolution", type=float, default=None, help="grid, metres")
    parser.add_argument("--vhr-gsd", type=float, default=None, help="simulated GSD, metres")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="campwatch-events-") as tmp:
        workspace = args.workspace or Path(tmp)
        if not (workspace / DEMO_FACILITY / TRUTH_RELATIVE).exists() or args.workspace is None:
            t0 = time.perf_counter()
            c0 = time.process_time()
            run_demo(workspace, captures=args.captures, size_m=args.size,
                     resolution=args.resolution, vhr_gsd_m=args.vhr_gsd, seed=args.seed)
            print(f"demo ran in {time.perf_counter() - t0:.0f} s wall, "
                  f"{time.process_time() - c0:.0f} s CPU (this process)")
        report(workspace)


if __name__ == "__main__":
    main()
