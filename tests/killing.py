"""SIGKILL a command at a chosen pause point (the kill tests of watch, ingest, run, review, fetch).

The harness under test pauses at ``CAMPWATCH_TEST_PAUSE_AT`` and creates the file named by
``CAMPWATCH_TEST_PAUSE_FILE``; this module waits for that file, then kills the process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def kill_when_paused(
    harness: Path, args: list[str], *, pause_at: str, mark: Path, label: str,
    deadline_s: float,
) -> None:
    """Run ``harness args`` until it pauses at ``pause_at``, then SIGKILL it.

    Fails the test when the command ends before pausing or never pauses within
    ``deadline_s``.
    """
    mark.unlink(missing_ok=True)
    env = os.environ | {"CAMPWATCH_TEST_PAUSE_AT": pause_at,
                        "CAMPWATCH_TEST_PAUSE_FILE": str(mark), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(harness), *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + deadline_s
    while not mark.exists():
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"{label} ended (code {proc.returncode}) before pausing at "
                        f"{pause_at}:\n{out}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{label} never reached {pause_at}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()
