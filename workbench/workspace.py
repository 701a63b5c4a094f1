"""Where the workbench keeps its state: the experiment store, artifacts and cached models.

The CLI, the notebooks and the dashboard share one workspace directory: the
``workspace`` argument if given, else ``$WORKBENCH_WORKSPACE``, else ``./.workbench``.

Example:
    >>> from workbench.workspace import resolve_workspace
    >>> resolve_workspace("/tmp/ws").name
    'ws'
"""

from __future__ import annotations

import os
from pathlib import Path

WORKSPACE_ENV = "WORKBENCH_WORKSPACE"
DEFAULT_WORKSPACE = ".workbench"


def resolve_workspace(workspace: str | os.PathLike | None = None) -> Path:
    """Return the workspace directory (created if missing)."""
    chosen = workspace or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
