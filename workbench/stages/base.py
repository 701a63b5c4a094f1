"""What every stage shares: options with ranges and help, validation at construction,
``get_config``/``from_config``, and the facts a stage gives the model or refuses to follow.

A transform stage takes a Keras model and returns the next one with its report; an export
stage turns the last model into ``.tflite`` bytes. Facts (``ZEROS``, ``SHARED_VALUES``,
``QUANTIZE_AWARE``) are what earlier stages bought; a later stage reads them to keep what was
bought (clustering keeps the zeros) and refuses the ones it cannot follow (nothing follows QAT
but the int8 export).

Example:
    >>> from workbench.stages import get_stage
    >>> prune = get_stage("prune")(sparsity=0.5)
    >>> type(prune).from_config(prune.get_config()) == prune, prune.provides
    (True, frozenset({'zeros'}))
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from workbench.errors import RecipeError

ZEROS, SHARED_VALUES, QUANTIZE_AWARE = "zeros", "shared values", "quantization-aware"
TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


@dataclass(frozen=True)
class OptionSpec:
    """One option as people and widgets meet it: name, default, allowed values, help."""

    name: str
    default: Any
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    keyed_at_default: bool = True  # False: left out of the cache key while at its default

    @property
    def type(self) -> type:
        return type(self.default)

    def check(self, owner: str, value: Any) -> None:
        """Raise ``RecipeError`` (``owner`` names the recipe or stage) unless ``value`` fits."""
        accepted = (int, float) if self.type is float else self.type
        if not isinstance(value, accepted) or (self.type is not bool and isinstance(value, bool)):
            problem = f"must be {TYPE_WORDS[self.type]}"
        elif isinstance(value, float) and not math.isfinite(value):
            problem = "must be a finite number"
        elif self.choices and value not in self.choices:
            problem = f"must be one of {', '.join(map(str, self.choices))}"
        elif (self.minimum is not None and value < self.minimum) or \
                (self.maximum is not None and value > self.maximum):
            problem = f"must lie in [{self.minimum}, {self.maximum}]"
        else:
            return
        raise RecipeError(f"{owner}: option {self.name} {problem}. Received: "
                          f"{self.name}={value!r}.")

    def parse(self, owner: str, value: Any) -> Any:
        """``value`` as this option's type when it came as text (``--set key=value``); a list
        for a text option (layer names) is joined by commas."""
        if self.type is str and isinstance(value, (list, tuple)):
            return ",".join(str(item) for item in value)
        if not isinstance(value, str) or self.type is str:
            return value
        text = value.strip().lower()
        try:
            if self.type is bool:
                if text not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return text in ("true", "1", "yes")
            return self.type(value)
        except ValueError:
            raise RecipeError(f"{owner}: option {self.name} must be {TYPE_WORDS[self.type]}. "
                              f"Received: {self.name}={value!r}.") from None


def option(default: Any, *, choices: tuple | None = None, minimum: float | None = None,
           maximum: float | None = None, help: str = "", keyed_at_default: bool = True):
    """A stage field with what validation and the UI read. An option added to a stage that
    already stored results says ``keyed_at_default=False``: at its default it stays out of the
    cache key, so the results stored before it was added still match."""
    spec = OptionSpec("", default, choices, minimum, maximum, help, keyed_at_default)
    return field(default=default, metadata={"spec": spec})


@dataclass(frozen=True)
class Stage:
    """One technique with its own small config. Subclasses set the class variables."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # "transform" or "export"
    summary: ClassVar[str] = ""
    provides: ClassVar[frozenset[str]] = frozenset()  # facts the model has after this stage
    refuses: ClassVar[dict[str, str]] = {}  # fact -> why this stage cannot come after it
    unused_after: ClassVar[dict[str, frozenset[str]]] = {}  # fact -> options that do nothing

    def __post_init__(self):
        for spec in self.options():
            spec.check(f"Stage '{self.name}'", getattr(self, spec.name))

    @classmethod
    def options(cls) -> list[OptionSpec]:
        return [dataclasses.replace(spec.metadata["spec"], name=spec.name)
                for spec in dataclasses.fields(cls)]

    def get_config(self) -> dict[str, Any]:
        """The options as a JSON-able dict (``from_config`` inverts it)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Stage":
        unknown = sorted(set(config) - {spec.name for spec in cls.options()})
        if unknown:
            known = ", ".join(spec.name for spec in cls.options()) or "none"
            raise RecipeError(f"Stage '{cls.name}' has no option(s) {', '.join(unknown)}. "
                              f"Its options are: {known}.")
        return cls(**config)


class TransformStage(Stage):
    """Takes the model (and the task, for training data) and returns the next model."""

    kind: ClassVar[str] = "transform"
    refuses: ClassVar[dict[str, str]] = {
        QUANTIZE_AWARE: "quantization-aware training comes last among the transforms"}

    @property
    def trains(self) -> bool:
        """Whether it fine-tunes on the task's training split (``epochs`` > 0)."""
        return getattr(self, "epochs", 0) > 0

    @classmethod
    def one_shot_possible(cls) -> bool:
        """Whether ``epochs=0`` applies it without training data."""
        return any(spec.name == "epochs" and spec.minimum == 0 for spec in cls.options())

    def apply(self, task, model, facts: frozenset[str], progress: bool):
        """``(next model, report)``; ``facts`` are what the stages before it bought."""
        raise NotImplementedError


class ExportStage(Stage):
    """Turns the last model into ``.tflite`` bytes."""

    kind: ClassVar[str] = "export"
    needs_representative_data: ClassVar[bool] = False
    in_default_sweep: ClassVar[bool] = True  # in the sweep of post-training recipes by default

    def calibrates(self, facts: frozenset[str]) -> bool:
        """Whether exporting after ``facts`` reads representative data."""
        return self.needs_representative_data

    def export(self, task, model, facts: frozenset[str], progress: bool) -> bytes:
        return self.export_with_notes(task, model, facts, progress)[0]

    def export_with_notes(self, task, model, facts: frozenset[str],
                          progress: bool) -> tuple[bytes, str]:
        """``export``, and what the row's notes should say of it ('' when nothing)."""
        raise NotImplementedError
