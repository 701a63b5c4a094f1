"""Mutated files (bit flips, truncations, overwritten words, fixed seeds) through the readers:
only the workbench's own errors may come out, never an IndexError or a MemoryError."""

from __future__ import annotations

from pathlib import Path

import pytest

import badfiles
from workbench.data import load_npz
from workbench.devices.estimate import device_columns
from workbench.errors import WorkbenchError
from workbench.tflite_inspect import inspect_tflite

VARIANTS = ("float32", "dynamic_range", "float16", "int8")
DEVICES = ("edge_tpu", "cortex_m7", "phone_cpu_2019", "mobile_gpu", "hexagon_dsp")


def read_everything(tflite: bytes) -> None:
    """What the workbench reads from a .tflite: the inspection, statistics and estimates."""
    info = inspect_tflite(tflite)
    info.table()
    info.weight_sparsity(), info.max_unique_weights(), info.max_unique_weights(True)
    info.int8_ops_fraction()
    device_columns(tflite, DEVICES)


@pytest.mark.parametrize("recipe", VARIANTS)
def test_mutated_tflite_files_give_only_workbench_errors(recipe, ptq_rows):
    original = Path(ptq_rows[recipe]["tflite_path"]).read_bytes()
    read_everything(original)
    refused = 0
    for damaged in badfiles.mutations(original, 80, seed=VARIANTS.index(recipe)):
        try:
            read_everything(damaged)
        except WorkbenchError:
            refused += 1
    assert refused >= 25  # truncations alone are a third of the mutations


def test_mutated_npz_files_give_only_workbench_errors(tmp_path, default_task):
    data = default_task.dataset
    original = Path(badfiles.npz(tmp_path / "small.npz", x_train=data.x_train[:64],
                                 y_train=data.y_train[:64], x_test=data.x_test[:32],
                                 y_test=data.y_test[:32])).read_bytes()
    refused = 0
    for index, damaged in enumerate(badfiles.mutations(original, 120, seed=7)):
        path = tmp_path / f"m{index}.npz"
        path.write_bytes(damaged)
        try:
            load_npz(path, max_bytes=64 * 2**20)
        except WorkbenchError:
            refused += 1
    assert refused >= 40
