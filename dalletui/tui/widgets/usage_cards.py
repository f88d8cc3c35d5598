"""One card of usage totals (today, this month, all time) and the money wording they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from dalletui.formatting import format_money

if TYPE_CHECKING:
    from dalletui.services.usage import UsageTotals


def money(totals: UsageTotals) -> str:
    """Known cost, plus how many images have no known cost: never shown as zero."""
    known = format_money(totals.cost)
    if not totals.unknown_cost_count:
        return known
    return f"{known} + {totals.unknown_cost_count:,} unknown"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class UsageCard(Static):
    """Images, cost and tokens of one period, framed, with the period as its title."""

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes="usage-card")
        self.border_title = title

    def show(self, totals: UsageTotals) -> None:
        cost_style = "bold $warning" if totals.unknown_cost_count else "bold $accent"
        self.update(
            Content("\n").join(
                [
                    Content.styled(plural(totals.images, "image"), "bold"),
                    Content.styled(money(totals), cost_style),
                    Content.assemble(
                        f"{totals.input_tokens:,}", (" tokens in", "$foreground-muted")
                    ),
                    Content.assemble(
                        f"{totals.output_tokens:,}", (" tokens out", "$foreground-muted")
                    ),
                ]
            )
        )
