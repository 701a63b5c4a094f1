"""How much the trained figures the tests bound move between runs and CPUs (not a test).

Float results of training differ between machines (oneDNN and XNNPACK pick other kernels on
Intel and AMD, AVX2 and AVX-512), so every bound a test puts on a trained figure must leave
room for that spread. It is measured here the way it shows: each figure over several seeds
(the default model's training and every fine-tuning), with oneDNN off and on
(``TF_ENABLE_ONEDNN_OPTS=0/1``), each combination in its own process. The table gives, per
figure, the worst value seen next to the bound the tests use.

    python -m bench.training_spread            # 4 seeds x oneDNN 0/1, about 20 minutes
    python -m bench.training_spread --seeds 2
    python -m bench.training_spread --reuse    # the table again from the last runs (new bounds)

Writes bench/results/training_spread.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from bench.common import REPO, RESULTS, show_and_write

# figure -> (the bound the tests use, "min" if the figure must stay above it else "max")
BOUNDS = {
    "float_accuracy": (0.97, "min"),
    "int8_drop_points": (2.0, "max"),
    "int8_agreement": (0.97, "min"),
    "qat_drop_points": (1.5, "max"),
    "qat_vs_int8_points": (-1.0, "min"),
    "qat_tflite_agreement": (0.99, "min"),
    "prune_drop_points": (1.5, "max"),  # the dashboard's browser test uses this one
    "prune_2x4_drop_points": (3.0, "max"),
    "cluster_drop_points": (3.0, "max"),
    "prune_qat_drop_points": (3.0, "max"),
    "cluster_qat_drop_points": (3.0, "max"),
    "prune_cluster_qat_drop_points": (3.0, "max"),
    "prune_int8_accuracy": (0.9, "min"),
    "mixed_qat_vs_tflite_points": (1.0, "max"),
    "mixed_qat_tflite_agreement": (0.97, "min"),
    "mixed_tflite_accuracy": (0.6, "min"),
}


def one_run(seed: int) -> dict:
    """Every figure for one seed, in this process (its oneDNN setting comes from the env)."""
    sys.path.insert(0, str(REPO / "tests"))
    import keras

    import workbench.finetune
    from test_qat_graphs import mixed_model
    from workbench.data import load_digits_task
    from workbench.finetune import fine_tune
    from workbench.measure import accuracy, agreement, keras_predict, tflite_predict
    from workbench.pipeline import Task, run
    from workbench.qat import convert_qat, quantize_model
    from workbench.recipes import make_config
    from workbench.store import ExperimentStore
    from workbench.zoo import train_default_model

    workbench.finetune.DEFAULT_SEED = seed
    dataset = load_digits_task()
    task = Task("default", train_default_model(dataset, progress=False, seed=seed), dataset)
    figures = {"float_accuracy": task.float_accuracy}
    with tempfile.TemporaryDirectory() as folder:
        store = ExperimentStore(folder)

        def row(recipe, **options):
            return run(task, make_config(recipe, options), store, latency_runs=1,
                       progress=False, devices=[])

        int8 = row("int8")
        figures["int8_drop_points"] = 100 * abs(int8["float_accuracy"] - int8["accuracy"])
        figures["int8_agreement"] = int8["agreement"]
        for recipe in ("qat", "prune", "prune_2x4", "cluster", "prune_qat", "cluster_qat",
                       "prune_cluster_qat"):
            result = row(recipe)
            figures[f"{recipe}_drop_points"] = 100 * (result["float_accuracy"]
                                                      - result["accuracy"])
            if recipe == "qat":
                figures["qat_vs_int8_points"] = 100 * (result["accuracy"] - int8["accuracy"])
        figures["prune_int8_accuracy"] = row("prune", export="int8", epochs=4)["accuracy"]
    x, y = dataset.x_test, dataset.y_test
    qat_model = quantize_model(task.model)
    fine_tune(qat_model, dataset, 2, 1e-4, progress=False)
    figures["qat_tflite_agreement"] = agreement(tflite_predict(convert_qat(qat_model), x,
                                                               progress=False),
                                                keras_predict(qat_model, x))
    keras.utils.set_random_seed(seed + 3)
    mixed = mixed_model()
    fine_tune(mixed, dataset, 12, 3e-3, progress=False)
    mixed_qat = quantize_model(mixed)
    fine_tune(mixed_qat, dataset, 2, 1e-3, progress=False)
    qat_out = keras_predict(mixed_qat, x)
    tflite_out = tflite_predict(convert_qat(mixed_qat), x, progress=False)
    figures["mixed_qat_vs_tflite_points"] = 100 * abs(accuracy(qat_out, y)
                                                      - accuracy(tflite_out, y))
    figures["mixed_qat_tflite_agreement"] = agreement(qat_out, tflite_out)
    figures["mixed_tflite_accuracy"] = accuracy(tflite_out, y)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--reuse", action="store_true",
                        help="rebuild the table from the runs in the last results file")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child: one seed
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_run(args.one)))
        return
    runs = json.loads((RESULTS / "training_spread.json").read_text())["runs"] if args.reuse \
        else measure_runs(args.seeds)
    rows = []
    for figure, (bound, side) in BOUNDS.items():
        values = [run[figure] for run in runs]
        worst = min(values) if side == "min" else max(values)
        rows.append({"figure": figure, "min": min(values), "max": max(values),
                     "worst": worst, "test bound": bound, "side": side,
                     "holds": worst >= bound if side == "min" else worst <= bound})
    show_and_write("training_spread", rows, {"runs": runs, "table": rows})


def measure_runs(seeds: int) -> list[dict]:
    """Every figure for ``seeds`` seeds, with oneDNN off and on, one process each."""
    runs = []
    for onednn in ("0", "1"):
        for seed in range(seeds):
            env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "2"}
            done = subprocess.run([sys.executable, "-m", "bench.training_spread", "--one",
                                   str(seed)], cwd=REPO, env=env, capture_output=True,
                                  text=True, check=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append({"seed": seed, "onednn": int(onednn), **figures})
            print(f"seed {seed}, oneDNN {onednn}: done", flush=True)
    return runs


if __name__ == "__main__":
    main()
