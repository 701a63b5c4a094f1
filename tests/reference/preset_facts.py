"""What every named preset makes of the default model, as ``.tflite`` facts (size, zeros,
distinct weights, int8 share of the ops) and as stored config JSON: the reference that proves
recipes as stages (issue 12) changed the design and nothing a user sees.

``preset_facts.json`` was written by this script with the lattice-of-classes recipes (commit
70fc17e and the dashboard fixes after it), before stages existed:

    python tests/reference/preset_facts.py WORKSPACE

Training stages run one epoch each, so the comparison stays quick; the facts compared do not
depend on how well training went (pruning zeroes an exact share, clustering leaves at most the
cluster count, the op types and the file size follow from the graph).

One later change to the reference: the QAT presets' files are 72 bytes larger since the QAT
layers add their bias with a BiasAdd op (fused with the convolution's gradient): the same
tensors, types and shapes, their names 4 characters longer ("BiasAdd" for "add").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REFERENCE = Path(__file__).with_suffix(".json")
ONE_EPOCH = {"epochs": 1, "prune_epochs": 1, "cluster_epochs": 1}
OVERRIDES = {"prune": {"sparsity": 0.5, "schedule": "constant", "export": "int8"},
             "cluster": {"clusters": 8, "per_channel": True, "export": "dynamic_range"},
             "prune_cluster_qat": {"clusters": 4, "inference_input_type": "float32"},
             "int8": {"calibration_samples": 50, "integer_only": False}}


def preset_configs() -> dict[str, dict]:
    """Each preset's config JSON, by default and with some options set."""
    from workbench.recipes import RECIPES, make_config

    return {name: {"default": make_config(name).to_json(),
                   "overridden": make_config(name, OVERRIDES.get(name, {})).to_json()}
            for name in RECIPES}


def preset_facts(task, store) -> dict[str, dict]:
    """Each preset's ``.tflite`` facts on ``task`` (training stages: one epoch)."""
    from workbench.pipeline import run
    from workbench.recipes import RECIPES, get_recipe, make_config

    facts = {}
    for name in RECIPES:
        known = {spec.name for spec in get_recipe(name).options()}
        short = {key: value for key, value in ONE_EPOCH.items() if key in known}
        row = run(task, make_config(name, short), store, latency_runs=2, progress=False,
                  devices=["host"])
        facts[name] = {"size_bytes": int(row["size_bytes"]),
                       "weight_sparsity": round(float(row["weight_sparsity"]), 3),
                       "max_unique_weights": int(row["max_unique_weights"]),
                       "int8_ops_fraction": round(float(row["int8_ops_fraction"]), 3)}
    return facts


if __name__ == "__main__":
    from workbench.pipeline import prepare_task
    from workbench.store import ExperimentStore

    workspace = Path(sys.argv[1])
    task = prepare_task("default", workspace=workspace, progress=False)
    reference = {"configs": preset_configs(),
                 "facts": preset_facts(task, ExperimentStore(workspace))}
    REFERENCE.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    print(json.dumps(reference["facts"], indent=1))
