"""The decision tree's judgement of measured variants, the deltas against the baseline, the
job's overall progress and the kernel histograms: the core behind the dashboard."""

import math

import numpy as np
import pandas as pd
import pytest

from workbench.advisor import assess, recommend
from workbench.compare import summary_line, with_deltas
from workbench.jobs import OverallProgress


def rows(*variants):
    """Rows of one model: (recipe, accuracy, size, est_ms__edge_tpu, fits__edge_tpu)."""
    return pd.DataFrame([{
        "run_id": f"r{i}", "model": "m", "recipe": recipe, "accuracy": accuracy,
        "float_accuracy": 0.98, "size_bytes": size, "gzip_bytes": size - 10,
        "latency_ms": 1.0, "est_ms__edge_tpu": latency, "fits__edge_tpu": fits,
        "created_at": f"2026-01-0{i + 1}", "config": "{}"}
        for i, (recipe, accuracy, size, latency, fits) in enumerate(variants)])


def judged(frame, max_drop=1.0, data="labelled", hardware="edge_tpu", priority="latency"):
    return assess(with_deltas(frame, "est_ms__edge_tpu"), "edge_tpu", max_drop, data, hardware,
                  priority)


def test_the_best_variant_meeting_the_target_is_named():
    result = judged(rows(("float32", 0.98, 4000, None, 0), ("int8", 0.975, 1000, 2.0, 1),
                         ("qat", 0.978, 1000, 1.5, 1)))
    assert result.chosen.recipe == "qat" and result.next_recipes == []
    assert result.sentence.startswith("qat meets the target: 0.2 points lost (at most 1)")
    misses = {v.recipe: v.misses for v in result.verdicts}
    assert misses["float32"] == ["cannot run on edge_tpu"] and misses["int8"] == []


def test_a_variant_losing_exactly_the_allowed_drop_meets_it():
    # 0.98 - 0.97 is 0.010000000000000009 in floats: 1.0000000000000009 points
    result = judged(rows(("float32", 0.98, 4000, None, 0), ("int8", 0.97, 1000, 2.0, 1)))
    assert result.chosen is not None and result.chosen.recipe == "int8"
    assert judged(rows(("int8", 0.9699, 1000, 2.0, 1))).chosen is None


def test_too_much_lost_on_integer_hardware_means_qat_next():
    result = judged(rows(("int8", 0.75, 1000, 2.0, 1)))
    assert result.chosen is None and result.next_recipes == [("qat", {})]
    assert "int8 loses 23.0 points (at most 1 allowed)" in result.sentence
    cpu = judged(rows(("int8", 0.75, 1000, 2.0, 1)), hardware="cpu")
    assert cpu.next_recipes == [("int16x8", {}), ("qat", {})]
    unlabelled = judged(rows(("int8", 0.75, 1000, 2.0, 1)), data="unlabelled")
    assert unlabelled.next_recipes == [] and "needs labelled training data" in \
        unlabelled.next_reason


def test_qat_that_still_loses_too_much_is_trained_longer():
    frame = rows(("int8", 0.75, 1000, 2.0, 1), ("qat", 0.95, 1000, 2.0, 1))
    frame.loc[1, "config"] = '{"epochs": 3}'
    result = judged(frame)
    assert result.next_recipes == [("qat", {"epochs": 6})]
    assert result.next_step_words() == "qat (epochs=6)"


def test_on_integer_only_hardware_the_whole_graph_must_run_on_the_device():
    frame = rows(("dynamic_range", 0.98, 1000, 3.0, 1), ("int8", 0.979, 1000, 1.0, 1))
    frame["accel_fraction__edge_tpu"] = [0.0, 1.0]
    result = judged(frame)
    misses = {v.recipe: v.misses for v in result.verdicts}
    assert misses["dynamic_range"] == ["runs only 0% of its work on edge_tpu (the rest falls "
                                       "back to the CPU beside it)"]
    assert result.chosen.recipe == "int8"
    gained = judged(rows(("int8", 0.982, 1000, 1.0, 1)))
    assert "0.2 points gained" in gained.sentence


def test_not_fitting_means_pruning_and_clustering_next():
    result = judged(rows(("int8", 0.979, 1000, 2.0, 0)))
    assert result.next_recipes == [("prune_cluster_qat", {})]
    assert "does not fit" in result.next_reason
    nothing_runs = judged(rows(("float32", 0.98, 4000, None, 0)))
    assert nothing_runs.next_recipes == [("int8", {})]


def test_deltas_against_the_baseline():
    frame = with_deltas(rows(("float32", 0.98, 4000, 4.0, 1), ("int8", 0.975, 1000, 2.0, 1)),
                        "est_ms__edge_tpu").set_index("recipe")
    assert frame.loc["int8", "drop_points"] == pytest.approx(0.5)
    assert frame.loc["int8", "x_smaller"] == 4.0 and frame.loc["int8", "x_faster"] == 2.0
    line = summary_line(frame.loc["int8"].to_dict() | {"recipe": "int8"})
    assert line == ("int8 on m: top1 97.5% (0.5 points lost), 4.0x smaller, "
                    "4.0x smaller compressed, 2.0x faster")
    alone = with_deltas(rows(("int8", 0.975, 1000, 2.0, 1)))  # no float32 run yet
    assert math.isnan(alone.loc[0, "x_smaller"])


def test_a_regressor_is_summed_up_in_its_metric_and_a_slow_variant_as_slower():
    frame = rows(("float32", None, 4000, 1.0, 1), ("int8", None, 1000, 2.0, 1),
                 ("float16", None, 2000, 1.0, 1))
    frame["metric"], frame["higher_is_better"] = "mae", 0
    frame["float_score"], frame["score"] = 44.0, [44.0 + 6.9e-7, 44.102, 44.0]
    frame["score_drop"] = frame["score"] - frame["float_score"]
    lines = {row["recipe"]: summary_line(row) for row in with_deltas(
        frame, "est_ms__edge_tpu").to_dict("records")}
    assert lines["float32"] == "float32 on m: mae 44.00 (as the float model)"
    assert lines["int8"] == ("int8 on m: mae 44.10 (0.102 MAE lost), 4.0x smaller, "
                             "4.0x smaller compressed, 2.0x slower")
    assert lines["float16"].endswith("(as the float model), 2.0x smaller, 2.0x smaller "
                                     "compressed, 1.0x faster")


def test_runs_on_other_data_are_compared_with_their_own_baseline():
    from workbench.compare import subject_labels

    frame = rows(("float32", 0.98, 4000, 4.0, 1), ("float32", 1.0, 2000, 4.0, 1),
                 ("int8", 0.975, 1000, 2.0, 1))
    frame["data_hash"], frame["dataset"] = ["d1", "d2", "d2"], ["digits", "mine", "mine"]
    deltas = with_deltas(frame)
    assert deltas.loc[2, "x_smaller"] == 2.0  # against the float32 run on 'mine', not 'digits'
    assert list(subject_labels(frame)) == ["m on digits", "m on mine", "m on mine"]


def test_hardware_answers_put_the_workspaces_own_boards_of_their_kind_first(tmp_path):
    from workbench.advisor import hardware_devices
    from workbench.devices.profiles import load_profile

    folder = tmp_path / "devices"
    folder.mkdir()
    mcu = open(load_profile("cortex_m7").source.strip("'")).read()
    (folder / "board.toml").write_text(mcu.replace('name = "cortex_m7"', 'name = "board"'))
    (folder / "mislabelled.toml").write_text(mcu)  # its name is cortex_m7: left out
    cpu = open(load_profile("raspberry_pi_4").source.strip("'")).read()
    (folder / "my_pi.toml").write_text(cpu.replace('name = "raspberry_pi_4"', 'name = "my_pi"'))
    assert hardware_devices("microcontroller", tmp_path) == ["board", "cortex_m7"]
    assert hardware_devices("cpu", tmp_path) == ["my_pi", "phone_cpu_2019", "host"]
    assert hardware_devices("gpu", tmp_path) == ["mobile_gpu"]
    advice = recommend("unlabelled", "microcontroller", "size", 1.0, workspace=tmp_path)
    assert advice.devices == ["board", "cortex_m7"] and advice.recipes[0] == "int8"


def test_recommendations_for_the_edge_tpu_and_bad_answers():
    assert recommend("unlabelled", "edge_tpu", "latency", 1.0).recipes == ["int8"]
    with pytest.raises(ValueError, match="Received hardware='tpu'"):
        recommend("labelled", "tpu", "size", 1.0)


def test_overall_progress_never_goes_backwards():
    meter = OverallProgress()
    seen = [meter.update("sweep of m", 0, 2), meter.update("fine-tuning while pruning", 5, 10),
            meter.update("fine-tuning the centroids", 1, 3),  # a new phase starts over
            meter.update("evaluating in LiteRT", 1, 2), meter.update("sweep of m", 1, 2),
            meter.update("converting", 0, None), meter.update("latency, 1 thread(s)", 5, 5)]
    assert seen == sorted(seen) and seen[1] == 0.175 and seen[-1] == 1.0


def test_kernel_histograms_of_an_int8_model(ptq_rows):
    from workbench.tflite_inspect import inspect_tflite
    from workbench.weight_histogram import kernel_histograms

    path = ptq_rows["int8"]["tflite_path"]
    histograms = kernel_histograms(path)
    kernels = inspect_tflite(path).weight_tensors()
    total = sum(kernel.data.size for kernel in kernels)
    assert histograms["codes"].counts.sum() == histograms["real"].counts.sum() == total
    fc = next(kernel for kernel in kernels if kernel.shape == (10, 64))
    real = fc.real_values()
    scales = fc.scales.reshape(-1, 1) if fc.scales.size > 1 else fc.scales[0]  # per channel
    np.testing.assert_allclose(real, fc.data.astype("float32") * scales, rtol=1e-6)
    assert "codes" not in kernel_histograms(ptq_rows["float32"]["tflite_path"])
