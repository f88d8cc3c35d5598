"""The status line under every screen: provider (offline is never silent), model, today's spend."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from dalletui.textsafe import printable


class StatusLine(Static):
    """Mirrors ``app.status``."""

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._show, init=True)

    def _show(self, text: str) -> None:
        # Content: the model name comes from the config and is never read as markup.
        self.update(Content(printable(text, single_line=True)))
        self.set_class("offline" in text, "-offline")
