"""``campwatch --help`` and every ``campwatch CMD -h`` start without the heavy libraries.

Structural, not timed: each help is printed in a fresh interpreter, which then reports the
modules it imported. ``benchmarks/startup.py`` measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pipeline.cli.main import main

REPO = Path(__file__).resolve().parents[2]

HEAVY = (
    "dask", "distributed", "geopandas", "matplotlib", "weasyprint", "rio_tiler",
    "pystac_client", "pandas", "pyarrow", "skimage", "scipy", "rasterio",
    "numpy", "shapely", "pyproj",
)
"""Must not be imported to print help (rasterio too: the group enters GDAL's environment
only for a command that runs; numpy, shapely and pyproj cost 0.3 s, most of a help's
start-up, when a command module imports the facility model at module level)."""

PROBE = """
import json, sys
from pipeline.cli.main import main
try:
    main(sys.argv[1:], prog_name="campwatch")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
top = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"code": code, "modules": top}), file=sys.stderr)
"""


def _help_args() -> list[list[str]]:
    args: list[list[str]] = [["--help"]]
    for name, cmd in sorted(main.commands.items()):
        args.append([name, "-h"])
        if isinstance(cmd, click.Group):
            args += [[name, sub, "-h"] for sub in sorted(cmd.commands)]
    return args


def _imported(args: list[str]) -> tuple[int, set[str], str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
        cwd=REPO, timeout=120, check=False,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), proc.stdout


@pytest.mark.parametrize("args", _help_args(), ids=" ".join)
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    code, modules, out = _imported(args)
    assert code == 0
    assert "Usage: campwatch" in out
    assert sorted(modules & set(HEAVY)) == []


def test_a_command_that_runs_still_enters_gdal() -> None:
    # the help shortcut must not leak into real runs: `facilities list` runs the callback
    code, modules, out = _imported(["facilities", "list"])
    assert code == 0
    assert "kangdong-kyohwaso-4" in out
    assert "rasterio" in modules


def test_cli_copies_of_library_names_match() -> None:
    from facilities.load import ENV_VAR
    from imagery.quality import DEFAULT_MIN_CLEAR
    from imagery.stac.providers import PROVIDER_NAMES
    from pipeline.change.records import METHODS
    from pipeline.cli import names

    assert names.FACILITIES_ENV_VAR == ENV_VAR
    assert names.CHANGE_METHODS == METHODS
    assert names.PROVIDER_NAMES == PROVIDER_NAMES
    assert names.DEFAULT_MIN_CLEAR == DEFAULT_MIN_CLEAR
