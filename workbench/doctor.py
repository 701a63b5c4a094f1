"""A setup check a workshop runs first: ``python -m workbench doctor``.

Each check says what it found and, when something is wrong, the one fix to apply: the
Python and package versions, TensorFlow with Keras 3, a tiny model through the converter and
LiteRT, the workspace (writable? its store sound?), and Debian's chromium for the browser
tests. ``repair`` moves a damaged store aside and rebuilds its rows from the artifacts.

Example:
    >>> checks = run_checks("/tmp/ws")                                 # doctest: +SKIP
    >>> [check.name for check in checks if not check.ok]               # doctest: +SKIP
    []
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from workbench.errors import WorkbenchError

PACKAGES = ("tensorflow-cpu|tensorflow", "keras", "ai-edge-litert", "numpy", "pandas", "plotly",
            "ipywidgets", "voila", "scikit-learn")
SUPPORTED_PYTHON = ((3, 11), (3, 12))
CHROMIUM_ENV = "WORKBENCH_CHROMIUM"  # where chromium is, when not on PATH as 'chromium'
CHROMIUM_PATHS = ("chromium", "/usr/bin/chromium")
SETUP_FIX = "run `make setup` (or `pip install -e .`) in the project folder"


@dataclass
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        mark = "ok  " if self.ok else ("FAIL" if self.required else "warn")
        text = f"[{mark}] {self.name}: {self.found}"
        return text + (f"\n       fix: {self.fix}" if not self.ok and self.fix else "")


def run_checks(workspace=None, browser_required: bool = False) -> list[Check]:
    """Every check, in order; ``browser_required`` makes chromium a required one."""
    return [_python(), *[_package(names) for names in PACKAGES], _keras_3(), _litert(),
            *_workspace(workspace), _chromium(browser_required)]


def _python() -> Check:
    version = sys.version_info[:2]
    ok = SUPPORTED_PYTHON[0] <= version <= SUPPORTED_PYTHON[-1]
    return Check("python", ok, sys.version.split()[0],
                 "install Python 3.11 or 3.12 and create the environment with it")


def _package(names: str) -> Check:
    for name in names.split("|"):
        try:
            return Check(name, True, metadata.version(name))
        except metadata.PackageNotFoundError:
            continue
    return Check(names.split("|")[0], False, "not installed", SETUP_FIX)


def _keras_3() -> Check:
    try:
        import keras
    except Exception as error:  # noqa: BLE001 - the check reports whatever breaks the import
        return Check("keras 3 on tensorflow", False, f"import failed: {error}", SETUP_FIX)
    ok = keras.__version__.startswith("3.")
    return Check("keras 3 on tensorflow", ok, f"keras {keras.__version__}, backend "
                 f"{keras.backend.backend()}", "install keras>=3 (tf_keras is not enough)")


def _litert() -> Check:
    """A two-layer model through the converter and the LiteRT interpreter (a few seconds)."""
    try:
        import keras
        import numpy as np

        from workbench.measure import tflite_predict
        from workbench.ptq import convert
        from workbench.recipes import make_config

        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        tflite = convert(model, make_config("float32"), progress=False)
        outputs = tflite_predict(tflite, np.ones((3, 4), "float32"), progress=False)
        ok = outputs.shape == (3, 2)
    except Exception as error:  # noqa: BLE001 - the check reports whatever breaks
        return Check("converter and LiteRT", False, f"{type(error).__name__}: {error}",
                     SETUP_FIX)
    return Check("converter and LiteRT", ok, f"a tiny model converted and ran ({len(tflite)} "
                 "bytes)")


def _workspace(workspace) -> list[Check]:
    from workbench.store import ExperimentStore
    from workbench.workspace import resolve_workspace

    try:
        folder = resolve_workspace(workspace)
    except WorkbenchError as error:
        return [Check("workspace", False, str(error), "pass --workspace with a writable folder")]
    writable = _can_write(folder)
    checks = [Check("workspace", writable, f"{folder} ({'writable' if writable else 'read-only'})",
                    "make the folder writable or pass another --workspace (a read-only "
                    "workspace can only be browsed)")]
    try:
        store = ExperimentStore(folder)
        problems = store.check()
        rows = len(store.results())
    except WorkbenchError as error:
        checks.append(Check("experiment store", False, str(error),
                            f"python -m workbench doctor --repair --workspace {folder}"))
        return checks
    checks.append(Check("experiment store", not problems,
                        "; ".join(problems) or f"sound, {rows} stored variant(s)",
                        f"python -m workbench doctor --repair --workspace {folder}"))
    cached = (folder / "models" / "default-v1.keras").is_file()
    checks.append(Check("default model", True, "cached" if cached else
                        "not cached yet: trained on first use (about 20 s)"))
    return checks


def _can_write(folder: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            return True
    except OSError:
        return False


def chromium_path() -> str | None:
    """The chromium the browser tests drive: ``$WORKBENCH_CHROMIUM``, else ``chromium``."""
    import os

    candidates = (os.environ[CHROMIUM_ENV],) if os.environ.get(CHROMIUM_ENV) else CHROMIUM_PATHS
    return next((shutil.which(path) for path in candidates if shutil.which(path)), None)


def _chromium(required: bool) -> Check:
    found = chromium_path()
    return Check("chromium (browser tests)", found is not None, found or "not found",
                 "sudo apt-get install chromium (Debian/Ubuntu; .ci/run does it in CI), or set "
                 f"${CHROMIUM_ENV} to its path; only the browser tests need it",
                 required=required)


def repair(workspace=None) -> str:
    """Move a damaged store aside and rebuild its rows from the artifacts; says what it did."""
    from workbench.store import DATABASE, ExperimentStore
    from workbench.workspace import resolve_workspace

    folder = resolve_workspace(workspace)
    database = folder / DATABASE
    try:
        store = ExperimentStore(folder)
        if not any("integrity" in problem for problem in store.check()):
            return f"the store is sound; restored {store.rebuild()} row(s) from the artifacts"
    except WorkbenchError:
        pass
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    aside = database.with_name(f"{DATABASE}.damaged-{stamp}")
    database.replace(aside)
    for suffix in ("-wal", "-shm"):
        companion = database.with_name(DATABASE + suffix)
        if companion.exists():
            companion.replace(aside.with_name(aside.name + suffix))
    restored = ExperimentStore(folder).rebuild()
    return f"moved the damaged store to {aside}; rebuilt {restored} row(s) from the artifacts"
