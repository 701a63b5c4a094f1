"""Model and data: the built-in default or a zoo model, or an uploaded .keras and .npz."""

from __future__ import annotations

import ipywidgets as w

from widgets.common import frame_html
from workbench.errors import WorkbenchError


class ModelPanel(w.VBox):
    def __init__(self, state):
        from workbench.zoo import zoo_names

        self.state = state
        self.choice = w.Dropdown(options=zoo_names(), value="default", description="Model")
        self.model_upload = w.FileUpload(accept=".keras", multiple=False,
                                         description="Upload .keras")
        self.data_upload = w.FileUpload(accept=".npz", multiple=False, description="Upload .npz")
        self.load_button = w.Button(description="Load", button_style="primary", icon="upload")
        self.status = w.HTML()
        self.layers = w.HTML()
        self.load_button.on_click(lambda _: self.load())
        super().__init__([
            w.HTML("<h3>Model and data</h3><p>The built-in default (a digits CNN with its "
                   "dataset), a keras.applications model (random weights: size and latency "
                   "only), or your own <code>.keras</code> model with an <code>.npz</code> "
                   "dataset (<code>x_train, y_train, x_test, y_test</code>). Files are loaded "
                   "in Keras safe mode.</p>"),
            w.HBox([self.choice, self.load_button]),
            w.HBox([self.model_upload, self.data_upload]), self.status, self.layers])

    def load(self) -> bool:
        model, data = self.choice.value, None
        try:
            if self.model_upload.value:
                upload = self.model_upload.value[0]
                model = str(self.state.save_upload(upload["name"], bytes(upload["content"]),
                                                   (".keras",)))
            if self.data_upload.value:
                upload = self.data_upload.value[0]
                data = str(self.state.save_upload(upload["name"], bytes(upload["content"]),
                                                  (".npz",)))
        except WorkbenchError as error:
            self.state.say(str(error), "error")
            return False
        finally:
            self.model_upload.value, self.data_upload.value = (), ()
        if not self.state.load_task(model, data):
            self.status.value = ""
            return False
        self.show_task()
        return True

    def show_task(self) -> None:
        from workbench.analysis import layer_table

        task = self.state.task
        if task is None:
            return
        dataset = task.dataset.name if task.dataset is not None else "none (generated inputs)"
        self.status.value = (f"<p><b>{task.name}</b>: input {tuple(task.model.inputs[0].shape)}"
                             f", {task.model.count_params():,} parameters, dataset: "
                             f"{dataset}</p>")
        self.layers.value = frame_html(layer_table(task.model))
