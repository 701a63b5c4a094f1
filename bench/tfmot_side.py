"""The tfmot (Keras 2, ``tf_keras``) half of ``bench.compare_tfmot``; runs in bench/.venv-tfmot.

    TF_USE_LEGACY_KERAS=1 python -m bench.tfmot_side SETTINGS.json WEIGHTS.npz NETWORK_DATA.npz \
        OUT.json
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras  # noqa: E402

from bench.common import (  # noqa: E402
    QAT_NETWORK, alternating_epoch_times, gzip_size, kernel_stats, spread, timed_fit,
)
from workbench.data import load_digits_task  # noqa: E402
from workbench.zoo import build_default_model  # noqa: E402


def base_model(weights_path: str):
    model = build_default_model(tf_keras)
    with np.load(weights_path) as archive:
        model.set_weights([archive[f"arr_{i}"] for i in range(len(archive.files))])
    return model


def fit(model, data, epochs, learning_rate, callbacks=(), seed: int = 0):
    return timed_fit(tf_keras, model, data.x_train, data.y_train, epochs, learning_rate, seed,
                     from_logits=True, callbacks=callbacks)


def accuracy(model, data) -> float:
    return float(np.mean(np.argmax(model.predict(data.x_test, verbose=0), -1) == data.y_test))


def float32_tflite(model) -> bytes:
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def kernels(model):
    return [w.numpy() for layer in model.layers for w in layer.weights
            if w.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel")]


def prune(settings, data, weights_path):
    epochs, rate = settings["prune_epochs"], settings["prune_learning_rate"]
    pruned_models = []

    def fit_pruned(seed):
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            0.0, settings["sparsity"], begin_step=0, end_step=settings["prune_end_step"],
            frequency=settings["prune_frequency"])
        pruned = tfmot.sparsity.keras.prune_low_magnitude(base_model(weights_path),
                                                          pruning_schedule=schedule)
        pruned_models.append(pruned)
        return fit(pruned, data, epochs, rate, [tfmot.sparsity.keras.UpdatePruningStep()], seed)

    plain, pruning = alternating_epoch_times(
        lambda seed: fit(base_model(weights_path), data, epochs, rate, seed=seed), fit_pruned)
    stripped = [tfmot.sparsity.keras.strip_pruning(model) for model in pruned_models]
    return {"accuracy": spread([accuracy(model, data) for model in stripped]),
            **kernel_stats(kernels(stripped[0])),
            "gzip_bytes": gzip_size(float32_tflite(stripped[0])),
            "epoch_seconds_pruning": pruning, "epoch_seconds_plain": plain}


def cluster(settings, data, weights_path):
    init = tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS

    def clustered_model(model):
        return tfmot.clustering.keras.cluster_weights(
            model, number_of_clusters=settings["clusters"], cluster_centroids_init=init)

    first = base_model(weights_path)
    start = time.perf_counter()
    clustered = [clustered_model(first)]
    cluster_seconds = time.perf_counter() - start
    clustered += [clustered_model(base_model(weights_path))
                  for _ in range(1, settings["seeds"])]
    stripped = []
    for seed, model in enumerate(clustered):
        fit(model, data, settings["cluster_epochs"], settings["cluster_learning_rate"],
            seed=seed)
        stripped.append(tfmot.clustering.keras.strip_clustering(model))
    resnet = tf_keras.applications.ResNet50(weights=None)
    start = time.perf_counter()
    tfmot.clustering.keras.cluster_weights(resnet, number_of_clusters=settings["clusters"],
                                           cluster_centroids_init=init)
    resnet_seconds = time.perf_counter() - start
    return {"accuracy": spread([accuracy(model, data) for model in stripped]),
            **kernel_stats(kernels(stripped[0])),
            "gzip_bytes": gzip_size(float32_tflite(stripped[0])),
            "cluster_seconds": cluster_seconds, "resnet50_cluster_seconds": resnet_seconds}


def qat(settings, data, weights_path, tflite_path):
    """QAT epoch times beside plain training; the int8 .tflite is written for the caller to
    evaluate with the same LiteRT code as the workbench's."""
    epochs, rate = settings["qat_epochs"], settings["qat_learning_rate"]
    qat_models = []

    def fit_qat(seed):
        qat_models.append(tfmot.quantization.keras.quantize_model(base_model(weights_path)))
        return fit(qat_models[-1], data, epochs, rate, seed=seed)

    plain, timed = alternating_epoch_times(
        lambda seed: fit(base_model(weights_path), data, epochs, rate, seed=seed), fit_qat)
    converter = tf.lite.TFLiteConverter.from_keras_model(qat_models[0])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with open(tflite_path, "wb") as handle:
        handle.write(converter.convert())
    return {"keras_accuracy": spread([accuracy(model, data) for model in qat_models]),
            "epoch_seconds_qat": timed,
            "epoch_seconds_plain": plain}


def qat_network(data_path: str) -> dict:
    """QAT's epoch times on ``QAT_NETWORK`` (tf_keras' builder, its own random weights: only
    the time is compared) beside plain training of the same network."""
    with np.load(data_path) as arrays:
        x, y = arrays["x"], arrays["y"]
    size = QAT_NETWORK["size"]

    def network():
        builder = getattr(tf_keras.applications, QAT_NETWORK["builder"])
        return builder(weights=None, input_shape=(size, size, 3),
                       classes=QAT_NETWORK["classes"])

    def fit(build):
        return lambda seed: timed_fit(tf_keras, build(), x, y, QAT_NETWORK["epochs"],
                                      QAT_NETWORK["learning_rate"], seed, from_logits=False)

    plain, timed = alternating_epoch_times(
        fit(network), fit(lambda: tfmot.quantization.keras.quantize_model(network())))
    return {"epoch_seconds_plain": plain, "epoch_seconds_qat": timed}


def main(settings_path: str, weights_path: str, network_data_path: str, out_path: str) -> None:
    settings = json.loads(open(settings_path).read())
    data = load_digits_task()
    float_model = base_model(weights_path)
    result = {"float_accuracy": accuracy(float_model, data),
              "float_gzip_bytes": gzip_size(float32_tflite(float_model)),
              "prune": prune(settings, data, weights_path),
              "cluster": cluster(settings, data, weights_path),
              "qat": qat(settings, data, weights_path,
                         os.path.join(os.path.dirname(out_path), "tfmot_qat.tflite")),
              "qat_network": qat_network(network_data_path)}
    with open(out_path, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:5])
