"""The automatic search: a real Optuna study over real runs (trials in this process here;
on Dask workers in test_search_dask)."""

from __future__ import annotations

import re

import pytest

from workbench.devices import load_profile
from workbench.errors import WorkbenchError
from workbench.search.optimize import PATIENCE, _miss_words, _Search, _violations, optimize
from workbench.search.space import SearchSpace


def test_cortex_m7_gets_an_int8_variant_within_one_point(default_task, fresh_workspace):
    from workbench.store import ExperimentStore

    store = ExperimentStore(fresh_workspace)
    result = optimize(default_task, "cortex_m7", max_drop=1.0, trials=3, workers=0, store=store,
                      progress=False)
    assert result.choice is not None, result.reason
    row = store.results().set_index("run_id").loc[result.choice["run_id"]]
    assert row["fits__cortex_m7"] and row["est_ms__cortex_m7"] > 0
    assert 100 * row["score_drop"] <= 1.0
    assert row["int8_ops_fraction"] == 1.0  # an int8-only variant
    assert set(result.trials["variant"].str.split().str[0]) <= {
        "int8", *SearchSpace.for_device(load_profile("cortex_m7")).training_recipes()}
    again = optimize(default_task, "cortex_m7", max_drop=1.0, trials=3, workers=0, store=store,
                     progress=False)  # the same search resumes: nothing new to run
    assert list(again.trials["run_id"]) == list(result.trials["run_id"])


def test_impossible_budgets_name_the_closest_variants(default_task, fresh_workspace):
    from workbench.store import ExperimentStore

    result = optimize(default_task, "cortex_m7", max_drop=1.0, budgets={"size_kb": 1},
                      trials=3, workers=0, store=ExperimentStore(fresh_workspace),
                      progress=False)
    assert result.choice is None and "No variant meets" in result.reason
    assert "KB over the size budget" in result.closest[0]["misses"]
    def shortfall(misses):  # each excess as a share of its limit: 1 point, 1 KB
        found = re.findall(r"([\d.]+) (?:points too many|KB over)", misses)
        return misses.count(",") + 1, sum(map(float, found))

    order = [shortfall(row["misses"]) for row in result.closest]
    assert len(order) >= 2, result.closest
    for (kinds, short), (next_kinds, next_short) in zip(order, order[1:]):
        # fewer constraints missed first, then missed by less (the texts are rounded)
        assert kinds < next_kinds or (kinds == next_kinds and short <= next_short + 0.02), \
            result.closest
    with pytest.raises(WorkbenchError, match="expected at least 1"):
        optimize(default_task, "cortex_m7", trials=0, store=ExperimentStore(fresh_workspace))


def test_the_outlier_model_gets_a_selective_variant_on_a_phone(workspace, default_task):
    from workbench.pipeline import prepare_task
    from workbench.store import ExperimentStore

    task = prepare_task("digits_outlier", workspace=workspace, progress=False)
    result = optimize(task, "phone_cpu_2019", max_drop=0.5, trials=12, workers=0,
                      store=ExperimentStore(workspace), progress=False)
    trials = result.trials.set_index("variant")
    assert not trials.loc["int8", "feasible"]  # all-int8 loses about 23 points here
    assert trials.loc["int8 (auto_keep_float=1)", "feasible"]  # cheap-first: tried, and kept
    assert trials.loc["int8 (auto_keep_float=1)", "drop"] <= 0.5
    assert result.choice is not None and result.choice["drop"] <= 0.5
    assert result.choice["latency_ms"] == result.feasible["latency_ms"].min()  # the fastest
    assert result.choice["variant"] in set(result.pareto["variant"])


def test_the_command_line_writes_every_trial_the_choice_and_the_report(fresh_workspace,
                                                                      tmp_path, capsys):
    import json

    import pandas as pd

    from workbench.cli import main

    out = tmp_path / "out"
    code = main(["optimize", "--device", "cortex_m7", "--max-drop", "1", "--trials", "2",
                 "--workspace", str(fresh_workspace), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    trials = pd.read_csv(out / "results.csv")
    choice = json.loads((out / "choice.json").read_text())
    assert len(trials) == 2 and choice["run_id"] in set(trials["run_id"])
    chosen = trials.set_index("run_id").loc[choice["run_id"]]
    assert chosen["feasible"] and chosen["drop"] <= 1.0
    assert choice["tflite_path"] == chosen["tflite_path"]
    assert (out / choice["tflite_path"].split("/")[-1]).stat().st_size > 1000
    page = (out / "report.html").read_text()
    assert "search history" in page and choice["reason"].split(";")[0] in page
    assert chosen["chosen"] and trials["chosen"].sum() == 1
    assert main(["optimize", "--device", "cortex_m7", "--max-size-kb", "1", "--trials", "1",
                 "--workspace", str(fresh_workspace), "--out", str(tmp_path / "none")]) == 3
    missed = json.loads((tmp_path / "none" / "choice.json").read_text())
    assert missed["run_id"] is None and "KB over the size budget" in missed["closest"][0][
        "misses"]
    for flags, message in ((["--trials", "0"], "expected at least 1"),
                           (["--time-limit", "5x"], "expected a positive duration")):
        assert main(["optimize", "--device", "cortex_m7", *flags, "--workspace",
                     str(fresh_workspace), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err


def test_the_space_draws_every_training_recipe_with_exports_the_device_runs():
    import optuna

    from workbench.recipes import make_config

    for device, exports in (("cortex_m7", {"int8"}),
                            ("phone_cpu_2019", {"float32", "float16", "dynamic_range",
                                                "int8"})):
        space = SearchSpace.for_device(load_profile(device))
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        drawn = []
        for _ in range(80):
            trial = study.ask()
            drawn.append(space.suggest_training(trial))
            study.tell(trial, 0.0)
        assert {recipe for recipe, _ in drawn} == set(space.training_recipes())
        assert {options["export"] for _, options in drawn if "export" in options} == exports
        configs = [make_config(recipe, options) for recipe, options in drawn]  # all valid
        assert {c.get_config().get("per_channel") for c in configs} >= {True, False}
        assert {c.get_config().get("schedule") for c in configs} >= {"polynomial", "constant"}


def test_a_drop_equal_to_the_limit_meets_it_in_the_metric_s_own_units():
    figures = {"drop": 100 * (0.99 - 0.98), "latency_ms": 1.0, "fits": True}  # 1.0000000000000009
    assert _violations(figures, 1.0, {})["drop"] == 0.0
    assert _violations({**figures, "drop": 1.01}, 1.0, {})["drop"] > 0
    assert _miss_words("drop", 0.25, "MAE") == "loses 0.25 MAE too many"


def test_the_answer_says_why_the_search_ended_early():
    search = _Search.__new__(_Search)  # the stopping state alone
    search.stopped_by_user, search.deadline, search.best, search.since_best = False, None, 2.0, 0
    assert search.stop_words() == ""  # ran every trial it was given
    search.since_best = PATIENCE
    assert search.stop_words().startswith(
        f"Stopped before the trial count: the budget was met and {PATIENCE} drawn trials")
    search.deadline = 0.0  # long past
    assert search.stop_words() == "Stopped at the time limit. "
    search.stopped_by_user = True
    assert search.stop_words() == "Stopped by the user. "


def test_the_search_chart_counts_the_drop_in_the_metric_s_units():
    import pandas as pd

    from workbench.search.report import history_figure

    trials = pd.DataFrame({"trial": [1, 2], "variant": ["int8", "prune"], "drop": [0.02, 0.5],
                           "latency_ms": [1.0, 0.8], "feasible": [True, False],
                           "misses": ["", "loses 0.30 MAE too many"]})
    figure = history_figure(trials, "cortex_m7", "MAE")
    assert figure.layout.yaxis2.title.text == "MAE lost"
    assert "0.50 MAE lost" in figure.data[2].hovertext[0]  # the trial that misses
    # latency never goes below 0 on its axes (plotly's padding used to)
    assert (figure.layout.yaxis.rangemode, figure.layout.xaxis2.rangemode) == ("tozero",) * 2
