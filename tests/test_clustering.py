"""Keras 3 weight clustering: 1-D k-means, shared values through fine-tuning, kept zeros."""

import keras
import numpy as np
import pytest

from workbench.clustering import cluster_weights, clustering_report, kmeans_1d, strip_clustering
from workbench.errors import WorkbenchError
from workbench.layer_selection import all_weights
from workbench.pruning import prune_once


def _kernels(model) -> dict[str, np.ndarray]:
    return {ref.path: np.asarray(ref.variable.numpy()) for ref in all_weights(model)}


def test_kmeans_finds_separated_groups():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(c, 0.01, 500) for c in (-1.0, 0.0, 2.0)])
    for init in ("kmeans++", "linear", "density", "random"):
        centroids, labels = kmeans_1d(values, 3, init=init)
        np.testing.assert_allclose(centroids, [-1.0, 0.0, 2.0], atol=0.01, err_msg=init)
        assert np.array_equal(np.bincount(labels), [500, 500, 500]), init


def test_kmeans_lowers_the_error_of_its_start():
    values = np.random.default_rng(1).normal(size=20_000)
    centroids, labels = kmeans_1d(values, 8, init="linear", max_iterations=100)
    start = np.linspace(values.min(), values.max(), 8)
    start_error = np.min((values[:, None] - start) ** 2, axis=1).mean()
    assert np.mean((values - centroids[labels]) ** 2) < 0.5 * start_error


def _fine_tune(model, dataset, epochs=1):
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset.x_train, dataset.y_train, epochs=epochs, batch_size=64, verbose=0)


def test_centroids_train_and_values_stay_shared(default_task):
    before = _kernels(default_task.model)
    clustered = cluster_weights(default_task.model, 16)
    start = _kernels(clustered)
    _fine_tune(clustered, default_task.dataset)
    final = _kernels(strip_clustering(clustered))
    for path, values in final.items():
        assert np.unique(values).size <= 16, path
        assert not np.array_equal(values, start[path]), f"{path}: centroids did not train"
    for path, values in _kernels(default_task.model).items():  # the original is untouched
        np.testing.assert_array_equal(values, before[path])


def test_in_place_clustering_changes_and_returns_the_given_model(default_task):
    from workbench.layer_selection import clone_with_weights

    copied = cluster_weights(default_task.model, 16)
    model = clone_with_weights(default_task.model)  # ours to change
    clustered = cluster_weights(model, 16, copy=False)
    assert clustered is model and clustering_report(model).applied == \
        clustering_report(copied).applied
    for path, values in _kernels(model).items():  # the same k-means as the copying path
        np.testing.assert_array_equal(values, _kernels(copied)[path])
        assert path not in clustering_report(model).applied or np.unique(values).size <= 16


def test_per_channel_clusters_each_output_channel(default_task):
    with pytest.warns(UserWarning, match="9 weights per channel, fewer than"):
        clustered = cluster_weights(default_task.model, 16, per_channel=True)
    report = clustering_report(clustered)
    assert set(report.skipped) == {"stem_conv.kernel", "block_dw.kernel"}
    fc = _kernels(strip_clustering(clustered))["fc.kernel"]
    per_channel = [np.unique(fc[:, j]).size for j in range(fc.shape[1])]
    assert max(per_channel) <= 16 and np.unique(fc).size > 16


def test_sparsity_preserving_clustering_keeps_every_zero(default_task):
    pruned = prune_once(default_task.model, 0.6)
    zeros = {path: values == 0 for path, values in _kernels(pruned).items()}
    clustered = cluster_weights(pruned, 8, preserve_sparsity=True)
    _fine_tune(clustered, default_task.dataset)
    for path, values in _kernels(strip_clustering(clustered)).items():
        np.testing.assert_array_equal(values == 0, zeros[path], err_msg=path)
        assert np.unique(values).size <= 8, path  # the zero cluster counts among the 8


def test_clustered_model_saves_and_loads_plainly(tmp_path, default_task):
    clustered = cluster_weights(default_task.model, 4, init="density", layers=["fc"])
    clustered.save(tmp_path / "during.keras")
    strip_clustering(clustered).save(tmp_path / "after.keras")
    for name in ("during.keras", "after.keras"):
        loaded = keras.saving.load_model(tmp_path / name)
        assert np.unique(loaded.get_layer("fc").kernel.numpy()).size <= 4


@pytest.mark.parametrize("arguments, message", [
    ({"number_of_clusters": 1}, r"at least 2\. Received: number_of_clusters=1"),
    ({"number_of_clusters": 10**6}, r"number_of_clusters=1000000 is more than the weights"),
    ({"number_of_clusters": 8, "init": "kmeans"}, r"init must be one of kmeans\+\+"),
    ({"number_of_clusters": 8, "layers": "nothing"}, "matches no layer with weights"),
])
def test_bad_clustering_arguments(default_task, arguments, message):
    with pytest.raises(WorkbenchError, match=message):
        cluster_weights(default_task.model, **arguments)
