"""The usage ledger: one row per billed image (or possibly billed request); totals in SQL.

Append-only: rows are added, an unknown cost may be priced once later, and nothing else changes
or removes them (purging a generation only unlinks its row).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from peewee import Case, fn

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Generation, UsageStat, now


@dataclass
class UsageTotals:
    """Aggregate usage; ``cost`` sums known costs, ``unknown_cost_count`` counts the rest.

    ``possibly_billed`` counts requests whose outcome is unknown (timeouts, cut-off answers):
    they may have been billed, at a cost nobody knows.
    """

    images: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)
    unknown_cost_count: int = 0
    possibly_billed: int = 0
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cost_known(self) -> bool:
        return self.unknown_cost_count == 0 and self.possibly_billed == 0


class UsageStore(StoreBase):
    """Append to the ledger and total it by period, day and model."""

    @guarded
    def add_usage(self, generation: Generation, **values: Any) -> UsageStat:
        """Append a ledger row for ``generation`` (its model, provider, request, size, quality)."""
        values.setdefault("model", generation.model)
        values.setdefault("provider", generation.provider)
        values.setdefault("request_key", generation.request_key)
        values.setdefault("request_id", generation.request_id)
        values.setdefault("size", generation.size)
        values.setdefault("quality", generation.quality)
        values.setdefault("batch_id", generation.batch_id)
        if values.get("cost") is not None or values.get("price_basis") not in (None, "unknown"):
            values.setdefault("priced_at", now())
        tokens = [values.get(name, 0) or 0 for name in UsageStat.TOKEN_FIELDS[:-1]]
        values.setdefault("total_tokens", sum(tokens))
        usage = UsageStat(generation=generation, **values)
        usage.validate()
        usage.save()
        return usage

    def _usage_select(self, *group: Any) -> Any:
        image = UsageStat.kind == "image"
        return UsageStat.select(
            *group,
            fn.SUM(Case(None, [(image, 1)], 0)).alias("images"),
            fn.COALESCE(
                fn.SUM(UsageStat.input_text_tokens + UsageStat.input_image_tokens), 0
            ).alias("input_tokens"),
            fn.COALESCE(
                fn.SUM(UsageStat.output_image_tokens + UsageStat.output_text_tokens), 0
            ).alias("output_tokens"),
            fn.COALESCE(fn.SUM(UsageStat.total_tokens), 0).alias("total_tokens"),
            fn.SUM(UsageStat.cost).alias("cost"),
            fn.SUM(Case(None, [(UsageStat.cost.is_null() & image, 1)], 0)).alias("unknown"),
            fn.SUM(Case(None, [(~image, 1)], 0)).alias("possibly_billed"),
        )

    @staticmethod
    def _totals(row: Any, label: str = "") -> UsageTotals:
        cost = row.cost
        return UsageTotals(
            images=int(row.images or 0),
            input_tokens=int(row.input_tokens or 0),
            output_tokens=int(row.output_tokens or 0),
            total_tokens=int(row.total_tokens or 0),
            cost=Decimal(str(cost)).quantize(Decimal("0.000001"))
            if cost is not None
            else Decimal(0),
            unknown_cost_count=int(row.unknown or 0),
            possibly_billed=int(row.possibly_billed or 0),
            label=label,
        )

    @guarded
    def usage_totals(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> UsageTotals:
        """Images, tokens and cost over a period (all time by default)."""
        select = self._usage_select()
        if since is not None:
            select = select.where(UsageStat.created_at >= since)
        if until is not None:
            select = select.where(UsageStat.created_at < until)
        return self._totals(select.objects().get(), "all time" if since is None else "")

    @guarded
    def usage_by_day(self, days: int = 30, today: dt.date | None = None) -> list[UsageTotals]:
        """One entry per day for the last ``days`` days (oldest first), empty days included."""
        today = today or now().date()
        first = today - dt.timedelta(days=days - 1)
        start = dt.datetime.combine(first, dt.time())
        day = fn.DATE(UsageStat.created_at)
        rows = (
            self._usage_select(day.alias("day"))
            .where(UsageStat.created_at >= start)
            .group_by(day)
            .objects()
        )
        found = {}
        for row in rows:
            # Peewee may hand back DATE(...) as a datetime; the label is the ISO day either way.
            label = str(row.day)[:10]
            found[label] = self._totals(row, label)
        result = []
        for offset in range(days):
            label = (first + dt.timedelta(days=offset)).isoformat()
            result.append(found.get(label, UsageTotals(label=label)))
        return result

    @guarded
    def usage_by_model(self, since: dt.datetime | None = None) -> list[UsageTotals]:
        """Totals per model, most images first."""
        select = self._usage_select(UsageStat.model)
        if since is not None:
            select = select.where(UsageStat.created_at >= since)
        rows = select.group_by(UsageStat.model).order_by(fn.COUNT(UsageStat.id).desc()).objects()
        return [self._totals(row, row.model) for row in rows]

    @guarded
    def unpriced_usage(self, limit: int = 10_000) -> list[UsageStat]:
        """Ledger rows of billed images whose cost was unknown when they were recorded."""
        return list(
            UsageStat.select()
            .where((UsageStat.kind == "image") & UsageStat.cost.is_null())
            .order_by(UsageStat.id)
            .limit(limit)
        )

    @guarded
    def price_usage(self, usage_id: int, cost: Decimal, prices: dict[str, Any], basis: str) -> bool:
        """Give an unpriced ledger row its cost; a row that has one is never changed here."""
        return bool(
            UsageStat.update(cost=cost, prices=prices, price_basis=basis, priced_at=now())
            .where((UsageStat.id == usage_id) & UsageStat.cost.is_null())
            .execute()
        )

    @guarded
    def recent_image_costs(
        self, model: str, size: str, quality: str, limit: int = 200
    ) -> list[Decimal]:
        """Per-image costs of the last ``limit`` succeeded API images of this model, size and
        quality (what an estimate for a token-priced model is based on).

        From the ledger (one row per billed image), joined to the generation that succeeded;
        unknown costs, offline images and possibly billed requests are left out.
        """
        rows = (
            UsageStat.select(UsageStat.cost)
            .join(Generation, on=(UsageStat.generation == Generation.id))
            .where(
                (UsageStat.kind == "image")
                & (UsageStat.model == model)
                & (UsageStat.size == size)
                & (UsageStat.quality == quality)
                & UsageStat.cost.is_null(False)
                & (UsageStat.provider != "offline")
                & (UsageStat.price_basis != "offline")
                & (Generation.status == "succeeded")
            )
            .order_by(UsageStat.id.desc())
            .limit(limit)
        )
        return [Decimal(str(row.cost)) for row in rows]
