"""Recipes as stages: every stage and preset validates and round-trips; presets keep their
stored JSON and make the same ``.tflite`` facts as before stages existed; compositions no
preset names run and keep what earlier stages bought; invalid orders are refused first."""

import json

import pytest

from reference.preset_facts import REFERENCE, preset_configs, preset_facts
from workbench.errors import RecipeError
from workbench.recipes import RECIPES, config_from_json, get_recipe, make_config
from workbench.stages import STAGES, get_stage
from workbench.stages.export import Int8Export, Int16x8Export
from workbench.tflite_inspect import inspect_tflite

REFERENCE_DATA = json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_validates_and_round_trips(name):
    cls = get_stage(name)
    default = cls()
    assert cls.from_config(json.loads(json.dumps(default.get_config()))) == default
    assert cls.summary and cls.kind in ("transform", "export")
    for spec in cls.options():
        assert spec.help, f"{name}.{spec.name} needs help text for the UI"
        spec.check(name, spec.default)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_preset_round_trips_through_json(name):
    default = make_config(name)
    assert config_from_json(default.to_json()) == default
    assert make_config(name, default.get_config()) == default
    assert default.summary, f"recipe {name} needs a one-line summary for the UI"
    assert [spec.name for spec in get_recipe(name).options()] == list(default.get_config())


LATER_PRESETS = {"int4_weights", "dynamic_int4", "int4_int8"}  # issue 14


def test_presets_store_the_same_config_json_as_before_stages():
    """Stored rows and cache keys of a store written before stages stay valid (options added
    since, such as int8's keep_float, stay out of the key at their defaults)."""
    now = preset_configs()
    assert set(now) - set(REFERENCE_DATA["configs"]) == LATER_PRESETS
    assert {name: now[name] for name in REFERENCE_DATA["configs"]} == REFERENCE_DATA["configs"]
    assert "keep_float" in make_config("int8", {"keep_float": "fc"}).to_json()


def test_every_preset_makes_the_same_tflite_facts_as_before_stages(default_task, store):
    before, now = REFERENCE_DATA["facts"], preset_facts(default_task, store)
    assert set(now) - set(before) == LATER_PRESETS
    for name, reference in before.items():
        facts = now[name]
        assert facts["size_bytes"] == reference["size_bytes"], name
        assert facts["int8_ops_fraction"] == reference["int8_ops_fraction"], name
        assert facts["weight_sparsity"] == pytest.approx(reference["weight_sparsity"],
                                                         abs=0.01), name
        if reference["max_unique_weights"] <= 16:  # clustered: exactly the shared values
            assert facts["max_unique_weights"] == reference["max_unique_weights"], name
        else:  # depends on the trained weights: CPUs differ a little
            assert facts["max_unique_weights"] == pytest.approx(
                reference["max_unique_weights"], rel=0.15), name


def test_make_config_parses_command_line_strings():
    config = make_config("int8", {"integer_only": "false", "calibration_samples": "64",
                                  "inference_output_type": "float32"})
    assert config.stages == (Int8Export(integer_only=False, calibration_samples=64,
                                        inference_output_type="float32"),)
    assert config.calibration_samples == 64  # public options read as attributes
    composed = make_config("prune+cluster+int8", {"cluster.clusters": "8", "prune.epochs": "0"})
    assert (composed.stages[0].epochs, composed.stages[1].clusters) == (0, 8)
    assert composed.get_config()["cluster.clusters"] == 8


def test_presets_are_their_stages():
    assert [stage.name for stage in make_config("prune_cluster_qat").stages] == \
        ["prune", "cluster", "qat", "int8"]
    prune = make_config("prune", {"export": "int8", "epochs": 2})
    assert [stage.name for stage in prune.stages] == ["prune", "int8"]
    assert prune.stages[0].epochs == 2 and prune.get_config()["export"] == "int8"
    renamed = make_config("prune_qat", {"prune_epochs": 4, "epochs": 5})
    assert (renamed.stages[0].epochs, renamed.stages[1].epochs) == (4, 5)


def test_representative_data_needs_are_declared():
    needing = {name for name, recipe in RECIPES.items() if recipe.needs_representative_data}
    assert needing == {"int8", "int16x8", "int4_int8"}  # after QAT, int8 reads the quantizers
    assert make_config("prune+int16x8").needs_representative_data


@pytest.mark.parametrize("name, message", [
    ("cluster+prune+int8", r"'cluster\+prune\+int8': prune cannot come after cluster: new zeros "
                           r"would break the shared values"),
    ("qat+cluster+int8", r"cluster cannot come after qat: quantization-aware training comes "
                         r"last"),
    ("prune+qat+float16", r"float16 cannot come after qat: a quantization-aware model exports "
                          r"only as full-integer int8"),
    ("prune+prune_2x4+int8", r"prune_2x4 cannot come after prune: the model is already pruned"),
    ("prune+cluster", r"'prune\+cluster' has no export stage; end it with one of float32, "
                      r".*e\.g\. prune\+cluster\+int8"),
    ("int8+prune", r"the export stage int8 must come last, after the transforms, e\.g\. "
                   r"prune\+int8"),
    ("prune+int8+float32", r"has 2 export stages \(int8, float32\); keep exactly one, last"),
    ("cluster+cluster+int8", r"stage cluster appears twice"),
    ("prune+int4", r"'prune\+int4': unknown stage\(s\) 'int4' \(did you mean int8\?\)\. "
                   r"Expected stages: float32, .*prune"),
])
def test_invalid_compositions_are_refused_naming_the_stage_and_the_rule(name, message):
    with pytest.raises(RecipeError, match=message):
        make_config(name)


@pytest.mark.parametrize("build, message", [
    (lambda: Int8Export(inference_input_type="int16"),
     r"inference_input_type must be one of int8, uint8, float32\. Received: "
     r"inference_input_type='int16'"),
    (lambda: Int16x8Export(inference_input_type="int8"), r"one of int16, float32"),
    (lambda: Int8Export(calibration_samples=0), r"calibration_samples must lie in \[1, 100000\]"),
    (lambda: Int8Export(integer_only="yes"), r"integer_only must be true or false"),
    (lambda: Int8Export(calibration_samples=True), r"calibration_samples must be a whole number"),
    (lambda: make_config("int8", {"calibration_samples": "many"}),
     r"Recipe 'int8': option calibration_samples must be a whole number\. "
     r"Received: calibration_samples='many'"),
    (lambda: make_config("float16", {"bits": "8"}), r"'float16' has no option\(s\) bits"),
    (lambda: make_config("prune+int8", {"sparsity": "0.5"}),
     r"no option\(s\) sparsity\. Its options are: prune\.sparsity.*--set cluster\.clusters=8"),
    (lambda: make_config("prune_qat", {"prune_epochs": -1}),
     r"Recipe 'prune_qat': option prune_epochs must lie in \[0, 1000\]"),
    (lambda: Int8Export.from_config({"integer_only": True, "axis": 1}), r"no option\(s\) axis"),
    (lambda: get_recipe("int4"), r"Unknown recipe 'int4' \(did you mean int8\?\)\. Expected "
                                 r"one of: float32"),
    (lambda: make_config("cluster+float32", {"cluster.learning_rate": "nan"}),
     r"option cluster\.learning_rate must be a finite number\. Received: "
     r"cluster\.learning_rate=nan"),
    (lambda: make_config("qat+int8", {"int8.calibration_samples": 1}),  # no calibration after QAT
     r"'qat\+int8' has no option\(s\) int8\.calibration_samples"),
    (lambda: make_config("prune_cluster", {"cluster.clusters": 8}),
     r"A preset's options have plain names \(clusters=8\); to name them by stage, compose it: "
     r"prune\+cluster\+float32"),
])
def test_bad_options_are_refused_with_the_received_value(build, message):
    with pytest.raises(RecipeError, match=message):
        build()


ONE_EPOCH = {"prune_2x4+cluster+int16x8": {"prune_2x4.epochs": 1, "cluster.epochs": 1},
             "cluster+dynamic_range": {"cluster.epochs": 1, "cluster.clusters": 8}}


@pytest.mark.parametrize("name", sorted(ONE_EPOCH))
def test_compositions_no_preset_names_run_and_keep_what_earlier_stages_bought(
        name, default_task, store):
    from workbench.pipeline import run

    recipe = make_config(name, ONE_EPOCH[name])
    row = run(default_task, recipe, store, latency_runs=2, progress=False, devices=["host"])
    assert row["recipe"] == name and config_from_json(
        json.dumps({"recipe": row["recipe"], **json.loads(row["config"])})) == recipe
    info = inspect_tflite(row["tflite_path"])
    clusters = recipe.get_config()["cluster.clusters"]
    assert info.max_unique_weights(per_channel=True) <= clusters  # the shared values survived
    if name.startswith("prune_2x4"):
        assert info.weight_sparsity() >= 0.49  # two of every four zero, kept by clustering
        assert all(tensor.dtype == "int8" for tensor in info.weight_tensors())
        assert any(t.dtype == "int16" for t in info.tensors if not t.is_constant)
    else:
        assert info.weight_sparsity() < 0.2 and info.int8_ops_fraction() == 0.0
