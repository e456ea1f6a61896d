"""Run a ``campwatch`` command with a pause point, for the kill tests (test-only code).

``CAMPWATCH_TEST_PAUSE_AT="module:Attr.path:n[:after]"`` wraps that function so that
its n-th call writes ``$CAMPWATCH_TEST_PAUSE_FILE`` and sleeps (before the call, or
after it returns with ``:after``), so a test can SIGKILL the process exactly there.
Production code carries no hook: the wrapping happens in this process only.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPEC = os.environ.get("CAMPWATCH_TEST_PAUSE_AT", "")
MARK = os.environ.get("CAMPWATCH_TEST_PAUSE_FILE", "")


def install(spec: str) -> None:
    module_name, attr_path, nth_text, *flags = spec.split(":")
    owner: Any = importlib.import_module(module_name)
    *parents, name = attr_path.split(".")
    for p in parents:
        owner = getattr(owner, p)
    real: Callable[..., Any] = getattr(owner, name)
    nth, after, calls = int(nth_text), "after" in flags, [0]

    def pause() -> None:
        Path(MARK).write_text(spec)
        time.sleep(600)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        n = calls[0]  # this call's number (other threads may call meanwhile)
        if n == nth and not after:
            pause()
        result = real(*args, **kwargs)
        if n == nth and after:
            pause()
        return result

    setattr(owner, name, wrapper)


if __name__ == "__main__":
    if SPEC:
        install(SPEC)
    from pipeline.cli.main import main

    main.main(args=sys.argv[1:], prog_name="campwatch")
