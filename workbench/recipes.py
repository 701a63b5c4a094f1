"""Recipes: transform stages, then exactly one export stage (``workbench.stages``).

A recipe is named by a preset (``prune_cluster_qat``: prune, cluster keeping the zeros, QAT
keeping both, int8 export) or by stage names joined by ``+``, the export last
(``prune_2x4+cluster+int16x8``). A preset's options keep their flat names (``clusters=8``,
``prune_epochs=5``); a composition's are dotted (``cluster.clusters=8``); a single stage's are
plain. An invalid order is refused before any work, naming the stage and the rule.

Example:
    >>> recipe = make_config("prune_2x4+cluster+int16x8", {"cluster.clusters": "8"})
    >>> [stage.name for stage in recipe.stages], recipe.stages[1].clusters
    (['prune_2x4', 'cluster', 'int16x8'], 8)
    >>> config_from_json(recipe.to_json()) == recipe
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from workbench.errors import RecipeError
from workbench.stages import STAGES, OptionSpec, Stage, get_stage
from workbench.stages.export import DEFAULT_CALIBRATION_SAMPLES  # noqa: F401
from workbench.stages.pruning import PRUNE_EPOCHS, PRUNE_LEARNING_RATE  # noqa: F401

JOIN = "+"
EXPORT_OPTION = "export"
HIDDEN = ""  # a preset hides a stage option by naming it so: it keeps the stage default


@dataclass(frozen=True)
class Slot:
    """Where one public option goes: stage ``index``'s ``option``."""

    index: int
    option: str
    spec: OptionSpec  # named as the public option


@dataclass(frozen=True)
class Layout:
    """How a recipe is named and its options are called: by a preset or by its stage names.

    ``renames`` maps ``(stage, option)`` to the public name (``HIDDEN``: not an option);
    ``export_choice`` adds an ``export`` option that picks the export stage (its own options
    at their defaults), as the training presets have."""

    name: str
    stage_names: tuple[str, ...]
    summary: str = ""
    renames: tuple[tuple[str, str, str], ...] = ()
    export_choice: bool = False
    dotted: bool = False

    def public_name(self, stage: str, option: str) -> str:
        for renamed_stage, renamed_option, public in self.renames:
            if (renamed_stage, renamed_option) == (stage, option):
                return public
        if self.export_choice and get_stage(stage).kind == "export":
            return HIDDEN
        return f"{stage}.{option}" if self.dotted else option

    def slots(self, stage_names: tuple[str, ...] | None = None) -> list[Slot]:
        """The public options; an option that does nothing after the stages before it (int8's
        calibration after QAT) is none."""
        slots, facts = [], frozenset()
        for index, stage in enumerate(stage_names or self.stage_names):
            cls = get_stage(stage)
            unused = frozenset().union(*(cls.unused_after.get(fact, ()) for fact in facts))
            for spec in cls.options():
                public = self.public_name(stage, spec.name)
                if public != HIDDEN and spec.name not in unused:
                    slots.append(Slot(index, spec.name, replace(spec, name=public)))
            facts |= cls.provides
        return slots

    def options(self) -> list[OptionSpec]:
        """The public options, in stage order (the ``export`` choice last)."""
        specs = [slot.spec for slot in self.slots()]
        if self.export_choice:
            specs.append(OptionSpec(EXPORT_OPTION, self.stage_names[-1], choices=PTQ_RECIPES,
                                    help="post-training recipe to export with"))
        return specs

    @property
    def needs_representative_data(self) -> bool:
        return self.build({}).needs_representative_data

    def check_option_names(self, names) -> None:
        """Raise ``RecipeError`` naming any of ``names`` that is not an option."""
        known = [spec.name for spec in self.options()]
        unknown = sorted(set(names) - set(known))
        if unknown:
            hint = (" Options of a composition name their stage: --set cluster.clusters=8."
                    if self.dotted else " A preset's options have plain names (clusters=8); "
                    f"to name them by stage, compose it: {JOIN.join(self.stage_names)}."
                    if any("." in name for name in unknown) else "")
            raise RecipeError(f"Recipe '{self.name}' has no option(s) {', '.join(unknown)}. "
                              f"Its options are: {', '.join(known) or 'none'}.{hint}")

    def build(self, values: dict[str, Any]) -> "Recipe":
        """The recipe with ``values`` (public names; text is parsed by option type)."""
        self.check_option_names(values)
        owner = f"Recipe '{self.name}'"
        specs = {spec.name: spec for spec in self.options()}
        parsed = {key: specs[key].parse(owner, value) for key, value in values.items()}
        for key, value in parsed.items():
            specs[key].check(owner, value)
        stage_names = list(self.stage_names)
        if EXPORT_OPTION in parsed and self.export_choice:
            stage_names[-1] = parsed.pop(EXPORT_OPTION)
        check_order(self.name, stage_names)
        per_stage: list[dict] = [{} for _ in stage_names]
        for slot in self.slots(tuple(stage_names)):
            if slot.spec.name in parsed:
                per_stage[slot.index][slot.option] = parsed[slot.spec.name]
        stages = tuple(get_stage(name)(**options)
                       for name, options in zip(stage_names, per_stage))
        return Recipe(stages, self)

    def values(self, stages: tuple[Stage, ...]) -> dict[str, Any]:
        """The public options of ``stages`` as a JSON-able dict (``build`` inverts it)."""
        names = tuple(stage.name for stage in stages)
        config = {slot.spec.name: getattr(stages[slot.index], slot.option)
                  for slot in self.slots(names)}
        if self.export_choice:
            config[EXPORT_OPTION] = names[-1]
        return config


@dataclass(frozen=True)
class Recipe:
    """Transform stages then one export stage, named and optioned by its ``layout``."""

    stages: tuple[Stage, ...]
    layout: Layout

    @property
    def name(self) -> str:
        return self.layout.name

    def __getattr__(self, option: str):
        """A public option's value: ``make_config("prune").sparsity`` is 0.8."""
        if option.startswith("_") or option in ("stages", "layout"):
            raise AttributeError(option)
        config = self.get_config()
        if option not in config:
            raise AttributeError(f"Recipe '{self.name}' has no option {option!r}; its options "
                                 f"are: {', '.join(config) or 'none'}.")
        return config[option]

    @property
    def summary(self) -> str:
        if self.layout.summary:
            return self.layout.summary
        transforms = ", then ".join(stage.name for stage in self.transforms)
        if not transforms:
            return self.export.summary
        return (f"{transforms}, then exported as {self.export.name}; each stage's options are "
                "named after it.")

    @property
    def transforms(self) -> tuple[Stage, ...]:
        return self.stages[:-1]

    @property
    def export(self) -> Stage:
        return self.stages[-1]

    def facts_before_export(self) -> frozenset[str]:
        return frozenset().union(*(stage.provides for stage in self.transforms))

    @property
    def needs_representative_data(self) -> bool:
        return self.export.calibrates(self.facts_before_export())

    def options(self) -> list[OptionSpec]:
        return self.layout.options()

    def get_config(self) -> dict[str, Any]:
        """The options as a JSON-able dict, by their public names."""
        return self.layout.values(self.stages)

    def to_json(self) -> str:
        """Canonical JSON of the recipe name and options (stable across runs: the cache key)."""
        specs = {spec.name: spec for spec in self.options()}
        keyed = {key: value for key, value in self.get_config().items()
                 if key not in specs or specs[key].keyed_at_default
                 or value != specs[key].default}
        return json.dumps({"recipe": self.name, **keyed}, sort_keys=True)

    def changed_options(self) -> dict[str, Any]:
        """The options set away from their defaults."""
        defaults = self.layout.build({}).get_config()
        return {key: value for key, value in self.get_config().items()
                if defaults.get(key) != value}

    @property
    def label(self) -> str:
        """The recipe's name with the options set away from their defaults:
        ``int8 (keep_float=block_pw)``; ``int8`` at its defaults."""
        words = options_words(self.changed_options())
        return f"{self.name} ({words})" if words else self.name

    def code(self) -> str:
        """The Python that rebuilds this recipe."""
        return f"workbench.make_config({self.name!r}, {self.changed_options()!r})"

    def one_shot_names(self) -> list[str] | None:
        """The options that set every training stage to one shot (``epochs=0``), or None
        when some stage cannot go without training data."""
        training = [index for index, stage in enumerate(self.transforms) if stage.trains]
        if any(not type(self.stages[index]).one_shot_possible() for index in training):
            return None
        return [slot.spec.name for slot in self.layout.slots(tuple(s.name for s in self.stages))
                if slot.index in training and slot.option == "epochs"]


def check_order(name: str, stage_names: list[str]) -> None:
    """Refuse, before any work, an order the stages do not allow: one export and last, no
    stage twice, and no stage after a fact it refuses (nothing after QAT but int8...)."""
    classes = [get_stage(stage) for stage in stage_names]
    exports = [stage.name for stage in classes if stage.kind == "export"]
    all_exports = ", ".join(s for s in STAGES if STAGES[s].kind == "export")
    if not exports:
        raise RecipeError(f"Recipe '{name}' has no export stage; end it with one of "
                          f"{all_exports}, e.g. {JOIN.join([*stage_names, 'int8'])}.")
    if len(exports) > 1:
        raise RecipeError(f"Recipe '{name}' has {len(exports)} export stages "
                          f"({', '.join(exports)}); keep exactly one, last.")
    if classes[-1].kind != "export":
        rest = [stage for stage in stage_names if stage != exports[0]]
        raise RecipeError(f"Recipe '{name}': the export stage {exports[0]} must come last, "
                          f"after the transforms, e.g. {JOIN.join([*rest, exports[0]])}.")
    seen: dict[str, str] = {}  # fact -> the stage that gave it
    for index, stage in enumerate(classes):
        if stage_names.index(stage.name) != index:
            raise RecipeError(f"Recipe '{name}': stage {stage.name} appears twice; use it once "
                              "and set its options instead.")
        for fact, reason in stage.refuses.items():
            if fact in seen:
                raise RecipeError(f"Recipe '{name}': {stage.name} cannot come after "
                                  f"{seen[fact]}: {reason}.")
        seen.update({fact: stage.name for fact in stage.provides})


PRUNE_RENAMES = (("prune", "epochs", "prune_epochs"),
                 ("prune", "learning_rate", "prune_learning_rate"))
CLUSTER_RENAMES = (("cluster", "epochs", "cluster_epochs"),
                   ("cluster", "learning_rate", "cluster_learning_rate"),
                   ("cluster", "per_channel", HIDDEN))


def _preset(name: str, stages: str, summary: str, renames=(), export_choice=False) -> Layout:
    return Layout(name, tuple(stages.split(JOIN)), summary, tuple(renames), export_choice)


PRESETS: dict[str, Layout] = {layout.name: layout for layout in (
    *(_preset(stage.name, stage.name, stage.summary)
      for stage in STAGES.values() if stage.kind == "export"),
    _preset("prune", "prune+float32", STAGES["prune"].summary, export_choice=True),
    _preset("prune_2x4", "prune_2x4+float32", STAGES["prune_2x4"].summary, export_choice=True),
    _preset("cluster", "cluster+float32", STAGES["cluster"].summary, export_choice=True),
    _preset("prune_cluster", "prune+cluster+float32",
            "Prune, then cluster while keeping every zero (sparsity-preserving clustering): "
            "the gains of both.", PRUNE_RENAMES, export_choice=True),
    _preset("qat", "qat+int8", STAGES["qat"].summary),
    _preset("prune_qat", "prune+qat+int8",
            "Prune, then QAT keeping every zero (PQAT): sparse and int8.", PRUNE_RENAMES),
    _preset("cluster_qat", "cluster+qat+int8",
            "Cluster, then QAT keeping the shared values (CQAT): at most N int8 values per "
            "kernel.", CLUSTER_RENAMES),
    _preset("prune_cluster_qat", "prune+cluster+qat+int8",
            "Prune, cluster keeping the zeros, then QAT keeping both (PCQAT).",
            PRUNE_RENAMES + CLUSTER_RENAMES),
)}
RECIPES = PRESETS  # the named recipes, as the command line and the dashboard list them
PTQ_RECIPES = tuple(name for name in PRESETS if len(PRESETS[name].stage_names) == 1)
# What a sweep runs unless told: the converter's post-training recipes.
DEFAULT_SWEEP = tuple(name for name in PTQ_RECIPES if STAGES[name].in_default_sweep)


def get_recipe(name: str) -> Layout:
    """The layout of recipe ``name``: a preset, or stage names joined by ``+``."""
    if name in PRESETS:
        return PRESETS[name]
    stage_names = tuple(part.strip() for part in name.split(JOIN))
    unknown = [part for part in stage_names if part not in STAGES]
    if unknown and len(stage_names) > 1:
        raise RecipeError(f"Recipe '{name}': unknown stage(s) "
                          f"{', '.join(_with_suggestion(part) for part in unknown)}. "
                          f"Expected stages: {', '.join(STAGES)}.")
    if unknown:
        raise RecipeError(
            f"Unknown recipe '{name}'{_suggestion(name, [*PRESETS])}. Expected one of: "
            f"{', '.join(PRESETS)}; or stage names joined by '+', the export last (stages: "
            f"{', '.join(STAGES)}), e.g. prune+cluster+int8.")
    canonical = JOIN.join(stage_names)
    check_order(canonical, list(stage_names))
    return Layout(canonical, stage_names, dotted=len(stage_names) > 1)


def _suggestion(text: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(text.lower(), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _with_suggestion(stage: str) -> str:
    return repr(stage) + _suggestion(stage, [*STAGES])


def make_config(name: str, overrides: dict[str, Any] | None = None) -> Recipe:
    """Recipe ``name`` with ``overrides`` (``--set`` text is parsed by option type)."""
    return get_recipe(name).build(dict(overrides or {}))


def options_in_words(recipe: str, config_json: str | None) -> str:
    """A stored row's options that differ from the defaults, as people read them:
    ``cluster.clusters=8, cluster.epochs=0`` (or ``defaults``)."""
    try:
        changed = make_config(recipe, json.loads(config_json or "{}")).changed_options()
    except (RecipeError, ValueError):  # a recipe this version does not know: as stored
        return config_json or ""
    return options_words(changed) or "defaults"


def options_words(changed: dict) -> str:
    """``{'cluster.clusters': 8}`` -> ``'cluster.clusters=8'``."""
    return ", ".join(f"{key}={value}" for key, value in changed.items())


def config_from_json(text: str) -> Recipe:
    """Inverse of ``Recipe.to_json``."""
    data = json.loads(text)
    return make_config(data.pop("recipe"), data)
