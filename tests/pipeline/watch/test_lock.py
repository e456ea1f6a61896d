"""The workspace lock: a second run exits fast naming the holder; stale locks recover."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.watch import EXIT_LOCKED, watch
from pipeline.errors import LockHeldError
from pipeline.lock import LOCK_NAME, workspace_lock

HOLD = (
    "import sys, time; from pathlib import Path; from pipeline.lock import workspace_lock\n"
    "with workspace_lock(Path(sys.argv[1]), 'holder-test'):\n"
    "    print('locked', flush=True); time.sleep(60)\n"
)


def _holder(ws: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ws)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[3])
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def test_second_holder_in_process_is_refused(tmp_path: Path) -> None:
    with workspace_lock(tmp_path, "first") as held:
        assert held.recovered is None
        with pytest.raises(LockHeldError) as info, workspace_lock(tmp_path, "second"):
            pass
    msg = str(info.value)
    assert f"pid {os.getpid()}" in msg and "(first)" in msg and str(tmp_path / LOCK_NAME) in msg
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released cleanly
    with workspace_lock(tmp_path, "third") as held:
        assert held.recovered is None


def test_cli_run_exits_fast_while_another_run_holds_the_lock(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        t0 = time.monotonic()
        result = CliRunner().invoke(
            watch,
            [
                "--workspace",
                str(tmp_path),
                "--provider",
                "earth-search",
                "--facility",
                "kangdong-kyohwaso-4",
            ],
        )
        elapsed = time.monotonic() - t0
    finally:
        _end(proc)
    assert result.exit_code == EXIT_LOCKED, result.output
    assert f"pid {proc.pid} on" in result.output and "holder-test" in result.output
    assert elapsed < 5


def test_lock_of_a_killed_run_is_recovered(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    proc.send_signal(signal.SIGKILL)
    _end(proc)
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == proc.pid
    with workspace_lock(tmp_path, "next") as held:
        assert held.recovered is not None and held.recovered.pid == proc.pid
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_stale_lock_file_from_dead_pid_is_recovered(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {"pid": dead.pid, "host": "elsewhere", "started": "2024-01-01T00:00:00+00:00",
              "command": "campwatch watch"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(record))
    with workspace_lock(tmp_path, "next") as held:
        assert held.recovered is not None
        assert held.recovered.describe() == (
            f"pid {dead.pid} on elsewhere since 2024-01-01T00:00:00+00:00 (campwatch watch)"
        )
