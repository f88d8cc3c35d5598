"""Usage and spend: totals for today, this month and all time, per day and per model."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from dalletui.generation.catalog import ModelCatalog
from dalletui.generation.pricing import compute_cost, price_snapshot
from dalletui.generation.types import Usage
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

    def reprice(self, catalog: ModelCatalog) -> RepriceResult:
        """Price ledger rows whose cost was unknown, from the catalogue's prices now.

        Only rows without a cost change; a known cost is never rewritten. Each priced row
        records the prices used (and their date and source), like a new one.
        """
        priced: list[tuple[int, Decimal]] = []
        still_unknown = 0
        for row in self.db.unpriced_usage():
            spec = catalog.get(row.model)
            size, quality = row.size or "1024x1024", row.quality or "auto"
            usage = Usage(
                input_text_tokens=row.input_text_tokens,
                input_image_tokens=row.input_image_tokens,
                output_image_tokens=row.output_image_tokens,
                output_text_tokens=row.output_text_tokens,
            )
            has_tokens = usage.total_tokens > 0
            cost = compute_cost(
                spec, usage if has_tokens else None, size=size, quality=quality, n=1
            )
            basis, prices = price_snapshot(spec, size=size, quality=quality)
            if cost is None or basis == "unknown" or (basis == "tokens" and not has_tokens):
                still_unknown += 1
                continue
            if self.db.price_usage(row.id, cost, prices, basis):
                priced.append((row.id, cost))
        return RepriceResult(priced=priced, still_unknown=still_unknown)


@dataclass(frozen=True)
class RepriceResult:
    """What ``reprice`` did: rows priced (id, cost) and rows whose price is still unknown."""

    priced: list[tuple[int, Decimal]]
    still_unknown: int

    @property
    def total(self) -> Decimal:
        return sum((cost for _, cost in self.priced), Decimal(0))
