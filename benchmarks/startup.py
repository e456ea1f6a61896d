"""Start-up time of ``campwatch --help`` and each ``campwatch CMD -h`` against ``import rasterio``.

Usage:
    .venv/bin/python benchmarks/startup.py [--repeat 7]

Each command runs ``--repeat`` times in a fresh interpreter (the console script of this
interpreter's environment, with this checkout first on ``PYTHONPATH``); the table gives the
median wall time and the median CPU time (user + system of the child), and the ratio of each
to the median of ``python -c "import rasterio"`` measured interleaved in the same run (goal:
``campwatch --help`` under 0.5 s and at most 1.5x). On a shared, busy machine the CPU ratio is
the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CAMPWATCH = Path(sys.executable).parent / "campwatch"


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    sys.path.insert(0, str(REPO))
    from pipeline.cli.main import main as group

    cases: dict[str, list[str]] = {
        'python -c "import rasterio"': [sys.executable, "-c", "import rasterio"],
        "campwatch --help": [str(CAMPWATCH), "--help"],
    }
    for name in sorted(group.commands):
        cases[f"campwatch {name} -h"] = [str(CAMPWATCH), name, "-h"]
    walls: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeat):  # interleaved, so load changes hit every case alike
        for name, cmd in cases.items():
            wall, cpu = _timed(cmd, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    ref = 'python -c "import rasterio"'
    ref_wall = statistics.median(walls[ref])
    ref_cpu = statistics.median(cpus[ref])
    print(f"{'command':<34} {'wall s':>7} {'cpu s':>7} {'wall/ref':>8} {'cpu/ref':>8}")
    for name in cases:
        w = statistics.median(walls[name])
        c = statistics.median(cpus[name])
        print(f"{name:<34} {w:7.3f} {c:7.3f} {w / ref_wall:8.2f} {c / ref_cpu:8.2f}")
    worst = max((n for n in cases if n != ref), key=lambda n: statistics.median(walls[n]))
    print(
        f"slowest help: {worst}: {statistics.median(walls[worst]):.3f} s wall "
        f"({statistics.median(walls[worst]) / ref_wall:.2f}x import rasterio), "
        f"{statistics.median(cpus[worst]):.3f} s CPU "
        f"({statistics.median(cpus[worst]) / ref_cpu:.2f}x); median of {args.repeat}"
    )


if __name__ == "__main__":
    main()
