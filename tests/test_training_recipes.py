"""The training recipes end to end on the default model: fine-tune, strip, export, measure.

Accuracy bounds leave room for the spread between seeds and CPUs measured by
``python -m bench.training_spread``: prune's drop ranged 0-0.9 points (0.4-2.0 with the earlier
defaults), prune_2x4's and cluster's -0.2-0.2; the bounds are 3.
"""

import pytest

from conftest import LATENCY_RUNS
from workbench.clustering import cluster_weights, clustering_report, strip_clustering
from workbench.errors import RecipeError
from workbench.pipeline import prepare_task, run, sweep
from workbench.pruning import m_by_n_table, prune_low_magnitude, prune_once, pruning_report
from workbench.recipes import make_config
from workbench.zoo import APPLICATIONS

TRAINING_RECIPES = ("prune", "prune_2x4", "cluster", "prune_cluster")
MAX_DROP_POINTS = 3.0


@pytest.fixture(scope="module")
def training_rows(default_task, store):
    configs = [make_config(name) for name in TRAINING_RECIPES]
    result = sweep(default_task, configs, store, latency_runs=LATENCY_RUNS, progress=False)
    assert result.failures == {}
    return {row["recipe"]: row for row in result.rows}


def _points(row) -> float:
    return 100 * (row["float_accuracy"] - row["accuracy"])


def test_prune_reaches_sparsity_keeps_accuracy_and_compresses(training_rows, ptq_rows):
    row = training_rows["prune"]
    assert row["weight_sparsity"] >= 0.79
    assert _points(row) <= MAX_DROP_POINTS
    assert row["gzip_bytes"] <= 0.40 * ptq_rows["float32"]["gzip_bytes"]
    assert row["size_bytes"] == ptq_rows["float32"]["size_bytes"]  # zeros do not shrink the file


def test_prune_2x4_passes_the_checker_on_every_pruned_tensor(training_rows):
    table = m_by_n_table(training_rows["prune_2x4"]["tflite_path"], 2, 4)
    judged = table[table["satisfies"].notna()]
    # the stem convolution has a single input channel, so it was left dense (and reported)
    pruned = judged[judged["shape"].map(lambda shape: shape[-1] % 4 == 0)]
    assert len(pruned) == 4 and pruned["satisfies"].all()
    assert _points(training_rows["prune_2x4"]) <= MAX_DROP_POINTS
    notes = training_rows["prune_2x4"]["notes"]  # the skipped layers reach the results table
    assert "skipped stem_conv.kernel: its input-channel dimension (1) is not a multiple" in notes
    assert "skipped block_dw.kernel: depthwise kernels" in notes


def test_cluster_shares_sixteen_values(training_rows, ptq_rows):
    row = training_rows["cluster"]
    assert row["max_unique_weights"] <= 16 and _points(row) <= MAX_DROP_POINTS
    assert ptq_rows["float32"]["max_unique_weights"] > 1000
    assert row["gzip_bytes"] < 0.5 * ptq_rows["float32"]["gzip_bytes"]


def test_prune_cluster_keeps_both(training_rows):
    row = training_rows["prune_cluster"]
    assert row["weight_sparsity"] >= 0.79 and row["max_unique_weights"] <= 16
    assert row["gzip_bytes"] < training_rows["prune"]["gzip_bytes"]


def test_export_with_int8_keeps_the_zeros(default_task, store):
    config = make_config("prune", {"export": "int8", "epochs": "4"})
    row = run(default_task, config, store, latency_runs=LATENCY_RUNS, progress=False)
    assert row["weight_sparsity"] >= 0.79 and row["accuracy"] >= 0.9


def test_zoo_models_need_epochs_zero():
    task = prepare_task("mobilenet_v1:32", progress=False)
    with pytest.raises(RecipeError, match="has no dataset.*--set epochs=0"):
        run(task, make_config("prune"), progress=False)


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_every_zoo_model_prunes_clusters_and_strips_in_one_step(name):
    size = 75 if name == "inception_v3" else 32
    model = prepare_task(f"{name}:{size}", progress=False).model
    pruned = prune_low_magnitude(model, layers=None)
    assert pruning_report(pruned).applied  # every kernel is prunable in these networks
    stripped = prune_once(model, 0.5)
    assert stripped.count_params() == model.count_params()
    clustered = cluster_weights(model, 16, layers=lambda layer: "conv" in layer.name.lower())
    report = clustering_report(clustered)
    assert report.applied and all("fewer than" in why for why in report.skipped.values())
    assert strip_clustering(clustered).count_params() == model.count_params()
