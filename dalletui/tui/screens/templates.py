"""Templates screen (placeholder, being built)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from dalletui.tui.widgets.status import StatusLine


class TemplatesScreen(Screen[None]):
    """Templates."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Templates")
        yield StatusLine(id="status")
        yield Footer()

    def load_prompt(self, text: str, params: dict[str, Any]) -> None:  # noqa: D102
        pass
