"""Display helpers shared by every layer: short text, humanised ages, money."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

UNKNOWN_COST = "unknown"
_CENT = Decimal("0.01")
_FOUR_PLACES = Decimal("0.0001")


def shorten(text: str, width: int = 60) -> str:
    """One line, at most ``width`` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)].rstrip() + "…"


def humanize_age(when: dt.datetime | None, reference: dt.datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', '12 days ago', or a date."""
    if when is None:
        return "never"
    from dalletui.timeutil import local, now

    when = local(when)
    seconds = (local(reference or now()) - when).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86_400:
        return f"{round(seconds / 3600)} h ago"
    days = int(seconds // 86_400)
    if days == 1:
        return "yesterday"
    if days < 30:
        return f"{days} days ago"
    return when.strftime("%Y-%m-%d")


def format_money(amount: Decimal | float | str | None, *, estimate: bool = False) -> str:
    """``$0.0421`` under a dollar, ``$12.35`` above, ``unknown`` for None (never zero)."""
    if amount is None:
        return UNKNOWN_COST
    cost = Decimal(str(amount))
    prefix = "~$" if estimate else "$"
    if cost == 0:
        return f"{prefix}0.00"
    fine = cost.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)
    if cost > 0 and fine == 0:
        return "<$0.0001"
    if abs(fine) < 1:
        return f"{prefix}{fine}"
    return f"{prefix}{cost.quantize(_CENT, rounding=ROUND_HALF_UP):,}"
