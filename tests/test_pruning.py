"""Keras 3 pruning: schedules, masks, layer coverage, save/load, policy, bad input."""

import keras
import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.pruning import (
    ConstantSparsity, PolynomialDecay, PruneForLatencyOnXNNPack, PruningSchedule,
    UpdatePruningStep, m_by_n_mask, m_by_n_table, magnitude_mask, prune_low_magnitude,
    prune_once, pruning_report, pruning_state, satisfies_m_by_n, strip_pruning,
    weight_sparsity_table,
)


def test_constant_schedule_fires_on_its_beat():
    schedule = ConstantSparsity(0.8, begin_step=10, end_step=100, frequency=10)
    assert [schedule(step)[0] for step in (5, 10, 15, 20, 100, 101)] == \
        [False, True, False, True, True, False]
    assert schedule(50)[1] == 0.8


def test_polynomial_schedule_values():
    schedule = PolynomialDecay(0.2, 0.8, begin_step=0, end_step=100, power=3, frequency=10)
    assert schedule(0) == (True, pytest.approx(0.2))
    assert schedule(50)[1] == pytest.approx(0.8 - 0.6 * 0.5 ** 3)
    assert schedule(100) == (True, pytest.approx(0.8)) and schedule(400)[1] == pytest.approx(0.8)


@pytest.mark.parametrize("schedule", [ConstantSparsity(0.3, 5, 50, 7),
                                      PolynomialDecay(0.1, 0.9, 0, 300, power=2, frequency=3)])
def test_schedule_round_trip(schedule):
    assert PruningSchedule.from_config(schedule.get_config()) == schedule


@pytest.mark.parametrize("build, message", [
    (lambda: ConstantSparsity(1.0), r"target_sparsity must be a number in \[0, 1\).*=1.0"),
    (lambda: ConstantSparsity(-0.1), r"Received: target_sparsity=-0.1"),
    (lambda: PolynomialDecay(0.0, 0.8, begin_step=100, end_step=10), "ends before it begins"),
    (lambda: PolynomialDecay(0.0, 0.8, begin_step=0, end_step=-1), "needs an end_step"),
    (lambda: ConstantSparsity(0.5, frequency=0), "frequency >= 1"),
])
def test_bad_schedules(build, message):
    with pytest.raises(WorkbenchError, match=message):
        build()


def test_magnitude_mask_prunes_exactly_the_smallest():
    weights = np.array([[0.1, -3.0], [2.0, -0.05], [0.5, 1.0]])
    mask = magnitude_mask(weights, 0.5)
    np.testing.assert_array_equal(mask, [[0, 1], [1, 0], [0, 1]])


def test_m_by_n_mask_and_checker():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 16, 8))  # conv kernel: input channels on axis -2
    masked = kernel * m_by_n_mask(kernel, 2, 4, axis=-2)
    assert satisfies_m_by_n(masked, 2, 4, axis=-2)
    assert np.mean(masked == 0) == 0.5
    assert not satisfies_m_by_n(kernel, 2, 4, axis=-2)
    assert not satisfies_m_by_n(masked[:, :, :6], 2, 4, axis=-2)  # 6 is not a multiple of 4


def _train(model, dataset, epochs=2):
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset.x_train, dataset.y_train, epochs=epochs, batch_size=64, verbose=0,
              callbacks=[UpdatePruningStep()])


def test_pruning_during_training_leaves_the_original_untouched(default_task):
    before = [w.copy() for w in default_task.model.get_weights()]
    pruned = prune_low_magnitude(default_task.model, ConstantSparsity(0.7, frequency=5))
    _train(pruned, default_task.dataset)
    table = weight_sparsity_table(strip_pruning(pruned))
    assert (table["sparsity"] >= 0.69).all() and (table["sparsity"] <= 0.71).all()
    history = pruning_state(pruned).history_frame()
    assert set(history["epoch"]) == {0, 1} and history["sparsity"].min() >= 0.69
    for a, b in zip(before, default_task.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pruned_model_saves_and_loads_plainly_during_and_after(tmp_path, default_task):
    pruned = prune_low_magnitude(default_task.model, ConstantSparsity(0.5, frequency=5))
    _train(pruned, default_task.dataset, epochs=1)
    pruned.save(tmp_path / "during.keras")
    strip_pruning(pruned).save(tmp_path / "after.keras")
    during = keras.saving.load_model(tmp_path / "during.keras")
    after = keras.saving.load_model(tmp_path / "after.keras")
    x = default_task.dataset.x_test[:16]
    np.testing.assert_allclose(np.asarray(during(x)), np.asarray(after(x)), atol=1e-5)
    assert (weight_sparsity_table(after)["sparsity"] >= 0.49).all()


def test_callback_refuses_an_unprepared_model(default_task):
    clone = keras.models.clone_model(default_task.model)
    with pytest.raises(WorkbenchError, match="not prepared for pruning"):
        _train(clone, default_task.dataset, epochs=1)


def test_layer_filter_and_report(default_task):
    pruned = prune_low_magnitude(default_task.model, layers=["fc", keras.layers.DepthwiseConv2D])
    assert pruning_report(pruned).applied == ["block_dw.kernel", "fc.kernel"]
    with pytest.raises(WorkbenchError, match=r"matches no layer with weights.*stem_conv"):
        prune_low_magnitude(default_task.model, layers="no_such_layer")


def test_xnnpack_policy_prunes_only_pointwise_convolutions(default_task):
    with pytest.warns(UserWarning, match="skipped 5"):
        pruned = prune_low_magnitude(default_task.model, policy=PruneForLatencyOnXNNPack())
    report = pruning_report(pruned)
    assert report.applied == ["block_pw.kernel"]
    assert "1x1 convolutions" in report.skipped["fc.kernel"]


@pytest.mark.parametrize("m_by_n", [(4, 2), (2, 2), (0, 4), (2.0, 4), "2:4"])
def test_bad_m_by_n(default_task, m_by_n):
    with pytest.raises(WorkbenchError, match=r"0 < m < n.*Received: sparsity_m_by_n="):
        prune_low_magnitude(default_task.model, sparsity_m_by_n=m_by_n)


def test_two_by_four_on_the_default_model(default_task):
    with pytest.warns(UserWarning, match="depthwise kernels have one input channel"):
        stripped = prune_once(default_task.model, 0.5, sparsity_m_by_n=(2, 4))
    table = m_by_n_table(stripped).set_index("weight")
    assert not table.loc["stem_conv.kernel", "satisfies"]  # 1 input channel: left dense
    assert table.loc["block_dw.kernel", "note"].startswith("depthwise")
    assert table.loc[["block_pw.kernel", "down_conv.kernel", "fc.kernel", "logits.kernel"],
                     "satisfies"].all()


def _layer_zoo():
    """One small model per kernel-bearing layer type, plus a nested model."""
    L = keras.layers
    image, volume, tokens = keras.Input((8, 8, 4)), keras.Input((4, 8, 8, 4)), \
        keras.Input((6,), dtype="int32")
    inner_in = keras.Input((8, 8, 4))
    inner = keras.Model(inner_in, L.Conv2D(8, 3, name="inner_conv")(inner_in), name="inner")
    sequence = L.Embedding(50, 8, name="embed")(tokens)
    attended = L.MultiHeadAttention(2, 4, name="mha")(sequence, sequence)
    return {
        "conv_family": keras.Model(image, L.Flatten()(L.Conv2DTranspose(8, 3, name="tconv")(
            L.SeparableConv2D(8, 3, name="sep")(L.DepthwiseConv2D(3, name="dw")(
                L.Conv2D(8, 1, name="conv")(image)))))),
        "conv3d": keras.Model(volume, L.Conv3D(4, 2, name="conv3d")(volume)),
        "sequence": keras.Model(tokens, L.Dense(3, name="head")(L.GRU(8, name="gru")(
            L.LSTM(8, return_sequences=True, name="lstm")(L.Conv1D(8, 2, padding="same",
                                                                   name="conv1d")(attended))))),
        "nested": keras.Model(image, L.Dense(2, name="outer_dense")(
            L.GlobalAveragePooling2D()(inner(image)))),
    }


KERNEL_COUNTS = {"conv_family": 5, "conv3d": 1, "sequence": 11, "nested": 2}


@pytest.mark.parametrize("name", sorted(KERNEL_COUNTS))
def test_every_kernel_kind_prunes_strips_and_reloads(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = _layer_zoo()[name]
    stripped = prune_once(model, 0.5)
    table = weight_sparsity_table(stripped)
    assert len(table) == KERNEL_COUNTS[name] and table["sparsity"].between(0.45, 0.55).all(), table
    stripped.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert weight_sparsity_table(reloaded)["sparsity"].between(0.45, 0.55).all()
    if name == "sequence":
        kinds = set(table["layer_type"])
        assert {"EinsumDense", "Embedding", "LSTMCell", "GRUCell", "Conv1D", "Dense"} <= kinds
    if name == "nested":
        assert "inner/inner_conv.kernel" in set(table["weight"])
        only_inner = prune_low_magnitude(model, layers="inner")
        assert pruning_report(only_inner).applied == ["inner/inner_conv.kernel"]


def test_sequential_models_prune_and_cluster(tmp_path):
    from workbench.clustering import cluster_weights, strip_clustering

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(4)])
    pruned = prune_once(model, 0.75)
    assert weight_sparsity_table(pruned)["sparsity"].tolist() == [0.75, 0.75]
    clustered = strip_clustering(cluster_weights(pruned, 4, preserve_sparsity=True))
    assert isinstance(clustered, keras.Sequential)
    assert all(np.unique(layer.kernel.numpy()).size <= 4 for layer in clustered.layers)
    assert weight_sparsity_table(clustered)["sparsity"].tolist() == [0.75, 0.75]
