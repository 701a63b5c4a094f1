"""How quickly the app answers, on the default workspace, measured in the kernel (not a test).

1. First render: building ``WorkbenchApp`` (load the default task from the workspace, read
   the stored results, draw every panel) once the kernel has imported the packages; goal 5 s.
2. A cached result: running a recipe already in the store and redrawing the trade-off plot
   (the store answers from its cache); goal 300 ms.
Prints a table and writes bench/results/dashboard.json.

    python -m bench.dashboard
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import show_and_write  # noqa: E402

ROUNDS = 5


def main() -> None:
    import workbench
    from widgets import WorkbenchApp
    from workbench.pipeline import prepare_task
    from workbench.store import ExperimentStore

    with tempfile.TemporaryDirectory() as folder:
        task = prepare_task("default", workspace=folder, progress=False)
        store = ExperimentStore(folder)
        workbench.sweep(task, workbench.default_configs(), store, latency_runs=10,
                        progress=False)
        first, cached = [], []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            app = WorkbenchApp(folder)
            first.append(time.perf_counter() - start)
        config = workbench.make_config("int8")
        for _ in range(ROUNDS):
            start = time.perf_counter()
            row = workbench.run(app.state.task, config, app.state.store, progress=False)
            app.state.refresh()  # the explorer redraws on the new results
            cached.append(time.perf_counter() - start)
            assert row["cached"]
    rows = [{"measure": "first render of the app (s)", "median": statistics.median(first),
             "worst": max(first), "goal": 5.0},
            {"measure": "cached result to redrawn plot (s)", "median": statistics.median(cached),
             "worst": max(cached), "goal": 0.3}]
    show_and_write("dashboard", rows, {"rounds": ROUNDS, "table": rows,
                                       "first_render_s": first, "cached_update_s": cached}, 3)


if __name__ == "__main__":
    main()
