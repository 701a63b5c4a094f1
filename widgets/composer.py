"""Compose a recipe from stages: transforms added in order, the export last. The composed
name (``prune+cluster+int8``) is what ``workbench.make_config`` reads; an order the stages
refuse shows the rule at once, before anything runs.

Example:
    >>> composer = StageComposer()
    >>> composer.stage.value = "prune"; composer.add()
    >>> composer.export.value = "int16x8"; composer.name
    'prune+int16x8'
"""

from __future__ import annotations

import ipywidgets as w
import traitlets

from widgets.common import escape
from workbench.errors import RecipeError
from workbench.recipes import JOIN, get_recipe
from workbench.stages import STAGES


def _names(kind: str) -> list[str]:
    return [name for name, stage in STAGES.items() if stage.kind == kind]


class StageComposer(w.VBox):
    """``name``: the composed recipe, or "" while the stages chosen make no valid recipe."""

    name = traitlets.Unicode("")

    def __init__(self, **kwargs):
        self.chosen: list[str] = []
        self.error = ""  # why the stages chosen make no recipe
        self.stage = w.Dropdown(options=_names("transform"), description="Transform",
                                layout=w.Layout(width="18em"))
        self.add_button = w.Button(description="Add stage", layout=w.Layout(width="auto"))
        self.remove_button = w.Button(description="Remove last", disabled=True,
                                      layout=w.Layout(width="auto"))
        self.export = w.Dropdown(options=_names("export"), value="int8", description="Export",
                                 layout=w.Layout(width="18em"))
        self.chain = w.HTML()
        self.add_button.on_click(lambda _: self.add())
        self.remove_button.on_click(lambda _: self.remove_last())
        self.export.observe(lambda _: self._update(), names="value")
        super().__init__([w.HBox([self.stage, self.add_button, self.remove_button]),
                          self.export, self.chain], **kwargs)
        self.add_class("wb-composer")
        self._update()

    def add(self) -> None:
        """Append the chosen transform stage."""
        self.chosen.append(self.stage.value)
        self._update()

    def remove_last(self) -> None:
        if self.chosen:
            self.chosen.pop()
        self._update()

    def _update(self) -> None:
        stages = [*self.chosen, self.export.value]
        self.remove_button.disabled = not self.chosen
        steps = " → ".join(escape(stage) for stage in self.chosen) or "(no transform)"
        try:
            name, self.error = get_recipe(JOIN.join(stages)).name, ""
        except RecipeError as error:
            name, self.error = "", str(error)
        self.name = name  # the panel rebuilds its options first: the chain below shows after
        chain = f"<p>{steps} → export {escape(self.export.value)}"
        self.chain.value = (f"{chain}: <code>{escape(name)}</code></p>" if name else
                            f"{chain}</p><p class='wb-bad'>{escape(self.error)}</p>")
