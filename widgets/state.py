"""The one state object every panel observes: task, results, chosen device, running job, and
the loaded model's per-layer sensitivity once measured.

All work goes through ``workbench`` (the panels only bind widgets to it); slow work runs as a
``workbench.jobs.Job`` so the kernel stays responsive. Errors become ``message`` text (or the
status line of the panel that caused them), never a traceback on the page.
"""

from __future__ import annotations

import re

import pandas as pd
import traitlets

from widgets.common import user_message
from workbench.errors import WorkbenchError

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
LATENCY_RUNS = 50
UPLOADS = "uploads"
SEARCH_WORKERS = None  # the search's local Dask workers: one per core


class AppState(traitlets.HasTraits):
    task = traitlets.Any(None, allow_none=True)
    results = traitlets.Instance(pd.DataFrame, args=())  # every stored row, all models
    device = traitlets.Unicode("host")
    job = traitlets.Any(None, allow_none=True)
    message = traitlets.Unicode("")
    message_kind = traitlets.Unicode("info")  # info | error
    sensitivity = traitlets.Any(None, allow_none=True)  # the loaded model's, once measured

    def __init__(self, workspace=None, **kwargs):
        super().__init__(**kwargs)
        from workbench.store import ExperimentStore

        # another model: the sensitivity measured was the previous one's
        self.observe(lambda _: setattr(self, "sensitivity", None), names="task")
        from workbench.workspace import resolve_workspace

        self.workspace = resolve_workspace(workspace)
        self.store, self.store_error = None, ""
        try:
            self.store = ExperimentStore(self.workspace)
        except WorkbenchError as error:  # a damaged store: the app opens and says how to fix it
            self.store_error = str(error)
            self.say(self.store_error, "error")
        self.refresh()

    def require_store(self):
        """The store, or a ``WorkbenchError`` saying why there is none."""
        if self.store is None:
            raise WorkbenchError(self.store_error)
        return self.store

    def refresh(self) -> None:
        """Reload every stored row, its estimates from the device profiles as they are now."""
        from workbench.devices.profiles import usable_devices
        from workbench.pipeline import current_results

        if self.store is None:
            self.results = pd.DataFrame()
            return
        problems = usable_devices(self.workspace)[1]
        if problems:  # one broken profile file: said, the other devices still shown
            self.say(" ".join(problems), "warning")
        try:
            self.results = current_results(self.store)
        except WorkbenchError as error:
            self.say(str(error), "error")
            self.results = pd.DataFrame()

    def model_results(self) -> pd.DataFrame:
        """The rows of the loaded model on its data (all rows when none is loaded): a run of the
        same model on other data is another subject, never mixed in."""
        if self.task is None or self.results.empty:
            return self.results
        return self.results[(self.results["model"] == self.task.name)
                            & (self.results["data_hash"] == self.task.data_hash)]

    def with_deltas(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """``frame`` (default: every row) with its deltas against each model's baseline (the
        speed-up on the chosen device: its estimate, the measurement for this host), and its
        subject: the model, named with its dataset where one model was scored on several."""
        from workbench.compare import subject_labels, with_deltas

        frame = self.results if frame is None else frame
        if frame.empty:
            return frame
        latency = f"est_ms__{self.device}"
        frame = with_deltas(frame, latency if latency in frame and self.device != "host"
                            else "latency_ms")
        labels = subject_labels(self.results)  # named against every row, not just these
        return frame.assign(subject=labels.reindex(frame.index).fillna(frame["model"]))

    def summaries(self, rows: list[dict]) -> list[str]:
        """One line per finished row, with its deltas (``workbench.compare.summary_line``)."""
        from workbench.compare import summary_line

        ids = [row["run_id"] for row in rows]
        table = self.with_deltas()
        if table.empty:
            return []
        table = table.set_index("run_id")
        return [summary_line({**table.loc[run_id].to_dict(), "run_id": run_id}, self.device)
                for run_id in ids if run_id in table.index]

    def say(self, text: str, kind: str = "info") -> None:
        self.message_kind, self.message = kind, text

    def load_task(self, model="default", data=None, uploads: dict | None = None,
                  **options) -> None:
        """Load a model (and dataset); a ``WorkbenchError`` with one line if it fails (the
        loaded task stays). ``options`` go to ``workbench.pipeline.prepare_task`` (metric,
        label_column, preprocessing, validation_split...).

        ``uploads`` maps the server paths of uploaded files to the names the user gave them,
        so a message names the upload, never a path on the server (nor the folder a zip was
        unpacked into).
        """
        from workbench.pipeline import prepare_task

        try:
            task = prepare_task(model, data, self.workspace, progress=False, **options)
        except Exception as error:  # noqa: BLE001 - the page shows one line, never a traceback
            message = user_message(error)
            for path, name in (uploads or {}).items():
                message = message.replace(str(path), name)
            unpacked = rf"{re.escape(str(self.workspace / UPLOADS))}/([^/']+)-[0-9a-f]{{12}}"
            message = re.sub(unpacked, r"\1.zip", message)  # a zip's folder, named as the zip
            raise WorkbenchError(message) from None
        self.task = task
        self.say(f"Loaded '{task.name}'.")
        self.refresh()

    def earlier_uploads(self) -> list[str]:
        """Models uploaded before, kept in the workspace (file names)."""
        folder = self.workspace / UPLOADS
        return sorted(path.name for path in folder.glob("*.keras")) if folder.is_dir() else []

    def upload_path(self, name: str):
        return self.workspace / UPLOADS / name

    def save_upload(self, name: str, content: bytes, suffixes: tuple[str, ...]):
        """Write an uploaded file into the workspace; a clear error for a wrong name, type or
        size."""
        from pathlib import Path

        base = Path(str(name).replace("\\", "/")).name
        if not base or any(ord(char) < 32 for char in base) or base in (".", ".."):
            raise WorkbenchError(f"Received an upload named {name!r}; a file name cannot be "
                                 "empty or hold control characters. Rename the file and upload "
                                 "it again.")
        if not base.lower().endswith(suffixes):
            raise WorkbenchError(f"Received '{base}'; expected a {' or '.join(suffixes)} file.")
        if len(content) > MAX_UPLOAD_BYTES:
            raise WorkbenchError(
                f"'{base}' is {len(content):,} bytes ({len(content) / 2**20:.1f} MB); the limit "
                f"is {MAX_UPLOAD_BYTES:,} bytes ({MAX_UPLOAD_BYTES // 2**20} MB). Use the "
                "command line for bigger files.")
        folder = self.workspace / UPLOADS
        try:
            folder.mkdir(exist_ok=True)
            path = folder / base
            path.write_bytes(content)
        except OSError as error:
            raise WorkbenchError(f"Could not keep the upload '{base}': {error.strerror or error}. "
                                 "Expected a writable workspace.") from None
        return path

    def run_recipes(self, recipe_configs, devices=None):
        """Start a job that runs the configs on the current task, the float32 baseline first
        when it has none yet (every delta is against it); a ``WorkbenchError`` when nothing is
        loaded, a job is running, or the store cannot take new rows."""
        from workbench.compare import BASELINE_RECIPE
        from workbench.jobs import Job
        from workbench.pipeline import sweep
        from workbench.recipes import make_config

        task, _, store = self._ready_for_a_job()
        configs = list(recipe_configs)
        stored = self.model_results()
        if BASELINE_RECIPE not in {c.name for c in configs} and (
                stored.empty or BASELINE_RECIPE not in set(stored["recipe"])):
            configs.insert(0, make_config(BASELINE_RECIPE))
        job = Job(lambda: sweep(task, configs, store, latency_runs=LATENCY_RUNS,
                                progress=False, devices=devices),
                  f"{', '.join(c.label for c in configs)} on {task.name}")
        job.add_listener(self._job_listener(_sweep_ended, "variants"))
        self.job = job
        return job.start()

    def start_search(self, max_drop: float, trials: int, stop, on_trial,
                     workers: int | None = SEARCH_WORKERS):
        """Start a job that searches for the best variant on the chosen device within
        ``max_drop`` (``workbench.optimize``; its float32 baseline first when it has none);
        ``on_trial(row)`` hears each finished trial, setting ``stop`` ends it, keeping what
        finished. The job's result is the ``SearchResult``."""
        from workbench.compare import BASELINE_RECIPE
        from workbench.jobs import Job
        from workbench.pipeline import run
        from workbench.recipes import make_config
        from workbench.search.optimize import drop_unit, optimize

        task, device, store = self._ready_for_a_job()
        baseline = self.model_results()
        needs_baseline = baseline.empty or BASELINE_RECIPE not in set(baseline["recipe"])

        def work():
            if needs_baseline:
                run(task, make_config(BASELINE_RECIPE), store, latency_runs=LATENCY_RUNS,
                    progress=False)
            return optimize(task, device, max_drop, trials=trials, workers=workers,
                            store=store, progress=False, stop=stop, on_trial=on_trial)

        job = Job(work, f"search on {device} within {max_drop:g} {drop_unit(task)}, {trials} "
                        f"trials at most, on {task.name}")
        job.add_listener(self._job_listener(
            lambda job: (f"Finished: {job.description}. {job.result.reason}", "info"),
            "trials"))
        self.job = job
        self.say(f"Running: {job.description}.", "busy")
        return job.start()

    def _ready_for_a_job(self):
        """The task, device and store a new job works with; a ``WorkbenchError`` when nothing
        is loaded, a job is running, or the store cannot take new rows."""
        if self.task is None:
            raise WorkbenchError("No model is loaded. Expected one: load it in the Model and "
                                 "data tab first.")
        if self.job is not None and self.job.active:
            raise WorkbenchError("A job is already running; wait for it or cancel it.")
        store = self.require_store()
        store.require_writable()
        return self.task, self.device, store

    def delete(self, run_id: str) -> None:
        """Remove a stored variant and its artifact, then reload the rows."""
        self.require_store().delete(run_id)
        self.refresh()

    def _job_listener(self, finished, kept: str):
        """A job's listener: reload the rows when it ends, and say how it ended
        (``finished(job)`` -> the message and its kind; ``kept``: what a cancel keeps)."""
        def listen(job) -> None:
            if job.state in ("finished", "cancelled"):
                self.refresh()
            if job.state == "finished":
                self.say(*finished(job))
            elif job.state == "cancelled":
                self.say(f"Cancelled: {job.description}. Finished {kept} are kept.")
            elif job.state == "error":
                self.say(job.error, "error")
        return listen


def _sweep_ended(job) -> tuple[str, str]:
    """How a sweep that ran to its end reads: its failures, or that it finished."""
    failures = job.result.failures
    if failures:
        return "; ".join(f"{name} failed: {text}" for name, text in failures.items()), "error"
    return f"Finished: {job.description}.", "info"
