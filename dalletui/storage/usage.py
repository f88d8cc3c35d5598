"""The usage ledger: one row per billed image (or possibly billed request); totals in SQL.

Append-only: rows are added, an unknown cost may be priced once later, and nothing else changes
or removes them (purging a generation only unlinks its row).

Rows are grouped by local time: the stored instants are UTC (``UTCDateTimeField``), and SQLite's
``'localtime'`` modifier turns each into the user's day, ISO week (Monday) or month in SQL, so a
picture made at 00:30 on the 1st counts in the month the user saw on the clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from peewee import Case, fn

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Generation, UsageStat, now
from dalletui.timeutil import local, start_of_day

#: How ledger rows can be grouped: by local day, ISO week (Monday first), month, or model.
Grouping = Literal["day", "week", "month", "model"]
GROUPINGS: tuple[Grouping, ...] = ("day", "week", "month", "model")


@dataclass
class UsageTotals:
    """Aggregate usage; ``cost`` sums known costs, ``unknown_cost_count`` counts the rest.

    ``possibly_billed`` counts requests whose outcome is unknown (timeouts, cut-off answers):
    they may have been billed, at a cost nobody knows. Neither is ever added to ``cost`` as $0:
    a total with either is "at least" ``cost`` (``cost_known`` is False).
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
    #: The first local day of the period (day, week, month); None for a model or all time.
    start: dt.date | None = None
    #: The day after the period's last (exclusive), like ``start``.
    end: dt.date | None = None

    @property
    def cost_known(self) -> bool:
        return self.unknown_cost_count == 0 and self.possibly_billed == 0

    @property
    def empty(self) -> bool:
        """Nothing happened: no image, no cost, nothing unknown or possibly billed."""
        return not (self.images or self.cost or self.unknown_cost_count or self.possibly_billed)

    def __add__(self, other: UsageTotals) -> UsageTotals:
        """Both together (the label, start and end are this one's)."""
        return replace(
            self,
            images=self.images + other.images,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cost=self.cost + other.cost,
            unknown_cost_count=self.unknown_cost_count + other.unknown_cost_count,
            possibly_billed=self.possibly_billed + other.possibly_billed,
            extra=dict(self.extra),
        )


@dataclass(frozen=True)
class UsageCell:
    """The totals of one model on one local day (a cell of the day × model table)."""

    day: dt.date
    model: str
    totals: UsageTotals


def _local_day(column: Any) -> Any:
    """SQL: the local calendar day of a stored UTC instant, as 'YYYY-MM-DD' text."""
    return fn.DATE(column, "localtime").coerce(False)


def _period_key(by: Grouping) -> Any:
    """SQL: a row's group as text (a day, the Monday of its week, 'YYYY-MM', or the model)."""
    column = UsageStat.created_at
    if by == "day":
        return _local_day(column)
    if by == "week":
        # 'weekday 0' moves forward to the Sunday ending the ISO week (or stays on a Sunday);
        # six days back is its Monday.
        return fn.DATE(column, "localtime", "weekday 0", "-6 days").coerce(False)
    if by == "month":
        return fn.strftime("%Y-%m", column, "localtime").coerce(False)
    if by == "model":
        return UsageStat.model
    raise ValueError(f"cannot group usage by {by!r}; one of {', '.join(GROUPINGS)}")


def _bounded(select: Any, since: dt.datetime | None, until: dt.datetime | None) -> Any:
    """Rows created in [since, until): aware datetimes, compared as stored UTC text."""
    if since is not None:
        select = select.where(UsageStat.created_at >= local(since))
    if until is not None:
        select = select.where(UsageStat.created_at < local(until))
    return select


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
        """Images, tokens and cost over [since, until) (all time by default)."""
        select = _bounded(self._usage_select(), since, until)
        return self._totals(select.objects().get(), "all time" if since is None else "")

    @guarded
    def usage_grouped(
        self,
        by: Grouping,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[UsageTotals]:
        """Totals per local day, week, month or model over [since, until), only groups with rows.

        Each ``label`` is the group's key: ``YYYY-MM-DD`` (a day, or the Monday of a week),
        ``YYYY-MM`` (a month) or the model name; in key order (models: most images first).
        """
        key = _period_key(by)
        select = _bounded(self._usage_select(key.alias("key")), since, until).group_by(key)
        if by == "model":
            select = select.order_by(fn.COUNT(UsageStat.id).desc(), UsageStat.model)
        else:
            select = select.order_by(key)
        return [self._totals(row, str(row.key)) for row in select.objects()]

    @guarded
    def usage_by_day_and_model(
        self, since: dt.datetime, until: dt.datetime | None = None
    ) -> list[UsageCell]:
        """One cell per (local day, model) with rows in [since, until), oldest day first."""
        day = _local_day(UsageStat.created_at)
        select = (
            _bounded(self._usage_select(day.alias("day"), UsageStat.model), since, until)
            .group_by(day, UsageStat.model)
            .order_by(day, UsageStat.model)
        )
        return [
            UsageCell(dt.date.fromisoformat(str(row.day)[:10]), row.model, self._totals(row))
            for row in select.objects()
        ]

    @guarded
    def usage_by_day(self, days: int = 30, today: dt.date | None = None) -> list[UsageTotals]:
        """One entry per local day of the last ``days`` days (oldest first), quiet days too."""
        today = today or local(now()).date()
        first = today - dt.timedelta(days=days - 1)
        found = {
            totals.label: totals for totals in self.usage_grouped("day", since=start_of_day(first))
        }
        result = []
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            label = day.isoformat()
            totals = found.get(label) or UsageTotals(label=label)
            totals.start, totals.end = day, day + dt.timedelta(days=1)
            result.append(totals)
        return result

    @guarded
    def usage_by_model(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[UsageTotals]:
        """Totals per model over [since, until), most images first."""
        return self.usage_grouped("model", since, until)

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
        self,
        model: str,
        size: str,
        quality: str,
        limit: int = 200,
        kinds: tuple[str, ...] = ("generate",),
    ) -> list[Decimal]:
        """Per-image costs of the last ``limit`` succeeded API images of this model, size and
        quality (what an estimate for a token-priced model is based on), made as ``kinds``
        (plain generations by default: an edit also pays for its input images).

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
                & Generation.kind.in_(kinds)
            )
            .order_by(UsageStat.id.desc())
            .limit(limit)
        )
        return [Decimal(str(row.cost)) for row in rows]
