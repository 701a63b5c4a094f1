"""What the automatic search may try on a device: the recipes and their options, cheapest first.

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

    def trained_exports(self) -> list[str]:
        return [name for name in TRAINED_EXPORTS if name in self.exports]

    def suggest_training(self, trial) -> tuple[str, dict]:
        """One training recipe and its options, drawn by the Optuna ``trial``."""
        exports = self.trained_exports()
        recipes = ["prune", "cluster", *(["qat"] if "int8" in self.exports else [])]
        recipe = trial.suggest_categorical("recipe", recipes)
        if recipe == "qat":
            rate = trial.suggest_float("qat.learning_rate", 1e-5, 1e-3, log=True)
            return recipe, {"epochs": trial.suggest_int("qat.epochs", 1, 3),
                            "learning_rate": float(f"{rate:.2g}")}  # reads as typed
        export = trial.suggest_categorical("export", exports)
        if recipe == "prune":
            return recipe, {"sparsity": trial.suggest_float("prune.sparsity", 0.5, 0.9,
                                                            step=0.1),
                            "epochs": trial.suggest_int("prune.epochs", 2, 6), "export": export}
        return recipe, {"clusters": trial.suggest_categorical("cluster.clusters", [8, 16, 32]),
                        "epochs": trial.suggest_int("cluster.epochs", 1, 3), "export": export}
