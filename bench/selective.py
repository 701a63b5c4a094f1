"""Selective precision and int4 weights: what keeping layers in float or int16 buys, and what
int4 weights weigh.

Two parts, measured in one run:

- on the teaching models (``digits_outlier``, ``default``): accuracy and size of int8 with
  ``auto_keep_float`` K = 0..5, and with int16 activations on the 1, 2 and 3 most sensitive
  layers (``int16_layers``), beside float32 and all-int16 activations (``int16x8``);
- on MobileNet v1/v2 (random weights, 224x224): the sizes of float32, int8, ``int4_weights``
  and ``dynamic_int4`` per channel and blockwise 32/128, with host latency.

Writes ``bench/results/selective.json``.

    python -m bench.selective [--models digits_outlier,default] [--zoo mobilenet_v1,mobilenet_v2]
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import show_and_write  # noqa: E402

MAX_KEPT = 5
INT16_CHOICES = (1, 2, 3)
INT4_BLOCKS = (0, 32, 128)
INT4_RECIPES = ("int4_weights", "dynamic_int4")


def teaching_configs(task) -> list:
    """float32, int16x8, int8 with K = 0..5 layers kept float, int8 with the 1..3 most
    sensitive layers in int16."""
    from workbench.recipes import DEFAULT_CALIBRATION_SAMPLES, make_config
    from workbench.selective import most_sensitive_layers

    samples = task.representative_data(DEFAULT_CALIBRATION_SAMPLES)
    ranked = most_sensitive_layers(task.model, samples, max(INT16_CHOICES))
    configs = [make_config("float32"), make_config("int16x8")]
    configs += [make_config("int8", {"auto_keep_float": k}) for k in range(MAX_KEPT + 1)]
    configs += [make_config("int8", {"int16_layers": ",".join(ranked[:count])})
                for count in INT16_CHOICES if count <= len(ranked)]
    return configs


def zoo_configs() -> list:
    from workbench.recipes import make_config

    return [make_config("float32"), make_config("int8"),
            *(make_config(recipe, {"block_size": block}) for recipe in INT4_RECIPES
              for block in INT4_BLOCKS)]


def bench_task(name: str, configs_of, latency_runs: int) -> list[dict]:
    """One row per config; a config the workbench refuses (keeping every layer float) is a
    row that says why."""
    from workbench.errors import WorkbenchError
    from workbench.pipeline import prepare_task, run
    from workbench.store import ExperimentStore

    task = prepare_task(name, progress=False)
    configs = configs_of(task) if callable(configs_of) else configs_of
    rows = []
    with tempfile.TemporaryDirectory() as workspace:
        store = ExperimentStore(workspace)
        for config in configs:
            try:
                rows.append(run(task, config, store, force=True, latency_runs=latency_runs,
                                progress=False, devices=["host"]))
            except WorkbenchError as error:
                rows.append({"recipe": config.name, "config": config.to_json(), "notes":
                             f"refused: {error}", "size_bytes": None, "accuracy": None,
                             "latency_ms": None})
    float_size = next(row["size_bytes"] for row in rows if row["recipe"] == "float32")
    int8_size = next((row["size_bytes"] for row in rows
                      if row["recipe"] == "int8" and not _options(row["config"])), None)
    return [{"model": name, "recipe": row["recipe"], "options": _options(row["config"]),
             "accuracy": row["accuracy"],
             **({"size_kb": row["size_bytes"] / 1024,
                 "x_float32": row["size_bytes"] / float_size,
                 "x_int8": row["size_bytes"] / int8_size if int8_size else None}
                if row["size_bytes"] else {"size_kb": None, "x_float32": None, "x_int8": None}),
             "latency_ms": row["latency_ms"], "notes": row["notes"]}
            for row in rows]


def _options(config: str) -> str:
    import json

    options = json.loads(config or "{}")
    options.pop("recipe", None)
    named = {"auto_keep_float", "keep_float", "int16_layers"}  # shown when set
    return ", ".join(f"{key}={value}" for key, value in options.items()
                     if key == "block_size" or (key in named and value))


def main(argv=None) -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="digits_outlier,default")
    parser.add_argument("--zoo", default="mobilenet_v1,mobilenet_v2")
    parser.add_argument("--latency-runs", type=int, default=30)
    args = parser.parse_args(argv)
    rows = []
    for name in filter(None, args.models.split(",")):
        rows += bench_task(name.strip(), teaching_configs, args.latency_runs)
    for name in filter(None, args.zoo.split(",")):
        rows += bench_task(name.strip(), zoo_configs(), args.latency_runs)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 60)
    shown = [{key: value for key, value in row.items() if key != "notes"} for row in rows]
    show_and_write("selective", shown, {"latency_runs": args.latency_runs, "rows": rows})


if __name__ == "__main__":
    main()
