"""Pruning, clustering and QAT: the workbench (Keras 3) beside tfmot (Keras 2), in one run.

The same digits architecture, starting weights, schedule and epochs on both sides. tfmot needs
``tf_keras``, so its half runs in its own environment, bench/.venv-tfmot, which this script
creates on first use (TensorFlow 2.21, tf-keras, tensorflow-model-optimization from PyPI).
Prints a table and writes bench/results/compare_tfmot.json.

    python -m bench.compare_tfmot
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import (  # noqa: E402
    QAT_NETWORK, REPO, TIMING_ROUNDS, alternating_epoch_times, epoch_seconds, gzip_size,
    kernel_stats, median_ratio, qat_network_data, show_and_write, spread, timed_fit,
)

TFMOT_ENV = REPO / "bench" / ".venv-tfmot"
TFMOT_PACKAGES = ["tensorflow-cpu==2.21.*", "tf-keras==2.21.*",
                  "tensorflow-model-optimization==0.8.1", "scikit-learn", "tqdm"]
SETTINGS = {"sparsity": 0.8, "prune_epochs": 10, "prune_learning_rate": 5e-4,
            "clusters": 16, "cluster_epochs": 3, "cluster_learning_rate": 1e-4,
            "qat_epochs": 4, "qat_learning_rate": 1e-4, "seeds": TIMING_ROUNDS}


def ensure_tfmot_env() -> Path:
    python = TFMOT_ENV / "bin" / "python"
    if not python.exists():
        print(f"creating {TFMOT_ENV} for tfmot (once, a few minutes)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TFMOT_ENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *TFMOT_PACKAGES],
                       check=True)
    return python


def run_tfmot_side(settings: dict, weights: Path, network_data: Path, folder: Path) -> dict:
    python = ensure_tfmot_env()
    settings_path, out_path = folder / "settings.json", folder / "tfmot.json"
    settings_path.write_text(json.dumps(settings))
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": str(REPO)}
    subprocess.run([str(python), "-m", "bench.tfmot_side", str(settings_path), str(weights),
                    str(network_data), str(out_path)], cwd=REPO, env=env, check=True)
    return json.loads(out_path.read_text())


def _accuracy(model, data) -> float:
    from workbench.measure import accuracy, keras_predict

    return accuracy(keras_predict(model, data.x_test), data.y_test)


def _kernels(model):
    from workbench.layer_selection import all_weights

    return [ref.variable.numpy() for ref in all_weights(model)]


def _float32_gzip(model) -> int:
    from workbench.ptq import convert
    from workbench.stages.export import Float32Export

    return gzip_size(convert(model, Float32Export(), progress=False))


def workbench_prune(task, settings: dict) -> tuple[dict, object]:
    """Pruned accuracy, sparsity, gzip size and epoch times; also the schedule it used."""
    import keras

    from workbench.finetune import fine_tune, steps_per_epoch
    from workbench.layer_selection import clone_with_weights
    from workbench.pruning import UpdatePruningStep, prune_low_magnitude, strip_pruning
    from workbench.stages.pruning import recipe_schedule

    epochs, rate = settings["prune_epochs"], settings["prune_learning_rate"]
    schedule = recipe_schedule(steps_per_epoch(task.dataset) * epochs, settings["sparsity"])
    pruned_models = []

    def timed_fit(model, seed, callbacks=()):
        timer = epoch_seconds(keras)
        fine_tune(model, task.dataset, epochs, rate, [*callbacks, timer], progress=False,
                  seed=seed)
        return timer.seconds

    def fit_pruned(seed):
        pruned_models.append(prune_low_magnitude(task.model, schedule))
        return timed_fit(pruned_models[-1], seed, [UpdatePruningStep()])

    plain, pruning = alternating_epoch_times(
        lambda seed: timed_fit(clone_with_weights(task.model), seed), fit_pruned)
    stripped = [strip_pruning(model) for model in pruned_models]
    return {"accuracy": spread([_accuracy(model, task.dataset) for model in stripped]),
            **kernel_stats(_kernels(stripped[0])), "gzip_bytes": _float32_gzip(stripped[0]),
            "epoch_seconds_pruning": pruning, "epoch_seconds_plain": plain}, schedule


def workbench_cluster(task, settings: dict) -> dict:
    """The Cluster stage's path (BatchNormalization folded, k-means++, centroids fine-tuned)
    over the seeds; cluster_weights on ResNet50 copying the model and in place."""
    import keras

    from workbench.clustering import cluster_weights, strip_clustering
    from workbench.clustering.cluster import assign_clusters
    from workbench.finetune import fine_tune
    from workbench.folding import fold_batch_norms
    from workbench.layer_selection import all_weights

    start = time.perf_counter()
    cluster_weights(task.model, settings["clusters"], init="kmeans++")
    cluster_seconds = time.perf_counter() - start
    stripped = []
    for seed in range(settings["seeds"]):
        folded, _ = fold_batch_norms(task.model)
        clustered = cluster_weights(folded, settings["clusters"], init="kmeans++",
                                    copy=folded is task.model)
        fine_tune(clustered, task.dataset, settings["cluster_epochs"],
                  settings["cluster_learning_rate"], progress=False, seed=seed)
        stripped.append(strip_clustering(clustered))
    resnet = keras.applications.ResNet50(weights=None)
    start = time.perf_counter()
    cluster_weights(resnet, settings["clusters"], init="kmeans++")
    resnet_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for ref in all_weights(resnet):  # the k-means and assignment alone, without the model copy
        assign_clusters(ref.variable.numpy(), settings["clusters"], "kmeans++", False)
    kmeans_seconds = time.perf_counter() - start
    start = time.perf_counter()
    cluster_weights(resnet, settings["clusters"], init="kmeans++", copy=False)
    in_place_seconds = time.perf_counter() - start
    return {"accuracy": spread([_accuracy(model, task.dataset) for model in stripped]),
            **kernel_stats(_kernels(stripped[0])), "gzip_bytes": _float32_gzip(stripped[0]),
            "cluster_seconds": cluster_seconds, "resnet50_cluster_seconds": resnet_seconds,
            "resnet50_in_place_seconds": in_place_seconds,
            "resnet50_kmeans_seconds": kmeans_seconds}


def workbench_qat(task, settings: dict) -> dict:
    """QAT epoch times beside plain training, and the int8 .tflite it exports."""
    import keras

    from workbench.finetune import fine_tune
    from workbench.layer_selection import clone_with_weights
    from workbench.qat import convert_qat, quantize_model

    epochs, rate = settings["qat_epochs"], settings["qat_learning_rate"]
    qat_models = []

    def timed_fit(model, seed):
        timer = epoch_seconds(keras)
        fine_tune(model, task.dataset, epochs, rate, [timer], progress=False, seed=seed)
        return timer.seconds

    def fit_qat(seed):
        qat_models.append(quantize_model(task.model))
        return timed_fit(qat_models[-1], seed)

    plain, qat = alternating_epoch_times(
        lambda seed: timed_fit(clone_with_weights(task.model), seed), fit_qat)
    return {"keras_accuracy": spread([_accuracy(model, task.dataset) for model in qat_models]),
            **int8_tflite_stats(convert_qat(qat_models[0]), task.dataset),
            "epoch_seconds_qat": qat, "epoch_seconds_plain": plain}


def workbench_qat_network(data_path: Path) -> dict:
    """QAT's epoch times on ``QAT_NETWORK`` beside plain training of the same network (its
    BatchNormalization layers training, as fine-tuning the float model does) and beside the
    graph QAT trains without its fake quantization (BatchNormalization folded: the cost of the
    simulation alone)."""
    import keras
    import numpy as np

    from workbench.folding import fold_batch_norms
    from workbench.layer_selection import clone_with_weights
    from workbench.qat import quantize_model
    from workbench.zoo import build_zoo_model

    with np.load(data_path) as arrays:
        x, y = arrays["x"], arrays["y"]
    model = build_zoo_model(QAT_NETWORK["zoo_name"])

    def fit(build):
        return lambda seed: timed_fit(keras, build(), x, y, QAT_NETWORK["epochs"],
                                      QAT_NETWORK["learning_rate"], seed, from_logits=False)

    plain, folded, qat = alternating_epoch_times(
        fit(lambda: clone_with_weights(model)), fit(lambda: fold_batch_norms(model)[0]),
        fit(lambda: quantize_model(model)))
    return {"epoch_seconds_plain": plain, "epoch_seconds_folded": folded,
            "epoch_seconds_qat": qat}


def int8_tflite_stats(tflite: bytes, dataset) -> dict:
    """Accuracy of a .tflite on the test split, and how much of it runs in int8."""
    from workbench.measure import accuracy, interpreter, tflite_predict
    from workbench.tflite_inspect import inspect_tflite

    info = inspect_tflite(tflite)
    runner = interpreter(tflite)
    return {"tflite_accuracy": accuracy(tflite_predict(tflite, dataset.x_test, progress=False),
                                        dataset.y_test),
            "int8_ops_fraction": info.int8_ops_fraction(),
            "io_dtypes": [str(runner.get_input_details()[0]["dtype"].__name__),
                          str(runner.get_output_details()[0]["dtype"].__name__)],
            "ops": dict(info.op_counts())}


def pruned_int8_gzip_ratio(task, workspace: str) -> float:
    from workbench.pipeline import run
    from workbench.recipes import make_config
    from workbench.store import ExperimentStore

    store = ExperimentStore(workspace)
    float_row = run(task, make_config("float32"), store, latency_runs=5, progress=False)
    int8_row = run(task, make_config("prune", {"export": "int8"}), store, latency_runs=5,
                   progress=False)
    return int8_row["gzip_bytes"] / float_row["gzip_bytes"]


def _seeds(figure: dict) -> str:
    return f"{figure['mean']:.4f} +- {figure['sd']:.4f}"


def at_least(ours: dict, theirs: dict) -> str:
    """The goal ">= tfmot" judged beyond the seeds' noise: met unless our mean is below
    theirs by more than twice the standard error of the difference."""
    import math

    noise = math.sqrt((ours["sd"] ** 2 + theirs["sd"] ** 2) / len(ours["values"]))
    gap = ours["mean"] - theirs["mean"]
    verdict = "met" if gap >= -2 * noise else "not met"
    return f">= tfmot beyond noise: {verdict} (difference {gap:+.4f}, noise {noise:.4f})"


def table(ours: dict, theirs: dict) -> list[dict]:
    p, tp, c, tc = ours["prune"], theirs["prune"], ours["cluster"], theirs["cluster"]
    overhead = median_ratio(p["epoch_seconds_pruning"], p["epoch_seconds_plain"])
    their_overhead = median_ratio(tp["epoch_seconds_pruning"], tp["epoch_seconds_plain"])
    speedup = tc["resnet50_cluster_seconds"] / c["resnet50_cluster_seconds"]
    in_place = tc["resnet50_cluster_seconds"] / c["resnet50_in_place_seconds"]
    q, tq = ours["qat"], theirs["qat"]
    n, tn = ours["qat_network"], theirs["qat_network"]
    network = QAT_NETWORK["zoo_name"]
    rows = [
        ("float accuracy", ours["float_accuracy"], theirs["float_accuracy"], "same start"),
        ("prune 0.8: accuracy, mean +- sd of 3 seeds", _seeds(p["accuracy"]),
         _seeds(tp["accuracy"]), at_least(p["accuracy"], tp["accuracy"])),
        ("prune 0.8: kernel sparsity", p["sparsity"], tp["sparsity"], ""),
        ("prune 0.8: gzip bytes (float32 .tflite)", p["gzip_bytes"], tp["gzip_bytes"], ""),
        ("prune: epoch time / plain training", overhead, their_overhead, "<= 1.05"),
        ("cluster 16: accuracy, mean +- sd of 3 seeds", _seeds(c["accuracy"]),
         _seeds(tc["accuracy"]), at_least(c["accuracy"], tc["accuracy"])),
        ("cluster 16: most unique values in a Keras kernel", c["max_unique"], tc["max_unique"], "<= 16"),
        ("cluster 16: gzip bytes (float32 .tflite)", c["gzip_bytes"], tc["gzip_bytes"], ""),
        ("cluster_weights on the digits CNN, s", c["cluster_seconds"], tc["cluster_seconds"], ""),
        ("cluster_weights on resnet50 (224), s", c["resnet50_cluster_seconds"],
         tc["resnet50_cluster_seconds"], f"copying the model: {speedup:.1f}x faster"),
        ("  the same, copy=False (in place), s", c["resnet50_in_place_seconds"], None,
         f">= 10x faster than tfmot (measured {in_place:.1f}x)"),
        ("  of which k-means + assignment, s", c["resnet50_kmeans_seconds"], None,
         "the rest is copying the model"),
        ("prune 0.8 + int8: gzip / float32 gzip", ours["pruned_int8_gzip_ratio"], None, "<= 0.12"),
        ("qat: Keras accuracy, mean +- sd of 3 seeds", _seeds(q["keras_accuracy"]),
         _seeds(tq["keras_accuracy"]), at_least(q["keras_accuracy"], tq["keras_accuracy"])),
        ("qat: accuracy of the int8 .tflite (seed 0)", q["tflite_accuracy"],
         tq["tflite_accuracy"], ">= tfmot"),
        ("qat: int8 ops fraction", q["int8_ops_fraction"], tq["int8_ops_fraction"], "1.0"),
        ("qat: input/output dtypes", "/".join(q["io_dtypes"]), "/".join(tq["io_dtypes"]),
         "int8/int8"),
        ("qat: epoch time / plain training",
         median_ratio(q["epoch_seconds_qat"], q["epoch_seconds_plain"]),
         median_ratio(tq["epoch_seconds_qat"], tq["epoch_seconds_plain"]), "below tfmot's"),
        (f"qat on {network} (generated images): epoch time / plain training",
         median_ratio(n["epoch_seconds_qat"], n["epoch_seconds_plain"]),
         median_ratio(tn["epoch_seconds_qat"], tn["epoch_seconds_plain"]),
         "<= 1.15 and below tfmot's"),
        ("  QAT epoch / the folded float graph's (the fake quantization's own cost)",
         median_ratio(n["epoch_seconds_qat"], n["epoch_seconds_folded"]), None,
         "QAT trains BatchNormalization folded; plain training trains it"),
    ]
    return [{"metric": m, "workbench": w, "tfmot": t, "goal": g} for m, w, t, g in rows]


def main() -> None:
    import numpy as np

    from workbench.pipeline import prepare_task

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        task = prepare_task("default", workspace=folder / "workspace", progress=False)
        weights = folder / "weights.npz"
        np.savez(weights, *task.model.get_weights())
        ours = {"float_accuracy": task.float_accuracy}
        ours["prune"], schedule = workbench_prune(task, SETTINGS)
        ours["cluster"] = workbench_cluster(task, SETTINGS)
        ours["qat"] = workbench_qat(task, SETTINGS)
        network_data = qat_network_data(folder)
        ours["qat_network"] = workbench_qat_network(network_data)
        ours["pruned_int8_gzip_ratio"] = pruned_int8_gzip_ratio(task, str(folder / "workspace"))
        settings = {**SETTINGS, "prune_end_step": schedule.end_step,
                    "prune_frequency": schedule.frequency}
        theirs = run_tfmot_side(settings, weights, network_data, folder)
        theirs["qat"].update(int8_tflite_stats((folder / "tfmot_qat.tflite").read_bytes(),
                                               task.dataset))
    rows = table(ours, theirs)
    show_and_write("compare_tfmot", rows, {"settings": settings, "qat_network": QAT_NETWORK,
                                           "workbench": ours,
                                           "tfmot": theirs, "table": rows})


if __name__ == "__main__":
    main()
