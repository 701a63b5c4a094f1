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

from workbench.errors import WorkbenchError

WORKSPACE_ENV = "WORKBENCH_WORKSPACE"
DEFAULT_WORKSPACE = ".workbench"


def resolve_workspace(workspace: str | os.PathLike | None = None) -> Path:
    """Return the workspace directory (created if missing; an existing one that cannot be
    written is returned as it is, for reading)."""
    chosen = workspace or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
    path = Path(chosen).expanduser().resolve()
    if path.is_dir():
        return path
    if path.exists():
        raise WorkbenchError(f"The workspace '{path}' is a file. Expected a folder (it is "
                             "created if missing): pass another --workspace, or move the file.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorkbenchError(f"Cannot create the workspace folder '{path}': "
                             f"{error.strerror or error}. Expected a writable place: pass "
                             "another --workspace (or set $WORKBENCH_WORKSPACE).") from None
    return path
