"""What the panels share: the message banner, a status line per panel, guarded handlers, and
safe HTML (every string from a user or a file is escaped before it reaches the page)."""

from __future__ import annotations

import functools
import html
import logging

import ipywidgets as w

from workbench.errors import WorkbenchError

COLOURS = {"info": "#1b5e20", "error": "#b71c1c", "busy": "#0d47a1", "warning": "#8a5300"}
log = logging.getLogger("widgets")


def escape(value) -> str:
    """``value`` as text that is safe inside HTML (names, messages, config values)."""
    return html.escape(str(value))


def message_html(text: str, kind: str = "info") -> str:
    """One escaped message line, coloured by kind (info, error, busy)."""
    if not text:
        return ""
    return (f'<div class="wb-message wb-{escape(kind)}" style="color:'
            f'{COLOURS.get(kind, "#222")}">{escape(text)}</div>')


def message_banner(state) -> w.HTML:
    """An HTML line that shows ``state.message`` (green for info, red for errors)."""
    banner = w.HTML()

    def update(_=None):
        banner.value = message_html(state.message, state.message_kind)

    state.observe(update, names=["message", "message_kind"])
    update()
    return banner


class PanelStatus(w.HTML):
    """The line where a panel says what happened, errors included, in the panel itself."""

    def show(self, text: str, kind: str = "info") -> None:
        self.value = message_html(text, kind)

    def error(self, text: str) -> None:
        self.show(text, "error")

    def clear(self) -> None:
        self.value = ""

    @property
    def text(self) -> str:
        """The message shown, as plain text (for tests and logs)."""
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.value))


def user_message(error: Exception) -> str:
    """One line for the page: a workbench error as it is, anything else named as unexpected."""
    if isinstance(error, WorkbenchError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"


def guarded(status: PanelStatus, action: str):
    """Decorate a widget handler so no exception escapes it: the error shows in ``status``
    (``action`` says what failed) and the app keeps working."""
    def decorate(handler):
        @functools.wraps(handler)
        def safe(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - the page shows one line, never a traceback
                log.debug("%s failed", action, exc_info=True)
                status.error(f"{action} failed: {user_message(error)}")
                return None
        return safe
    return decorate


def frame_html(frame, css_class: str = "wb-table") -> str:
    """A DataFrame as an HTML table (values escaped, floats to 4 significant digits)."""
    table = frame.to_html(index=False, classes=css_class, border=0, na_rep="n/a", escape=True,
                          float_format=lambda value: f"{value:.4g}")
    return f'<div style="overflow-x:auto">{table}</div>'
