"""What the automatic search may try on a device: the recipes and their options, cheapest first:
the exports, int8 with its most sensitive layers in float or int16, then the training recipes
(prune with its schedule, 2:4, cluster per tensor or channel, QAT and the collaborative ones).

The device profile prunes the space: an export whose arithmetic the device does not run is
never tried (an int8-only microcontroller gets int8 exports only, training recipes included).

Example:
    >>> space = SearchSpace.for_device(load_profile("cortex_m7"))     # doctest: +SKIP
    >>> space.exports                                                   # doctest: +SKIP
    ('int8',)
"""

from __future__ import annotations

from dataclasses import dataclass

# The arithmetic each export's model computes in (the device profiles' dtypes).
EXPORT_DTYPES = {"float32": "float32", "float16": "float16", "dynamic_range": "dynamic_range",
                 "int8": "int8", "int16x8": "int16x8", "int4_weights": "float32",
                 "dynamic_int4": "dynamic_int4", "int4_int8": "int4x8"}
# Exports a training recipe can end with (its ``export`` option).
TRAINED_EXPORTS = ("float32", "float16", "dynamic_range", "int8")
SELECTIVE_LAYERS = (1, 2)  # how many of the most sensitive layers to keep float or int16
SPACE_VERSION = 2  # raise when what a trial may draw changes: a saved study of another space
# cannot resume (Optuna refuses a categorical whose choices changed)


@dataclass(frozen=True)
class SearchSpace:
    """The exports a device runs, and whether selective int8 (float or int16 layers) runs."""

    device: str
    exports: tuple[str, ...]
    keeps_float: bool
    keeps_int16: bool

    @classmethod
    def for_device(cls, profile) -> "SearchSpace":
        dtypes = set(profile.supported_dtypes)
        exports = tuple(name for name, dtype in EXPORT_DTYPES.items() if dtype in dtypes)
        return cls(profile.name, exports, "int8" in dtypes and "float32" in dtypes,
                   "int8" in dtypes and "int16x8" in dtypes)

    def training_free(self) -> list[tuple[str, dict]]:
        """Every export the device runs, at its defaults: the first trials of a search."""
        return [(name, {}) for name in self.exports]

    def selective(self, ranked_layers: list[str]) -> list[tuple[str, dict]]:
        """int8 with the most sensitive layers in float or int16 (``ranked_layers``: most
        sensitive first), where the device runs those."""
        found = []
        for count in SELECTIVE_LAYERS:
            if count > len(ranked_layers):
                break
            if self.keeps_float:
                found.append(("int8", {"auto_keep_float": count}))
            if self.keeps_int16:
                found.append(("int8", {"int16_layers": ",".join(ranked_layers[:count])}))
        return found

    @property
    def signature(self) -> list:
        """What identifies this space in a saved study's name."""
        return [SPACE_VERSION, list(self.exports), self.keeps_float, self.keeps_int16,
                self.training_recipes()]

    def trained_exports(self) -> list[str]:
        return [name for name in TRAINED_EXPORTS if name in self.exports]

    def training_recipes(self) -> list[str]:
        """The training recipes the device runs: those ending in an export of the user's
        choice, and on int8 devices QAT and its collaborative recipes."""
        qat = [*QAT_RECIPES] if "int8" in self.exports else []
        return [*EXPORTING_RECIPES, *qat] if self.trained_exports() else qat

    def suggest_training(self, trial) -> tuple[str, dict]:
        """One training recipe and its options, drawn by the Optuna ``trial`` (each option
        drawn under the recipe's name, so the sampler learns each recipe apart)."""
        recipe = trial.suggest_categorical("recipe", self.training_recipes())
        drawn = {**TRAINING_OPTIONS, **RECIPE_OPTIONS.get(recipe, {})}
        options = {name: draw(trial, f"{recipe}.{name}")
                   for name, draw in drawn.items() if name in _options_of(recipe)}
        if recipe in EXPORTING_RECIPES:
            options["export"] = trial.suggest_categorical("export", self.trained_exports())
        if "learning_rate" in options:
            options["learning_rate"] = float(f"{options['learning_rate']:.2g}")  # as typed
        return recipe, options


def _options_of(recipe: str) -> set[str]:
    from workbench.recipes import make_config

    return set(make_config(recipe).get_config())


def _epochs(low: int, high: int):
    return lambda trial, name: trial.suggest_int(name, low, high)


# How each training option is drawn (an option a recipe lacks is not drawn for it).
TRAINING_OPTIONS = {
    "sparsity": lambda trial, name: trial.suggest_float(name, 0.5, 0.9, step=0.1),
    "schedule": lambda trial, name: trial.suggest_categorical(name, ["polynomial",
                                                                     "constant"]),
    "prune_epochs": _epochs(2, 6),
    "clusters": lambda trial, name: trial.suggest_categorical(name, [8, 16, 32]),
    "per_channel": lambda trial, name: trial.suggest_categorical(name, [False, True]),
    "cluster_epochs": _epochs(1, 3),
    "epochs": _epochs(1, 3),
}
_learning_rate = {"learning_rate": lambda trial, name: trial.suggest_float(name, 1e-5, 1e-3,
                                                                          log=True)}
# Where a recipe draws an option otherwise (QAT's learning rate; pruning alone trains longer).
RECIPE_OPTIONS = {"prune": {"epochs": _epochs(2, 6)}, "prune_2x4": {"epochs": _epochs(2, 6)},
                  **{name: _learning_rate for name in ("qat", "prune_qat", "cluster_qat",
                                                       "prune_cluster_qat")}}
# Training recipes that end with an export option; QAT ends in its own int8 export.
EXPORTING_RECIPES = ("prune", "prune_2x4", "cluster", "prune_cluster")
QAT_RECIPES = ("qat", "prune_qat", "cluster_qat", "prune_cluster_qat")
