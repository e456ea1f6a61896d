"""The notebooks run top to bottom on the simulated demo archive (nbclient, real kernel)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from imagery.catalogue import open_catalogue

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str, cwd: Path) -> list[str]:
    """Run a notebook in a fresh kernel with ``cwd`` as working directory; return the
    text of every output, and fail on the first cell that raises."""
    nbformat = pytest.importorskip("nbformat", reason="needs nbformat (pip)")
    nbclient = pytest.importorskip("nbclient", reason="needs nbclient and ipykernel (pip)")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(book, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    texts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")))
    return texts


@pytest.fixture(scope="module")
def notebook_workspace(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory,
                       ) -> Path:
    """A private copy of the demo workspace (notebook 02 records decisions in it)."""
    dest = tmp_path_factory.mktemp("nb") / "ws"
    shutil.copytree(demo_workspace, dest,
                    ignore=lambda d, names: [n for n in names
                                             if n.endswith(".tif") and "originals" in d])
    return dest


@pytest.fixture
def in_workspace(notebook_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAMPWATCH_NOTEBOOK_WORKSPACE", str(notebook_workspace))
    return notebook_workspace


def test_01_baseline(in_workspace: Path, tmp_path: Path) -> None:
    out = "\n".join(execute("01_kangdong_baseline.ipynb", tmp_path))
    assert "Kyo-hwa-so No. 4, Kangdong - EPSG:32652 4.0 m grid" in out
    # the events table: statements such as "Earthworks, 416 m², quarry zone: appeared between ..."
    assert re.search(
        r"(New or brighter structure|Structure removed or darkened|Earthworks|Vegetation "
        r"(gain|loss)), [\d,]+ m², ",
        out,
    )


def test_02_review_records_decisions(in_workspace: Path, tmp_path: Path) -> None:
    out = "\n".join(execute("02_review_changes.ipynb", tmp_path))
    counts = [int(line.split()[0]) for line in out.splitlines() if line.endswith(" pending now")
              or line.endswith(" pending")]
    assert len(counts) == 2 and counts[1] == counts[0] - 2
    cat_path = in_workspace / "kangdong-kyohwaso-4" / "catalogue.gpkg"
    with open_catalogue(cat_path, "EPSG:32652") as cat:
        decisions = sorted(r.decision for r in cat.reviews() if r.analyst == "notebook")
    assert decisions == ["accepted", "needs_vhr"]


def test_03_add_a_facility(tmp_path: Path) -> None:
    out = "\n".join(execute("03_add_a_facility.ipynb", tmp_path))
    assert "('example-camp', ['housing-1', 'fields'])" in out
    assert "wrote example-camp.geojson" in out
    assert re.search(r"4 captures, [1-4] usable, \d+ changes, \d+ events", out)
