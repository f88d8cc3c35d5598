"""The status line under every screen: provider (offline is never silent), model, today's spend."""

from __future__ import annotations

from textual.widgets import Static


class StatusLine(Static):
    """Mirrors ``app.status``."""

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._show, init=True)

    def _show(self, text: str) -> None:
        self.update(text)
        self.set_class("offline" in text, "-offline")
