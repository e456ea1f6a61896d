"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"needs the real test data in {SHARED_DATA} (absent in a fresh clone; CI has it)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Kangdong demo workspace, run once per test session (simulated imagery).

    Six captures at 2 m over the whole AOI on a 4 m grid: every stage runs, in seconds.
    """
    from pipeline.demo import run_demo

    root = tmp_path_factory.mktemp("demo")
    run_demo(root, captures=6, resolution=4.0, vhr_gsd_m=2.0, seed=7)
    return root
