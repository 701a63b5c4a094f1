"""One widget per recipe option, generated from the option's spec (default, range, help).

Each widget shows the config default exactly and keeps what is typed: numbers are text boxes
(a slider snaps its value to its step, which once turned a learning rate of 0.0005 into
1e-7), bounded by the option's range. Learning rates also get a log-scale slider beside the
box; dragging it writes a rounded value into the box, the box is what the config reads.

Example:
    >>> from workbench.recipes import get_recipe
    >>> specs = {spec.name: spec for spec in get_recipe("prune").options()}
    >>> option_widget(specs["learning_rate"]).value
    0.001
"""

from __future__ import annotations

import math

import ipywidgets as w
import traitlets

STYLE = {"description_width": "16em"}  # room for "int8: inference input type"
LOG_STEP = 0.01  # slider step, in powers of ten


class LogFloatInput(w.HBox):
    """A number typed exactly, with a log-scale slider to drag it by orders of magnitude."""

    value = traitlets.Float()

    def __init__(self, value: float, minimum: float, maximum: float, description: str):
        self.text = w.BoundedFloatText(value=value, min=minimum, max=maximum,
                                       description=description, style=STYLE,
                                       layout=w.Layout(width="27em"))
        self.slider = w.FloatLogSlider(value=value, base=10, min=math.log10(minimum),
                                       max=math.log10(maximum), step=LOG_STEP,
                                       readout=False, layout=w.Layout(width="14em"))
        super().__init__([self.text, self.slider], value=value)
        traitlets.link((self.text, "value"), (self, "value"))
        self.text.observe(self._typed, names="value")
        self.slider.observe(self._dragged, names="value")

    def _typed(self, change) -> None:
        if change["new"] > 0 and _apart(change["new"], self.slider.value):
            self.slider.value = change["new"]

    def _dragged(self, change) -> None:
        """A drag moves the box to a rounded value; the slider's own snapping (a fraction of a
        step, echoed back by the browser) leaves the typed value alone."""
        if change["new"] > 0 and _apart(change["new"], self.text.value):
            self.text.value = float(f"{change['new']:.2g}")


def _apart(a: float, b: float) -> bool:
    """More than half a slider step apart, on the log scale."""
    return b <= 0 or abs(math.log10(a) - math.log10(b)) > LOG_STEP / 2


def option_widget(spec):
    """A widget whose ``.value`` is the option's value (``spec``: a ``workbench.stages.
    OptionSpec``), starting at its default."""
    default, low, high = spec.default, spec.minimum, spec.maximum
    stage, _, name = spec.name.rpartition(".")  # a composition's options name their stage
    label = (f"{stage}: " if stage else "") + name.replace("_", " ")
    if spec.choices:
        widget = w.Dropdown(options=list(spec.choices), value=default, description=label,
                            style=STYLE)
    elif isinstance(default, bool):
        widget = w.Checkbox(value=default, description=label, style=STYLE, indent=False)
    elif isinstance(default, str):  # free text, such as layer names joined by commas
        widget = w.Text(value=default, description=label, style=STYLE, placeholder="none",
                        layout=w.Layout(width="27em"))
    elif isinstance(default, int):
        widget = w.BoundedIntText(value=default, min=low if low is not None else 0,
                                  max=high if high is not None else 10**6, description=label,
                                  style=STYLE, layout=w.Layout(width="27em"))
    elif spec.name.endswith("learning_rate") and low and high:
        widget = LogFloatInput(default, low, high, label)
    else:
        widget = w.BoundedFloatText(value=default, min=low if low is not None else -1e9,
                                    max=high if high is not None else 1e9, step=0.01,
                                    description=label, style=STYLE,
                                    layout=w.Layout(width="27em"))
    if spec.help:  # on the input itself (a box has no tooltip of its own)
        getattr(widget, "text", widget).tooltip = spec.help
    return widget
