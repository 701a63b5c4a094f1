"""Measure a ``.tflite`` variant: accuracy in LiteRT, host latency, size.

Integer inputs are quantized and integer outputs dequantized with each
tensor's own scale and zero point, so every variant is scored on the same
float data as the Keras model.

Example:
    >>> outputs = tflite_predict(tflite_bytes, x_test)              # doctest: +SKIP
    >>> accuracy(outputs, y_test)                                   # doctest: +SKIP
    0.98
"""

from __future__ import annotations

import gzip
import os
import time
from dataclasses import dataclass

import numpy as np

from workbench.progress import track

DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class Latency:
    """Single-sample invoke latency in milliseconds."""

    median_ms: float
    p90_ms: float


def interpreter(tflite: bytes, threads: int = 1):
    """A LiteRT interpreter for ``tflite`` bytes (tensors not yet allocated)."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=bytes(tflite), num_threads=threads)


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Cast float ``x`` to the input tensor's dtype, quantizing with its scale/zero point."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale:
        limits = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero_point), limits.min, limits.max).astype(dtype)
    return x.astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """Float values of an output tensor (dequantized if it is an integer tensor)."""
    scale, zero_point = detail["quantization"]
    if np.issubdtype(np.dtype(detail["dtype"]), np.integer) and scale:
        return (y.astype("float32") - zero_point) * scale
    return y.astype("float32")


def io_details(runner, output_names: list[str] | None = None) -> tuple[dict, dict]:
    """The model's input and output tensor details by name: inputs by their signature names
    (the Keras input names), outputs by ``output_names`` (the Keras output names, in the order
    the converter numbered them ``output_0``, ``output_1``...)."""
    signatures = runner.get_signature_list()
    if not signatures:  # a flatbuffer without a signature: position is all there is
        inputs = {detail["name"]: detail for detail in runner.get_input_details()}
        outputs = runner.get_output_details()
    else:
        signature = runner.get_signature_runner(next(iter(signatures)))
        inputs = signature.get_input_details()
        outputs = [detail for _, detail in sorted(
            signature.get_output_details().items(), key=lambda item: _output_number(item[0]))]
    names = output_names if output_names and len(output_names) == len(outputs) else \
        [f"output_{index}" for index in range(len(outputs))]
    return inputs, dict(zip(names, outputs))


def _output_number(name: str):
    number = name.rpartition("_")[2]
    return (0, int(number), name) if name.startswith("output_") and number.isdigit() \
        else (1, 0, name)


def tflite_predict(tflite: bytes, x, batch_size: int = DEFAULT_BATCH_SIZE,
                   progress: bool = True, output_names: list[str] | None = None,
                   batches: int | None = None):
    """Run inputs through the model in LiteRT; returns float outputs, one row per sample (a dict
    by output name for several outputs).

    ``x`` is an array (or a dict of arrays by input name), or an iterable of such batches
    (``batches``: how many, for the progress bar)."""
    from workbench.data import structure

    runner = interpreter(tflite, threads=os.cpu_count() or 1)
    inputs, outputs = io_details(runner, output_names)
    if isinstance(x, (np.ndarray, dict)):
        chunks = (structure.take(x, start, start + batch_size)
                  for start in range(0, structure.length(x), batch_size))
        batches = -(-structure.length(x) // batch_size)
    else:
        chunks = iter(x)
    fixed = any(detail["shape_signature"][0] != -1 for detail in inputs.values())
    results: dict[str, list] = {name: [] for name in outputs}
    current = None
    for chunk in track(chunks, "evaluating in LiteRT", total=batches, enabled=progress,
                       unit="batch"):
        for pieces in _pieces(_by_input_name(chunk, inputs), fixed):
            size = structure.length(pieces)
            if size != current:
                for name, detail in inputs.items():
                    runner.resize_tensor_input(detail["index"], [size, *detail["shape"][1:]])
                runner.allocate_tensors()
                current = size
            for name, detail in inputs.items():
                runner.set_tensor(detail["index"], quantize_input(pieces[name], detail))
            runner.invoke()
            for name, detail in outputs.items():
                results[name].append(dequantize_output(runner.get_tensor(detail["index"]),
                                                       detail))
    merged = {name: np.concatenate(parts) for name, parts in results.items()}
    return next(iter(merged.values())) if len(merged) == 1 else merged


def _by_input_name(x, inputs: dict) -> dict:
    """``x`` (an array, or arrays by name) as a dict keyed by the ``.tflite``'s input names."""
    from workbench.data import structure

    keyed = structure.by_name(x, list(inputs), "input", "the .tflite")
    return keyed if isinstance(keyed, dict) else {next(iter(inputs)): keyed}


def _pieces(keyed: dict, fixed: bool):
    """A batch as it is fed: whole, or one sample at a time for a fixed-batch model."""
    if not fixed:
        yield keyed
        return
    from workbench.data import structure

    for index in range(structure.length(keyed)):
        yield structure.take(keyed, index, index + 1)


def keras_predict(model, x, batch_size: int = 256):
    """Float outputs of the Keras model on ``x`` (an array, a dict of arrays, or an iterable
    of such batches); a dict by output name for several outputs."""
    from workbench.data import structure

    if isinstance(x, (np.ndarray, dict, tuple)):
        parts = [model.predict(x, batch_size=batch_size, verbose=0)]
    else:
        parts = [model.predict_on_batch(batch) for batch in x]
    parts = [_by_output_name(model, part) for part in parts]
    return structure.concatenate(parts)


def _by_output_name(model, outputs):
    from workbench.data import output_names

    if isinstance(outputs, dict):
        return {name: np.asarray(outputs[name]) for name in output_names(model)}
    if isinstance(outputs, (list, tuple)):
        if len(outputs) == 1:
            return np.asarray(outputs[0])
        return {name: np.asarray(value) for name, value in zip(output_names(model), outputs)}
    return np.asarray(outputs)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of class scores ``outputs`` (N, classes) against integer ``labels``."""
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def agreement(outputs_a: np.ndarray, outputs_b: np.ndarray) -> float:
    """Share of samples on which two models pick the same top-1 class."""
    return float(np.mean(np.argmax(outputs_a, axis=-1) == np.argmax(outputs_b, axis=-1)))


LATENCY_ROUNDS = 5


def measure_latency(tflite: bytes, sample, threads: int = 1, warmup: int = 5,
                    runs: int = 50, progress: bool = True) -> Latency:
    """Single-sample invokes after ``warmup`` untimed ones, in ``LATENCY_ROUNDS`` rounds a few
    milliseconds apart: the median and p90 of the quietest round (the one with the lowest
    median), so a moment when another process holds the CPU does not count as the model's
    latency."""
    runner = interpreter(tflite, threads=threads)
    inputs, _ = io_details(runner)
    keyed = _by_input_name(sample, inputs)
    for name, detail in inputs.items():
        runner.resize_tensor_input(detail["index"], [1, *detail["shape"][1:]])
    runner.allocate_tensors()
    for name, detail in inputs.items():
        one = np.asarray(keyed[name])  # one sample, with or without its batch axis
        one = one[None] if one.ndim == len(detail["shape"]) - 1 else one[:1]
        runner.set_tensor(detail["index"], quantize_input(one, detail))
    for _ in range(warmup):
        runner.invoke()
    rounds = min(LATENCY_ROUNDS, runs)
    timings = [[] for _ in range(rounds)]
    for run in track(range(runs), f"latency, {threads} thread(s)", enabled=progress, unit="run"):
        round_index = run * rounds // runs
        if run and round_index != (run - 1) * rounds // runs:
            time.sleep(0.005)  # let a burst of other work pass between rounds
        start = time.perf_counter()
        runner.invoke()
        timings[round_index].append((time.perf_counter() - start) * 1000.0)
    quietest = min((round_ for round_ in timings if round_), key=np.median)
    return Latency(float(np.median(quietest)), float(np.percentile(quietest, 90)))


def host_busy_note() -> str:
    """A note when other work loads this machine's cores while latency is timed ('' if not)."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load <= cores:
        return ""
    return (f"host busy while timing (load average {load:.1f} on {cores} cores): the measured "
            "latency may be high")


def tflite_sizes(tflite: bytes) -> tuple[int, int]:
    """``(bytes, gzip-compressed bytes)`` of the model file (gzip level 9)."""
    return len(tflite), len(gzip.compress(bytes(tflite), compresslevel=9, mtime=0))
