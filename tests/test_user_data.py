"""The user's own data and metric: an image folder through the command line, a CSV regressor
scored by MAE, a breast-cancer classifier scored by ROC AUC, a two-input model, a user
metric function, pretrained weights from a file; and each bad folder or CSV refused before
any work. Everything is generated or ships with scikit-learn."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from userdata import tabular_model, write_csv, write_digit_folder
from workbench.data import ImageFolder, load_csv
from workbench.errors import DataError
from workbench.pipeline import prepare_task, run
from workbench.recipes import make_config
from workbench.store import ExperimentStore


def _folder_cnn(train, epochs: int = 8):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x), name="folder_cnn")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train, epochs=epochs, verbose=0, shuffle=False)  # the pipeline shuffles
    return model


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    return write_digit_folder(tmp_path_factory.mktemp("images") / "digits")


@pytest.fixture(scope="module")
def folder_model(digit_folder, tmp_path_factory):
    folder = ImageFolder(digit_folder)
    import keras

    untrained = keras.Input((32, 32, 3))
    bound = folder.bind(keras.Model(untrained, keras.layers.Flatten()(untrained)))
    model = _folder_cnn(bound.train)
    path = tmp_path_factory.mktemp("model") / "folder_cnn.keras"
    model.save(path)
    return path


def test_image_folder_is_read_with_its_split_labels_and_skipped_files(digit_folder):
    scan = ImageFolder(digit_folder).scan()
    assert scan.classes == [f"digit_{n}" for n in range(10)]
    balance = scan.class_balance()
    assert sum(balance["train"].values()) == 1347 and sum(balance["test"].values()) == 450
    assert scan.skipped == [("train/digit_0/notes.txt", "not an image (.txt)")]
    assert dict(scan.sizes()) == {(32, 32): 1797}


def test_image_folder_through_the_cli_int8_and_prune_within_two_points(
        digit_folder, folder_model, tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        "sweep", "--model", str(folder_model), "--data", str(digit_folder), "--recipes",
        "float32,int8", "--workspace", str(tmp_path / "ws"), "--out", str(out),
        "--latency-runs", "2", "--devices", "cortex_m7")
    assert result.returncode == 0, result.stderr
    import pandas as pd

    rows = pd.read_csv(out / "results.csv").set_index("recipe")
    assert set(rows["metric"]) == {"top1"}
    assert rows.loc["float32", "float_score"] > 0.85
    assert rows.loc["int8", "score"] == pytest.approx(rows.loc["int8", "accuracy"])
    assert rows.loc["int8", "score_drop"] <= 0.02
    result = run_cli(
        "run", "--model", str(folder_model), "--data", str(digit_folder), "--recipe", "prune",
        "--set", "epochs=8", "--workspace", str(tmp_path / "ws"), "--out", str(out),
        "--latency-runs", "2", "--devices", "cortex_m7")
    assert result.returncode == 0, result.stderr
    pruned = pd.read_csv(out / "results.csv").iloc[0]
    assert pruned["weight_sparsity"] >= 0.79 and pruned["score_drop"] <= 0.02


def test_image_folder_evaluation_streams_one_batch_at_a_time(digit_folder, folder_model):
    task = prepare_task(str(folder_model), str(digit_folder), progress=False)
    batches = list(task.dataset.test_input_batches())
    assert max(len(batch) for batch in batches) == 64 and sum(map(len, batches)) == 450
    assert task.dataset.calibration_inputs(5).shape == (5, 32, 32, 3)
    assert 0.0 <= task.dataset.calibration_inputs(5).max() <= 1.0  # "unit" preprocessing


def test_an_image_folder_task_travels_to_another_process_by_its_path(digit_folder,
                                                                      folder_model, tmp_path):
    """What Dask does to send the search's task to its workers (cloudpickle): the copy
    rebuilds its pipelines from the folder and reads the same images and labels."""
    import pickle

    import cloudpickle

    task = prepare_task(str(folder_model), str(digit_folder), workspace=tmp_path,
                        progress=False)
    copy = pickle.loads(cloudpickle.dumps(task.dataset))
    assert copy.fingerprint == task.dataset.fingerprint and copy.test_cache is None
    np.testing.assert_array_equal(copy.y_test, task.dataset.y_test)
    np.testing.assert_array_equal(np.concatenate(list(copy.test_input_batches())),
                                  np.concatenate(list(task.dataset.test_input_batches())))
    np.testing.assert_array_equal(copy.calibration_inputs(7), task.dataset.calibration_inputs(7))


def test_an_image_folder_for_a_tabular_model_names_the_model_file(digit_folder, tmp_path):
    path = tmp_path / "house_prices.keras"
    tabular_model(10, 1, sequential=True, name="sequential_7").save(path)
    with pytest.raises(DataError, match=r"An image folder feeds one image input .* but model "
                                        r"'house_prices' takes \[\(None, 10\)\]"):
        prepare_task(str(path), str(digit_folder), workspace=tmp_path, progress=False)


def test_validation_split_is_stated_and_seeded(digit_folder):
    import keras

    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    folder = ImageFolder(digit_folder / "train", validation_split=0.25, seed=3)
    first, again = folder.bind(model), ImageFolder(digit_folder / "train", validation_split=0.25,
                                                   seed=3).bind(model)
    assert first.test_size == int(0.25 * 1347) and folder.split_words().endswith("seed 3")
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert first.fingerprint == again.fingerprint


def _bad_folder(root: Path, kind: str) -> Path:
    from PIL import Image

    folder = root / kind
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        if kind == "no images" or (kind == "one class" and label == "b"):
            (folder / label / "readme.md").write_text("x")
            continue
        for index in range(3):
            size = (16 + 8 * index, 16) if kind == "mixed sizes" else (16, 16)
            Image.new("RGB", size).save(folder / label / f"{index}.png")
    if kind == "one class":
        import shutil

        shutil.rmtree(folder / "b")
    if kind == "corrupt image":
        (folder / "b" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    return folder


@pytest.mark.parametrize("kind, message", [
    ("one class", r"has 1 class folder\(s\): a\. Expected one subfolder per class, at least two"),
    ("no images", r"holds no images \(2 other file\(s\) skipped\)\. Expected \.bmp"),
    ("corrupt image", r"'b/1\.png' is not a readable image .*Expected a JPEG, PNG"),
    ("mixed sizes", r"mixed sizes \(.*16x16.*\).*free.*--input-size HEIGHTxWIDTH"),
])
def test_bad_image_folders_are_refused_before_any_work(tmp_path, kind, message):
    import keras

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(
        inputs)), name="free_size")
    store = ExperimentStore(tmp_path / "ws")
    with pytest.raises(DataError, match=message) as raised:
        prepare_task(model, str(_bad_folder(tmp_path, kind)), progress=False)
    assert str(tmp_path) not in str(raised.value) or kind != "corrupt image"  # one name per file
    assert store.results().empty


def test_free_input_size_is_fixed_from_the_images_and_stated(tmp_path):
    import keras

    folder = _bad_folder(tmp_path, "uniform")
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(
        inputs)), name="free_size")
    task = prepare_task(model, str(folder), progress=False, metric="top1")
    assert tuple(task.model.inputs[0].shape) == (None, 16, 16, 3)
    assert task.notes == "input size fixed to (16, 16, 3) from the images"
    row = run(task, make_config("float32"), ExperimentStore(tmp_path / "ws"), latency_runs=2,
              progress=False, devices=[])
    assert "input size fixed to (16, 16, 3)" in row["notes"]


def test_diabetes_csv_regressor_scored_by_mae(tmp_path):  # a Sequential model, as most are
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    path = write_csv(tmp_path / "diabetes.csv", frame)
    data = load_csv(path, label_column="target")
    assert data.x_train.shape[1] == 10 and data.info["head"].shape[0] == 5
    model = tabular_model(10, 1, name="diabetes", sequential=True)
    import keras

    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(data.x_train, data.y_train, epochs=150, verbose=0)
    store = ExperimentStore(tmp_path / "ws")
    task = prepare_task(model, path, label_column="target", metric="mae", progress=False)
    assert task.metric.name == "mae" and not task.metric.higher_is_better
    expected = float(np.mean(np.abs(model.predict(data.x_test, verbose=0)[:, 0]
                                    - data.y_test)))
    assert task.float_score == pytest.approx(expected, rel=1e-4)
    assert task.float_score < 80  # a trivial mean predictor scores about 64 to 70
    rows = {name: run(task, make_config(name), store, latency_runs=2, progress=False,
                      devices=[]) for name in ("float32", "int8")}
    assert rows["float32"]["score_drop"] == pytest.approx(0.0, abs=1e-3)
    int8 = rows["int8"]
    assert int8["metric"] == "mae" and int8["higher_is_better"] == 0
    assert int8["score_drop"] == pytest.approx(int8["score"] - int8["float_score"])
    assert int8["accuracy"] is None and int8["agreement"] is None
    assert abs(int8["score_drop"]) < 3.0


def test_breast_cancer_scored_by_auc_and_a_user_metric(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    bunch = load_breast_cancer()
    x = StandardScaler().fit_transform(bunch.data).astype("float32")
    frame = __import__("pandas").DataFrame(x, columns=[f"f{i}" for i in range(30)])
    frame["malignant"] = 1 - bunch.target
    path = write_csv(tmp_path / "cancer.csv", frame)
    data = load_csv(path, label_column="malignant")
    model = tabular_model(30, 1, activation="sigmoid", name="cancer")
    model.compile("adam", "binary_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=20, verbose=0)
    task = prepare_task(model, data, metric="auc", progress=False)
    scores = model.predict(data.x_test, verbose=0)[:, 0]
    assert task.float_score == pytest.approx(roc_auc_score(data.y_test, scores), abs=1e-6)
    assert task.float_score > 0.95
    row = run(task, make_config("dynamic_range"), ExperimentStore(tmp_path / "ws"),
              latency_runs=2, progress=False, devices=[])
    assert row["metric"] == "auc" and row["score"] > 0.9
    assert row["accuracy"] is not None  # binary accuracy stays for a classifier

    def recall_of_malignant(y_true, y_pred):
        picked = y_pred[:, 0] >= 0.5
        return float(np.sum(picked & (y_true == 1)) / np.sum(y_true == 1))

    mine = prepare_task(model, data, metric=recall_of_malignant, progress=False)
    assert mine.metric.name == "recall_of_malignant"
    assert mine.float_score == pytest.approx(
        float(np.mean(scores[data.y_test == 1] >= 0.5)))


@pytest.mark.parametrize("problem, message", [
    ("missing label column", r"has no column 'price'\. Expected the label column among its "
                             r"columns: a, b, label"),
    ("text in a feature", r"Column 'b' of 'bad\.csv' holds text \('x'.*data row 3\)\. Expected "
                          "numbers"),
])
def test_bad_csv_is_refused(tmp_path, problem, message):
    path = tmp_path / "bad.csv"
    rows = [["a", "b", "label"], [1, 2, 0], [3, 4, 1], [5, "x", 0], [7, 8, 1]]
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    label = "price" if problem == "missing label column" else "label"
    with pytest.raises(DataError, match=message):
        load_csv(path, label_column=label)


def test_two_input_model_scored_from_a_dict_matched_by_name(tmp_path):
    import keras

    rng = np.random.default_rng(0)
    image, meta = rng.normal(size=(400, 6, 6, 1)).astype("float32"), \
        rng.normal(size=(400, 3)).astype("float32")
    labels = ((image.mean(axis=(1, 2, 3)) + meta[:, 0]) > 0).astype("int64")
    keras.utils.set_random_seed(0)
    a, b = keras.Input((3,), name="meta"), keras.Input((6, 6, 1), name="image")
    joined = keras.layers.Concatenate()([a, keras.layers.Flatten()(b)])
    model = keras.Model({"meta": a, "image": b}, keras.layers.Dense(2)(
        keras.layers.Dense(16, activation="relu")(joined)), name="two_inputs")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit({"meta": meta[:300], "image": image[:300]}, labels[:300], epochs=30, verbose=0)
    data = (
        # a tuple of inputs in the model's input order (image first: Keras sorts dict inputs)
        tuple(part[:300] for part in ({"image": image, "meta": meta}[t.name]
                                      for t in model.inputs)), labels[:300],
        {"meta": meta[300:], "image": image[300:]}, labels[300:])
    from workbench.data import Dataset

    task = prepare_task(model, Dataset("pairs", *data), progress=False)
    keras_accuracy = float(np.mean(np.argmax(model.predict(
        {"meta": meta[300:], "image": image[300:]}, verbose=0), -1) == labels[300:]))
    assert task.float_score == pytest.approx(keras_accuracy)
    store = ExperimentStore(tmp_path / "ws")
    rows = [run(task, make_config(name), store, latency_runs=2, progress=False, devices=[])
            for name in ("float32", "int8")]
    assert rows[0]["score"] == pytest.approx(keras_accuracy)  # inputs matched by name
    assert rows[0]["agreement"] == 1.0
    assert rows[1]["score_drop"] <= 0.03


def test_pretrained_weights_from_a_file_and_a_clear_message_offline(tmp_path, monkeypatch):
    from workbench.zoo import ZooError, build_zoo_model

    source = build_zoo_model("mobilenet_v2:96")
    weights = tmp_path / "mine.weights.h5"
    source.save_weights(weights)
    loaded = prepare_task("mobilenet_v2:96:imagenet", weights=weights, progress=False).model
    np.testing.assert_array_equal(loaded.get_weights()[0], source.get_weights()[0])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    with pytest.raises(ZooError, match=r"Place the file mobilenet_v2_weights_tf_dim_ordering_tf_"
                                       r"kernels_1\.0_96\.h5 in .*empty/models/.*--weights PATH"):
        prepare_task("mobilenet_v2:96:imagenet", progress=False)


def test_a_tf_data_preview_counts_the_test_split_without_reading_the_training_stream():
    import tensorflow as tf

    from workbench.data import describe, from_tf_data, load_digits_task

    digits = load_digits_task()
    endless = tf.data.Dataset.from_tensor_slices((digits.x_train, digits.y_train)).repeat()
    test = tf.data.Dataset.from_tensor_slices((digits.x_test, digits.y_test))
    preview = describe(from_tf_data(endless, test))  # an endless stream: never read through
    assert preview.facts == ["450 test samples; training samples streamed (not counted)"]
    assert list(preview.balance.columns) == ["test"]
    assert preview.balance["test"].to_dict() == {
        str(label): int(np.sum(digits.y_test == label)) for label in range(10)}
    first_batch = digits.y_test[:32]
    assert [sample.label for sample in preview.samples] == [
        str(label) for label in np.unique(first_batch)
        for _ in range(min(2, int(np.sum(first_batch == label))))]
    assert {sample.image.shape for sample in preview.samples} == {(8, 8, 1)}


def test_an_image_folder_is_decoded_once_and_read_back_the_same(digit_folder, folder_model,
                                                                tmp_path):
    import keras

    from workbench.data import load_data

    workspace, model = tmp_path / "ws", keras.models.load_model(folder_model)
    kept = workspace / "decoded"
    streamed = load_data(str(digit_folder), workspace=workspace).bind(model)
    next(streamed.test_input_batches())  # a partial pass keeps nothing
    assert not kept.exists() or list(kept.iterdir()) == []
    decoded = list(streamed.test_input_batches())
    assert [path.suffix for path in kept.iterdir()] == [".npy"]
    again = load_data(str(digit_folder), workspace=workspace).bind(model)
    again.test = None  # nothing left to decode from: the batches come from the kept file
    cached = list(again.test_input_batches())
    assert [len(batch) for batch in cached] == [len(batch) for batch in decoded]
    assert all(np.array_equal(a, b) for a, b in zip(cached, decoded))
    symmetric = load_data(str(digit_folder), workspace=workspace, preprocessing="symmetric")
    next(symmetric.bind(model).test_input_batches())
    list(symmetric.bind(model).test_input_batches())
    assert len(list(kept.iterdir())) == 2  # another preprocessing, another file
