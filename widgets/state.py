"""The one state object every panel observes: task, results, chosen device, running job.

All work goes through ``workbench`` (the panels only bind widgets to it); slow work runs as a
``workbench.jobs.Job`` so the kernel stays responsive. Errors become ``message`` text, never a
traceback on the page.
"""

from __future__ import annotations

import pandas as pd
import traitlets

from workbench.errors import WorkbenchError

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class AppState(traitlets.HasTraits):
    task = traitlets.Any(None, allow_none=True)
    results = traitlets.Instance(pd.DataFrame, args=())
    device = traitlets.Unicode("host")
    job = traitlets.Any(None, allow_none=True)
    message = traitlets.Unicode("")
    message_kind = traitlets.Unicode("info")  # info | error

    def __init__(self, workspace=None, **kwargs):
        super().__init__(**kwargs)
        from workbench.store import ExperimentStore

        self.store = ExperimentStore(workspace)
        self.refresh()

    def refresh(self) -> None:
        """Reload the stored rows (of the current model, or all when none is loaded)."""
        model = self.task.name if self.task is not None else None
        self.results = self.store.results(model)

    def say(self, text: str, kind: str = "info") -> None:
        self.message_kind, self.message = kind, text

    def load_task(self, model="default", data=None) -> bool:
        """Load a model (and dataset); False, with the reason in ``message``, if it fails."""
        from workbench.pipeline import prepare_task

        try:
            self.task = prepare_task(model, data, self.store.workspace, progress=False)
        except WorkbenchError as error:
            self.say(str(error), "error")
            return False
        except Exception as error:  # noqa: BLE001 - the page shows one line, never a traceback
            self.say(f"Could not load the model: unexpected {type(error).__name__}: {error}",
                     "error")
            return False
        self.say(f"Loaded '{self.task.name}'.")
        self.refresh()
        return True

    def save_upload(self, name: str, content: bytes, suffixes: tuple[str, ...]):
        """Write an uploaded file into the workspace; a clear error for a wrong type or size."""
        from pathlib import Path

        if not name.lower().endswith(suffixes):
            raise WorkbenchError(f"Received '{name}'; expected a {' or '.join(suffixes)} file.")
        if len(content) > MAX_UPLOAD_BYTES:
            raise WorkbenchError(f"'{name}' is {len(content) / 2**20:.0f} MB; the limit is "
                                 f"{MAX_UPLOAD_BYTES // 2**20} MB. Use the command line for "
                                 "bigger models.")
        folder = Path(self.store.workspace) / "uploads"
        folder.mkdir(exist_ok=True)
        path = folder / Path(name).name
        path.write_bytes(content)
        return path

    def run_recipes(self, recipe_configs, devices=None):
        """Start a job that runs the configs on the current task; None (with a message) when
        nothing is loaded or a job is already running."""
        from workbench.jobs import Job
        from workbench.pipeline import sweep

        if self.task is None:
            self.say("Load a model first (Model and data tab).", "error")
            return None
        if self.job is not None and self.job.active:
            self.say("A job is already running; wait for it or cancel it.", "error")
            return None
        task, configs = self.task, list(recipe_configs)
        job = Job(lambda: sweep(task, configs, self.store, latency_runs=20, progress=False,
                                devices=devices),
                  f"{', '.join(c.name for c in configs)} on {task.name}")
        job.add_listener(self._on_job_progress)
        self.job = job
        return job.start()

    def _on_job_progress(self, job) -> None:
        if job.state == "finished":
            self.refresh()
            failures = job.result.failures
            if failures:
                self.say("; ".join(f"{name} failed: {text}" for name, text in failures.items()),
                         "error")
            else:
                self.say(f"Finished: {job.description}.")
        elif job.state == "cancelled":
            self.refresh()
            self.say(f"Cancelled: {job.description}. Finished variants are kept.")
        elif job.state == "error":
            self.say(job.error, "error")
