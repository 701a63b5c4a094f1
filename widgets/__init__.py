"""The interactive workbench: ipywidgets panels bound to the ``workbench`` core.

Example:
    >>> from widgets import WorkbenchApp
    >>> WorkbenchApp()            # in a notebook: the whole app   # doctest: +SKIP
"""

from widgets.app import WorkbenchApp, dashboard
from widgets.state import AppState

__all__ = ["AppState", "WorkbenchApp", "dashboard"]
