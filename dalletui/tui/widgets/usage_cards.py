"""One card of usage totals (today, this month, all time) and the money wording they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from dalletui.formatting import format_money

if TYPE_CHECKING:
    from dalletui.services.usage import UsageTotals


def money(totals: UsageTotals, *, possibly_billed: bool = True) -> str:
    """Known cost, plus what is not known: never shown as zero, never as an exact total.

    Images with no known cost are counted (``+ 1 unknown``); so are requests that may have been
    billed (``+ 2 possibly billed``) unless ``possibly_billed`` is False, for a caller that says
    them apart (see ``possibly_billed_note``).
    """
    text = format_money(totals.cost)
    if totals.unknown_cost_count:
        text += f" + {totals.unknown_cost_count:,} unknown"
    if possibly_billed and totals.possibly_billed:
        text += f" + {totals.possibly_billed:,} possibly billed"
    return text


#: Said once under the cards when any period has a possibly billed request.
POSSIBLY_BILLED_EXPLAINED = (
    "+ possibly billed: requests whose outcome is unknown (a timeout, a cut-off answer, a "
    "cancel while the API was working). Their cost is unknown and not in these totals."
)


def possibly_billed_note(totals: UsageTotals) -> str:
    """``+ 2 possibly billed`` (requests, cost unknown); empty when there are none.

    Short enough for a card on an 80-column terminal; the screen explains it once.
    """
    count = totals.possibly_billed
    return f"+ {count:,} possibly billed" if count else ""


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class UsageCard(Static):
    """Images, cost and tokens of one period, framed, with the period as its title."""

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes="usage-card")
        self.border_title = title

    def show(self, totals: UsageTotals, *, note_line: bool = False) -> None:
        """Show ``totals``; ``note_line`` keeps a line for the possibly billed note even when
        this period has none, so that cards side by side stay the same height."""
        cost_style = "bold $accent" if totals.cost_known else "bold $warning"
        lines = [
            Content.styled(plural(totals.images, "image"), "bold"),
            Content.styled(money(totals, possibly_billed=False), cost_style),
        ]
        note = possibly_billed_note(totals)
        if note or note_line:
            # Right under the total, so the total never reads as exact.
            lines.append(Content.styled(note, "$text-warning"))
        lines += [
            Content.assemble(f"{totals.input_tokens:,}", (" tokens in", "$foreground-muted")),
            Content.assemble(f"{totals.output_tokens:,}", (" tokens out", "$foreground-muted")),
        ]
        self.update(Content("\n").join(lines))
