"""Device profiles and estimates, on graphs small enough to check by hand."""

import json
import re

import keras
import numpy as np
import pytest

from bench.networks import BUILT_HERE, network
from conftest import run_cli
from workbench.devices import analyze_tflite, available_devices, estimate_tflite, plan_arena
from workbench.devices.profiles import (load_profile, profile_from_dict, read_profile_file,
                                        usable_devices)
from workbench.errors import ModelLoadError, WorkbenchError
from workbench.ptq import convert
from workbench.recipes import make_config

BUILT_IN = ["cortex_m7", "edge_tpu", "hexagon_dsp", "mobile_gpu", "phone_cpu_2017",
            "phone_cpu_2019", "raspberry_pi_4"]


def export(model, recipe, shape=None):
    shape = shape or model.inputs[0].shape[1:]
    samples = np.random.default_rng(0).uniform(0, 1, (16, *shape)).astype("float32")
    overrides = {"calibration_samples": 16} if recipe in ("int8", "int16x8") else {}
    return convert(model, make_config(recipe, overrides), samples, progress=False)


def small_model():
    """conv 3x3 (2->4) -> depthwise 3x3 -> 2x2 average pool -> flatten -> dense 64->5."""
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


@pytest.fixture(scope="module")
def small():
    model = small_model()
    return {recipe: export(model, recipe) for recipe in ("float32", "int8")}


def test_macs_weights_and_peak_memory_by_hand(small):
    for recipe, value_bytes in (("float32", 4), ("int8", 1)):
        graph = analyze_tflite(small[recipe])
        macs = {op.name: op.macs for op in graph.ops if op.macs}
        assert macs == {"CONV_2D": 8 * 8 * 4 * (3 * 3 * 2),       # outputs x (kh kw in)
                        "DEPTHWISE_CONV_2D": 8 * 8 * 4 * 9,        # outputs x (kh kw)
                        "AVERAGE_POOL_2D": 4 * 4 * 4 * 4,          # outputs x window
                        "FULLY_CONNECTED": 5 * 64}                 # outputs x inputs
        conv = next(op for op in graph.ops if op.name == "CONV_2D")
        assert conv.weight_bytes == 4 * 3 * 3 * 2 * value_bytes + 4 * 4  # kernel + int32/f32 bias
        assert conv.dtype == recipe
        # conv output (8x8x4) and depthwise output (8x8x4) are alive together
        assert graph.peak_activation_bytes == 2 * 8 * 8 * 4 * value_bytes
        assert graph.model_bytes == len(small[recipe])


def test_greedy_by_size_arena_by_hand():
    # a: ops 0-1, b: ops 1-2, c: ops 2-3. a and c never meet, so c reuses a's place;
    # b meets both and goes above them: 100 + 50.
    assert plan_arena([(100, 0, 1), (50, 1, 2), (100, 2, 3)]) == 150
    assert plan_arena([(100, 0, 1), (100, 2, 3)]) == 100
    assert plan_arena([(10, 0, 5), (20, 1, 2), (30, 3, 4)]) == 40


@pytest.fixture(scope="module")
def mobilenets():
    """MobileNet v2 at two input sizes, int8 (random weights)."""
    return {size: export(keras.applications.MobileNetV2(input_shape=(size, size, 3),
                                                         weights=None, alpha=0.35), "int8")
            for size in (96, 192)}


def test_estimates_follow_the_graph(mobilenets):
    small_graph, large_graph = (analyze_tflite(mobilenets[s]) for s in (96, 192))
    mac_ratio = large_graph.total_macs / small_graph.total_macs
    assert 3.4 < mac_ratio < 4.0  # 4x the pixels; the classifier does not grow
    for device in ("phone_cpu_2017", "phone_cpu_2019", "raspberry_pi_4", "cortex_m7"):
        profile = load_profile(device)

        def work_ms(size):  # the latency less the fixed costs (per invoke and per op)
            estimate = estimate_tflite(mobilenets[size], profile)
            fixed_us = profile.invoke_overhead_us + len(estimate.op_times) * profile.op_overhead_us
            return estimate.latency_ms - fixed_us / 1000

        growth = work_ms(192) / work_ms(96)
        # slower with the MACs, but never faster than in proportion to them
        assert growth > 1.8, f"{device}: 4x the pixels only {growth:.2f}x slower"
        assert growth <= mac_ratio * 1.05, (
            f"{device}: {growth:.2f}x slower for {mac_ratio:.2f}x the MACs")


def test_what_runs_where(ptq_rows):
    int8 = open(ptq_rows["int8"]["tflite_path"], "rb").read()
    float32 = open(ptq_rows["float32"]["tflite_path"], "rb").read()
    on_tpu = estimate_tflite(int8, "edge_tpu")
    assert (on_tpu.fits, on_tpu.accel_fraction, on_tpu.partitions) == (True, 1.0, 1)
    assert on_tpu.fallback_ops == []
    float_on_tpu = estimate_tflite(float32, "edge_tpu")
    assert float_on_tpu.accel_fraction == 0.0 and float_on_tpu.partitions == 0
    assert "float32 ops are not supported" in float_on_tpu.fallback_ops[0]["reason"]
    assert float_on_tpu.fallback_ops[0]["runs_on"] == "raspberry_pi_4"
    # nothing delegated: the model costs what it costs on the fallback alone (no USB invoke,
    # so this small float model is faster on the Pi than its int8 twin on the Edge TPU), shape
    # arithmetic included
    assert float_on_tpu.latency_ms < on_tpu.latency_ms
    for device, fallback in (("edge_tpu", "raspberry_pi_4"), ("hexagon_dsp", "phone_cpu_2019")):
        alone = estimate_tflite(float32, fallback)
        delegated_nothing = estimate_tflite(float32, device)
        assert delegated_nothing.latency_ms == pytest.approx(alone.latency_ms), device
        assert {op["runs_on"] for op in delegated_nothing.op_times} == {fallback}, device
    on_gpu = estimate_tflite(int8, "mobile_gpu")  # dequantized, run in fp16
    assert on_gpu.accel_fraction == 1.0 and on_gpu.fallback_ops == []
    mcu = estimate_tflite(int8, "cortex_m7")
    assert mcu.fits and mcu.peak_ram_bytes < 512_000 and mcu.flash_bytes == len(int8)
    float_mcu = estimate_tflite(float32, "cortex_m7")
    assert float_mcu.latency_ms is None and not float_mcu.fits
    assert any("cannot run on cortex_m7" in note for note in float_mcu.notes)


def test_too_big_for_the_microcontroller(mobilenets):
    estimate = estimate_tflite(mobilenets[192], "cortex_m7")
    assert not estimate.fits and estimate.latency_ms is not None
    assert any("RAM" in note for note in estimate.notes)


@pytest.fixture(scope="module")
def leaky_int8():
    """An int8 model with a LeakyReLU between two convolutions (no Edge TPU kernel)."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.LeakyReLU(0.1)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return export(keras.Model(inputs, keras.layers.Dense(4)(x)), "int8")


def test_edge_tpu_runs_one_partition_hexagon_several(leaky_int8):
    tpu = estimate_tflite(leaky_int8, "edge_tpu")
    names = [op["op"] for op in tpu.fallback_ops]
    assert names[0] == "LEAKY_RELU" and "CONV_2D" in names  # everything after it goes back
    assert "not in the device's op list" in tpu.fallback_ops[0]["reason"]
    assert "after the first unsupported op" in tpu.fallback_ops[1]["reason"]
    assert tpu.partitions == 1 and 0 < tpu.accel_fraction < 0.5
    dsp = estimate_tflite(leaky_int8, "hexagon_dsp")
    assert [op["op"] for op in dsp.fallback_ops] == ["LEAKY_RELU"]
    # only the LEAKY_RELU's elementwise work (one per element) leaves the DSP
    assert dsp.partitions == 2 and 0.98 < dsp.accel_fraction < 1.0


def test_unknown_op_gets_a_generic_cost_and_a_note():
    inputs = keras.Input((64,))
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.ops.cumsum(inputs, axis=-1)))
    estimate = estimate_tflite(export(model, "float32"), "phone_cpu_2019")
    assert any(note.startswith("CUMSUM: no cost model") for note in estimate.notes)
    assert estimate.latency_ms > 0


def test_bad_profiles_and_files(tmp_path, small):
    with pytest.raises(WorkbenchError, match=r"Unknown device 'tpu'\. Available: host, "
                                             r"cortex_m7, edge_tpu"):
        load_profile("tpu", tmp_path)
    with pytest.raises(WorkbenchError, match=r"'mine' has no field 'throughput'\. Expected a dict"):
        profile_from_dict({"name": "x", "description": "d", "kind": "cpu"}, "'mine'")
    broken = tmp_path / "broken.toml"
    text = open(load_profile("raspberry_pi_4").source.strip("'")).read()
    broken.write_text(re.sub(r"^conv = .*$", "conv = -1", text, count=1, flags=re.MULTILINE))
    with pytest.raises(WorkbenchError,
                       match=r"'throughput.float32.conv' received -1\.0\. Expected a finite"):
        read_profile_file(broken)
    with pytest.raises(ModelLoadError, match="is not a .tflite flatbuffer"):
        estimate_tflite(b"not a model at all", "host")
    with pytest.raises(ModelLoadError, match="truncated or damaged"):
        estimate_tflite(small["float32"][: len(small["float32"]) // 3], "edge_tpu")


def test_user_profiles_join_the_list(tmp_path):
    folder = tmp_path / "devices"
    folder.mkdir()
    source = load_profile("cortex_m7").source.strip("'")
    (folder / "my_mcu.toml").write_text(open(source).read().replace(
        'name = "cortex_m7"', 'name = "my_mcu"').replace("ram_bytes = 524_288",
                                                         "ram_bytes = 64_000"))
    assert available_devices(tmp_path) == ["host", *sorted(BUILT_IN + ["my_mcu"])]
    assert load_profile("my_mcu", tmp_path).ram_bytes == 64_000
    # a copy that keeps its original's name inside would estimate under another name
    (folder / "copied.toml").write_text(open(source).read())
    with pytest.raises(WorkbenchError, match=r"named 'cortex_m7' inside but listed by its file "
                                             r"name, 'copied'\. Expected name = \"copied\""):
        load_profile("copied", tmp_path)
    names, problems = usable_devices(tmp_path)
    assert "copied" not in names and "my_mcu" in names and "cortex_m7" in names
    assert len(problems) == 1 and "copied.toml" in problems[0]
    listed = run_cli("devices", "--workspace", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert "left out" in lines["copied"] and "Expected name = \"copied\"" in lines["copied"]
    assert "left out" not in lines["my_mcu"] and "cortex_m7" in lines


def test_host_profile_is_calibrated_once_and_drives_the_host_estimate(workspace, ptq_rows,
                                                                      store):
    """How close the host estimate comes to LiteRT is a timing question, measured side by side
    in ``bench.devices``; here: one calibration, used as is for every row's host estimate."""
    from workbench.devices.host import host_profile

    path = workspace / "devices" / "host-calibration.json"
    profile = host_profile(workspace)
    assert path.is_file()
    calibrated = path.read_text()
    assert host_profile(workspace) == profile and path.read_text() == calibrated  # not again
    assert all(rate > 0 for rates in profile.throughput.values() for rate in rates.values())
    assert profile.rate("int16x8", "conv") < profile.rate("int8", "conv")  # reference kernels
    for recipe in ("float32", "int8"):
        row = ptq_rows[recipe]
        estimate = estimate_tflite(store.read_tflite(row["run_id"]), profile)
        assert row["est_ms__host"] == pytest.approx(estimate.latency_ms)
        per_op_us = sum(op["us"] for op in estimate.op_times)
        assert estimate.latency_ms * 1000 == pytest.approx(profile.invoke_overhead_us + per_op_us)


def test_rows_carry_per_device_columns(ptq_rows, store):
    row = ptq_rows["int8"]
    for device in ["host", *BUILT_IN]:
        assert row[f"est_ms__{device}"] > 0 and row[f"fits__{device}"] == 1
        assert 0 <= row[f"accel_fraction__{device}"] <= 1
    assert ptq_rows["float32"]["fits__edge_tpu"] == 1  # on the Pi, after falling back
    assert ptq_rows["float32"]["accel_fraction__edge_tpu"] == 0.0
    stored = store.results().set_index("recipe")
    assert stored.loc["int8", "est_ms__edge_tpu"] == pytest.approx(row["est_ms__edge_tpu"])


def test_cli_devices_and_estimate(workspace, ptq_rows):
    listed = run_cli("devices", "--workspace", str(workspace))
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["host", *BUILT_IN]
    shown = run_cli("estimate", "--tflite", ptq_rows["int8"]["tflite_path"], "--device",
                    "edge_tpu", "--json", "--workspace", str(workspace))
    assert shown.returncode == 0, shown.stderr
    estimate = json.loads(shown.stdout)
    assert {"latency_ms", "peak_ram_bytes", "flash_bytes", "fits", "accel_fraction",
            "partitions", "fallback_ops"} <= set(estimate)
    assert estimate["accel_fraction"] == 1.0
    unknown = run_cli("estimate", "--tflite", ptq_rows["int8"]["tflite_path"], "--device",
                      "npu", "--workspace", str(workspace))
    assert unknown.returncode == 2 and "Unknown device 'npu'. Available: host" in unknown.stderr


def test_cli_run_with_chosen_devices(fresh_workspace, tmp_path):
    import pandas as pd

    out = tmp_path / "out"
    done = run_cli("run", "--recipe", "int8", "--devices", "edge_tpu,cortex_m7",
                   "--workspace", str(fresh_workspace), "--out", str(out),
                   "--latency-runs", "3")
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out / "results.csv")
    estimates = [c for c in frame.columns if "__" in c]
    assert sorted(estimates) == sorted(f"{m}__{d}" for m in ("est_ms", "fits", "accel_fraction")
                                       for d in ("edge_tpu", "cortex_m7"))
    report = (out / "report.html").read_text()
    assert "edge_tpu, estimated" in report and "updatemenus" in report


def test_a_reduction_is_rated_on_its_own_or_as_pooling_where_a_profile_has_no_rate():
    import dataclasses

    inputs = keras.Input((6, 6, 8))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    mean = [op for op in analyze_tflite(export(model, "int8")).ops if op.name == "MEAN"][0]
    assert (mean.op_class, mean.macs) == ("reduce", 6 * 6 * 8)  # one pass over the input
    phone = load_profile("phone_cpu_2019")
    assert "reduce" not in phone.throughput["int8"]
    assert phone.rate("int8", "reduce") == phone.rate("int8", "pool")
    rated = dataclasses.replace(phone, throughput={"int8": {"reduce": 57.0, "pool": 1.5,
                                                            "unknown": 0.1}})
    assert (rated.rate("int8", "reduce"), rated.rate("int8", "elementwise")) == (57.0, 0.1)


def test_every_published_cell_names_a_profile_it_can_run_on_a_buildable_network_and_a_source():
    """bench/reference/published_latencies.csv, which bench.devices validates the profiles on:
    a cell that names a source the header does not describe, a profile that does not exist or
    cannot run the cell's export, or a network keras.applications cannot build would only
    fail there, after minutes of exports."""
    import csv
    from pathlib import Path

    path = Path(__file__).parents[1] / "bench" / "reference" / "published_latencies.csv"
    lines = path.read_text().splitlines()
    described = set(re.findall(r"^#   (\S+):", "\n".join(lines), flags=re.M))
    cells = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert len(cells) >= 45 and {"tflite_benchmarks", "mnv4_paper"} <= described
    for cell in cells:
        where = f"{cell['device']} {cell['model']} ({cell['recipe']})"
        assert cell["source"] in described, where
        assert cell["role"] in ("fit", "check"), where
        assert cell["device"] in BUILT_IN, where
        assert cell["recipe"] in load_profile(cell["device"]).supported_dtypes, where
        assert cell["builder"] in BUILT_HERE or hasattr(keras.applications, cell["builder"]), where
        assert float(cell["published_ms"]) > 0 and int(cell["input"]) >= 32, where
    networks = {}
    for cell in cells:
        networks.setdefault(cell["device"], set()).add(cell["builder"])
    assert all(len(networks[device]) >= 3 for device in ("hexagon_dsp", "raspberry_pi_4",
                                                          "mobile_gpu", "phone_cpu_2019"))


def test_efficientnet_lite_builds_have_the_published_parameter_counts():
    """bench/networks.py builds EfficientNet-lite0..4 (validation cells of phone_cpu_2019 and
    mobile_gpu) from the builder's definition; the README lists their sizes."""
    published = {0: 4.7, 1: 5.4, 2: 6.1, 3: 8.2, 4: 13.0}  # million parameters
    for index, size in enumerate((224, 240, 260, 280, 300)):
        model = network(f"EfficientNetLite{index}", size)
        trainable = sum(weight.numpy().size for weight in model.trainable_weights)
        assert round(trainable / 1e6, 1) == published[index], index
        assert model.output_shape == (None, 1000)
