"""Post-training quantization on MobileNet v1/v2 (224x224): size and host latency per recipe.

Prints a table next to the published sizes (``../shared/reference/tflite_optimization_table.csv``)
and the workbench's own overhead: the wall time of a sweep against the bare converter and
interpreter calls it makes, measured side by side in one run. Writes bench/results/ptq.json.

    python -m bench.ptq [--models mobilenet_v1,mobilenet_v2] [--latency-runs 30]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import published_table, stopwatch, write_results  # noqa: E402

RECIPES = ("float32", "int8", "float16", "dynamic_range")
ZOO_TO_PUBLISHED = {"mobilenet_v1": "mobilenet_v1_1.0_224", "mobilenet_v2": "mobilenet_v2_1.0_224"}


def bare_calls(task, configs, latency_runs: int, timings: dict) -> None:
    """What a user would write by hand: the converter, then the LiteRT latency loops."""
    import tensorflow as tf

    from workbench.measure import measure_latency
    from workbench.recipes import DEFAULT_CALIBRATION_SAMPLES

    samples = task.representative_data(DEFAULT_CALIBRATION_SAMPLES)
    for config in configs:
        with stopwatch(timings, "bare_convert_s"):
            converter = tf.lite.TFLiteConverter.from_keras_model(task.model)
            if config.name != "float32":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if config.name == "float16":
                converter.target_spec.supported_types = [tf.float16]
            if config.name == "int8":
                converter.representative_dataset = lambda: ([s[None]] for s in samples)
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = converter.inference_output_type = tf.int8
            with contextlib.redirect_stdout(io.StringIO()):  # as ptq.convert does
                tflite = converter.convert()
        with stopwatch(timings, "bare_latency_s"):
            for threads in (1, os.cpu_count() or 1):
                measure_latency(tflite, samples[0], threads, runs=latency_runs, progress=False)


def bench_model(name: str, latency_runs: int) -> tuple[list[dict], dict]:
    from workbench.pipeline import prepare_task, sweep
    from workbench.recipes import make_config
    from workbench.store import ExperimentStore

    task = prepare_task(name, progress=False)
    configs = [make_config(recipe) for recipe in RECIPES]
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as workspace:
        with stopwatch(timings, "sweep_s"):
            result = sweep(task, configs, ExperimentStore(workspace), force=True,
                           latency_runs=latency_runs, progress=False)
    bare_calls(task, configs, latency_runs, timings)
    if result.failures:
        raise SystemExit(f"{name}: {result.failures}")
    published = published_table("tflite_optimization_table").get(ZOO_TO_PUBLISHED[name], {})
    rows = []
    for row in result.rows:
        reference = {"float32": "size_mb_float", "int8": "size_mb_int8",
                     "dynamic_range": "size_mb_int8"}.get(row["recipe"])
        rows.append({
            "model": name, "recipe": row["recipe"], "size_mb": row["size_bytes"] / 1e6,
            "published_size_mb": float(published[reference]) if reference and published else None,
            "gzip_mb": row["gzip_bytes"] / 1e6, "latency_ms": row["latency_ms"],
            "latency_p90_ms": row["latency_p90_ms"],
            "latency_ms_all_cores": row["latency_ms_all_cores"],
        })
    bare = timings["bare_convert_s"] + timings["bare_latency_s"]
    overhead = {"model": name, **{k: round(v, 2) for k, v in timings.items()},
                "sweep_vs_bare": round(timings["sweep_s"] / bare, 3)}
    return rows, overhead


def main(argv=None) -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v1,mobilenet_v2")
    parser.add_argument("--latency-runs", type=int, default=30)
    args = parser.parse_args(argv)
    rows, overheads = [], []
    for name in args.models.split(","):
        model_rows, overhead = bench_model(name.strip(), args.latency_runs)
        rows += model_rows
        overheads.append(overhead)
    pd.set_option("display.width", 160)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print()
    print("Workbench overhead (seconds; sweep = convert + evaluate + latency, bare = the same "
          "converter and LiteRT calls by hand):")
    print(pd.DataFrame(overheads).to_string(index=False))
    path = write_results("ptq", {"latency_runs": args.latency_runs, "rows": rows,
                                 "overhead": overheads})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
