"""A plotly chart widget (anywidget) that survives reloads and preheated kernels.

plotly's own ``FigureWidget`` sends every change as a message and carries its 5 MB bundle in
each instance, so a figure drawn before the page connects (Voila's preheated kernel, a
reload) stays blank, and each chart adds seconds to the page. Here the whole figure is one
synced trait, plotly.js is loaded once per page, and clicks come back as the points'
``customdata``.

Example:
    >>> chart = PlotlyChart()
    >>> chart.show({"data": [{"type": "bar", "y": [1, 2]}], "layout": {}})
    >>> chart.figure["data"][0]["y"]
    [1, 2]
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Callable

import anywidget
import traitlets


@functools.cache
def plotly_library_folder() -> Path:
    """The folder of the installed plotly package holding ``plotly.min.js``."""
    import plotly

    return Path(plotly.__file__).parent / "package_data"


def plotly_source() -> str:
    return (plotly_library_folder() / "plotly.min.js").read_text(encoding="utf-8")


def plain_json(value):
    """``value`` with plotly's base64 typed arrays (``{"dtype", "bdata"}``) turned into lists:
    plain JSON that any plotly.js reads, and that tests can read too."""
    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            import base64

            import numpy as np

            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            if "shape" in value:
                shape = value["shape"]
                array = array.reshape([int(d) for d in str(shape).split(",")] if isinstance(
                    shape, str) else shape)
            return array.tolist()
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_json(item) for item in value]
    return value


class PlotlyChart(anywidget.AnyWidget):
    _esm = Path(__file__).with_name("plotly_chart.js")
    figure = traitlets.Dict().tag(sync=True)

    def __init__(self, figure=None, **kwargs):
        super().__init__(**kwargs)
        self._click_handlers: list[Callable[[list[dict]], None]] = []
        self._render_handlers: list[Callable[[], None]] = []
        self.on_msg(self._on_message)
        if figure is not None:
            self.show(figure)

    def show(self, figure) -> None:
        """Draw a plotly ``Figure`` (or a figure dict): data and layout, replaced whole."""
        self.figure = plain_json(json.loads(figure.to_json()) if hasattr(figure, "to_json")
                                 else dict(figure))

    def on_click(self, handler: Callable[[list[dict]], None]) -> None:
        """Call ``handler(points)`` on a click; each point has ``trace``, ``index`` and the
        ``customdata`` the figure gave it."""
        self._click_handlers.append(handler)

    def on_render(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` each time a page shows the chart (a page load, a reload)."""
        self._render_handlers.append(handler)

    def click(self, points: list[dict]) -> None:
        """What a click in the browser does (tests call it directly)."""
        for handler in self._click_handlers:
            handler(points)

    def _on_message(self, _widget, content, _buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "plotly-library-request":
            self.send({"type": "plotly-library", "source": plotly_source()})
        elif kind == "click":
            self.click(list(content.get("points") or []))
        elif kind == "rendered":
            for handler in self._render_handlers:
                handler()
