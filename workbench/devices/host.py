"""The ``host`` profile: this machine, calibrated by timing small LiteRT micro-benchmarks.

For each op class (conv, depthwise, fully connected, pooling, elementwise, data movement)
and dtype (float32, dynamic range, int8, int16x8), a chain of identical layers is converted
and timed at one thread; the rate is the chain's MACs over its time less the invoke and
per-op overheads, which are timed on chains of tiny ops. Isolated layers run faster than the
same layers in a network (caches stay warm, no layout changes between ops), so each dtype's
rates are then scaled until the estimate of one small real network (MobileNet v2, width 0.5,
96x96, random weights) equals its measured time. The result is cached in the
workspace (``devices/host-calibration.json``), keyed by machine and LiteRT version.

Example:
    >>> profile = host_profile()        # first call: about half a minute   # doctest: +SKIP
    >>> profile.rate("int8", "conv")    # G MAC/s                           # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from workbench.devices.graph import analyze_tflite
from workbench.devices.profiles import DeviceProfile, profile_from_dict
from workbench.progress import track

CHAIN = 4  # layers per micro-benchmark
RUNS = 20
CALIBRATION_VERSION = 7
WEIGHTED = ("conv", "depthwise", "fully_connected")


def _layers(op_class: str):
    """``(input shape, layer factory)`` of each micro-benchmark: shape-preserving layers."""
    import keras

    return {
        # sized like the later layers of a real network: float weights (1.3 MB) beyond L2
        "conv": ((14, 14, 192), lambda: keras.layers.Conv2D(192, 3, padding="same")),
        "depthwise": ((56, 56, 96), lambda: keras.layers.DepthwiseConv2D(3, padding="same")),
        "fully_connected": ((1024,), lambda: keras.layers.Dense(1024)),
        "pool": ((56, 56, 64), lambda: keras.layers.AveragePooling2D(3, 1, padding="same")),
        "reduce": ((56, 56, 64), lambda: keras.layers.GlobalAveragePooling2D(keepdims=True)),
        "elementwise": ((56, 56, 64), lambda: keras.layers.Multiply()),
        "data_movement": ((112, 112, 96), lambda: keras.layers.ZeroPadding2D(((1, 0), (0, 0)))),
        "overhead": ((4,), lambda: keras.layers.Multiply()),
    }[op_class]


def _chain(op_class: str, length: int):
    import keras

    shape, make = _layers(op_class)
    inputs = keras.Input(shape)
    if op_class == "reduce":  # a reduction shrinks its input: ``length`` of them side by side
        return keras.Model(inputs, keras.layers.Concatenate()([make()(inputs)
                                                               for _ in range(length)]))
    x = inputs
    for _ in range(length):
        layer = make()
        x = layer([x, x]) if isinstance(layer, keras.layers.Multiply) else layer(x)
    return keras.Model(inputs, x)  # padding grows the tensor by one row per layer


def _time_ms(tflite: bytes) -> float:
    from workbench.measure import measure_latency
    from workbench.tflite_inspect import inspect_tflite

    info = inspect_tflite(tflite)
    shape = info.tensors[info.inputs[0]].shape
    sample = np.random.default_rng(0).uniform(0, 1, shape[1:]).astype("float32")
    return measure_latency(tflite, sample, threads=1, warmup=3, runs=RUNS, progress=False).median_ms


def _convert(model, dtype: str) -> bytes:
    from workbench.ptq import convert
    from workbench.recipes import make_config

    recipe = {"float32": "float32", "dynamic_range": "dynamic_range", "int8": "int8",
              "int16x8": "int16x8"}[dtype]
    samples = np.random.default_rng(1).uniform(0, 1, (8, *model.inputs[0].shape[1:]))
    overrides = {"calibration_samples": 8} if dtype in ("int8", "int16x8") else {}
    return convert(model, make_config(recipe, overrides), samples.astype("float32"),
                   progress=False)


def _per_op(op_class: str, dtype: str, invoke_ms: float, op_ms: float):
    """``(ms, MACs, bytes moved)`` of one op of the micro-benchmark, overheads removed."""
    tflite = _convert(_chain(op_class, CHAIN), dtype)
    counted = [op for op in analyze_tflite(tflite).ops if op.op_class == op_class]
    count = max(len(counted), 1)
    per_op_ms = max((_time_ms(tflite) - invoke_ms) / count - op_ms, 1e-4)
    return (per_op_ms, sum(op.macs for op in counted) / count,
            sum(op.activation_bytes + op.weight_bytes for op in counted) / count)


def calibrate(progress: bool = True) -> dict:
    """Time the micro-benchmarks; returns the profile table (see ``profile_from_dict``)."""
    dtypes = ("float32", "dynamic_range", "int8", "int16x8")
    jobs = [(c, d) for d in dtypes for c in ("conv", "depthwise", "fully_connected", "pool",
                                             "reduce", "elementwise", "data_movement")
            if d != "dynamic_range" or c in WEIGHTED]
    invoke_ms = _time_ms(_convert(_chain("overhead", 1), "float32"))
    op_ms = max((_time_ms(_convert(_chain("overhead", 4 * CHAIN + 1), "float32")) - invoke_ms)
                / (4 * CHAIN), 1e-4)  # the chain of tiny ops is nearly all overhead
    throughput = {d: {} for d in dtypes}
    measured = {}
    for op_class, dtype in track(jobs, "calibrating the host profile", enabled=progress,
                                 unit="benchmark"):
        measured[op_class, dtype] = _per_op(op_class, dtype, invoke_ms, op_ms)
    for (op_class, dtype), (ms, macs, _) in measured.items():
        if op_class != "data_movement":
            throughput[dtype][op_class] = macs / ms / 1e6
    bandwidth = [moved / ms / 1e6 for (op_class, _), (ms, _, moved) in measured.items()
                 if op_class == "data_movement"]
    for op_class in ("pool", "reduce", "elementwise"):  # hybrid kernels: weighted ops only
        throughput["dynamic_range"][op_class] = throughput["float32"][op_class]
    for rates in throughput.values():
        rates["broadcast"] = rates["elementwise"]
        rates["unknown"] = min(rates.values())
    table = {
        "name": "host", "kind": "cpu", "threads": 1,
        "description": f"this machine ({platform.machine()}, {platform.processor() or 'CPU'}), "
                       "LiteRT at 1 thread, calibrated by micro-benchmarks",
        "throughput": throughput, "memory_bandwidth_gb_s": float(np.median(bandwidth)),
        "op_overhead_us": op_ms * 1000, "invoke_overhead_us": invoke_ms * 1000,
        "ram_bytes": _total_memory(), "flash_bytes": _total_memory() * 64,
        "runs_as": {"float16": "float32", "dynamic_int4": "dynamic_range", "int4x8": "int8"},
        "sparse": {"op_classes": ["conv"], "pointwise_only": True, "min_sparsity": 0.7,
                   "max_speedup": 2.3},
    }
    table["network_factors"] = _fit_to_network(table, dtypes)
    return table


def _calibration_network():
    import keras

    from workbench.zoo import with_batch_norm_statistics

    model = keras.applications.MobileNetV2(alpha=0.5, input_shape=(96, 96, 3), weights=None)
    samples = np.random.default_rng(2).uniform(0, 1, (8, 96, 96, 3)).astype("float32")
    return with_batch_norm_statistics(model, samples)  # sane activation ranges for int8


def _fit_to_network(table: dict, dtypes) -> dict[str, float]:
    """Scale each dtype's weighted rates in ``table`` (convolutions, depthwise, fully connected
    and the generic one) so that the estimate of the calibration network equals its measured
    time; returns the factors (above 1: the network runs slower than its layers alone).
    Elementwise, pooling and reduction rates keep their micro-benchmark values: scaled too, they
    made a network's many small elementwise ops (EfficientNet's) 2-3x too slow."""
    from workbench.devices.estimate import estimate_tflite

    network, factors = _calibration_network(), {}
    fixed_us = table["invoke_overhead_us"]
    for dtype in dtypes:
        tflite = _convert(network, dtype)
        measured_us = _time_ms(tflite) * 1000
        if dtype == "dynamic_range" and _fit_quantize_rate(table, tflite, measured_us):
            factors[dtype] = 1.0  # its time went to quantizing inputs, not to slower GEMMs
            continue
        factor = 1.0
        for _ in range(3):  # memory-bound ops do not follow the rates: converge in steps
            estimate = estimate_tflite(tflite, profile_from_dict(table, "host calibration"))
            overhead_us = fixed_us + len(estimate.op_times) * table["op_overhead_us"]
            step = (measured_us - overhead_us) / max(estimate.latency_ms * 1000 - overhead_us,
                                                     1.0)
            step = min(max(step, 0.25), 4.0)
            table["throughput"][dtype] = {c: r / step if c in WEIGHTED or c == "unknown" else r
                                          for c, r in table["throughput"][dtype].items()}
            factor *= step
        factors[dtype] = factor
    return factors


def _fit_quantize_rate(table: dict, tflite: bytes, measured_us: float) -> bool:
    """Set ``dynamic_quantize_g_elements_s`` so that the hybrid ops' quantization of their
    float inputs (per op, per invoke) accounts for what the layer rates leave unexplained of
    the calibration network's time; False when nothing is left to explain."""
    from workbench.devices.estimate import estimate_tflite, hybrid_input_elements

    unexplained_us = measured_us - estimate_tflite(
        tflite, profile_from_dict(table, "host calibration")).latency_ms * 1000
    quantized = sum(hybrid_input_elements(op) for op in analyze_tflite(tflite).ops
                    if op.dtype == "dynamic_range")
    if unexplained_us <= 0 or quantized <= 0:
        return False
    table["dynamic_quantize_g_elements_s"] = quantized / unexplained_us / 1e3
    return True


def _total_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _cache_key() -> str:
    from importlib.metadata import version

    return (f"v{CALIBRATION_VERSION}-{platform.node()}-{platform.machine()}-"
            f"litert{version('ai-edge-litert')}")


def _machine_cache() -> Path:
    """Where any workspace on this machine finds a calibration made by another one."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "optimization-workbench" / "host-calibration.json"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def host_calibrated(workspace=None) -> bool:
    """Whether this machine's host profile is ready (no calibration would run)."""
    from workbench.workspace import resolve_workspace

    path = resolve_workspace(workspace) / "devices" / "host-calibration.json"
    return _cache_key() in (_read(path).get("key"), _read(_machine_cache()).get("key"))


def host_profile(workspace=None, recalibrate: bool = False,
                 progress: bool = True) -> DeviceProfile:
    """The host profile, calibrated once per machine (about half a minute) and cached in the
    workspace (``devices/host-calibration.json``) and for other workspaces of this machine."""
    from workbench.workspace import resolve_workspace

    path = resolve_workspace(workspace) / "devices" / "host-calibration.json"
    cached = {} if recalibrate else _read(path)
    if cached.get("key") != _cache_key() and not recalibrate:
        cached = _read(_machine_cache())
    if cached.get("key") != _cache_key():
        start = time.perf_counter()
        cached = {"key": _cache_key(), "profile": calibrate(progress),
                  "seconds": time.perf_counter() - start}
        _write(_machine_cache(), cached)
    if _read(path) != cached:
        _write(path, cached)
    return profile_from_dict(cached["profile"], f"'{path}'")


def _write(path: Path, content: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2))
    except OSError:  # a read-only home: the workspace copy is enough
        pass
