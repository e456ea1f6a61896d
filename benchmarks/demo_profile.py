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

A thread samples the demo's process tree from /proc every 0.5 s (``--samples`` writes
them as CSV): per stage, the tree's CPU seconds (the workers' included, so with ``--workers 2``
each stage's whole cost), the cores it kept busy, and the mean number of its threads that
wanted a core (at most 2): that last figure does not depend on the machine's load, so it
says where a core would idle on an idle machine even when the shared machine is busy.

Prints one line per stage (CPU s of this process, CPU s of the tree, wall s, cores busy,
runnable threads, share of this process's CPU), the total, and the demo's events line
(recall and precision against the simulated truth).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import sys
import tempfile
import threading
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


_TICK = os.sysconf("SC_CLK_TCK")


def _tree_sample() -> tuple[float, int]:
    """CPU seconds (user + sys) of this process and its live descendants (the pool's
    workers), and how many of their threads are running or waiting for a core, from /proc.

    The second figure does not depend on the machine's load: a stage whose runnable
    threads average 1.0 leaves one of two cores idle on an idle machine, however busy the
    shared machine is when it is measured."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    mine = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in stats.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grew = True
    runnable = 0
    for pid in mine:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            if pid == os.getpid() and int(tid) == threading.get_native_id():
                continue  # the sampler itself
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                    state = fh.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            runnable += state == "R"
    return sum(stats[p][1] for p in mine if p in stats), runnable


class _Sampler(threading.Thread):
    """Samples :func:`_tree_sample` every ``every`` seconds: ``at(t)`` is the tree's CPU
    seconds at a wall time (a worker's CPU is lost from /proc when it exits, so the pool's
    end is read from the last sample before it); ``demand(t0, t1)`` the mean number of its
    threads that wanted a core, at most ``cores``."""

    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.perf_counter(), *_tree_sample()))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def at(self, wall: float) -> float:
        """The tree's CPU seconds at ``wall`` (the largest sample up to it: never falls when
        a worker exits)."""
        return max((cpu for t, cpu, _ in self.samples if t <= wall), default=0.0)

    def demand(self, start: float, end: float, cores: int = 2) -> float:
        """Mean runnable threads (each sample capped at ``cores``) between two wall times."""
        got = [min(n, cores) for t, _, n in self.samples if start <= t < end]
        return sum(got) / len(got) if got else float("nan")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry of the benchmark."""
    from pipeline.demo import run_demo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=None,
                        help="an empty directory to run in; default: a temporary one")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cprofile", type=Path, default=None,
                        help="also write a cProfile dump of the whole run here")
    parser.add_argument("--samples", type=Path, default=None,
                        help="also write the process tree's CPU seconds every 0.5 s (CSV)")
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
        sampler = _Sampler()
        sampler.start()
        marks.append(("start-up", _cpu(), time.perf_counter()))
        if prof:
            prof.enable()
        summary, _, validation = run_demo(workspace, workers=args.workers, progress=factory)
        if prof:
            prof.disable()
            prof.dump_stats(args.cprofile)
        end_cpu, end_wall = _cpu(), time.perf_counter()
        sampler.stop()
    total_cpu = end_cpu - marks[0][1]
    print(f"demo stages, {args.workers} worker(s) (CPU s of this process; of the process "
          "tree, workers included, sampled every 0.5 s; wall s; cores busy = tree / wall; "
          "runnable = mean threads of the tree wanting a core, at most 2):")
    stages: dict[str, list[float]] = {}
    for i, (stage, cpu, wall) in enumerate(marks):
        ncpu, nwall = (marks[i + 1][1:] if i + 1 < len(marks) else (end_cpu, end_wall))
        acc = stages.setdefault(stage, [0.0, 0.0, 0.0, 0.0])
        acc[0] += ncpu - cpu
        acc[1] += sampler.at(nwall) - sampler.at(wall)
        acc[2] += nwall - wall
        acc[3] += sampler.demand(wall, nwall) * (nwall - wall)
    for stage, (cpu, tree, wall, busy) in stages.items():
        print(f"  {stage:<10} {cpu:7.1f} s CPU {tree:7.1f} s tree {wall:7.1f} s wall "
              f"{tree / max(wall, 1e-9):5.2f} cores {busy / max(wall, 1e-9):5.2f} runnable"
              f"  {cpu / total_cpu:6.1%}")
    whole = sampler.demand(marks[0][2], end_wall)
    print(f"  runnable threads of the demo (at most 2) over the whole run: {whole:.2f} "
          "(what the two cores would be kept busy at on an idle machine)")
    if args.samples:
        t0 = marks[0][2]
        args.samples.write_text("wall_s,tree_cpu_s,runnable\n" + "".join(
            f"{t - t0:.2f},{c:.2f},{n}\n" for t, c, n in sampler.samples))
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
