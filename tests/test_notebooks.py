"""Every notebook runs top to bottom on the built-in default (real kernel, real components)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, fresh_workspace, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(fresh_workspace))
    notebook = nbformat.read(path, as_version=4)
    # execute() raises CellExecutionError, naming the cell, if any cell fails
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    # every teaching notebook measures at least three variants into the workspace it was given;
    # the dashboard only shows the app (its browser test runs the recipes)
    measured = len(list((fresh_workspace / "artifacts").glob("*.tflite")))
    assert measured >= (0 if path.name == "dashboard.ipynb" else 3)
    if path.name == "dashboard.ipynb":  # the app rendered, without an error output
        outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in outputs)
