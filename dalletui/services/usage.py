"""Usage and spend: totals for today, this month and all time, per day and per model."""

from __future__ import annotations

import datetime as dt

from dalletui.storage import DatabaseManager, UsageTotals
from dalletui.storage.models import now


class UsageService:
    """Read-only view of ``usage_stats`` aggregates (all computed in SQL by the manager)."""

    def __init__(self, db: DatabaseManager) -> None:
        self.db = db

    def today(self) -> UsageTotals:
        start = dt.datetime.combine(now().date(), dt.time())
        totals = self.db.usage_totals(since=start)
        totals.label = "today"
        return totals

    def this_month(self) -> UsageTotals:
        start = dt.datetime.combine(now().date().replace(day=1), dt.time())
        totals = self.db.usage_totals(since=start)
        totals.label = "this month"
        return totals

    def all_time(self) -> UsageTotals:
        return self.db.usage_totals()

    def by_day(self, days: int = 30) -> list[UsageTotals]:
        return self.db.usage_by_day(days)

    def by_model(self) -> list[UsageTotals]:
        return self.db.usage_by_model()
