"""The automatic search against an exhaustive grid, 2 local Dask workers against 1, and a
simulation of N workers from the measured trial durations.

Side by side in one run, each side in its own fresh workspace (no cache shared):

- on the ``default`` and ``digits_outlier`` tasks, for ``cortex_m7`` and ``phone_cpu_2019``:
  the grid (``grid_configs``: the search's space with three values of each key option) run in
  order, against ``workbench.optimize``, both in this process: time until the first variant
  meeting the budget,
  the best found on the same objectives (estimated latency, then points lost, then size), wall
  time. Goal: at least the grid's best in at most 40% of its time.
- the same search with 2 local workers against 1 (trials per minute). Goal: 1.6x on 2 cores.
- on paper: N = 1..256 workers fed by one client, each trial lasting a measured duration and
  costing the client its measured store-and-tell time: where the client becomes the bottleneck.

Writes ``bench/results/optimize.json``.

    python -m bench.optimize [--trials 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import show_and_write  # noqa: E402

CASES = (("default", "cortex_m7", 1.0), ("default", "phone_cpu_2019", 1.0),
         ("digits_outlier", "cortex_m7", 0.5), ("digits_outlier", "phone_cpu_2019", 0.5))
PARALLEL_CASE = ("default", "phone_cpu_2019", 1.0)
SIMULATED_WORKERS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SIMULATED_TRIALS = 2048
GRID_SPARSITIES, GRID_CLUSTERS, GRID_QAT_EPOCHS = (0.5, 0.7, 0.9), (8, 16, 32), (1, 2, 3)


def grid_configs(task, device: str, workspace) -> list:
    """The search's space as a grid, cheapest first: every export the device runs, the
    selective int8 variants, then with each export a training recipe can end with on the
    device prune (3 sparsities), cluster (3 counts), 2:4 and prune_cluster; on int8 devices
    QAT (3 epoch counts) and its three collaborative recipes. Other options at defaults."""
    from workbench.devices import load_profile
    from workbench.recipes import make_config
    from workbench.search.optimize import _ranked_layers
    from workbench.search.space import SearchSpace

    space = SearchSpace.for_device(load_profile(device, workspace))
    chosen = [*space.training_free(), *space.selective(_ranked_layers(task))]
    for export in space.trained_exports():
        chosen += [("prune", {"sparsity": s, "export": export}) for s in GRID_SPARSITIES]
        chosen += [("cluster", {"clusters": c, "export": export}) for c in GRID_CLUSTERS]
        chosen += [(name, {"export": export}) for name in ("prune_2x4", "prune_cluster")]
    if "int8" in space.exports:
        chosen += [("qat", {"epochs": e}) for e in GRID_QAT_EPOCHS]
        chosen += [(name, {}) for name in ("prune_qat", "cluster_qat", "prune_cluster_qat")]
    return [make_config(recipe, options) for recipe, options in chosen]


def run_grid(task, device: str, max_drop: float, workspace) -> dict:
    from workbench.pipeline import run
    from workbench.search.optimize import _device_estimate, _figures, _violations
    from workbench.store import ExperimentStore

    store = ExperimentStore(workspace)
    start, first, rows = time.perf_counter(), None, []
    for config in grid_configs(task, device, workspace):
        row = run(task, config, store, progress=False, devices=[device])
        figures = _figures(row, _device_estimate(store, row["run_id"], device))
        feasible = all(v <= 0 for v in _violations(figures, max_drop, {}).values())
        if feasible and first is None:
            first = time.perf_counter() - start
        rows.append({"variant": config.label, **figures, "feasible": feasible})
    return {"wall_s": time.perf_counter() - start, "first_feasible_s": first,
            "configs": len(rows), "best": _best(rows)}


def run_search(task, device: str, max_drop: float, workspace, trials: int,
               workers: int) -> dict:
    from workbench.search.optimize import optimize
    from workbench.store import ExperimentStore

    start, heard = time.perf_counter(), []
    result = optimize(task, device, max_drop, trials=trials, workers=workers,
                      store=ExperimentStore(workspace), progress=False,
                      on_trial=lambda row: heard.append({**row, "at_s": time.perf_counter()
                                                         - start}))
    first = next((row["at_s"] for row in heard if row.get("feasible")), None)
    done = [row for row in heard if "failure" not in row]
    computed = [row for row in done if row["compute_s"] > 0]
    steady = (len(computed) - 1) / (computed[-1]["at_s"] - computed[0]["at_s"]) * 60 \
        if len(computed) > 1 else None  # trials/min once the workers are up
    return {"wall_s": time.perf_counter() - start, "first_feasible_s": first,
            "trials": len(done), "computed": len(computed), "steady_per_min": steady,
            "best": None if result.choice is None else {
                key: result.choice[key] for key in ("variant", "latency_ms", "drop", "size_kb")},
            "compute_s": [row["compute_s"] for row in done
                                               if row["compute_s"] > 0],
            "client_s": [row["client_s"] for row in done if row["compute_s"] > 0]}


def _best(rows: list[dict]) -> dict | None:
    """The choice rule of the search: fastest on the device, then least lost, then smallest."""
    feasible = [row for row in rows if row["feasible"]]
    if not feasible:
        return None
    best = min(feasible, key=lambda r: (r["latency_ms"], r["drop"], r["size_kb"]))
    return {key: best[key] for key in ("variant", "latency_ms", "drop", "size_kb")}


def simulate(durations: list[float], client_s: float, workers: int,
             trials: int = SIMULATED_TRIALS) -> float:
    """Seconds for ``trials`` on ``workers``: each worker runs a trial (durations in turn);
    the one client stores and tells each finished trial (``client_s``, one at a time) before
    its worker gets the next."""
    import heapq

    finishing = [(durations[i % len(durations)], i) for i in range(min(workers, trials))]
    heapq.heapify(finishing)
    started, client_free, end = len(finishing), 0.0, 0.0
    while finishing:
        finished_at, _ = heapq.heappop(finishing)
        client_free = max(client_free, finished_at) + client_s
        end = client_free
        if started < trials:
            heapq.heappush(finishing, (client_free + durations[started % len(durations)],
                                       started))
            started += 1
    return end


def _fresh_workspace(base: Path, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-optimize-{name}-"))
    shutil.copytree(base / "models", folder / "models")
    return folder


def main() -> None:
    from workbench.pipeline import prepare_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-optimize-base-"))
    tasks = {name: prepare_task(name, workspace=base, progress=False)
             for name in {case[0] for case in CASES}}
    rows, cases, durations, client = [], [], [], []
    for model, device, max_drop in CASES:
        task = tasks[model]
        grid = run_grid(task, device, max_drop, _fresh_workspace(base, "grid"))
        search = run_search(task, device, max_drop, _fresh_workspace(base, "search"),
                            args.trials, workers=0)  # in this process, as the grid
        durations += search.pop("compute_s")
        client += search.pop("client_s")
        as_good = grid["best"] is None or (  # neither finds one: as good
            search["best"] is not None
            and search["best"]["latency_ms"] <= grid["best"]["latency_ms"] + 1e-9)
        cases.append({"model": model, "device": device, "max_drop": max_drop, "grid": grid,
                      "search": search, "search_as_good": as_good,
                      "time_share": search["wall_s"] / grid["wall_s"]})
        rows.append({"model": model, "device": device, "grid_s": grid["wall_s"],
                     "search_s": search["wall_s"], "share": search["wall_s"] / grid["wall_s"],
                     "grid_first_s": grid["first_feasible_s"],
                     "search_first_s": search["first_feasible_s"],
                     "grid_best": (grid["best"] or {}).get("variant"),
                     "grid_best_ms": (grid["best"] or {}).get("latency_ms"),
                     "search_best": (search["best"] or {}).get("variant"),
                     "search_best_ms": (search["best"] or {}).get("latency_ms"),
                     "as_good": as_good})
    model, device, max_drop = PARALLEL_CASE
    parallel = {workers: run_search(tasks[model], device, max_drop,
                                    _fresh_workspace(base, f"w{workers}"), args.trials,
                                    workers=workers) for workers in (1, 2)}
    rate = {workers: part["computed"] / part["wall_s"] * 60 for workers, part in
            parallel.items()}
    steady = {workers: part["steady_per_min"] for workers, part in parallel.items()}
    for part in parallel.values():
        durations += part.pop("compute_s")
        client += part.pop("client_s")
    mean_trial, client_cost = sum(durations) / len(durations), sorted(client)[len(client) // 2]
    one = simulate(durations, client_cost, 1)
    simulation = [{"workers": n, "speedup": one / simulate(durations, client_cost, n),
                   "client_busy": min(1.0, SIMULATED_TRIALS * client_cost /
                                      simulate(durations, client_cost, n))}
                  for n in SIMULATED_WORKERS]
    print(f"\n2 local workers vs 1 on {model}/{device}: {rate[2]:.2f} vs {rate[1]:.2f} "
          f"trials/min over the whole search, start-up included ({rate[2] / rate[1]:.2f}x; "
          f"goal 1.6x); {steady[2]:.2f} vs {steady[1]:.2f} once the workers are up "
          f"({steady[2] / steady[1]:.2f}x)")
    print(f"simulation: mean trial {mean_trial:.1f} s, client {client_cost * 1000:.0f} ms per "
          f"trial: the client saturates near {mean_trial / client_cost:.0f} workers")
    for row in simulation:
        print(f"  {row['workers']:4d} workers: {row['speedup']:7.1f}x, client busy "
              f"{100 * row['client_busy']:.0f}%")
    print()
    show_and_write("optimize", rows, {
        "trials": args.trials, "cases": cases,
        "parallel": {"case": list(PARALLEL_CASE), "trials_per_minute": rate,
                     "speedup": rate[2] / rate[1], "steady_trials_per_minute": steady,
                     "steady_speedup": steady[2] / steady[1], "runs": parallel},
        "simulation": {"mean_trial_s": mean_trial, "client_s_per_trial": client_cost,
                       "trials": SIMULATED_TRIALS, "rows": simulation}})


if __name__ == "__main__":
    main()
