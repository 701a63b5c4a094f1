"""Model and data: a built-in model, an earlier upload, or an uploaded .keras with its data
(.npz arrays, a .csv with a label column, or a .zip of an image folder), the metric that scores
it, and a preview of what was loaded. The menu follows the loaded model; a model without data is
told that its score will stay empty."""

from __future__ import annotations

import shutil
from pathlib import Path

import ipywidgets as w

from widgets.common import PanelStatus, escape, frame_html, guarded
from widgets.data_preview import preview_html

UPLOAD_PREFIX = "upload: "
DATA_SUFFIXES = (".npz", ".csv", ".zip")
AUTOMATIC = ""
PREPROCESSING_CHOICES = [
    ("unit: pixels / 255, in [0, 1]", "unit"), ("none: raw pixels 0..255", "none"),
    ("symmetric: in [-1, 1]", "symmetric"),
    *((f"{family}: keras.applications.{family}.preprocess_input", family) for family in (
        "mobilenet", "mobilenet_v2", "mobilenet_v3", "efficientnet", "resnet50", "resnet_v2",
        "inception_v3", "densenet", "convnext")),
]


def metric_choices() -> list[tuple[str, str]]:
    """The metric menu: automatic (from the model's output), then every built-in metric."""
    from workbench.metrics import METRICS

    return [("automatic (top1, binary_accuracy or mae, from the output)", AUTOMATIC),
            *((f"{name}: {metric.description}", name) for name, metric in METRICS.items())]


def csv_columns(content: bytes) -> tuple[str, ...]:
    r"""The column names in a CSV's header row (none if it cannot be read as text).

    Example:
        >>> csv_columns(b"rooms,price\n3,250\n")
        ('rooms', 'price')
    """
    import csv
    import io

    first_line = content[:65536].decode("utf-8", errors="replace").splitlines()[:1]
    return tuple(next(csv.reader(io.StringIO(first_line[0])), [])) if first_line else ()


class ModelPanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.choice = w.Dropdown(description="Model", layout=w.Layout(width="28em"))
        self.model_upload = w.FileUpload(accept=".keras", multiple=False,
                                         description="Upload .keras")
        self.data_upload = w.FileUpload(accept=",".join(DATA_SUFFIXES), multiple=False,
                                        description="Upload data")
        wide = {"description_width": "initial"}
        self.metric = w.Dropdown(options=metric_choices(), value=AUTOMATIC, description="Metric",
                                 layout=w.Layout(width="40em"))
        self.label_column = w.Combobox(description="Label column (CSV)", style=wide,
                                       placeholder="pick or type a column", ensure_option=False)
        self.preprocessing = w.Dropdown(options=PREPROCESSING_CHOICES, value="unit",
                                        description="Preprocessing (images)", style=wide,
                                        layout=w.Layout(width="34em"))
        self.test_share = w.BoundedFloatText(
            value=0.2, min=0.05, max=0.5, step=0.05, style=wide,
            description="Test share (one image folder, 0.05 to 0.5)",
            layout=w.Layout(width="32em"))
        self.preview = w.HTML(layout=w.Layout(width="100%", overflow="auto"))
        self.load_button = w.Button(description="Load", button_style="primary")
        self.status = PanelStatus()
        self.summary = w.HTML()
        self.layers = w.HTML(layout=w.Layout(width="100%", overflow="auto"))
        self.data_upload.observe(lambda _: self.show_data_options(), names="value")
        self.show_data_options()
        self.load_button.on_click(lambda _: self.load())
        self.load = guarded(self.status, "Loading")(self.load)
        self.refresh_choices()
        super().__init__([
            w.HTML("<h3>Model and data</h3><p>A built-in model (<code>default</code>: a digits "
                   "CNN with its dataset; <code>digits_outlier</code>: the same function with "
                   "one activation channel 1000x larger, where int8 loses much accuracy; the "
                   "others: keras.applications networks with random weights, for size and "
                   "latency only), a model uploaded before, or your own <code>.keras</code> "
                   "model with its data: an <code>.npz</code> (<code>x_train, y_train, x_test, "
                   "y_test</code>), a <code>.csv</code> (name its label column; the other "
                   "columns are the features) or a <code>.zip</code> of an image folder (one "
                   "subfolder per class, or <code>train/</code> and <code>test/</code> folders "
                   "of them). Files are loaded in Keras safe mode.</p>"),
            w.HBox([self.choice, self.load_button]),
            w.HBox([self.model_upload, self.data_upload]),
            self.metric, w.HBox([self.label_column, self.test_share]), self.preprocessing,
            self.status, self.summary, self.preview, self.layers])
        self.add_class("wb-model")

    def refresh_choices(self) -> None:
        """The built-in models, then earlier uploads; the loaded model selected."""
        from workbench.zoo import zoo_names

        options = [*zoo_names(), *(UPLOAD_PREFIX + name for name in self.state.earlier_uploads())]
        task = self.state.task
        loaded = None
        if task is not None:
            loaded = task.name if task.name in options else (
                UPLOAD_PREFIX + f"{task.name}.keras" if UPLOAD_PREFIX + f"{task.name}.keras"
                in options else None)
        current = self.choice.value
        self.choice.options = options
        self.choice.value = loaded or (current if current in options else options[0])

    def load(self, model: str | None = None) -> bool:
        """Load ``model`` or what the panel names (uploads first); True when loaded (when not,
        the guard shows why in the panel and returns None)."""
        model, data, uploads = model or self._chosen(), None, {}
        if self.choice.value and self.choice.value.startswith(UPLOAD_PREFIX) and \
                model == self._chosen():  # an earlier upload: name it, not its server path
            uploads[model] = self.choice.value[len(UPLOAD_PREFIX):]
        earlier = dict(uploads)
        try:
            if self.model_upload.value:
                model = self._keep_upload(self.model_upload.value[0], (".keras",), uploads)
            if self.data_upload.value:
                data = self._keep_upload(self.data_upload.value[0], DATA_SUFFIXES, uploads)
        except Exception:
            self.model_upload.value, self.data_upload.value = (), ()  # a wrong file: pick again
            raise
        self.status.show("loading...", "busy")
        unpacked = set(self.state.upload_path("").glob("*-*/"))
        try:
            self.state.load_task(model, data, uploads, **self.task_options(data))
        except Exception:
            for path in set(uploads) - set(earlier):  # a file that did not load is not kept,
                Path(path).unlink(missing_ok=True)
            for folder in set(self.state.upload_path("").glob("*-*/")) - unpacked:
                shutil.rmtree(folder, ignore_errors=True)  # nor the folder its zip became
            self.refresh_choices()
            raise  # the chosen files stay chosen: fix an option and Load again
        self.model_upload.value, self.data_upload.value = (), ()
        task = self.state.task
        if task.dataset is None:
            self.status.show(f"Loaded '{task.name}' without a dataset: its variants will have "
                             "no score (shown as — and left off the score chart). Upload its "
                             "data (.npz, .csv or .zip) with it to score it.", "warning")
        else:
            self.status.show(f"Loaded '{task.name}' with dataset '{task.dataset.name}'.")
        self.refresh_choices()
        self.show_task()
        return True

    def show_data_options(self) -> None:
        """Show the options of the chosen data file's kind (label column for a CSV; test share
        and preprocessing for a zip of images); the metric always."""
        upload = self.data_upload.value[0] if self.data_upload.value else None
        name = upload["name"].lower() if upload else ""
        for widget, kind in ((self.label_column, ".csv"), (self.test_share, ".zip"),
                             (self.preprocessing, ".zip")):
            widget.layout.display = None if name.endswith(kind) else "none"
        if name.endswith(".csv"):
            self.label_column.options = csv_columns(bytes(upload["content"]))

    def task_options(self, data: str | None) -> dict:
        """What the data and metric controls say, as ``prepare_task`` arguments (the data
        options only when data is uploaded)."""
        options = {"metric": self.metric.value or None}
        if data is not None:
            options.update(label_column=self.label_column.value.strip() or None,
                           preprocessing=self.preprocessing.value,
                           validation_split=float(self.test_share.value))
        return options

    def _chosen(self) -> str:
        value = self.choice.value or "default"
        if value.startswith(UPLOAD_PREFIX):
            return str(self.state.upload_path(value[len(UPLOAD_PREFIX):]))
        return value

    def _keep_upload(self, upload: dict, suffixes: tuple, uploads: dict) -> str:
        path = self.state.save_upload(upload["name"], bytes(upload["content"]), suffixes)
        uploads[str(path)] = upload["name"]
        return str(path)

    def show_task(self) -> None:
        from workbench.analysis import layer_table

        task = self.state.task
        if task is None:
            return
        from workbench.data import describe

        dataset = task.dataset.name if task.dataset is not None else "none (generated inputs)"
        inputs = ", ".join(str(tuple(tensor.shape)) for tensor in task.model.inputs)
        self.summary.value = (f"<p><b>{escape(task.name)}</b>: input {escape(inputs)}, "
                              f"{task.model.count_params():,} parameters, dataset: "
                              f"{escape(dataset)}{escape(_scored_by(task))}</p>"
                              + (f"<p>{escape(task.notes)}</p>" if task.notes else ""))
        self.preview.value = preview_html(describe(task.dataset)) if task.dataset else ""
        self.layers.value = frame_html(layer_table(task.model))


def _scored_by(task) -> str:
    """', scored by top1 (higher is better): float model 97.3%', or nothing without data."""
    if task.metric is None:
        return ""
    direction = "higher" if task.metric.higher_is_better else "lower"
    output = f" on output '{task.output}'" if len(task.output_names) > 1 and task.output else ""
    return (f", scored by {task.metric.name}{output} ({direction} is better): float model "
            f"{task.metric.format(task.float_score)}")
