"""Model and data: a built-in model, an earlier upload, or an uploaded .keras and .npz. The menu
follows the loaded model; a model without data is told that its accuracy will stay empty."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w

from widgets.common import PanelStatus, escape, frame_html, guarded

UPLOAD_PREFIX = "upload: "


class ModelPanel(w.VBox):
    def __init__(self, state):
        self.state = state
        self.choice = w.Dropdown(description="Model", layout=w.Layout(width="28em"))
        self.model_upload = w.FileUpload(accept=".keras", multiple=False,
                                         description="Upload .keras")
        self.data_upload = w.FileUpload(accept=".npz", multiple=False, description="Upload .npz")
        self.load_button = w.Button(description="Load", button_style="primary")
        self.status = PanelStatus()
        self.summary = w.HTML()
        self.layers = w.HTML(layout=w.Layout(width="100%", overflow="auto"))
        self.load_button.on_click(lambda _: self.load())
        self.load = guarded(self.status, "Loading")(self.load)
        self.refresh_choices()
        super().__init__([
            w.HTML("<h3>Model and data</h3><p>A built-in model (<code>default</code>: a digits "
                   "CNN with its dataset; <code>digits_outlier</code>: the same function with "
                   "one activation channel 1000x larger, where int8 loses much accuracy; the "
                   "others: keras.applications networks with random weights, for size and "
                   "latency only), a model uploaded before, or your own <code>.keras</code> "
                   "model with an <code>.npz</code> dataset (<code>x_train, y_train, x_test, "
                   "y_test</code>). Files are loaded in Keras safe mode.</p>"),
            w.HBox([self.choice, self.load_button]),
            w.HBox([self.model_upload, self.data_upload]), self.status, self.summary,
            self.layers])
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
                data = self._keep_upload(self.data_upload.value[0], (".npz",), uploads)
        finally:
            self.model_upload.value, self.data_upload.value = (), ()
        self.status.show("loading...", "busy")
        try:
            self.state.load_task(model, data, uploads)
        except Exception:
            for path in set(uploads) - set(earlier):  # a file that did not load is not kept
                Path(path).unlink(missing_ok=True)
            self.refresh_choices()
            raise
        task = self.state.task
        if task.dataset is None:
            self.status.show(f"Loaded '{task.name}' without a dataset: accuracy will stay empty "
                             "for its variants (shown as — and left off the accuracy chart). "
                             "Upload an .npz with it to score it.", "warning")
        else:
            self.status.show(f"Loaded '{task.name}' with dataset '{task.dataset.name}'.")
        self.refresh_choices()
        self.show_task()
        return True

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
        dataset = task.dataset.name if task.dataset is not None else "none (generated inputs)"
        self.summary.value = (f"<p><b>{escape(task.name)}</b>: input "
                              f"{escape(tuple(task.model.inputs[0].shape))}, "
                              f"{task.model.count_params():,} parameters, dataset: "
                              f"{escape(dataset)}</p>")
        self.layers.value = frame_html(layer_table(task.model))
