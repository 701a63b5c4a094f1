"""Small helpers the panels share: the message banner and safe HTML tables."""

from __future__ import annotations

import html

import ipywidgets as w

COLOURS = {"info": "#1b5e20", "error": "#b71c1c"}


def message_banner(state) -> w.HTML:
    """An HTML line that shows ``state.message`` (green for info, red for errors)."""
    banner = w.HTML()

    def update(_=None):
        text = html.escape(state.message)
        banner.value = (f'<div class="wb-message wb-{state.message_kind}" style="color:'
                        f'{COLOURS.get(state.message_kind, "#222")}">{text}</div>') if text else ""

    state.observe(update, names=["message", "message_kind"])
    update()
    return banner


def frame_html(frame, css_class: str = "wb-table") -> str:
    """A DataFrame as an HTML table (values escaped, floats to 4 significant digits)."""
    table = frame.to_html(index=False, classes=css_class, border=0, na_rep="n/a",
                          float_format=lambda value: f"{value:.4g}")
    return f'<div style="overflow-x:auto">{table}</div>'

