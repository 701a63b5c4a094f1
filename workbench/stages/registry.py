"""The stage registry: ``@register`` on a stage class makes its name usable in recipes.

Example:
    >>> get_stage("cluster").kind
    'transform'
"""

from __future__ import annotations

from workbench.errors import RecipeError

STAGES: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: add the stage ``cls`` under ``cls.name``."""
    if cls.name in STAGES and STAGES[cls.name] is not cls:
        raise ValueError(f"Two stages are named '{cls.name}': {STAGES[cls.name]} and {cls}.")
    STAGES[cls.name] = cls
    return cls


def get_stage(name: str) -> type:
    """The stage class registered as ``name``."""
    try:
        return STAGES[name]
    except KeyError:
        raise RecipeError(f"Unknown stage '{name}'. Expected one of: "
                          f"{', '.join(STAGES)}.") from None
