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


def tflite_predict(tflite: bytes, x: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE,
                   progress: bool = True) -> np.ndarray:
    """Run ``x`` through the model in LiteRT; returns float outputs, one row per sample."""
    runner = interpreter(tflite, threads=os.cpu_count() or 1)
    detail = runner.get_input_details()[0]
    if detail["shape_signature"][0] != -1:  # fixed batch size: go one sample at a time
        batch_size = int(detail["shape"][0])
    outputs, current = [], None
    starts = range(0, len(x), batch_size)
    for start in track(starts, "evaluating in LiteRT", enabled=progress, unit="batch"):
        batch = x[start:start + batch_size]
        if len(batch) != current:
            runner.resize_tensor_input(detail["index"], [len(batch), *detail["shape"][1:]])
            runner.allocate_tensors()
            current = len(batch)
        runner.set_tensor(detail["index"], quantize_input(batch, detail))
        runner.invoke()
        out = runner.get_output_details()[0]
        outputs.append(dequantize_output(runner.get_tensor(out["index"]), out))
    return np.concatenate(outputs)


def keras_predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Float outputs of the Keras model on ``x``."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of class scores ``outputs`` (N, classes) against integer ``labels``."""
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def agreement(outputs_a: np.ndarray, outputs_b: np.ndarray) -> float:
    """Share of samples on which two models pick the same top-1 class."""
    return float(np.mean(np.argmax(outputs_a, axis=-1) == np.argmax(outputs_b, axis=-1)))


LATENCY_ROUNDS = 5


def measure_latency(tflite: bytes, sample: np.ndarray, threads: int = 1, warmup: int = 5,
                    runs: int = 50, progress: bool = True) -> Latency:
    """Single-sample invokes after ``warmup`` untimed ones, in ``LATENCY_ROUNDS`` rounds a few
    milliseconds apart: the median and p90 of the quietest round (the one with the lowest
    median), so a moment when another process holds the CPU does not count as the model's
    latency."""
    runner = interpreter(tflite, threads=threads)
    detail = runner.get_input_details()[0]
    runner.resize_tensor_input(detail["index"], [1, *detail["shape"][1:]])
    runner.allocate_tensors()
    runner.set_tensor(detail["index"], quantize_input(sample[None], detail))
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
