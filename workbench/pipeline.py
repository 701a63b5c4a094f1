"""The core flow: model in -> ``.tflite`` variant -> measured -> stored row.

``prepare_task`` resolves what the user named (``default``, a zoo name, a
model file or a ``keras.Model``) with its data; ``run`` converts it with one
recipe, measures the variant in LiteRT and stores the row (or returns the
stored one: same model, config, data and workbench version); ``sweep`` runs
several recipes and keeps going past a recipe that fails.

Example:
    >>> task = prepare_task("default")                                # doctest: +SKIP
    >>> row = run(task, make_config("int8"), ExperimentStore())       # doctest: +SKIP
    >>> row["size_bytes"], row["accuracy"]                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from workbench import __version__
from workbench.data import Dataset, check_fits_model, generated_inputs, load_digits_task, load_npz
from workbench.errors import DataError, ModelLoadError, WorkbenchError
from workbench.fingerprint import model_fingerprint
from workbench.recipes import Recipe
from workbench.progress import report_phase
from workbench.store import ExperimentStore

GENERATED_DATA = "generated"


@dataclass(eq=False)
class Task:
    """A model and the dataset it is scored on (``None`` for zoo models: no accuracy)."""

    name: str
    model: Any
    dataset: Dataset | None

    @cached_property
    def model_hash(self) -> str:
        return model_fingerprint(self.model)

    @property
    def data_hash(self) -> str:
        return self.dataset.fingerprint if self.dataset else GENERATED_DATA

    @property
    def input_shape(self) -> tuple:
        return tuple(self.model.inputs[0].shape)

    @cached_property
    def float_outputs(self) -> np.ndarray | None:
        """The Keras model's outputs on the test split (computed once)."""
        from workbench.measure import keras_predict

        return keras_predict(self.model, self.dataset.x_test) if self.dataset else None

    @cached_property
    def float_accuracy(self) -> float | None:
        from workbench.measure import accuracy

        return accuracy(self.float_outputs, self.dataset.y_test) if self.dataset else None

    def representative_data(self, count: int) -> np.ndarray:
        if self.dataset is not None:
            return self.dataset.x_train[:count]
        return generated_inputs(self.input_shape, count)

    def latency_sample(self) -> np.ndarray:
        if self.dataset is not None:
            return self.dataset.x_test[0]
        return generated_inputs(self.input_shape, 1, seed=1)[0]


def prepare_task(model: Any = "default", data: Dataset | str | os.PathLike | None = None,
                 workspace: str | os.PathLike | None = None, safe_mode: bool = True,
                 progress: bool = True) -> Task:
    """Resolve ``model`` (default / zoo name / file / keras.Model) and ``data`` into a Task."""
    from workbench import zoo
    from workbench.loading import load_model

    dataset = load_npz(data) if isinstance(data, (str, os.PathLike)) else data
    if isinstance(model, str) and _names_zoo_model(model):
        if model in zoo.DIGITS_MODELS:
            build = zoo.default_model if model == zoo.DEFAULT_MODEL else zoo.outlier_model
            return _checked_task(model, build(workspace, progress=progress),
                                 dataset or load_digits_task())
        return _checked_task(model, zoo.build_zoo_model(model), dataset)
    keras_model = load_model(model, safe_mode=safe_mode)
    name = Path(model).stem if isinstance(model, (str, os.PathLike)) else keras_model.name
    return _checked_task(name, keras_model, dataset)


def _names_zoo_model(text: str) -> bool:
    """A bare name (no such file, no folder, no extension) means a zoo model."""
    path = Path(text)
    return not path.exists() and len(path.parts) == 1 and not path.suffix


def _checked_task(name: str, model: Any, dataset: Dataset | None) -> Task:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelLoadError(
            f"Model '{name}' has {len(model.inputs)} input(s) and {len(model.outputs)} "
            "output(s); the workbench supports models with exactly one input and one output."
        )
    if dataset is not None:
        check_fits_model(dataset, tuple(model.inputs[0].shape), name)
        output_shape = tuple(model.outputs[0].shape)
        if len(output_shape) != 2 or (output_shape[-1] or 0) < 2:
            raise DataError(
                f"Model '{name}' outputs shape {output_shape}, but accuracy is top-1 over class "
                "scores. Expected an output of shape (batch, classes) with at least 2 classes "
                "(a single value per sample, e.g. a sigmoid or a regressor, is not scored yet). "
                "Load the model without a dataset to study its size and latency.")
        classes = output_shape[-1]
        top_label = int(max(dataset.y_train.max(), dataset.y_test.max()))
        if classes is not None and top_label >= classes:
            raise DataError(
                f"Dataset '{dataset.name}' has labels up to {top_label} but model '{name}' "
                f"outputs {classes} class scores. Expected labels in 0..{classes - 1}."
            )
    return Task(name, model, dataset)


def cache_key(task: Task, config: Recipe) -> str:
    """What makes two runs the same: model content, recipe config, data, workbench version."""
    identity = {"model": task.model_hash, "config": config.to_json(), "data": task.data_hash,
                "version": __version__}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def run(task: Task, config: Recipe, store: ExperimentStore | None = None,
        force: bool = False, latency_runs: int = 50, progress: bool = True,
        devices: Iterable[str] | None = None) -> dict:
    """Convert, measure and store one variant; returns its row (``cached`` says if reused).

    The row also gets the estimates for each of ``devices`` (default: every profile):
    ``est_ms__<device>``, ``fits__<device>``, ``accel_fraction__<device>``.
    """
    store = store or ExperimentStore()
    devices = _device_names(devices, store)
    key = cache_key(task, config)
    if not force and (stored := store.lookup(key)) is not None:
        tflite = store.read_tflite(stored["run_id"])
        return {**_with_estimates(store, stored, tflite, devices), "cached": True}
    store.require_writable()  # a read-only workspace says so before any work, not after it
    from workbench.ptq import check_convertible_names

    check_convertible_names(task.model)
    report_phase(f"{config.name}: converting")
    tflite, notes = _convert(task, config, progress)
    figures = _measure(task, tflite, latency_runs, progress)
    notes = "; ".join(filter(None, [notes, figures.pop("busy_note")]))
    row = {
        "run_id": uuid.uuid4().hex[:12], "model": task.name, "recipe": config.name,
        "config": json.dumps(config.get_config(), sort_keys=True),
        **figures,
        **_graph_statistics(tflite, per_channel=any(getattr(stage, "per_channel", False)
                                                      for stage in config.stages)),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "notes": notes,
        "cache_key": key, "model_hash": task.model_hash,
        "dataset": task.dataset.name if task.dataset else GENERATED_DATA,
        "data_hash": task.data_hash, "workbench_version": __version__,
    }
    saved = store.save(row, tflite, replace=force)
    if saved["run_id"] != row["run_id"]:  # another process stored the same variant first
        tflite = store.read_tflite(saved["run_id"])
    return {**_with_estimates(store, saved, tflite, devices),
            "cached": saved["run_id"] != row["run_id"]}


def _device_names(devices, store: ExperimentStore) -> list[str]:
    from workbench.devices import available_devices, load_profile

    if devices is None:
        return available_devices(store.workspace)
    names = list(devices)
    for name in names:
        load_profile(name, store.workspace)  # an unknown name fails here, listing the known
    return names


def _with_estimates(store: ExperimentStore, row: dict, tflite: bytes, devices) -> dict:
    from workbench.devices.estimate import device_columns

    columns = device_columns(tflite, devices, store.workspace)
    store.set_estimates(row["run_id"], columns)
    return {**row, **columns}


def _convert(task: Task, recipe: Recipe, progress: bool) -> tuple[bytes, str]:
    """Fold the recipe's transform stages over the model, then export the last model; returns
    the ``.tflite`` and the notes of the transforms (layers skipped and why)."""
    from workbench.transforms import apply_transforms

    transformed = apply_transforms(task, recipe, progress=progress)
    tflite = recipe.export.export(task, transformed.model, transformed.facts, progress)
    return tflite, transformed.notes()


def _measure(task: Task, tflite: bytes, latency_runs: int, progress: bool) -> dict:
    from workbench import measure

    size, gzipped = measure.tflite_sizes(tflite)
    figures = {"size_bytes": size, "gzip_bytes": gzipped, "accuracy": None,
               "float_accuracy": task.float_accuracy, "agreement": None}
    if task.dataset is not None:
        outputs = measure.tflite_predict(tflite, task.dataset.x_test, progress=progress)
        figures["accuracy"] = measure.accuracy(outputs, task.dataset.y_test)
        figures["agreement"] = measure.agreement(outputs, task.float_outputs)
    sample = task.latency_sample()
    busy = measure.host_busy_note()
    single = measure.measure_latency(tflite, sample, 1, runs=latency_runs, progress=progress)
    every = measure.measure_latency(tflite, sample, os.cpu_count() or 1, runs=latency_runs,
                                    progress=progress)
    return {**figures, "latency_ms": single.median_ms, "latency_p90_ms": single.p90_ms,
            "latency_ms_all_cores": every.median_ms, "busy_note": busy}


def _graph_statistics(tflite: bytes, per_channel: bool) -> dict:
    from workbench.tflite_inspect import inspect_tflite

    info = inspect_tflite(tflite)
    return {"weight_sparsity": info.weight_sparsity(),
            "max_unique_weights": info.max_unique_weights(per_channel),
            "int8_ops_fraction": info.int8_ops_fraction()}


@dataclass
class SweepResult:
    """The rows of a sweep and, per recipe that failed, its one-line error."""

    rows: list[dict] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def frame(self):
        import pandas as pd

        from workbench.store import RESULT_COLUMNS, device_columns_of

        extra = device_columns_of({name for row in self.rows for name in row})
        return pd.DataFrame(self.rows, columns=[*RESULT_COLUMNS, "cached", *extra])


def sweep(task: Task, configs: Iterable[Recipe], store: ExperimentStore | None = None,
          force: bool = False, latency_runs: int = 50, progress: bool = True,
          devices: Iterable[str] | None = None) -> SweepResult:
    """``run`` every config in turn; a failing recipe is recorded and the sweep goes on."""
    from workbench.progress import track

    store = store or ExperimentStore()
    devices = _device_names(devices, store)
    result = SweepResult()
    configs = list(configs)
    for config in track(configs, f"sweep of {task.name}", enabled=progress, unit="recipe"):
        try:
            result.rows.append(run(task, config, store, force, latency_runs, progress, devices))
        except WorkbenchError as error:
            result.failures[config.name] = str(error)
    return result
