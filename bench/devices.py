"""Device estimates against published and measured latencies.

1. The four networks of ../shared/reference/tflite_optimization_table.csv, built from
   keras.applications (weights=None, the table's input sizes) and exported as float32,
   dynamic-range and int8, estimated on ``phone_cpu_2017`` beside the published Pixel 2
   latencies: per-cell error, mean absolute percentage error, share within +-25%.
2. Five zoo models in float32 and int8 estimated on ``host`` (calibrated afresh) beside
   LiteRT's measured latency on this machine.
3. Every variant of (1) on every profile, to show what runs where.

Exports are cached in bench/.cache (the first run converts about 12 large models, several
minutes). Prints tables and writes bench/results/devices.json.

    python -m bench.devices
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import REPO, published_table, write_results  # noqa: E402

CACHE = REPO / "bench" / ".cache"
PUBLISHED_COLUMNS = {"float32": "latency_ms_float", "dynamic_range": "latency_ms_ptq",
                     "int8": "latency_ms_qat"}
# Five zoo models with latencies of milliseconds. The digits CNN (about 0.03 ms, where the
# Python call around invoke() is a large share) is left out: it measures the timer.
HOST_MODELS = ["mobilenet_v1:128", "mobilenet_v2:160", "resnet50:96", "inception_v3:96",
               "efficientnet_b0:128"]
GOALS = {"published_mape": 0.15, "published_worst": 0.25, "host_within": 0.25}


def exported(name: str, builder: str, size: int, recipe: str) -> bytes:
    """The cached .tflite of a keras.applications network (random weights) for one recipe."""
    import numpy as np

    path = CACHE / f"{name}-{recipe}.tflite"
    if not path.is_file():
        import keras

        from workbench.ptq import convert
        from workbench.recipes import make_config

        print(f"exporting {name} ({recipe})...", flush=True)
        model = getattr(keras.applications, builder)(weights=None, input_shape=(size, size, 3))
        samples = np.random.default_rng(0).uniform(0, 1, (4, size, size, 3)).astype("float32")
        config = make_config(recipe, {"calibration_samples": 4} if recipe == "int8" else {})
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_bytes(convert(model, config, samples, progress=False))
    return path.read_bytes()


def published_cells() -> list[dict]:
    from workbench.devices import estimate_tflite

    cells = []
    for name, row in published_table("tflite_optimization_table").items():
        for recipe, column in PUBLISHED_COLUMNS.items():
            if not row[column]:
                continue
            tflite = exported(name, row["keras_application"], int(row["input"]), recipe)
            predicted = estimate_tflite(tflite, "phone_cpu_2017").latency_ms
            published = float(row[column])
            cells.append({"model": name, "recipe": recipe, "published_ms": published,
                          "predicted_ms": predicted,
                          "error": (predicted - published) / published})
    return cells


def host_cells(workspace: Path) -> list[dict]:
    import numpy as np

    from workbench.devices import estimate_tflite
    from workbench.devices.host import host_profile
    from workbench.measure import measure_latency
    from workbench.pipeline import prepare_task
    from workbench.ptq import convert
    from workbench.recipes import make_config

    profile = host_profile(workspace, recalibrate=True)
    cells = []
    for name in HOST_MODELS:
        task = prepare_task(name, workspace=workspace, progress=False)
        shape = task.model.inputs[0].shape[1:]
        samples = np.random.default_rng(0).uniform(0, 1, (8, *shape)).astype("float32")
        for recipe in ("float32", "int8"):
            config = make_config(recipe, {"calibration_samples": 8} if recipe == "int8" else {})
            tflite = convert(task.model, config, samples, progress=False)
            measured = measure_latency(tflite, samples[0], threads=1, runs=30,
                                       progress=False).median_ms
            predicted = estimate_tflite(tflite, profile).latency_ms
            cells.append({"model": name, "recipe": recipe, "measured_ms": measured,
                          "predicted_ms": predicted, "error": (predicted - measured) / measured})
    return cells


def device_matrix() -> list[dict]:
    from workbench.devices import available_devices, estimate_tflite

    rows = []
    for name, row in published_table("tflite_optimization_table").items():
        for recipe in PUBLISHED_COLUMNS:
            tflite = exported(name, row["keras_application"], int(row["input"]), recipe)
            for device in available_devices():
                if device == "host":
                    continue
                estimate = estimate_tflite(tflite, device)
                rows.append({"model": name, "recipe": recipe, "device": device,
                             "latency_ms": estimate.latency_ms, "fits": estimate.fits,
                             "accel_fraction": estimate.accel_fraction,
                             "partitions": estimate.partitions,
                             "fallback_ops": len(estimate.fallback_ops)})
    return rows


def summary(cells: list[dict]) -> dict:
    errors = [abs(cell["error"]) for cell in cells]
    return {"cells": len(cells), "mape": sum(errors) / len(errors), "worst": max(errors),
            "within_25": sum(e <= 0.25 for e in errors) / len(errors)}


def main() -> None:
    import pandas as pd

    def show(title, rows):
        print(f"\n{title}")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))

    published = published_cells()
    show("phone_cpu_2017: predicted vs published (Pixel 2, 1 big core)", published)
    published_summary = summary(published)
    print(f"MAPE {published_summary['mape']:.1%} (goal <= 15%), worst "
          f"{published_summary['worst']:.1%} (goal <= 25%), within +-25%: "
          f"{published_summary['within_25']:.0%}")
    with tempfile.TemporaryDirectory() as folder:
        host = host_cells(Path(folder))
    show("host: predicted vs measured (LiteRT, 1 thread)", host)
    host_summary = summary(host)
    print(f"MAPE {host_summary['mape']:.1%}, worst {host_summary['worst']:.1%}, within +-25%: "
          f"{host_summary['within_25']:.0%} (goal: all)")
    matrix = device_matrix()
    show("every profile", matrix)
    path = write_results("devices", {"goals": GOALS, "published": published,
                                     "published_summary": published_summary, "host": host,
                                     "host_summary": host_summary, "devices": matrix})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
