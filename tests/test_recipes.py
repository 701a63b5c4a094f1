"""Recipe configs: validation at construction and a round trip for every registered recipe."""

import json

import pytest

from workbench.errors import RecipeError
from workbench.recipes import (
    RECIPES, Int8Config, Int16x8Config, config_from_json, get_recipe, make_config,
)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_round_trips_through_json(name):
    cls = RECIPES[name]
    default = cls()
    assert cls.from_config(json.loads(json.dumps(default.get_config()))) == default
    assert config_from_json(default.to_json()) == default
    assert default.summary, f"recipe {name} needs a one-line summary for the UI"


def test_non_default_options_round_trip():
    config = Int8Config(inference_input_type="uint8", integer_only=False, calibration_samples=50)
    assert Int8Config.from_config(config.get_config()) == config
    assert config != Int8Config()


def test_make_config_parses_command_line_strings():
    config = make_config("int8", {"integer_only": "false", "calibration_samples": "64",
                                  "inference_output_type": "float32"})
    assert config == Int8Config(integer_only=False, calibration_samples=64,
                                inference_output_type="float32")


def test_representative_data_needs_are_declared():
    needing = {name for name, cls in RECIPES.items() if cls.needs_representative_data}
    assert needing == {"int8", "int16x8"}


@pytest.mark.parametrize("build, message", [
    (lambda: Int8Config(inference_input_type="int16"),
     r"inference_input_type must be one of int8, uint8, float32\. Received: "
     r"inference_input_type='int16'"),
    (lambda: Int16x8Config(inference_input_type="int8"), r"one of int16, float32"),
    (lambda: Int8Config(calibration_samples=0), r"calibration_samples must lie in \[1, 100000\]"),
    (lambda: Int8Config(integer_only="yes"), r"integer_only must be true or false"),
    (lambda: Int8Config(calibration_samples=True), r"calibration_samples must be a whole number"),
    (lambda: make_config("int8", {"calibration_samples": "many"}), r"calibration_samples must be a whole number\. Received: calibration_samples='many'"),
    (lambda: make_config("float16", {"bits": "8"}), r"'float16' has no option\(s\) bits"),
    (lambda: Int8Config.from_config({"integer_only": True, "axis": 1}), r"no option\(s\) axis"),
    (lambda: get_recipe("int4"), r"Unknown recipe 'int4'\. Expected one of: float32"),
])
def test_bad_options_are_refused_with_the_received_value(build, message):
    with pytest.raises(RecipeError, match=message):
        build()
