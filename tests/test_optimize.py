"""The automatic search (work in progress, issue 15): a real Optuna study over real runs."""

from __future__ import annotations

import pytest

from workbench.errors import WorkbenchError
from workbench.search.optimize import optimize


def test_cortex_m7_gets_an_int8_variant_within_one_point(default_task, fresh_workspace):
    from workbench.store import ExperimentStore

    store = ExperimentStore(fresh_workspace)
    result = optimize(default_task, "cortex_m7", max_drop=1.0, trials=3, workers=0, store=store,
                      progress=False)
    assert result.choice is not None, result.reason
    row = store.results().set_index("run_id").loc[result.choice["run_id"]]
    assert row["fits__cortex_m7"] and row["est_ms__cortex_m7"] > 0
    assert 100 * row["score_drop"] <= 1.0
    assert set(result.trials["variant"].str.split().str[0]) <= {"int8", "prune", "cluster",
                                                                "qat"}
    again = optimize(default_task, "cortex_m7", max_drop=1.0, trials=3, workers=0, store=store,
                     progress=False)  # the same search resumes: nothing new to run
    assert list(again.trials["run_id"]) == list(result.trials["run_id"])


def test_impossible_budgets_name_the_closest_variants(default_task, fresh_workspace):
    from workbench.store import ExperimentStore

    result = optimize(default_task, "cortex_m7", max_drop=1.0, budgets={"size_kb": 1},
                      trials=1, workers=0, store=ExperimentStore(fresh_workspace),
                      progress=False)
    assert result.choice is None and "No variant meets" in result.reason
    assert "KB over the size budget" in result.closest[0]["misses"]
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
    for flags, message in ((["--trials", "0"], "expected at least 1"),
                           (["--time-limit", "5x"], "expected a positive duration")):
        assert main(["optimize", "--device", "cortex_m7", *flags, "--workspace",
                     str(fresh_workspace), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
