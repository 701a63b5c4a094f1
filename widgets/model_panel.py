"""Model and data: the built-in default or a zoo model, or an uploaded .keras and .npz."""

from __future__ import annotations

import ipywidgets as w

from widgets.common import PanelStatus, escape, frame_html, guarded


class ModelPanel(w.VBox):
    def __init__(self, state):
        from workbench.zoo import zoo_names

        self.state = state
        self.choice = w.Dropdown(options=zoo_names(), value="default", description="Model")
        self.model_upload = w.FileUpload(accept=".keras", multiple=False,
                                         description="Upload .keras")
        self.data_upload = w.FileUpload(accept=".npz", multiple=False, description="Upload .npz")
        self.load_button = w.Button(description="Load", button_style="primary")
        self.status = PanelStatus()
        self.summary = w.HTML()
        self.layers = w.HTML()
        self.load_button.on_click(lambda _: self.load())
        self.load = guarded(self.status, "Loading the model")(self.load)
        super().__init__([
            w.HTML("<h3>Model and data</h3><p>The built-in default (a digits CNN with its "
                   "dataset), a keras.applications model (random weights: size and latency "
                   "only), or your own <code>.keras</code> model with an <code>.npz</code> "
                   "dataset (<code>x_train, y_train, x_test, y_test</code>). Files are loaded "
                   "in Keras safe mode.</p>"),
            w.HBox([self.choice, self.load_button]),
            w.HBox([self.model_upload, self.data_upload]), self.status, self.summary,
            self.layers])

    def load(self, model: str | None = None) -> bool:
        """Load ``model`` or what the panel names (uploads first); True when loaded (when not,
        the guard shows why in the panel and returns None)."""
        model, data, uploads = model or self.choice.value, None, {}
        try:
            if self.model_upload.value:
                model = self._keep_upload(self.model_upload.value[0], (".keras",), uploads)
            if self.data_upload.value:
                data = self._keep_upload(self.data_upload.value[0], (".npz",), uploads)
        finally:
            self.model_upload.value, self.data_upload.value = (), ()
        self.status.show("loading...", "busy")
        self.state.load_task(model, data, uploads)
        self.status.show(f"Loaded '{self.state.task.name}'.")
        self.show_task()
        return True

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
