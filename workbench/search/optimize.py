"""The automatic search: the best variant for a device and an accuracy budget, found with
Optuna. Every trial is a normal ``workbench.pipeline.run`` (same cache, same store), so each is
a row the explorer shows; the study lives in the workspace and a search started again resumes.

Cheap first: every export the device runs, then int8 with its most sensitive layers in float or
int16, then training recipes drawn by Optuna's sampler while no trial meets the budget or the
front still improves.

Example:
    >>> result = optimize(task, device="cortex_m7", max_drop=1.0, trials=8)   # doctest: +SKIP
    >>> result.choice["run_id"], result.reason                                 # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field

import pandas as pd

from workbench.errors import WorkbenchError

BUDGETS = ("size_kb", "latency_ms")
PATIENCE = 6  # trials without improvement, once the budget is met, before the search stops


@dataclass
class SearchResult:
    """``trials``: one row per finished trial (variant, run_id, drop, size_kb, latency_ms,
    feasible, misses); ``choice``: the chosen trial's row (None when none meets the
    constraints); ``reason`` in words; ``closest``: the nearest misses when none meets them."""

    trials: pd.DataFrame
    choice: dict | None
    reason: str
    closest: list[dict] = field(default_factory=list)
    device: str = ""

    @property
    def feasible(self) -> pd.DataFrame:
        return self.trials[self.trials["feasible"]] if not self.trials.empty else self.trials

    @property
    def pareto(self) -> pd.DataFrame:
        """The feasible trials no other feasible trial beats on drop, latency and size."""
        rows = self.feasible.drop_duplicates("run_id")
        keys = ["drop", "latency_ms", "size_kb"]
        dominated = [any((other[keys] <= row[keys]).all() and (other[keys] < row[keys]).any()
                         for _, other in rows.iterrows()) for _, row in rows.iterrows()]
        return rows[[not flag for flag in dominated]]


def optimize(task, device: str, max_drop: float = 1.0, budgets: dict | None = None,
             trials: int = 40, time_limit: float | None = None, store=None,
             progress: bool = True) -> SearchResult:
    """Search recipes and options for ``device`` within ``max_drop`` (in the task metric's
    units: points for top-1) and ``budgets`` (``size_kb``, ``latency_ms`` on the device's
    estimate); stops at ``trials``, after ``time_limit`` seconds, or when the budget is met
    and ``PATIENCE`` trials brought nothing better."""
    import optuna

    from workbench.devices import load_profile
    from workbench.search.space import SearchSpace
    from workbench.store import ExperimentStore

    budgets = _checked(budgets or {}, trials, max_drop)
    store = store or ExperimentStore()
    profile = load_profile(device, store.workspace)
    space = SearchSpace.for_device(profile)
    if not space.exports:
        raise WorkbenchError(f"Device '{device}' runs none of the workbench's exports "
                             f"(it runs {', '.join(profile.supported_dtypes)}).")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=f"sqlite:///{_study_file(store.workspace)}", load_if_exists=True,
        study_name=_study_name(task, device, max_drop, budgets), directions=["minimize"] * 3)
    _enqueue(study, space.training_free())
    if task.dataset is not None:
        _enqueue(study, space.selective(_ranked_layers(task)))
    search = _Search(task, device, max_drop, budgets, store, space, trials, time_limit)
    remaining = trials - len(_finished(study))
    if remaining > 0:
        study.optimize(search.objective, n_trials=remaining, callbacks=[search.stop_when_done],
                       show_progress_bar=progress)
    return _result(study, device, max_drop, budgets)


class _Search:
    def __init__(self, task, device, max_drop, budgets, store, space, trials, time_limit):
        self.task, self.device, self.max_drop, self.budgets = task, device, max_drop, budgets
        self.store, self.space, self.trials = store, space, trials
        self.deadline = None if time_limit is None else time.monotonic() + time_limit
        self.best, self.since_best = math.inf, 0

    def objective(self, trial):
        from workbench.pipeline import run
        from workbench.recipes import make_config

        if "recipe" in trial.user_attrs:  # an enqueued candidate
            recipe, options = trial.user_attrs["recipe"], json.loads(trial.user_attrs["options"])
        else:
            recipe, options = self.space.suggest_training(trial)
        config = make_config(recipe, options)
        row = run(self.task, config, self.store, progress=False, devices=[self.device])
        figures = _figures(row, self.device)
        trial.set_user_attr("variant", config.label)
        trial.set_user_attr("run_id", row["run_id"])
        for name, value in _violations(figures, self.max_drop, self.budgets).items():
            trial.set_constraint(name, value)
        return figures["drop"], _or_inf(figures["latency_ms"]), figures["size_kb"]

    def stop_when_done(self, study, trial) -> None:
        """Stop after the time limit, or once the budget is met and ``PATIENCE`` drawn trials
        (the queued cheap candidates all run first) brought no faster feasible variant."""
        feasible = all(value <= 0 for value in (trial.constraints or {}).values())
        latency = trial.values[1] if trial.values else math.inf
        if feasible and latency < self.best:
            self.best, self.since_best = latency, 0
        elif "recipe" not in trial.user_attrs:
            self.since_best += 1
        out_of_time = self.deadline is not None and time.monotonic() > self.deadline
        if out_of_time or (math.isfinite(self.best) and self.since_best >= PATIENCE):
            study.stop()


def _figures(row: dict, device: str) -> dict:
    from workbench.compare import row_metric

    metric = row_metric(row.get("metric"), row.get("higher_is_better"))
    drop = row.get("score_drop")
    scale = metric.display_scale if metric is not None else 1.0
    latency = row.get(f"est_ms__{device}")
    return {"drop": scale * drop if drop is not None else math.inf,
            "latency_ms": latency if latency is not None and latency == latency else None,
            "size_kb": row["size_bytes"] / 1024, "fits": bool(row.get(f"fits__{device}"))}


def _violations(figures: dict, max_drop: float, budgets: dict) -> dict:
    """Each constraint's excess (positive: missed by that much)."""
    found = {"drop": figures["drop"] - max_drop,
             "runs": 0.0 if figures["latency_ms"] is not None else 1.0,
             "fits": 0.0 if figures["fits"] else 1.0}
    for name, limit in budgets.items():
        value = figures[name]
        found[name] = (math.inf if value is None else value) - limit
    return found


def _result(study, device: str, max_drop: float, budgets: dict) -> SearchResult:
    rows = []
    for trial in _finished(study):
        drop, latency, size = trial.values
        misses = {name: value for name, value in (trial.constraints or {}).items() if value > 0}
        rows.append({"trial": trial.number, "variant": trial.user_attrs.get("variant"),
                     "run_id": trial.user_attrs.get("run_id"), "drop": drop,
                     "latency_ms": latency, "size_kb": size, "feasible": not misses,
                     "misses": ", ".join(_miss_words(name, value) for name, value in
                                         misses.items())})
    table = pd.DataFrame(rows)
    if table.empty or not table["feasible"].any():
        closest = [] if table.empty else table.assign(
            excess=table["misses"].str.count(",") + 1).sort_values(
            ["excess", "drop", "latency_ms"]).drop_duplicates("run_id").head(3)[
            ["variant", "run_id", "misses"]].to_dict("records")
        return SearchResult(table, None, f"No variant meets the constraints on {device} "
                            f"within {max_drop:g} points{_budget_words(budgets)}.", closest,
                            device)
    chosen = table[table["feasible"]].sort_values(["latency_ms", "drop", "size_kb"]).iloc[0]
    count = table[table["feasible"]]["run_id"].nunique()
    reason = (f"The fastest on {device} ({chosen['latency_ms']:.3g} ms estimated) of the "
              f"{count} variant(s) within {max_drop:g} points{_budget_words(budgets)}; it "
              f"loses {chosen['drop']:.2f} points at {chosen['size_kb']:.1f} KB.")
    return SearchResult(table, chosen.to_dict(), reason, device=device)


def _miss_words(name: str, excess: float) -> str:
    return {"runs": "does not run on the device", "fits": "does not fit the device's memory",
            "drop": f"loses {excess:.2f} points too many",
            "size_kb": f"{excess:.1f} KB over the size budget",
            "latency_ms": f"{excess:.3g} ms over the latency budget"}[name]


def _budget_words(budgets: dict) -> str:
    units = {"size_kb": "KB", "latency_ms": "ms"}
    return "".join(f", {name.split('_')[0]} at most {limit:g} {units[name]}"
                   for name, limit in budgets.items())


def parse_duration(text: str) -> float:
    """``'20m'`` -> 1200.0 seconds (also ``90s``, ``1h``, or plain seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise WorkbenchError(f"Received a time limit of {text!r}; expected a positive duration "
                             "such as 90s, 20m or 1h.")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _checked(budgets: dict, trials: int, max_drop: float) -> dict:
    unknown = sorted(set(budgets) - set(BUDGETS))
    if unknown:
        raise WorkbenchError(f"Received budget(s) {', '.join(unknown)}; expected "
                             f"{' or '.join(BUDGETS)}.")
    if trials < 1:
        raise WorkbenchError(f"Received trials={trials}; expected at least 1.")
    bad = {name: value for name, value in budgets.items() if not value > 0}
    if bad or not max_drop >= 0:
        raise WorkbenchError(f"Received max_drop={max_drop} and budgets {budgets}; expected "
                             "a max_drop of 0 or more and budgets above 0.")
    return {name: float(value) for name, value in budgets.items()}


def _enqueue(study, candidates) -> None:
    """Queue the candidates the study has not tried yet (a resumed search skips them)."""
    tried = {(t.user_attrs.get("recipe"), t.user_attrs.get("options")) for t in study.trials}
    for recipe, options in candidates:
        key = (recipe, json.dumps(options, sort_keys=True))
        if key not in tried:
            study.enqueue_trial({}, user_attrs={"recipe": key[0], "options": key[1]})


def _ranked_layers(task) -> list[str]:
    from workbench.recipes import DEFAULT_CALIBRATION_SAMPLES
    from workbench.search.space import SELECTIVE_LAYERS
    from workbench.selective import most_sensitive_layers

    samples = task.representative_data(DEFAULT_CALIBRATION_SAMPLES)
    return most_sensitive_layers(task.model, samples, max(SELECTIVE_LAYERS))


def _finished(study) -> list:
    import optuna

    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def _study_file(workspace):
    from pathlib import Path

    folder = Path(workspace) / "search"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "studies.db"


def _study_name(task, device, max_drop, budgets) -> str:
    """One study per model, data, device and constraints: the same search resumes."""
    key = json.dumps([task.name, getattr(task, "data_hash", ""), device, max_drop, budgets],
                     sort_keys=True)
    return f"{task.name}-{device}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _or_inf(value):
    return math.inf if value is None else value
