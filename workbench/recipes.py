"""Recipe configs: one small frozen dataclass per technique, and a registry.

Each config validates its options at construction, says whether it needs
representative data, and round-trips through ``get_config``/``from_config``
(plain JSON-able dicts). ``make_config`` builds one from the command line's
``key=value`` strings.

Example:
    >>> config = make_config("int8", {"inference_input_type": "float32"})
    >>> Int8Config.from_config(config.get_config()) == config
    True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from workbench.errors import RecipeError

DEFAULT_CALIBRATION_SAMPLES = 200
TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def option(default: Any, *, choices: tuple | None = None, minimum: float | None = None,
           maximum: float | None = None, help: str = ""):
    """A config field with the metadata that validation (and later the UI) reads."""
    metadata = {"choices": choices, "minimum": minimum, "maximum": maximum, "help": help}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RecipeConfig:
    """Base of every recipe config. Subclasses set ``name`` and declare options."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    needs_representative_data: ClassVar[bool] = False

    def __post_init__(self):
        for spec in dataclasses.fields(self):
            _validate_option(self.name, spec, getattr(self, spec.name))

    def get_config(self) -> dict[str, Any]:
        """The options as a JSON-able dict (``from_config`` inverts it)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RecipeConfig":
        cls.check_option_names(config)
        return cls(**config)

    @classmethod
    def check_option_names(cls, names) -> None:
        """Raise ``RecipeError`` naming any of ``names`` that is not an option."""
        known = {spec.name for spec in dataclasses.fields(cls)}
        unknown = sorted(set(names) - known)
        if unknown:
            raise RecipeError(
                f"Recipe '{cls.name}' has no option(s) {', '.join(unknown)}. "
                f"Its options are: {', '.join(sorted(known)) or 'none'}."
            )

    def to_json(self) -> str:
        """Canonical JSON of the recipe name and options (stable across runs)."""
        return json.dumps({"recipe": self.name, **self.get_config()}, sort_keys=True)

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))


def _validate_option(recipe: str, spec: dataclasses.Field, value: Any) -> None:
    meta = spec.metadata
    expected_type = type(spec.default)
    accepted = (int, float) if expected_type is float else expected_type
    if not isinstance(value, accepted) or (expected_type is not bool and isinstance(value, bool)):
        raise RecipeError(
            f"Recipe '{recipe}': option {spec.name} must be {TYPE_WORDS[expected_type]}. "
            f"Received: {spec.name}={value!r}."
        )
    if meta.get("choices") and value not in meta["choices"]:
        raise RecipeError(
            f"Recipe '{recipe}': option {spec.name} must be one of "
            f"{', '.join(map(str, meta['choices']))}. Received: {spec.name}={value!r}."
        )
    low, high = meta.get("minimum"), meta.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        raise RecipeError(
            f"Recipe '{recipe}': option {spec.name} must lie in [{low}, {high}]. "
            f"Received: {spec.name}={value!r}."
        )


@dataclass(frozen=True)
class Float32Config(RecipeConfig):
    name: ClassVar[str] = "float32"
    summary: ClassVar[str] = "No quantization: the float baseline every variant is compared to."


@dataclass(frozen=True)
class DynamicRangeConfig(RecipeConfig):
    name: ClassVar[str] = "dynamic_range"
    summary: ClassVar[str] = (
        "int8 weights, float activations quantized on the fly; no data needed; up to 4x smaller."
    )


@dataclass(frozen=True)
class Float16Config(RecipeConfig):
    name: ClassVar[str] = "float16"
    summary: ClassVar[str] = "float16 weights; no data needed; up to 2x smaller; GPU friendly."


IO_INT8 = ("int8", "uint8", "float32")
IO_INT16 = ("int16", "float32")


@dataclass(frozen=True)
class FullIntegerConfig(RecipeConfig):
    """Options shared by the recipes that calibrate activation ranges on representative data."""

    needs_representative_data: ClassVar[bool] = True

    integer_only: bool = option(
        True, help="refuse float fallback: fail if an op has no integer kernel"
    )
    calibration_samples: int = option(
        DEFAULT_CALIBRATION_SAMPLES, minimum=1, maximum=100_000,
        help="how many representative samples calibrate the activation ranges",
    )


@dataclass(frozen=True)
class Int8Interface:
    """The dtypes of a full-integer model's input and output (int8 recipes and QAT)."""

    inference_input_type: str = option("int8", choices=IO_INT8, help="dtype of the model input")
    inference_output_type: str = option("int8", choices=IO_INT8, help="dtype of the model output")


@dataclass(frozen=True)
class Int8Config(FullIntegerConfig, Int8Interface):
    name: ClassVar[str] = "int8"
    summary: ClassVar[str] = (
        "Full-integer int8 weights and activations, calibrated on representative data; "
        "runs on integer-only hardware (Edge TPU, DSP, microcontrollers)."
    )


@dataclass(frozen=True)
class Int16x8Config(FullIntegerConfig):
    name: ClassVar[str] = "int16x8"
    summary: ClassVar[str] = (
        "int16 activations with int8 weights: more accurate than int8 when activations are "
        "sensitive; slower reference kernels on CPU."
    )

    inference_input_type: str = option("float32", choices=IO_INT16, help="dtype of the model input")
    inference_output_type: str = option(
        "float32", choices=IO_INT16, help="dtype of the model output"
    )


PTQ_CONFIGS = (Float32Config, DynamicRangeConfig, Float16Config, Int8Config, Int16x8Config)
PTQ_RECIPES = tuple(cls.name for cls in PTQ_CONFIGS)


@dataclass(frozen=True)
class TrainingRecipeConfig(RecipeConfig):
    """A transform that fine-tunes on the task's training split, then exports with a PTQ recipe.

    ``epochs=0`` applies the transform in one shot, without fine-tuning (the only choice for
    models without training data, such as the zoo's).
    """

    epochs: int = option(10, minimum=0, maximum=1000, help="fine-tuning epochs (0: one shot)")
    learning_rate: float = option(5e-4, minimum=1e-7, maximum=1.0, help="Adam learning rate")
    export: str = option("float32", choices=PTQ_RECIPES, help="post-training recipe to export with")


SCHEDULES = ("polynomial", "constant")
CLUSTER_INITS = ("kmeans++", "linear", "density", "random")


@dataclass(frozen=True)
class SparsityTarget:
    """How many weights pruning zeroes, and how fast."""

    sparsity: float = option(0.8, minimum=0.0, maximum=0.999, help="share of weights set to zero")
    schedule: str = option("polynomial", choices=SCHEDULES,
                           help="polynomial: ramp up over the first 40% of steps; constant: at once")


@dataclass(frozen=True)
class ClusterCount:
    """How many shared values clustering leaves per kernel, and how the centroids start."""

    clusters: int = option(16, minimum=2, maximum=65536, help="shared values per kernel")
    init: str = option("kmeans++", choices=CLUSTER_INITS, help="how the centroids start")


# Pruning's fine-tuning: 15 epochs at 1e-3 recover what 80% zeros cost on the digits CNN
# within 0.9 points over seeds and CPUs (10 epochs at 5e-4: up to 2.0; bench.training_spread).
PRUNE_EPOCHS, PRUNE_LEARNING_RATE = 15, 1e-3


@dataclass(frozen=True)
class PruneConfig(TrainingRecipeConfig, SparsityTarget):
    name: ClassVar[str] = "prune"
    summary: ClassVar[str] = (
        "Magnitude pruning during fine-tuning: the smallest weights become zeros; same file "
        "size, far smaller compressed; sparse kernels can turn it into speed."
    )

    epochs: int = option(PRUNE_EPOCHS, minimum=0, maximum=1000,
                         help="fine-tuning epochs (0: one shot)")
    learning_rate: float = option(PRUNE_LEARNING_RATE, minimum=1e-7, maximum=1.0,
                                  help="Adam learning rate")


@dataclass(frozen=True)
class Prune2x4Config(TrainingRecipeConfig):
    name: ClassVar[str] = "prune_2x4"
    summary: ClassVar[str] = (
        "Structured 2:4 pruning: two of every four consecutive input-channel weights are zero, "
        "the pattern sparse accelerators run fast."
    )


@dataclass(frozen=True)
class ClusterConfig(TrainingRecipeConfig, ClusterCount):
    name: ClassVar[str] = "cluster"
    summary: ClassVar[str] = (
        "Weight clustering: each kernel keeps only a few shared values (k-means centroids), "
        "fine-tuned; compresses far better."
    )

    epochs: int = option(3, minimum=0, maximum=1000, help="fine-tuning epochs (0: one shot)")
    learning_rate: float = option(1e-4, minimum=1e-7, maximum=1.0, help="Adam learning rate")
    per_channel: bool = option(False, help="separate centroids for each output channel")


@dataclass(frozen=True)
class PruningStage(SparsityTarget):
    """Options of a pruning step that comes before another technique."""

    prune_epochs: int = option(PRUNE_EPOCHS, minimum=0, maximum=1000,
                               help="pruning fine-tuning epochs")
    prune_learning_rate: float = option(PRUNE_LEARNING_RATE, minimum=1e-7, maximum=1.0,
                                        help="Adam learning rate while pruning")


@dataclass(frozen=True)
class ClusteringStage(ClusterCount):
    """Options of a clustering step that comes before QAT."""

    cluster_epochs: int = option(3, minimum=0, maximum=1000, help="centroid fine-tuning epochs")
    cluster_learning_rate: float = option(1e-4, minimum=1e-7, maximum=1.0,
                                          help="Adam learning rate while clustering")


@dataclass(frozen=True)
class PruneClusterConfig(ClusterConfig, PruningStage):
    name: ClassVar[str] = "prune_cluster"
    summary: ClassVar[str] = (
        "Prune, then cluster while keeping every zero (sparsity-preserving clustering): "
        "the gains of both."
    )


@dataclass(frozen=True)
class QATConfig(RecipeConfig, Int8Interface):
    name: ClassVar[str] = "qat"
    summary: ClassVar[str] = (
        "Quantization-aware training: fine-tunes while simulating int8 inference, then exports "
        "a full-integer model; the smallest accuracy loss of the int8 recipes."
    )

    epochs: int = option(3, minimum=1, maximum=1000, help="QAT fine-tuning epochs")
    learning_rate: float = option(3e-4, minimum=1e-7, maximum=1.0, help="Adam learning rate")


@dataclass(frozen=True)
class PruneQATConfig(QATConfig, PruningStage):
    name: ClassVar[str] = "prune_qat"
    summary: ClassVar[str] = "Prune, then QAT keeping every zero (PQAT): sparse and int8."


@dataclass(frozen=True)
class ClusterQATConfig(QATConfig, ClusteringStage):
    name: ClassVar[str] = "cluster_qat"
    summary: ClassVar[str] = (
        "Cluster, then QAT keeping the shared values (CQAT): at most N int8 values per kernel."
    )


@dataclass(frozen=True)
class PruneClusterQATConfig(QATConfig, PruningStage, ClusteringStage):
    name: ClassVar[str] = "prune_cluster_qat"
    summary: ClassVar[str] = "Prune, cluster keeping the zeros, then QAT keeping both (PCQAT)."


RECIPES: dict[str, type[RecipeConfig]] = {
    cls.name: cls
    for cls in (*PTQ_CONFIGS, PruneConfig, Prune2x4Config, ClusterConfig, PruneClusterConfig,
                QATConfig, PruneQATConfig, ClusterQATConfig, PruneClusterQATConfig)
}


def get_recipe(name: str) -> type[RecipeConfig]:
    """The config class registered as ``name``."""
    try:
        return RECIPES[name]
    except KeyError:
        raise RecipeError(
            f"Unknown recipe '{name}'. Expected one of: {', '.join(RECIPES)}."
        ) from None


def make_config(name: str, overrides: dict[str, Any] | None = None) -> RecipeConfig:
    """Build recipe ``name``'s config, parsing string values (from ``--set``) by field type."""
    cls = get_recipe(name)
    overrides = overrides or {}
    cls.check_option_names(overrides)
    types = {spec.name: type(spec.default) for spec in cls.options()}
    return cls(**{key: _parse_value(name, key, value, types[key]) for key, value in overrides.items()})


def config_from_json(text: str) -> RecipeConfig:
    """Inverse of ``RecipeConfig.to_json``."""
    data = json.loads(text)
    return get_recipe(data.pop("recipe")).from_config(data)


def _parse_value(recipe: str, key: str, value: Any, target: type) -> Any:
    if not isinstance(value, str) or target is str:
        return value
    try:
        if target is bool:
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return lowered in ("true", "1", "yes")
        return target(value)
    except ValueError:
        raise RecipeError(
            f"Recipe '{recipe}': option {key} must be {TYPE_WORDS[target]}. "
            f"Received: {key}={value!r}."
        ) from None
