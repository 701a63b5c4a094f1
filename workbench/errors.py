"""Errors the workbench raises for bad input.

Every message says what was received, what was expected and how to fix it, in
one line, so the command line and the dashboard can show it without a traceback.

Example:
    >>> raise RecipeError("Unknown recipe 'int4'. Expected one of: float32, int8. Fix: ...")
"""


class WorkbenchError(ValueError):
    """Base class of every user-facing error of the workbench."""


class ModelLoadError(WorkbenchError):
    """A model could not be loaded (missing file, not a model, unsafe content...)."""


class DataError(WorkbenchError):
    """A dataset or representative sample is missing, malformed or does not fit the model."""


class RecipeError(WorkbenchError):
    """An unknown recipe, an invalid option, or a recipe missing what it needs."""


class ConversionError(WorkbenchError):
    """The TFLite converter refused the model with the chosen recipe."""


class StoreError(WorkbenchError):
    """The experiment store cannot be read or written (damaged, read-only, busy)."""


class KernelError(WorkbenchError):
    """The integer kernels cannot run a model or an op: a float model, an op they do not
    implement, inputs of the wrong dtype or shape."""
