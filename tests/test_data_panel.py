"""The dashboard's data panel, headless: a .zip of an image folder, a CSV with its label column,
the metric and preprocessing choices reaching the task, and the preview of what was loaded (the
samples with their labels, the class balance, the skipped files), read back from the page's
HTML; bad uploads refused in the panel with nothing left behind."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from userdata import DIGITS_PER_CLASS as PER_CLASS
from userdata import tabular_model, write_csv, write_digit_folder, zip_folder
from widgets import WorkbenchApp

NOW = datetime.now(timezone.utc)


@pytest.fixture
def app(fresh_workspace):
    return WorkbenchApp(fresh_workspace)


def upload(widget, path: Path, name: str | None = None) -> None:
    content = Path(path).read_bytes()
    widget.value = ({"name": name or Path(path).name, "type": "", "size": len(content),
                     "content": memoryview(content), "last_modified": NOW},)


def table(html: str, css_class: str) -> list[dict]:
    """The rows of the page's table with ``css_class``, as dicts of cell text."""
    found = BeautifulSoup(html, "html.parser").find("table", class_=css_class)
    header = [cell.get_text() for cell in found.find("thead").find_all("th")]
    return [dict(zip(header, (cell.get_text() for cell in row.find_all("td"))))
            for row in found.find("tbody").find_all("tr")]


def captions(html: str) -> list[str]:
    return [caption.get_text() for caption in
            BeautifulSoup(html, "html.parser").select(".wb-samples figcaption")]


def test_the_default_task_previews_its_digits_and_their_balance(app):
    panel, dataset = app.model_panel, app.state.task.dataset
    shown = captions(panel.preview.value)
    assert shown == [str(label) for label in range(10) for _ in range(2)]  # two per class
    balance = {row["class"]: (int(row["train"]), int(row["test"]))
               for row in table(panel.preview.value, "wb-balance")}
    assert balance == {str(label): (int(np.sum(dataset.y_train == label)),
                                    int(np.sum(dataset.y_test == label))) for label in range(10)}
    assert "scored by top1 (higher is better): float model" in panel.summary.value


def test_a_zip_of_an_image_folder_loads_with_the_chosen_metric_and_preprocessing(
        app, digits_zip, image_model):
    panel = app.model_panel
    upload(panel.model_upload, image_model)
    upload(panel.data_upload, digits_zip)
    assert panel.label_column.layout.display == "none"  # a CSV option, hidden for a zip
    assert panel.preprocessing.layout.display is None
    panel.metric.value, panel.preprocessing.value = "f1", "symmetric"
    assert panel.load() is True, panel.status.text
    task = app.state.task
    assert (task.name, task.metric.name, task.dataset.info["preprocessing"]) == \
        ("pictures", "f1", "symmetric")
    assert task.dataset.calibration_inputs(8).min() == pytest.approx(-1.0)  # [-1, 1]
    assert "scored by f1 (higher is better)" in panel.summary.value
    html = panel.preview.value
    assert captions(html) == [f"digit_{label}" for label in range(10) for _ in range(2)]
    assert all(row["train"] == str(PER_CLASS) and row["test"] == str(PER_CLASS)
               for row in table(html, "wb-balance"))
    assert "1 file(s) skipped (1 not an image (.txt))" in BeautifulSoup(
        html, "html.parser").get_text()
    assert "train/digit_0/notes.txt" in html
    assert f"{10 * PER_CLASS} training and {10 * PER_CLASS} test samples" in html


def test_one_image_folder_is_split_by_the_test_share(app, digits_zip, image_model, tmp_path):
    import zipfile

    single = tmp_path / "train_only.zip"
    with zipfile.ZipFile(digits_zip) as source, zipfile.ZipFile(single, "w") as target:
        for entry in source.infolist():
            if entry.filename.startswith("digits/train/"):
                target.writestr(entry.filename.replace("digits/train/", "classes/"),
                                source.read(entry))
    panel = app.model_panel
    upload(panel.model_upload, image_model)
    upload(panel.data_upload, single)
    panel.test_share.value = 0.25
    assert panel.load() is True, panel.status.text
    assert app.state.task.dataset.test_size == int(0.25 * 10 * PER_CLASS)
    assert "validation split 0.25 of one folder, seed 0" in panel.preview.value
    balance = table(panel.preview.value, "wb-balance")
    assert sum(int(row["test"]) for row in balance) == app.state.task.dataset.test_size
    assert all(int(row["train"]) + int(row["test"]) == PER_CLASS for row in balance)
    assert [int(row["test"]) for row in balance] == np.bincount(
        app.state.task.dataset.y_test, minlength=10).tolist()  # as the split fell


def test_a_csv_loads_with_its_label_column_and_a_regression_metric(app, tmp_path):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    csv = write_csv(tmp_path / "diabetes.csv", frame)
    model = tmp_path / "diabetes.keras"
    tabular_model(10, 1, name="diabetes").save(model)
    panel = app.model_panel
    upload(panel.model_upload, model)
    upload(panel.data_upload, csv)
    assert panel.label_column.layout.display is None and panel.preprocessing.layout.display \
        == "none"
    assert panel.label_column.options == tuple(frame.columns)  # offered from the header row
    panel.label_column.value, panel.metric.value = "target", "rmse"
    assert panel.load() is True, panel.status.text
    task = app.state.task
    assert task.metric.name == "rmse" and not task.metric.higher_is_better
    assert task.dataset.x_train.shape[1] == 10
    assert "scored by rmse (lower is better)" in panel.summary.value
    head = table(panel.preview.value, "wb-head")
    assert len(head) == 5 and [float(row["target"]) for row in head] == \
        frame["target"].head(5).tolist()
    assert "wb-balance" not in panel.preview.value  # regression targets: no class balance
    low, high = task.dataset.y_test.min(), task.dataset.y_test.max()
    assert f"test split targets from {low:.4g} to {high:.4g}" in panel.preview.value


@pytest.mark.parametrize("problem, expected", [
    ("one class", "'one_class.zip/one_class/train' has 1 class folder(s): digit_0"),
    ("no label column", "A CSV needs its label column named: received none for 'houses.csv'"),
])
def test_bad_data_uploads_are_refused_in_the_panel_and_leave_nothing(
        app, image_model, tmp_path, problem, expected):
    if problem == "one class":
        folder = write_digit_folder(tmp_path / "one_class", 3)
        for extra in (folder / "train").iterdir():
            if extra.name != "digit_0":
                shutil.rmtree(extra)
                shutil.rmtree(folder / "test" / extra.name)
        data = zip_folder(folder, tmp_path / "one_class.zip")
    else:
        data = write_csv(tmp_path / "houses.csv", pd.DataFrame(
            {"rooms": [1, 2, 3, 4], "price": [1.0, 2.0, 3.0, 4.0]}))
    panel = app.model_panel
    upload(panel.model_upload, image_model)
    upload(panel.data_upload, data)
    assert panel.load() is None
    assert expected in panel.status.text and "wb-error" in panel.status.value
    assert str(app.state.workspace) not in panel.status.text
    assert app.state.task.name == "default"  # the loaded task stays
    left = sorted(path.name for path in (app.state.workspace / "uploads").iterdir())
    assert left == [], left  # neither the uploads nor the folder a zip became
    assert [upload["name"] for upload in (*panel.model_upload.value, *panel.data_upload.value)] \
        == ["pictures.keras", data.name]  # still chosen: fix an option and Load again
