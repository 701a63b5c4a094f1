"""The app: every panel in tabs over one ``AppState``; opening it on a workspace that holds
results shows them at once.

Example:
    >>> app = WorkbenchApp()      # a notebook cell; notebooks/dashboard.ipynb   # doctest: +SKIP
    >>> app                       # shows the app                              # doctest: +SKIP
"""

from __future__ import annotations

import ipywidgets as w

from widgets.common import message_banner
from widgets.explorer import ExplorerPanel
from widgets.model_panel import ModelPanel
from widgets.results_panel import ResultsPanel
from widgets.sensitivity_panel import SensitivityPanel
from widgets.state import AppState
from widgets.techniques import TechniquePanel
from widgets.wizard import WizardPanel

STYLE = """<style>
.wb-table { border-collapse: collapse; font-size: 0.85rem; }
.wb-table th, .wb-table td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd;
  text-align: right; white-space: nowrap; }
.wb-table th { background: #f5f5f5; }
.wb-message { font-weight: 600; margin: 0.4rem 0; }
.wb-good { color: #1b5e20; font-weight: 600; }
.wb-bad { color: #b71c1c; font-weight: 600; }
.wb-better { background: #e8f5e9; color: #1b5e20; font-weight: 700; }
.wb-log { font-size: 0.8rem; margin: 0; }
.wb-verdict { font-size: 1.05rem; }
</style>"""


class WorkbenchApp(w.VBox):
    def __init__(self, workspace=None, model: str | None = "default"):
        self.state = AppState(workspace)
        self.model_panel = ModelPanel(self.state)
        self.wizard = WizardPanel(self.state)
        self.techniques = TechniquePanel(self.state)
        self.sensitivity = SensitivityPanel(self.state)
        self.explorer = ExplorerPanel(self.state)
        self.results = ResultsPanel(self.state)
        self.tabs = w.Tab(children=[self.wizard, self.model_panel, self.techniques,
                                    self.sensitivity, self.explorer, self.results],
                          titles=["Which technique?", "Model and data", "Techniques",
                                  "Per-layer", "Trade-offs", "Results"])
        super().__init__([w.HTML(STYLE + "<h2>Optimization Workbench</h2>"),
                          message_banner(self.state), self.tabs],
                         layout=w.Layout(width="100%"))
        if model is not None:
            if self.model_panel.load(model) is None:  # the panel shows why; say it at the top too
                self.state.say(self.model_panel.status.text, "error")
        if self.state.store_error:  # stays in view: nothing can be stored until it is fixed
            self.state.say(self.state.store_error, "error")


READY_LINE = "workbench: dashboard ready"


def dashboard(workspace=None) -> WorkbenchApp:
    """The app as the Voila dashboard shows it; when built, one line goes to the server's log
    (the kernel process's stderr), saying how long it took: a preheated kernel is ready."""
    import sys
    import time

    start = time.perf_counter()
    app = WorkbenchApp(workspace)
    print(f"{READY_LINE} (built in {time.perf_counter() - start:.1f} s)", file=sys.__stderr__,
          flush=True)
    return app
