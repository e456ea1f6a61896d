"""Where the demo's seconds go: CPU and wall seconds per stage of ``campwatch demo``.

Usage::

    .venv/bin/python benchmarks/demo_profile.py                       # one process, per stage
    .venv/bin/python benchmarks/demo_profile.py --cprofile /tmp/p.out  # and a cProfile dump
    .venv/bin/python benchmarks/demo_profile.py --workers 2           # as make demo runs it

Runs the default demo in a fresh temporary (or given, empty) workspace. With one worker every
stage runs in this process, so the CPU seconds of each stage are this process's own (the
machine is shared: CPU seconds are the figure to compare, wall seconds are distorted by the
load). A stage runs from the first progress call of its name to the first call of the next
one; the work between stages that has no bar of its own (tile status, persistence, series
evidence, events and land cover after ``detect``; the timeline after ``metrics``) is counted
in the stage before it. With ``--workers 2`` the children's CPU is added at the end (it is
known only once they are reaped), so per-stage CPU is for this process alone.

Prints one line per stage (CPU s, wall s, share of CPU), the total, and the demo's events
line (recall and precision against the simulated truth).
"""

from __future__ import annotations

import argparse
import cProfile
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _cpu() -> float:
    self_ = resource.getrusage(resource.RUSAGE_SELF)
    return self_.ru_utime + self_.ru_stime


def _children_cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> None:
    """Command-line entry of the benchmark."""
    from pipeline.demo import run_demo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=None,
                        help="an empty directory to run in; default: a temporary one")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cprofile", type=Path, default=None,
                        help="also write a cProfile dump of the whole run here")
    args = parser.parse_args(argv)
    marks: list[tuple[str, float, float]] = []  # (stage, cpu, wall) at its first call

    def factory(stage: str) -> Callable[[int, int], None]:
        def update(done: int, total: int) -> None:
            if not marks or marks[-1][0] != stage:
                marks.append((stage, _cpu(), time.perf_counter()))
        return update

    with tempfile.TemporaryDirectory(prefix="campwatch-demo-profile-") as tmp:
        workspace = args.workspace or Path(tmp)
        prof = cProfile.Profile() if args.cprofile else None
        marks.append(("start-up", _cpu(), time.perf_counter()))
        if prof:
            prof.enable()
        summary, _, validation = run_demo(workspace, workers=args.workers, progress=factory)
        if prof:
            prof.disable()
            prof.dump_stats(args.cprofile)
        end_cpu, end_wall = _cpu(), time.perf_counter()
    total_cpu = end_cpu - marks[0][1]
    print(f"demo stages, {args.workers} worker(s) (CPU s of this process, wall s):")
    stages: dict[str, list[float]] = {}
    for i, (stage, cpu, wall) in enumerate(marks):
        ncpu, nwall = (marks[i + 1][1:] if i + 1 < len(marks) else (end_cpu, end_wall))
        acc = stages.setdefault(stage, [0.0, 0.0])
        acc[0] += ncpu - cpu
        acc[1] += nwall - wall
    for stage, (cpu, wall) in stages.items():
        print(f"  {stage:<10} {cpu:7.1f} s CPU {wall:7.1f} s wall  {cpu / total_cpu:6.1%}")
    kids = _children_cpu()
    print(f"  {'total':<10} {total_cpu:7.1f} s CPU {end_wall - marks[0][2]:7.1f} s wall"
          f" (+ {kids:.1f} s CPU in worker processes = {total_cpu + kids:.1f} s)")
    print(f"captures {summary.captures} ({summary.usable} usable), {len(summary.pairs)} pairs, "
          f"{summary.changes} changes, {len(summary.events)} events")
    if validation is not None:
        found = sum(m.found for m in validation.matches)
        print(f"demo validation: recall {validation.recall:.0%} ({found}/"
              f"{len(validation.matches)}), precision {validation.precision:.0%} "
              f"({validation.true_events}/{validation.events})")


if __name__ == "__main__":
    main()
