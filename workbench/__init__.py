"""Optimization Workbench: make Keras 3 models small and fast for edge devices.

The core package: data, models, recipes, TFLite conversion, measurement in
LiteRT and the experiment store. It never imports a UI toolkit; the widgets in
``widgets/`` build on it. Heavy modules (TensorFlow, LiteRT) load on first use.

Example:
    >>> import workbench
    >>> task = workbench.prepare_task("default")                      # doctest: +SKIP
    >>> result = workbench.sweep(task, workbench.default_configs())   # doctest: +SKIP
    >>> result.frame()[["recipe", "size_bytes", "accuracy"]]          # doctest: +SKIP
"""

__version__ = "0.2.0"

_EXPORTS = {
    "load_model": "workbench.loading",
    "load_digits_task": "workbench.data",
    "load_npz": "workbench.data",
    "Dataset": "workbench.data",
    "make_config": "workbench.recipes",
    "get_recipe": "workbench.recipes",
    "convert": "workbench.ptq",
    "inspect_tflite": "workbench.tflite_inspect",
    "ExperimentStore": "workbench.store",
    "prepare_task": "workbench.pipeline",
    "run": "workbench.pipeline",
    "sweep": "workbench.pipeline",
    "optimize": "workbench.search.optimize",
    "WorkbenchError": "workbench.errors",
}

__all__ = [*_EXPORTS, "default_configs", "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def default_configs():
    """One default config per post-training recipe of the converter (what ``sweep`` runs by
    default; the AI Edge Quantizer's int4 recipes are run by name)."""
    from workbench.recipes import DEFAULT_SWEEP, make_config

    return [make_config(name) for name in DEFAULT_SWEEP]
