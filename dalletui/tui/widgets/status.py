"""The status line under every screen: provider (offline is never silent), model, today's spend,
and, from 80% of a monthly budget, how much of it this month has used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from dalletui.textsafe import printable

if TYPE_CHECKING:
    from dalletui.services.usage import BudgetStatus


def budget_warning(budget: BudgetStatus | None) -> Content | None:
    """``! budget 84% ($8.40 of $10.00)`` (warning colour) or ``! over budget: …`` (error
    colour); None without a budget or below 80% of it."""
    text = budget.short() if budget is not None else None
    if not text:
        return None
    assert budget is not None
    style = "bold $text-error" if budget.level == "over" else "bold $text-warning"
    return Content.styled(f"! {text}", style)


class StatusLine(Static):
    """Mirrors ``app.status``, led by the budget warning (``app.budget``) when there is one.

    The warning comes first so that a narrow terminal, which cuts the line's end, still shows it.
    """

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._show, init=True)
        if hasattr(self.app, "budget"):
            self.watch(self.app, "budget", self._show_budget, init=False)

    def _show_budget(self, _budget: object) -> None:
        self._show(getattr(self.app, "status", ""))

    def _show(self, text: str) -> None:
        # Content: the model name comes from the config and is never read as markup.
        line = Content(printable(text, single_line=True))
        warning = budget_warning(getattr(self.app, "budget", None))
        if warning is not None:
            line = Content.assemble(warning, " · ", line) if text else warning
        self.update(line)
        self.set_class("offline" in text, "-offline")
        self.set_class(warning is not None, "-budget")
