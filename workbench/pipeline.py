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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable


from workbench import __version__
from workbench.data import check_fits_model, generated_inputs, load_digits_task, output_names
from workbench.errors import DataError, WorkbenchError
from workbench.fingerprint import model_fingerprint
from workbench.metrics import DEFAULT_METRIC, Metric
from workbench.recipes import Recipe
from workbench.progress import report_phase
from workbench.store import ExperimentStore, new_run_id

GENERATED_DATA = "generated"


@dataclass(eq=False)
class Task:
    """A model, the data it is scored on and the metric that scores it (``dataset`` and
    ``metric`` are ``None`` for zoo models without data: no score). ``output`` names the output
    the metric reads (``None``: every output, for a user function on a multi-output model);
    ``notes`` say what preparing the task decided (e.g. an input size fixed from the data)."""

    name: str
    model: Any
    dataset: Any
    metric: Metric | None = None
    output: str | None = None
    notes: str = ""

    @cached_property
    def model_hash(self) -> str:
        return model_fingerprint(self.model)

    @property
    def data_hash(self) -> str:
        if self.dataset is None:
            return GENERATED_DATA
        if self.metric is None or (self.metric.name == DEFAULT_METRIC and self.output in (
                None, self.output_names[0])):
            return self.dataset.fingerprint  # top-1 on the first output: keys as before
        return f"{self.dataset.fingerprint}:{self.metric.name}:{self.output}"

    @property
    def input_shape(self) -> tuple:
        return tuple(self.model.inputs[0].shape)

    @property
    def output_names(self) -> list[str]:
        return output_names(self.model)

    @cached_property
    def float_outputs(self):
        """The Keras model's outputs on the test split (computed once, batch by batch)."""
        from workbench.measure import keras_predict

        if self.dataset is None:
            return None
        return keras_predict(self.model, self.dataset.test_input_batches(TEST_BATCH_SIZE))

    def chosen(self, outputs):
        """The outputs the metric reads: the chosen output, or all of them (a dict)."""
        if isinstance(outputs, dict) and self.output is not None:
            return outputs[self.output]
        return outputs

    @property
    def labels(self):
        """The test labels the metric reads (the chosen output's when labels are per output)."""
        labels = self.dataset.y_test
        if isinstance(labels, dict) and self.output is not None:
            return labels[self.output]
        return labels

    def score(self, outputs) -> float | None:
        return self.metric.score(self.labels, self.chosen(outputs)) if self.metric else None

    @cached_property
    def float_score(self) -> float | None:
        return self.score(self.float_outputs) if self.dataset is not None else None

    def accuracy(self, outputs) -> float | None:
        """Top-1 (class scores) or binary accuracy (one sigmoid), for classifiers; else None."""
        scorer = self.classifier_metric
        return scorer.score(self.labels, self.chosen(outputs)) if scorer else None

    @cached_property
    def classifier_metric(self) -> Metric | None:
        if self.dataset is None or isinstance(self.labels, dict):
            return None
        from workbench.metrics import METRICS

        for name in ("top1", "binary_accuracy"):
            try:
                METRICS[name].check_fits(self.chosen_output_shape, self.labels)
                return METRICS[name]
            except DataError:
                continue
        return None

    @property
    def chosen_output_shape(self) -> tuple:
        index = self.output_names.index(self.output) if self.output in self.output_names else 0
        return tuple(self.model.outputs[index].shape)

    @cached_property
    def float_accuracy(self) -> float | None:
        return self.accuracy(self.float_outputs) if self.dataset is not None else None

    def representative_data(self, count: int):
        if self.dataset is not None:
            return self.dataset.calibration_inputs(count)
        return generated_inputs(self.input_shape, count)

    def latency_sample(self):
        if self.dataset is not None:
            return self.dataset.sample_input()
        return generated_inputs(self.input_shape, 1, seed=1)[0]


TEST_BATCH_SIZE = 64


def prepare_task(model: Any = "default", data: Any = None,
                 workspace: str | os.PathLike | None = None, safe_mode: bool = True,
                 progress: bool = True, metric: Any = None, output: str | None = None,
                 higher_is_better: bool = True, input_size: tuple[int, ...] | None = None,
                 weights: str | os.PathLike | None = None, **data_options) -> Task:
    """Resolve ``model`` (default / zoo name / file / keras.Model) and ``data`` (anything
    ``workbench.data.load_data`` takes; ``data_options`` go to it) into a checked Task.

    ``metric``: a built-in name (``top1``, ``top5``, ``f1``, ``binary_accuracy``, ``auc``,
    ``mae``, ``rmse``) or a function ``(y_true, y_pred) -> float`` (``higher_is_better`` its
    direction); default top-1 for class scores, binary accuracy for one sigmoid, MAE otherwise.
    ``output``: the output it reads on a multi-output model. ``input_size``: the size an input
    with free spatial dimensions gets (default: the data's). ``weights``: a weights file for a
    zoo model (``mobilenet_v2:224:imagenet``).
    """
    from workbench import zoo
    from workbench.data import load_data
    from workbench.loading import load_model

    dataset = load_data(data, workspace=workspace, **data_options) if data is not None else None
    if isinstance(model, str) and _names_zoo_model(model):
        if model in zoo.DIGITS_MODELS:
            build = zoo.default_model if model == zoo.DEFAULT_MODEL else zoo.outlier_model
            return _checked_task(model, build(workspace, progress=progress),
                                 dataset or load_digits_task(), metric, output,
                                 higher_is_better, input_size)
        return _checked_task(model, zoo.build_zoo_model(model, weights), dataset, metric,
                             output, higher_is_better, input_size)
    keras_model = load_model(model, safe_mode=safe_mode)
    name = Path(model).stem if isinstance(model, (str, os.PathLike)) else keras_model.name
    return _checked_task(name, keras_model, dataset, metric, output, higher_is_better,
                         input_size)


def _names_zoo_model(text: str) -> bool:
    """A bare name (no such file, no folder, no extension) means a zoo model."""
    path = Path(text)
    return not path.exists() and len(path.parts) == 1 and not path.suffix


def _checked_task(name: str, model: Any, dataset: Any, metric: Any, output: str | None,
                  higher_is_better: bool, input_size) -> Task:
    """Bind the data to the model, fix free input sizes, pick and check the metric, and score
    the float model: every problem is found here, before any conversion or training."""
    from workbench.data.fixed_size import fix_free_input_sizes
    from workbench.metrics import default_metric_for, get_metric

    notes = ""
    if dataset is not None:
        model, notes = fix_free_input_sizes(model, dataset, input_size)
        dataset = dataset.bind(model, name)
        check_fits_model(dataset, model, name)
    elif input_size is not None or _has_free_size(model):
        model, notes = fix_free_input_sizes(model, None, input_size)
    if dataset is None:
        if metric is not None and not callable(metric):
            get_metric(metric)  # an unknown name is still refused
        return Task(name, model, None, notes=notes)
    output = _chosen_output(model, name, output, metric)
    task = Task(name, model, dataset, None, output, notes)
    labels = task.labels
    chosen = get_metric(metric, higher_is_better) if metric is not None else \
        default_metric_for(task.chosen_output_shape, labels)
    chosen.check_fits(task.chosen_output_shape, _labels_by_split(task), f"model '{name}'")
    if chosen.output != "any" and isinstance(labels, dict):
        raise DataError(f"The labels are per output ({', '.join(labels)}); metric "
                        f"'{chosen.name}' reads one: pass output=NAME (--output NAME).")
    task.metric = chosen
    task.float_score  # scores the float model: a failing metric function fails here
    return task


def _labels_by_split(task: Task) -> dict:
    """The labels the metric reads, by split: the test labels, and the training labels when
    they are held in memory (a streamed training split is read only when training)."""
    splits = {"y_test": task.labels}
    train = getattr(task.dataset, "y_train", None)
    if train is not None:
        splits["y_train"] = train[task.output] if isinstance(train, dict) else train
    return {name: labels for name, labels in splits.items() if not isinstance(labels, dict)}


def _has_free_size(model) -> bool:
    return any(None in tuple(tensor.shape[1:]) for tensor in model.inputs)


def _chosen_output(model, name: str, output: str | None, metric) -> str | None:
    names = output_names(model)
    if output is not None and output not in names:
        raise DataError(f"Model '{name}' has no output {output!r}. Expected one of: "
                        f"{', '.join(names)}.")
    if output is None and (len(names) == 1 or not callable(metric)):
        return names[0]
    return output


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
    row, tflite = compute_variant(task, config, latency_runs, progress)
    return store_variant(store, row, tflite, devices, replace=force)


def compute_variant(task: Task, config: Recipe, latency_runs: int = 50,
                    progress: bool = True) -> tuple[dict, bytes]:
    """Convert and measure one variant without touching a store: its row (``machine`` names
    where its host latency was measured) and its ``.tflite``. What a search's worker runs."""
    from workbench.ptq import check_convertible_names

    check_convertible_names(task.model)
    report_phase(f"{config.name}: converting")
    tflite, notes = _convert(task, config, progress)
    figures = _measure(task, tflite, latency_runs, progress)
    notes = "; ".join(filter(None, [task.notes, notes, figures.pop("busy_note")]))
    row = {
        "run_id": new_run_id(), "model": task.name, "recipe": config.name,
        "config": json.dumps(config.get_config(), sort_keys=True),
        **figures,
        **_graph_statistics(tflite, per_channel=any(getattr(stage, "per_channel", False)
                                                      for stage in config.stages)),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "machine": machine_name(),
        "notes": notes,
        "cache_key": cache_key(task, config), "model_hash": task.model_hash,
        "dataset": task.dataset.name if task.dataset else GENERATED_DATA,
        "data_hash": task.data_hash, "workbench_version": __version__,
    }
    return row, tflite


def store_variant(store: ExperimentStore, row: dict, tflite: bytes,
                  devices: Iterable[str] | None = None, replace: bool = False) -> dict:
    """Save a computed variant and return its row with the device estimates (``cached``: the
    store already held the same variant, whose row is returned instead)."""
    devices = _device_names(devices, store)
    saved = store.save(row, tflite, replace=replace)
    if saved["run_id"] != row["run_id"]:  # another process stored the same variant first
        tflite = store.read_tflite(saved["run_id"])
    return {**_with_estimates(store, saved, tflite, devices),
            "cached": saved["run_id"] != row["run_id"]}


def machine_name() -> str:
    """The machine a row's host latency was measured on: ``'host-1 (x86_64, 2 cores)'``."""
    import platform

    return f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores)"


def _device_names(devices, store: ExperimentStore) -> list[str]:
    """``devices`` checked, or every device whose profile loads (a broken profile file is
    warned about and left out, not a reason to fail the run)."""
    import warnings

    from workbench.devices import load_profile
    from workbench.devices.profiles import usable_devices

    if devices is None:
        names, problems = usable_devices(store.workspace)
        for problem in problems:
            warnings.warn(problem, stacklevel=3)
        return names
    names = list(devices)
    for name in names:
        load_profile(name, store.workspace)  # an unknown name fails here, listing the known
    return names


def _with_estimates(store: ExperimentStore, row: dict, tflite: bytes, devices) -> dict:
    from workbench.devices.estimate import device_columns, profile_fingerprint

    columns = device_columns(tflite, devices, store.workspace)
    store.set_estimates(row["run_id"], columns,
                        {device: profile_fingerprint(device, store.workspace)
                         for device in devices})
    return {**row, **columns}


def current_results(store: ExperimentStore, model: str | None = None):
    """``store.results(model)`` with every device estimate from the profiles as they are now:
    a row whose estimates came from a profile edited since (or from an older estimator, or
    that has none for a device added since) is estimated again from its stored ``.tflite``,
    and the new estimates are stored. The host is left as stored until it is calibrated;
    estimates of a device whose profile is gone (or no longer loads) are left out.

        >>> frame = current_results(ExperimentStore("ws"))                  # doctest: +SKIP
    """
    from workbench.devices.estimate import device_columns, profile_fingerprint
    from workbench.devices.host import host_calibrated
    from workbench.devices.profiles import usable_devices
    from workbench.store import device_columns_of, split_device_column

    frame = store.results(model)
    if frame.empty:
        return frame
    usable = usable_devices(store.workspace)[0]
    gone = [column for column in device_columns_of(frame.columns)
            if split_device_column(column)[1] not in usable]
    frame = frame.drop(columns=gone)
    devices = [device for device in usable
               if device != "host" or host_calibrated(store.workspace)]
    wanted = {device: profile_fingerprint(device, store.workspace) for device in devices}
    stored = store.estimate_profiles()
    refreshed = {}
    for run_id in frame["run_id"]:
        stale = [device for device in devices if stored.get((run_id, device)) != wanted[device]]
        if not stale or not store.artifact_path(run_id).is_file():
            continue  # a lost artifact keeps its stored estimates (doctor reports it)
        refreshed[run_id] = device_columns(store.read_tflite(run_id), stale, store.workspace)
        store.set_estimates(run_id, refreshed[run_id],
                            {device: wanted[device] for device in stale})
    if not refreshed:
        return frame
    if not store.read_only:
        return store.results(model).drop(columns=gone)
    for run_id, columns in refreshed.items():  # a read-only store: shown, not kept
        for name, value in columns.items():
            frame.loc[frame["run_id"] == run_id, name] = value
    return frame


def _convert(task: Task, recipe: Recipe, progress: bool) -> tuple[bytes, str]:
    """Fold the recipe's transform stages over the model, then export the last model; returns
    the ``.tflite`` and the notes of the transforms (layers skipped and why)."""
    from workbench.transforms import apply_transforms

    transformed = apply_transforms(task, recipe, progress=progress)
    tflite, export_notes = recipe.export.export_with_notes(task, transformed.model,
                                                          transformed.facts, progress)
    return tflite, "; ".join(filter(None, [transformed.notes(), export_notes]))


def test_outputs(task: Task, tflite: bytes, progress: bool = False):
    """The ``.tflite``'s outputs on the task's test split, a batch at a time, by output name."""
    from workbench.measure import tflite_predict

    batches = -(-task.dataset.test_size // TEST_BATCH_SIZE)
    return tflite_predict(tflite, task.dataset.test_input_batches(TEST_BATCH_SIZE),
                          progress=progress, output_names=task.output_names, batches=batches)


def _measure(task: Task, tflite: bytes, latency_runs: int, progress: bool) -> dict:
    from workbench import measure

    size, gzipped = measure.tflite_sizes(tflite)
    figures = {"size_bytes": size, "gzip_bytes": gzipped, "accuracy": None,
               "float_accuracy": task.float_accuracy, "agreement": None, **score_columns(task)}
    if task.dataset is not None:
        outputs = test_outputs(task, tflite, progress)
        figures.update(score_columns(task, task.score(outputs)))
        figures["accuracy"] = task.accuracy(outputs)
        if task.classifier_metric is not None:
            figures["agreement"] = measure.agreement(task.chosen(outputs),
                                                     task.chosen(task.float_outputs))
    sample = task.latency_sample()
    busy = measure.host_busy_note()
    single = measure.measure_latency(tflite, sample, 1, runs=latency_runs, progress=progress)
    every = measure.measure_latency(tflite, sample, os.cpu_count() or 1, runs=latency_runs,
                                    progress=progress)
    return {**figures, "latency_ms": single.median_ms, "latency_p90_ms": single.p90_ms,
            "latency_ms_all_cores": every.median_ms, "busy_note": busy}


def score_columns(task: Task, score: float | None = None) -> dict:
    """The metric columns of a row: ``metric``, ``higher_is_better``, ``score``, ``float_score``
    and ``score_drop`` (positive when the variant is worse)."""
    metric = task.metric
    if metric is None:
        return {"metric": None, "higher_is_better": None, "score": None, "float_score": None,
                "score_drop": None}
    return {"metric": metric.name, "higher_is_better": int(metric.higher_is_better),
            "score": score, "float_score": task.float_score,
            "score_drop": metric.drop(task.float_score, score)}


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
