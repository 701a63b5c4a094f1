"""Device estimates against published and measured latencies.

1. Every published cell of a profile (bench/reference/published_latencies.csv, with sources,
   and the Pixel 2 table of ../shared/reference for ``phone_cpu_2017``): the network built
   by bench/networks.py (keras.applications with weights=None, or ResNet-8 and EfficientNet-lite
   built from their definitions; the cell's input size, width and classes), exported, estimated
   on the profile it validates. Error per cell and, per profile, mean absolute error, worst
   error and share within +-25% (goal: mean <= 25%); cells marked ``check`` were held out
   when the profile's rates were chosen and are also summarized alone.
2. Five zoo models in float32 and int8 estimated on ``host`` (calibrated afresh) beside
   LiteRT's measured latency on this machine (goal: every cell within 25%).
3. Every variant of the Pixel 2 table on every profile, to show what runs where.

Exports are cached in bench/.cache (the first run converts about 40 networks, VGG and
Inception-ResNet among them: 20 minutes). Prints tables and writes bench/results/devices.json.

    python -m bench.devices
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import REPO, published_table, write_results  # noqa: E402
from bench.networks import network  # noqa: E402

CACHE = REPO / "bench" / ".cache"
PUBLISHED_COLUMNS = {"float32": "latency_ms_float", "dynamic_range": "latency_ms_ptq",
                     "int8": "latency_ms_qat"}
# Five zoo models with latencies of milliseconds. The digits CNN (about 0.03 ms, where the
# Python call around invoke() is a large share) is left out: it measures the timer.
HOST_MODELS = ["mobilenet_v1:128", "mobilenet_v2:160", "resnet50:96", "inception_v3:96",
               "efficientnet_b0:128"]
GOALS = {"published_mape_per_device": 0.25, "host_within": 0.25}


def exported(builder: str, size: int, recipe: str, alpha: float = 1.0,
             classes: int = 1000) -> bytes:
    """The cached .tflite of a network (random weights) for one recipe."""
    import numpy as np

    path = CACHE / f"{builder}-{size}-{alpha:g}-{classes}-{recipe}.tflite"
    if not path.is_file():
        from workbench.ptq import convert
        from workbench.recipes import make_config

        print(f"exporting {builder} {size} alpha {alpha:g} ({recipe})...", flush=True)
        model = network(builder, size, alpha, classes)
        samples = np.random.default_rng(0).uniform(0, 1, (4, size, size, 3)).astype("float32")
        config = make_config(recipe, {"calibration_samples": 4} if recipe == "int8" else {})
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_bytes(convert(model, config, samples, progress=False))
    return path.read_bytes()


def published_latencies() -> list[dict]:
    """The cells of bench/reference/published_latencies.csv."""
    import csv

    path = REPO / "bench" / "reference" / "published_latencies.csv"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def cell_tflite(cell: dict) -> bytes:
    return exported(cell["builder"], int(cell["input"]), cell["recipe"], float(cell["alpha"]),
                    int(cell["classes"]))


def validation_cells() -> list[dict]:
    """Every published cell: the Pixel 2 table of ../shared/reference (``phone_cpu_2017``)
    and bench/reference/published_latencies.csv (the other profiles)."""
    cells = [{"device": "phone_cpu_2017", "model": name, "builder": row["keras_application"],
              "input": row["input"], "alpha": "1.0", "classes": "1000", "recipe": recipe,
              "published_ms": row[column], "source": "shared/reference (Pixel 2, 1 core)",
              "role": "fit"}
             for name, row in published_table("tflite_optimization_table").items()
             for recipe, column in PUBLISHED_COLUMNS.items() if row[column]]
    return cells + published_latencies()


def published_cells() -> list[dict]:
    """Each published cell beside its estimate on the profile it validates."""
    from workbench.devices import estimate_tflite

    cells = []
    for cell in validation_cells():
        predicted = estimate_tflite(cell_tflite(cell), cell["device"]).latency_ms
        published = float(cell["published_ms"])
        cells.append({"device": cell["device"], "model": cell["model"],
                      "builder": cell["builder"], "recipe": cell["recipe"],
                      "published_ms": published, "predicted_ms": predicted,
                      "error": (predicted - published) / published, "source": cell["source"],
                      "role": cell["role"]})
    return cells


def per_device(cells: list[dict]) -> dict[str, dict]:
    """``summary`` of the cells of each profile, with how many networks (builders, whatever
    the width or input size) they cover, and the summary of its held-out ("check") cells alone
    under ``held_out`` where it has some."""
    devices = {}
    for cell in cells:
        devices.setdefault(cell["device"], []).append(cell)
    summaries = {}
    for device, rows in devices.items():
        summaries[device] = {**summary(rows), "models": len({row["builder"] for row in rows})}
        held_out = [row for row in rows if row["role"] == "check"]
        if held_out:
            summaries[device]["held_out"] = summary(held_out)
    return summaries


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
            tflite = exported(row["keras_application"], int(row["input"]), recipe)
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
    """Mean absolute error, worst error and share within 25% of ``cells``' errors."""
    errors = [abs(cell["error"]) for cell in cells]
    return {"cells": len(cells), "mape": sum(errors) / len(errors), "worst": max(errors),
            "within_25": sum(e <= 0.25 for e in errors) / len(errors)}


def main() -> None:
    import pandas as pd

    def show(title, rows):
        print(f"\n{title}")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))

    published = published_cells()
    show("each profile: predicted vs published", published)
    published_summary = per_device(published)
    show("error per profile (goal: mean absolute error <= 25%)",
         [{"device": device, **{k: v for k, v in row.items() if k != "held_out"},
           "held_out_cells": row.get("held_out", {}).get("cells", 0),
           "held_out_mape": row.get("held_out", {}).get("mape")}
          for device, row in published_summary.items()])
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
