"""Every notebook in notebooks/ runs top to bottom on the tiny trained variants, outputs stripped in git."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from second_seed import second_seed

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_there_are_the_five_notebooks_and_their_outputs_are_stripped():
    nbformat = pytest.importorskip("nbformat")
    assert [p.stem.split("_", 1)[1] for p in NOTEBOOKS] == ["quick_start", "custom_analyzer", "compare_seeds",
                                                             "import", "input_trace"]
    for path in NOTEBOOKS:
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in cells), f"{path.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs(path, tiny_analyzed, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    store, seed0 = tiny_analyzed
    seed1 = second_seed(store)
    root = tmp_path / "data"  # a copy: notebooks import, analyze and save reports
    for ref in (seed0, seed1):
        shutil.copytree(store.variant_dir(ref), root / ref.family / ref.id)
    # The kernel is a new process: it finds this checkout and the data through the environment.
    monkeypatch.setenv("WORKBENCH_DATA", str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
