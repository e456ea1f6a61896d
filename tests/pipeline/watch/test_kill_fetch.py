"""Fault tests for ``campwatch fetch``: SIGKILL at each write point, rerun, compare with an
uninterrupted fetch, verify (issue #12, item 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagery.catalogue import open_catalogue
from imagery.verify import verify_workspace
from pipeline.lock import is_temporary
from tests.pipeline.evidence.conftest import cli
from tests.pipeline.evidence.test_kill_cli import _kill
from tests.pipeline.watch.conftest import CRS, FACILITY_ID

pytestmark = pytest.mark.slow


def _fetch(ws: Path, url: str) -> list[str]:
    return ["fetch", FACILITY_ID, "--provider", "stac", "--stac-url", url,
            "--collection", "sentinel-2-l2a", "--start", "2014-01-01", "--end", "2025-01-01",
            "--workspace", str(ws), "--resolution", "10"]


def _captures(ws: Path) -> list[tuple[str, str, str, bool]]:
    with open_catalogue(ws / FACILITY_ID / "catalogue.gpkg", CRS) as cat:
        return sorted((c.capture_id, c.raster_sha256, c.mask_sha256, c.usable)
                      for c in cat.captures())


@pytest.mark.parametrize(
    "spec",
    [
        "imagery.stac.read:read_band:7",  # between two asset reads of the second item
        "imagery.store:sha256_file:3",  # second item's COG written, not renamed
        "imagery.catalogue:Catalogue._refresh_extent:2",  # inside the second capture's txn
        "pipeline.lock:seal_facility:1",  # everything fetched, nothing sealed
    ],
)
def test_fetch_killed_then_rerun_equals_an_uninterrupted_fetch(
    spec: str, ab_api: Any, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    cli(*_fetch(clean, ab_api.url))
    ws = tmp_path / "ws"
    _kill(_fetch(ws, ab_api.url), spec, tmp_path)
    cli(*_fetch(ws, ab_api.url))
    assert _captures(ws) == _captures(clean) and len(_captures(ws)) == 2
    report = verify_workspace(ws)
    assert report.ok, [p.describe() for p in report.problems]
    assert [p for p in ws.rglob("*") if p.is_file() and is_temporary(p.name)] == []
