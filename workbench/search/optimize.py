"""The automatic search: the best variant for a device and an accuracy budget, found with
Optuna, its trials run on Dask workers (``parallel``). Every trial is a normal variant of the
pipeline (same cache, same store: the workers compute, this process stores), so each is a row
the explorer shows; the study lives in the workspace and a search started again resumes.

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
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.metrics import SCORE_TOLERANCE

if TYPE_CHECKING:
    from workbench.recipes import Recipe

BUDGETS = ("size_kb", "ram_kb", "latency_ms")
PATIENCE = 6  # trials without improvement, once the budget is met, before the search stops
INTERRUPTED = "interrupted: the search stopped before it finished (it runs again on resume)"


@dataclass
class SearchResult:
    """``trials``: one row per finished trial (trial, counted from 1; variant, run_id, drop,
    latency_ms, size_kb, feasible, misses, machine); ``choice``: the chosen trial's row (None
    when none meets the constraints); ``reason`` in words; ``closest``: the nearest misses
    when none meets them."""

    trials: pd.DataFrame
    choice: dict | None
    reason: str
    closest: list[dict] = field(default_factory=list)
    device: str = ""
    unit: str = "points"  # how ``drop`` is counted: points, or e.g. 'MAE'

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
             trials: int = 40, time_limit: float | None = None, workers: int | None = None,
             scheduler: str | None = None, store=None, progress: bool = True,
             stop: threading.Event | None = None,
             on_trial: Callable[[dict], None] | None = None) -> SearchResult:
    """Search recipes and options for ``device`` within ``max_drop`` (in the task metric's
    units: points for top-1) and ``budgets`` (``size_kb``, ``ram_kb``, ``latency_ms`` on the
    device's estimate); stops at ``trials``, after ``time_limit`` seconds, when ``stop`` is
    set, or when the budget is met and ``PATIENCE`` trials brought nothing better.

    Trials run on Dask (``workers`` local processes, default one per core, 0: in this
    process; or the cluster of ``scheduler``); ``on_trial(row)`` hears each finished trial."""
    import optuna

    from workbench.devices import load_profile
    from workbench.search.parallel import TrialPool
    from workbench.search.space import SearchSpace
    from workbench.store import ExperimentStore

    budgets = _checked(budgets or {}, trials, max_drop)
    store = store or ExperimentStore()
    profile = load_profile(device, store.workspace)
    space = SearchSpace.for_device(profile)
    if not space.exports:
        raise WorkbenchError(f"Device '{device}' runs none of the workbench's exports "
                             f"(it runs {', '.join(profile.supported_dtypes)}).")
    with TrialPool(workers, scheduler) as pool:  # a scheduler nobody runs fails here, at once
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            storage=f"sqlite:///{_study_file(store.workspace)}", load_if_exists=True,
            study_name=_study_name(task, device, max_drop, budgets, space),
            directions=["minimize"] * 3)
        _mark_interrupted(study)
        _enqueue(study, space.training_free())
        if task.dataset is not None:
            _enqueue(study, space.selective(_ranked_layers(task)))
        unit = drop_unit(task)
        announce = _announcer(trials, progress, on_trial, unit)
        earlier = _finished(study)
        if earlier and progress:
            print(f"Resuming the saved search: {_count(len(earlier), 'finished trial')} kept.",
                  flush=True)
        for trial in earlier:
            announce({**_trial_row(trial, unit), "earlier": True})
        search = _Search(task, device, max_drop, budgets, store, space, time_limit, stop,
                         announce, unit)
        if trials > len(earlier):
            search.run(study, pool, trials - len(earlier), len(earlier))
    return _result(study, device, max_drop, budgets, search.stop_words(), unit)


def drop_unit(task) -> str:
    """How a drop in ``task``'s metric is counted: 'points' (top-1, AUC...) or e.g. 'MAE'
    ('points' without a task or metric)."""
    metric = getattr(task, "metric", None)
    return getattr(metric, "unit", "points")


def compute_trial(task, recipe: str, options: dict) -> tuple[dict, bytes, float]:
    """What a worker runs: one variant's row and ``.tflite`` (no store), and its seconds."""
    from workbench.pipeline import compute_variant
    from workbench.recipes import make_config

    start = time.perf_counter()
    row, tflite = compute_variant(task, make_config(recipe, options), progress=False)
    return row, tflite, time.perf_counter() - start


class _Search:
    """The ask-and-tell loop: as many trials in flight as the pool has workers, each told to
    the study as it finishes; a variant already stored costs nothing."""

    def __init__(self, task, device, max_drop, budgets, store, space, time_limit, stop,
                 announce, unit: str = "points"):
        self.task, self.device, self.max_drop, self.budgets = task, device, max_drop, budgets
        self.store, self.space, self.stop, self.announce = store, space, stop, announce
        self.unit = unit  # how drops are counted in the misses announced
        self.deadline = None if time_limit is None else time.monotonic() + time_limit
        self.best, self.since_best = math.inf, 0
        self.stopped_by_user = False
        self._shared = None

    def run(self, study, pool, count: int, earlier: int = 0) -> None:
        """Run up to ``count`` more trials (``earlier``: those a resumed study had)."""
        from workbench.progress import report_phase

        in_flight, asked, told = {}, 0, 0

        def say_where() -> None:
            report_phase(f"search on {self.device}: {earlier + told} of {earlier + count} "
                         f"trials done, {len(in_flight)} running on {pool.where}",
                         earlier + told, earlier + count)
        try:
            while True:
                while (asked < count and len(in_flight) < pool.size and not self._done()):
                    asked += 1
                    trial = study.ask()
                    recipe, options, config = self._proposal(trial)
                    row = self._stored(config)
                    if row is not None:
                        told += self._tell(study, trial, row, None, 0.0, time.perf_counter())
                    else:
                        in_flight[pool.submit(compute_trial, self._task_on(pool), recipe,
                                              options)] = trial
                    say_where()
                if not in_flight or self._interrupted():
                    break
                for future, outcome in pool.finished(in_flight, timeout=0.5):
                    trial = in_flight.pop(future)
                    if outcome.failure is not None:
                        _fail(study, trial, outcome.failure)
                        self.announce({"trial": trial.number + 1, "variant":
                                       trial.user_attrs.get("variant"),
                                       "failure": outcome.failure})
                        continue
                    from workbench.pipeline import store_variant

                    started = time.perf_counter()
                    row, tflite, seconds = outcome.value
                    row = store_variant(self.store, row, tflite, [self.device])
                    told += self._tell(study, trial, row, tflite, seconds, started)
                    say_where()
        finally:  # stopped, out of time, or cancelled: what finished is kept
            pool.cancel(in_flight)
            for trial in in_flight.values():
                _fail(study, trial, INTERRUPTED)

    def _task_on(self, pool):
        if self._shared is None:
            self.task.model_hash, self.task.float_score  # computed once, here, not per worker
            self._shared = pool.share(self.task)
        return self._shared

    def _proposal(self, trial) -> tuple[str, dict, Recipe]:
        """The trial's recipe, options and config: a queued candidate's or a drawn one."""
        from workbench.recipes import make_config

        if "recipe" in trial.user_attrs:  # an enqueued candidate
            recipe, options = trial.user_attrs["recipe"], json.loads(trial.user_attrs["options"])
        else:
            recipe, options = self.space.suggest_training(trial)
        config = make_config(recipe, options)
        trial.set_user_attr("variant", config.label)
        return recipe, options, config

    def _stored(self, config) -> dict | None:
        """The stored row of this variant (a repeated configuration is free), or None."""
        from workbench.pipeline import cache_key, run

        if self.store.lookup(cache_key(self.task, config)) is None:
            return None
        return run(self.task, config, self.store, progress=False, devices=[self.device])

    def _tell(self, study, trial, row: dict, tflite: bytes | None, seconds: float,
              started: float) -> int:
        """Tell the study a finished trial and announce it (``tflite``: its bytes when at hand,
        else read from the store; ``seconds``: its worker's time; ``started``: when this
        process began storing it, for the client's cost)."""
        estimate = _device_estimate(self.store, row["run_id"], self.device, tflite)
        figures = _figures(row, estimate)
        trial.set_user_attr("run_id", row["run_id"])
        trial.set_user_attr("machine", row.get("machine") or "")
        violations = _violations(figures, self.max_drop, self.budgets)
        for name, value in violations.items():
            trial.set_constraint(name, value)
        values = (figures["drop"], _or_inf(figures["latency_ms"]), figures["size_kb"])
        study.tell(trial, values)
        feasible = all(value <= 0 for value in violations.values())
        self._after(trial, values[1], feasible)
        self.announce({"trial": trial.number + 1, "variant": trial.user_attrs["variant"],
                       "run_id": row["run_id"], **figures, "feasible": feasible,
                       "misses": _misses_text(violations, self.unit), "compute_s": seconds,
                       "client_s": time.perf_counter() - started})
        return 1

    def _after(self, trial, latency: float, feasible: bool) -> None:
        """Patience: once the budget is met, count drawn trials (the queued cheap candidates
        all run first) that brought no faster feasible variant."""
        if feasible and latency < self.best:
            self.best, self.since_best = latency, 0
        elif "recipe" not in trial.user_attrs:
            self.since_best += 1

    def stop_words(self) -> str:
        """Why the search ended before its trial count ('' when it ran them all)."""
        if self.stopped_by_user:
            return "Stopped by the user. "
        if self.deadline is not None and time.monotonic() > self.deadline:
            return "Stopped at the time limit. "
        if math.isfinite(self.best) and self.since_best >= PATIENCE:
            return (f"Stopped before the trial count: the budget was met and {PATIENCE} drawn "
                    "trials brought nothing faster. ")
        return ""

    def _interrupted(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self.stopped_by_user = True
        out_of_time = self.deadline is not None and time.monotonic() > self.deadline
        return self.stopped_by_user or out_of_time

    def _done(self) -> bool:
        return self._interrupted() or (math.isfinite(self.best) and
                                       self.since_best >= PATIENCE)


def _announcer(trials: int, progress: bool, on_trial, unit: str = "points"):
    """``on_trial`` and, with ``progress``, one printed line per finished trial."""
    def announce(row: dict) -> None:
        if progress and not row.get("earlier"):
            if row.get("failure"):
                print(f"trial {row['trial']}: {row['variant']} failed: {row['failure']}",
                      flush=True)
            else:
                verdict = "meets the constraints" if row["feasible"] else row["misses"]
                latency = ("does not run" if row["latency_ms"] is None
                           else f"{row['latency_ms']:.3g} ms")
                change = (f"{row['drop']:.2f} {unit} lost" if row["drop"] >= 0
                          else f"{-row['drop']:.2f} {unit} gained")
                print(f"trial {row['trial']} (of at most {trials}): {row['variant']}: "
                      f"{change}, {latency}, {row['size_kb']:.1f} KB: {verdict}", flush=True)
        if on_trial is not None:
            on_trial(row)
    return announce


def _fail(study, trial, reason: str) -> None:
    import optuna

    trial.set_user_attr("failure", reason)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _mark_interrupted(study) -> None:
    """Trials left running by a search that was killed fail as interrupted (and run again)."""
    import optuna

    for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        _fail(study, optuna.trial.Trial(study, frozen._trial_id), INTERRUPTED)


def _device_estimate(store, run_id: str, device: str, tflite: bytes | None = None):
    """The device's estimate of a stored variant (its ``tflite`` bytes, when at hand, spare
    reading the file again)."""
    from workbench.devices.estimate import estimate_tflite

    tflite = store.read_tflite(run_id) if tflite is None else tflite
    return estimate_tflite(tflite, device, store.workspace)


def _figures(row: dict, estimate) -> dict:
    """A trial's figures: points lost (the metric's display units), the device's estimated
    latency (None: does not run), size, estimated peak RAM, and whether it fits."""
    from workbench.compare import row_metric

    metric = row_metric(row.get("metric"), row.get("higher_is_better"))
    drop = row.get("score_drop")
    scale = metric.display_scale if metric is not None else 1.0
    return {"drop": scale * drop if drop is not None else math.inf,
            "latency_ms": estimate.latency_ms, "size_kb": row["size_bytes"] / 1024,
            "ram_kb": estimate.peak_ram_bytes / 1024, "fits": bool(estimate.fits),
            "machine": row.get("machine") or ""}


def _violations(figures: dict, max_drop: float, budgets: dict) -> dict:
    """Each constraint's excess (positive: missed by that much)."""
    excess_drop = figures["drop"] - max_drop  # a drop equal to the limit meets it:
    found = {"drop": 0.0 if excess_drop <= SCORE_TOLERANCE else excess_drop,  # float rounding
             "runs": 0.0 if figures["latency_ms"] is not None else 1.0,
             "fits": 0.0 if figures["fits"] else 1.0}
    for name, limit in budgets.items():
        value = figures[name]
        found[name] = (math.inf if value is None else value) - limit
    return found


def _result(study, device: str, max_drop: float, budgets: dict, stopped: str = "",
            unit: str = "points") -> SearchResult:
    trials = _finished(study)
    table = pd.DataFrame([_trial_row(trial, unit) for trial in trials])
    within = f"within {_amount(max_drop, unit)}{_budget_words(budgets)}"
    if table.empty or not table["feasible"].any():
        limits = {"drop": max(max_drop, 0.1), **budgets}
        shortfall = [_shortfall(trial.constraints or {}, limits) for trial in trials]
        closest = [] if table.empty else table.assign(
            kinds=table["misses"].str.count(",") + 1, shortfall=shortfall).sort_values(
            ["kinds", "shortfall", "drop", "latency_ms"]).drop_duplicates("run_id").head(3)[
            ["variant", "run_id", "misses"]].to_dict("records")
        return SearchResult(table, None, f"{stopped}No variant meets the constraints on "
                            f"{device} {within}.", closest, device, unit)
    chosen = table[table["feasible"]].sort_values(["latency_ms", "drop", "size_kb"]).iloc[0]
    count = table[table["feasible"]]["run_id"].nunique()
    change = (f"loses {chosen['drop']:.2f} {unit}" if chosen["drop"] >= 0
              else f"gains {-chosen['drop']:.2f} {unit}")
    reason = (f"{stopped}{chosen['variant']} is the fastest on {device} "
              f"({chosen['latency_ms']:.3g} ms estimated) of the {_count(count, 'variant')} "
              f"{within}; it {change} at "
              f"{chosen['size_kb']:.1f} KB.")
    return SearchResult(table, chosen.to_dict(), reason, device=device, unit=unit)


def _shortfall(violations: dict, limits: dict) -> float:
    """How far a trial misses, each constraint's excess as a share of its limit (a variant that
    does not run or fit counts 1 each)."""
    return sum(value / limits.get(name, 1.0) for name, value in violations.items() if value > 0)


def _trial_row(trial, unit: str = "points") -> dict:
    """A finished trial of the study as a row of ``SearchResult.trials``."""
    drop, latency, size = trial.values
    misses = {name: value for name, value in (trial.constraints or {}).items() if value > 0}
    return {"trial": trial.number + 1, "variant": trial.user_attrs.get("variant"),
            "run_id": trial.user_attrs.get("run_id"), "drop": drop, "latency_ms": latency,
            "size_kb": size, "feasible": not misses, "misses": _misses_text(misses, unit),
            "machine": trial.user_attrs.get("machine", "")}


def _count(number: int, noun: str) -> str:
    """``_count(1, 'variant')`` -> '1 variant'; ``_count(3, 'variant')`` -> '3 variants'."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _amount(value: float, unit: str) -> str:
    """``_amount(1, 'points')`` -> '1 point'; ``_amount(0.5, 'MAE')`` -> '0.5 MAE'."""
    if unit == "points":
        return f"{value:g} point{'' if value == 1 else 's'}"
    return f"{value:g} {unit}"


def _misses_text(violations: dict, unit: str = "points") -> str:
    return ", ".join(_miss_words(name, value, unit) for name, value in violations.items()
                     if value > 0)


def _miss_words(name: str, excess: float, unit: str = "points") -> str:
    return {"runs": "does not run on the device", "fits": "does not fit the device's memory",
            "drop": f"loses {excess:.2f} {unit} too many",
            "size_kb": f"{excess:.1f} KB over the size budget",
            "ram_kb": f"{excess:.1f} KB over the RAM budget",
            "latency_ms": f"{excess:.3g} ms over the latency budget"}[name]


def _budget_words(budgets: dict) -> str:
    words = {"size_kb": ("size", "KB"), "ram_kb": ("RAM", "KB"), "latency_ms": ("latency", "ms")}
    return "".join(f", {words[name][0]} at most {limit:g} {words[name][1]}"
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
    bad = [f"{name} {value:g}" for name, value in budgets.items() if not value > 0]
    if not max_drop >= 0:
        bad.insert(0, f"max drop {max_drop:g}")
    if bad:
        raise WorkbenchError(f"Received {', '.join(bad)}; expected a max drop of 0 or more "
                             "and budgets above 0.")
    return {name: float(value) for name, value in budgets.items()}


def _enqueue(study, candidates) -> None:
    """Queue the candidates the study has not tried yet (a resumed search skips them; one
    that was interrupted is queued again)."""
    tried = {(t.user_attrs.get("recipe"), t.user_attrs.get("options")) for t in study.trials
             if t.user_attrs.get("failure") != INTERRUPTED}
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


def _study_name(task, device, max_drop, budgets, space) -> str:
    """One study per model, data, device, constraints and search space: the same search
    resumes (a workbench whose space changed starts a new one)."""
    key = json.dumps([task.name, getattr(task, "data_hash", ""), device, max_drop, budgets,
                      space.signature], sort_keys=True)
    return f"{task.name}-{device}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _or_inf(value):
    return math.inf if value is None else value
