"""Estimate latency, memory and compatibility of a ``.tflite`` on a device profile.

Each op runs on the device when the device supports its op type and dtype, otherwise on
the profile's fallback device (the CPU beside the accelerator), with the reason recorded.
Per op, time is a roofline, the slower of compute (MACs over the device's rate for that op
class and dtype) and memory traffic (weights and activations over the bandwidth), plus a
per-op overhead; the invoke adds its own overhead, and each hand-over between accelerator
and CPU a partition overhead. No per-model numbers: the estimate follows the graph.

Example:
    >>> estimate = estimate_tflite(tflite_bytes, "edge_tpu")           # doctest: +SKIP
    >>> estimate.latency_ms, estimate.fits, estimate.fallback_ops       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from workbench.devices.graph import GraphCost, OpCost, analyze_tflite, element_count
from workbench.devices.profiles import DeviceProfile, load_profile
from workbench.tflite_inspect import TFLiteModelInfo, inspect_tflite


# Raise when the estimate's arithmetic changes: stored estimates made by another version are
# computed again when results are read (``workbench.pipeline.current_results``).
ESTIMATOR_VERSION = 2  # 2: a model with nothing delegated costs what it costs on the fallback


@dataclass
class Estimate:
    device: str
    latency_ms: float | None  # None when some op runs nowhere
    peak_ram_bytes: int
    flash_bytes: int
    fits: bool
    accel_fraction: float  # share of the MACs that run on the device itself
    partitions: int  # contiguous runs of ops on the device
    fallback_ops: list[dict] = field(default_factory=list)  # {index, op, reason, runs_on}
    notes: list[str] = field(default_factory=list)
    op_times: list[dict] = field(default_factory=list)  # {index, op, runs_on, us}: where time goes
    ram_limit_bytes: int = 0  # the device's RAM and flash, for verdicts against them
    flash_limit_bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_tflite(tflite, device: str | DeviceProfile, workspace=None) -> Estimate:
    """The estimate of ``tflite`` (bytes or a path) on ``device`` (a name or a profile)."""
    model_bytes = len(tflite) if isinstance(tflite, (bytes, bytearray)) else _file_size(tflite)
    return estimate_tflite_info(inspect_tflite(tflite), model_bytes, device, workspace)


def estimate_tflite_info(info: TFLiteModelInfo, model_bytes: int, device: str | DeviceProfile,
                         workspace=None, graph: GraphCost | None = None) -> Estimate:
    """``estimate_tflite`` for an already parsed model of ``model_bytes`` bytes (and, when
    estimating it on several devices, its ``analyze_tflite`` graph computed once)."""
    profile = device if isinstance(device, DeviceProfile) else load_profile(device, workspace)
    graph = graph or analyze_tflite(info)
    fallback = load_profile(profile.fallback, workspace) if profile.fallback else None
    placement = _place(profile, graph)
    estimate = Estimate(profile.name, None, 0, model_bytes, False, 0.0,
                        _partitions(placement), ram_limit_bytes=profile.ram_bytes,
                        flash_limit_bytes=profile.flash_bytes)
    # with no partition on the device nothing is delegated: the fallback runs the whole model,
    # its shape arithmetic included, and the device's invoke costs nothing
    runner = profile if estimate.partitions or fallback is None else fallback
    total_us, on_device_macs, unknown = runner.invoke_overhead_us, 0, set()
    for op, reason in placement:
        if op.runs_once:
            continue
        if op.op_class == "unknown":
            unknown.add(op.name)
        if reason is None:
            on_device_macs += op.macs  # nothing but shape arithmetic when not delegated
            spent = op_time_us(runner, op, info)
            total_us += spent
            estimate.op_times.append({"index": op.index, "op": op.name, "runs_on": runner.name,
                                      "us": spent})
            continue
        estimate.fallback_ops.append({"index": op.index, "op": op.name, "reason": reason,
                                      "runs_on": fallback.name if fallback else None})
        if fallback is None or reason_blocks(fallback, op):
            total_us = None  # runs nowhere
            break
        spent = op_time_us(fallback, op, info)
        total_us += spent
        estimate.op_times.append({"index": op.index, "op": op.name, "runs_on": fallback.name,
                                  "us": spent})
    if total_us is not None:
        total_us += _handover_us(profile, placement) + _weight_streaming_us(profile, placement)
    estimate.latency_ms = None if total_us is None else total_us / 1000.0
    macs = graph.total_macs
    estimate.accel_fraction = on_device_macs / macs if macs else float(not estimate.fallback_ops)
    estimate.peak_ram_bytes = graph.peak_activation_bytes + (
        0 if profile.kind == "mcu" else model_bytes)  # an MCU runs its weights from flash
    estimate.fits = (total_us is not None and estimate.peak_ram_bytes <= profile.ram_bytes
                     and model_bytes <= profile.flash_bytes)
    estimate.notes = _notes(profile, estimate, graph, unknown)
    return estimate


def _file_size(path) -> int:
    from pathlib import Path

    return Path(path).stat().st_size


def reason_blocks(profile: DeviceProfile, op: OpCost) -> str | None:
    """Why ``profile`` cannot run ``op`` (None when it can). Shape arithmetic (int32 ops)
    never blocks: with static shapes it is resolved when the model is prepared."""
    if op.dtype == "index":
        return None
    if op.dtype not in profile.supported_dtypes:
        return (f"{op.dtype} ops are not supported (it runs "
                f"{', '.join(profile.supported_dtypes)})")
    if profile.supported_ops is not None and op.name not in profile.supported_ops:
        return f"{op.name} is not in the device's op list"
    return None


def _place(profile: DeviceProfile, graph: GraphCost) -> list[tuple[OpCost, str | None]]:
    """Each op with the reason it leaves the device (None: it runs there)."""
    placement, cut = [], False
    for op in graph.ops:
        reason = reason_blocks(profile, op)
        if cut and reason is None:
            reason = "after the first unsupported op, the rest of the graph runs on the CPU"
        cut = cut or (reason is not None and profile.single_partition)
        placement.append((op, reason))
    return placement


def _partitions(placement) -> int:
    """Contiguous runs of ops on the device; shape arithmetic joins whichever side it is on."""
    runs, previous = 0, False
    for op, reason in placement:
        if op.dtype == "index" or op.runs_once:
            continue
        on_device = reason is None
        runs += on_device and not previous
        previous = on_device
    return runs


def _handover_us(profile: DeviceProfile, placement) -> float:
    sides = [reason is None for op, reason in placement
             if op.dtype != "index" and not op.runs_once]
    switches = sum(1 for a, b in zip(sides, sides[1:]) if a != b)
    return switches * profile.partition_overhead_us


def _weight_streaming_us(profile: DeviceProfile, placement) -> float:
    """Weights beyond the on-chip cache are streamed from the host on every invoke."""
    if not profile.weight_cache_bytes or not profile.offchip_bandwidth_gb_s:
        return 0.0
    on_chip = sum(op.weight_bytes for op, reason in placement if reason is None)
    excess = max(0, on_chip - profile.weight_cache_bytes)
    return excess / (profile.offchip_bandwidth_gb_s * 1e3)


def op_time_us(profile: DeviceProfile, op: OpCost, info: TFLiteModelInfo) -> float:
    """Roofline time of one op on ``profile``: max(compute, memory) + overhead."""
    if op.dtype == "index":
        return profile.op_overhead_us
    compute = op.macs / (profile.rate(op.dtype, op.op_class) * 1e3)
    if profile.gemm_half_depth and op.op_class in ("conv", "fully_connected") and op.macs:
        depth = op.macs / element_count(op.output_shape)
        compute *= (depth + profile.gemm_half_depth) / depth
    compute /= _sparse_speedup(profile, op, info)
    if op.dtype == "dynamic_range" and profile.dynamic_quantize_g_elements_s:
        compute += hybrid_input_elements(op) / (profile.dynamic_quantize_g_elements_s * 1e3)
    memory = (op.weight_bytes + op.activation_bytes) / (profile.memory_bandwidth_gb_s * 1e3)
    return max(compute, memory) + profile.op_overhead_us


def hybrid_input_elements(op: OpCost) -> float:
    """The float32 input elements a hybrid (dynamic-range) op quantizes on every invoke."""
    return op.activation_bytes / 4 - element_count(op.output_shape)


def _sparse_speedup(profile: DeviceProfile, op: OpCost, info: TFLiteModelInfo) -> float:
    rule = profile.sparse
    if op.op_class not in rule.op_classes or op.dtype not in ("float32", "float16"):
        return 1.0
    inputs = info.ops[op.index].inputs
    if len(inputs) < 2 or inputs[1] < 0:
        return 1.0
    kernel = info.tensors[inputs[1]]
    if kernel.data is None or (rule.pointwise_only and tuple(kernel.shape[1:3]) != (1, 1)):
        return 1.0
    sparsity = kernel.zeros / kernel.size
    if sparsity < rule.min_sparsity:
        return 1.0
    return min(1.0 / max(1.0 - sparsity, 1e-6), rule.max_speedup)


def _notes(profile, estimate, graph, unknown) -> list[str]:
    notes = [f"{name}: no cost model for this op; estimated with the generic 'unknown' rate"
             for name in sorted(unknown)]
    if estimate.latency_ms is None:
        first = estimate.fallback_ops[0]
        notes.append(f"cannot run on {profile.name}: op {first['index']} ({first['op']}): "
                     f"{first['reason']}")
    if estimate.peak_ram_bytes > profile.ram_bytes:
        notes.append(f"needs {estimate.peak_ram_bytes:,} bytes of RAM, the device has "
                     f"{profile.ram_bytes:,}")
    if estimate.flash_bytes > profile.flash_bytes:
        notes.append(f"the model is {estimate.flash_bytes:,} bytes, the device stores "
                     f"{profile.flash_bytes:,}")
    return notes


def profile_fingerprint(device: str, workspace=None) -> str:
    """What an estimate on ``device`` is computed from, as a short hash: the profile's values,
    its fallback's, and ``ESTIMATOR_VERSION``. An edited profile gets another fingerprint.

        >>> profile_fingerprint("cortex_m7") == profile_fingerprint("cortex_m7")   # doctest: +SKIP
        True
    """
    profile = load_profile(device, workspace)
    fallback = load_profile(profile.fallback, workspace) if profile.fallback else None
    text = f"{ESTIMATOR_VERSION}|{profile!r}|{fallback!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def device_columns(tflite, devices, workspace=None) -> dict:
    """``est_ms__<d>``, ``fits__<d>``, ``accel_fraction__<d>`` for each device ``d``."""
    info = inspect_tflite(tflite)
    graph = analyze_tflite(info)
    columns = {}
    for device in devices:
        estimate = estimate_tflite_info(info, len(tflite), device, workspace, graph)
        columns[f"est_ms__{device}"] = estimate.latency_ms
        columns[f"fits__{device}"] = int(estimate.fits)
        columns[f"accel_fraction__{device}"] = estimate.accel_fraction
    return columns
