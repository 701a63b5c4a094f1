"""Shared fixtures: one workspace with the trained default model and one PTQ sweep per session.

Everything here uses the real components (Keras 3, the TFLite converter, LiteRT).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The host device profile is calibrated once per machine and shared through this cache:
# one calibration per test session (kernels and CLI subprocesses inherit it), none in $HOME.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="workbench-test-cache-")

REPO = Path(__file__).resolve().parents[1]
LATENCY_RUNS = 5


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """A session workspace; the default model is trained into it once."""
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="session")
def default_task(workspace):
    from workbench.pipeline import prepare_task

    return prepare_task("default", workspace=workspace, progress=False)


@pytest.fixture(scope="session")
def store(workspace):
    from workbench.store import ExperimentStore

    return ExperimentStore(workspace)


@pytest.fixture(scope="session")
def ptq_rows(default_task, store) -> dict[str, dict]:
    """Every post-training recipe, default options, on the default model: recipe -> row."""
    import workbench
    from workbench.pipeline import sweep

    result = sweep(default_task, workbench.default_configs(), store,
                   latency_runs=LATENCY_RUNS, progress=False)
    assert result.failures == {}
    return {row["recipe"]: row for row in result.rows}


@pytest.fixture
def fresh_workspace(tmp_path, workspace, default_task) -> Path:
    """An empty store that already holds the trained default model (no retraining)."""
    shutil.copytree(workspace / "models", tmp_path / "models")
    return tmp_path


@pytest.fixture(scope="session")
def digits_zip(tmp_path_factory) -> Path:
    """A zip of a small digits image folder (train/ and test/, DIGITS_PER_CLASS of each)."""
    from userdata import DIGITS_PER_CLASS, write_digit_folder, zip_folder

    folder = write_digit_folder(tmp_path_factory.mktemp("images") / "digits", DIGITS_PER_CLASS)
    return zip_folder(folder, folder.parent / "digits.zip")


@pytest.fixture(scope="session")
def image_model(tmp_path_factory) -> Path:
    from userdata import picture_classifier

    return picture_classifier(tmp_path_factory.mktemp("model") / "pictures.keras")


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600):
    """Run ``python -m workbench ARGS`` in a subprocess; returns the CompletedProcess."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout)
