"""Usage and spend: totals by period and model, the day × model table, estimates and the budget.

Every period is local time (the user's day, ISO week from Monday, calendar month); the ledger
stores UTC and storage groups in SQL with SQLite's ``'localtime'``. Money that is not known is
never counted as $0: images of unknown cost and possibly billed requests are counted apart, and
a total with any of them is "at least" its known part.

The estimate of what a request may cost and the monthly budget's question live here once, for
Compose's single request, a batch's plan (``batch_plan``), the CLI and the status line alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Literal

from dalletui.formatting import format_money
from dalletui.generation.catalog import ModelCatalog
from dalletui.generation.pricing import compute_cost, price_snapshot
from dalletui.generation.types import EditRequest, GenerationRequest, Usage
from dalletui.storage import DatabaseManager, UsageTotals
from dalletui.storage.models import now
from dalletui.storage.usage import GROUPINGS, Grouping, UsageCell
from dalletui.timeutil import local, months_before, start_of_day, start_of_month, start_of_week

__all__ = [
    "BUDGET_NEAR",
    "DEFAULT_SPAN",
    "GROUPINGS",
    "HISTORY_IMAGES",
    "BudgetStatus",
    "CostEstimate",
    "DayModelTable",
    "Grouping",
    "RepriceResult",
    "UsageReport",
    "UsageService",
    "UsageTotals",
    "budget_clause",
    "cost_phrase",
    "dollars",
    "estimate",
    "past_image_costs",
    "period_label",
    "text_bar",
]

#: How many past images of the same model, size and quality a token-priced estimate looks at.
HISTORY_IMAGES = 200
#: The share of the monthly budget at which dalletui starts to warn.
BUDGET_NEAR = Decimal("0.8")
#: How many periods a report covers when no ``since`` is given (a model report: all time).
DEFAULT_SPAN: dict[str, int] = {"day": 30, "week": 12, "month": 12}


# -- periods ----------------------------------------------------------------------------------


def period_start(day: dt.date, by: Grouping) -> dt.date:
    """The first day of the day, ISO week or month holding ``day``."""
    if by == "week":
        return start_of_week(day)
    if by == "month":
        return start_of_month(day)
    return day


def next_period(start: dt.date, by: Grouping) -> dt.date:
    """The first day of the period after the one starting on ``start``."""
    if by == "week":
        return start + dt.timedelta(weeks=1)
    if by == "month":
        return months_before(start, -1)
    return start + dt.timedelta(days=1)


def period_label(start: dt.date, by: Grouping) -> str:
    """``2026-11-30`` (a day), ``2026-W49`` (an ISO week), ``2026-11`` (a month)."""
    if by == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return start.strftime("%Y-%m")
    return start.isoformat()


def _key_start(key: str, by: Grouping) -> dt.date:
    """The first day of a period from storage's group key (a day, a Monday or ``YYYY-MM``)."""
    return dt.date.fromisoformat(f"{key}-01" if by == "month" else key[:10])


@dataclass
class UsageReport:
    """Totals per period (or model) over [since, until), and their sum."""

    by: Grouping
    since: dt.datetime | None
    until: dt.datetime | None
    periods: list[UsageTotals]
    total: UsageTotals

    @property
    def empty(self) -> bool:
        return self.total.empty


@dataclass
class DayModelTable:
    """The last days × the models used in them: totals per cell, per day, per model, overall.

    ``days`` lists the days with any usage, newest first; ``span`` is how many days were looked
    at (the rest were quiet). ``models`` are ordered by spend, then images.
    """

    span: int
    days: list[dt.date]
    models: list[str]
    cells: dict[tuple[dt.date, str], UsageTotals]
    day_totals: dict[dt.date, UsageTotals]
    model_totals: dict[str, UsageTotals]
    total: UsageTotals

    def cell(self, day: dt.date, model: str) -> UsageTotals | None:
        return self.cells.get((day, model))


#: Eighths of a cell, for bars drawn in Unicode block elements.
_EIGHTHS = " ▏▎▍▌▋▊▉"


def text_bar(value: float, maximum: float, width: int, *, ascii_only: bool = False) -> str:
    """A horizontal bar ``width`` cells long at ``maximum``, in eighths of a cell (``ascii_only``:
    whole ``#`` cells); any non-zero value shows at least a sliver, zero shows nothing."""
    if maximum <= 0 or value <= 0 or width <= 0:
        return ""
    if ascii_only:
        return "#" * max(1, round(value / maximum * width))
    eighths = max(1, round(value / maximum * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


# -- what a request may cost ------------------------------------------------------------------

EstimateBasis = Literal["per_image", "history", "unknown", "offline"]


@dataclass(frozen=True)
class CostEstimate:
    """What a request or batch may cost before it is sent: exact, a range, free, or unknown
    (never $0)."""

    #: USD; None when unknown.
    low: Decimal | None
    high: Decimal | None
    images: int
    basis: EstimateBasis
    #: How many past images a ``history`` range was drawn from.
    samples: int = 0
    #: Why the cost is unknown (a phrase), for ``unknown``.
    reason: str = ""
    #: What the past samples were: ``image`` (generations) or ``edit``.
    unit: str = "image"

    @property
    def known(self) -> bool:
        return self.high is not None

    def amount(self) -> str | None:
        """The money part: ``$0.48`` or ``$0.31–$0.62`` (None when unknown or offline)."""
        if self.basis == "offline" or self.low is None or self.high is None:
            return None
        if self.low == self.high:
            return format_money(self.high)
        return f"{format_money(self.low)}–{format_money(self.high)}"

    def describe(self) -> str:
        """``$0.48``, ``$0.31–$0.62 (from 40 past images)``, ``free (offline)``, ``unknown (…)``."""
        if self.basis == "offline":
            return "free (offline)"
        amount = self.amount()
        if amount is None:
            return f"unknown ({self.reason})" if self.reason else "unknown"
        if self.basis == "history":
            return f"{amount} (from {self.past_images})"
        return amount

    @property
    def past_images(self) -> str:
        """``40 past images``: what a ``history`` range was drawn from."""
        return f"{self.samples} past {self.unit}" + ("" if self.samples == 1 else "s")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: amounts as strings (exact), None when unknown."""
        return {
            "low": None if self.low is None else str(self.low),
            "high": None if self.high is None else str(self.high),
            "images": self.images,
            "basis": self.basis,
            "samples": self.samples,
            "reason": self.reason or None,
            "text": self.describe(),
        }


#: The generation kinds whose past costs an edit's estimate is drawn from.
EDIT_KINDS = ("edit", "variation")


def past_image_costs(
    db: DatabaseManager,
    model: str,
    size: str,
    quality: str,
    limit: int = HISTORY_IMAGES,
    kinds: tuple[str, ...] = ("generate",),
) -> list[Decimal]:
    """Per-image costs of the last ``limit`` succeeded API images of this model, size, quality,
    made as ``kinds`` (an edit also pays for its input images, so edits go by past edits).

    From the ledger (one row per billed image), joined to the generation that succeeded; rows
    whose cost is unknown, offline images and possibly billed requests are left out.
    """
    return db.recent_image_costs(model, size, quality, limit, kinds)


def estimate(
    catalog: ModelCatalog,
    db: DatabaseManager,
    request: GenerationRequest,
    images: int,
    offline: bool,
) -> CostEstimate:
    """What ``images`` images of ``request`` may cost: catalogue price, past range, or unknown."""
    if offline:
        return CostEstimate(Decimal(0), Decimal(0), images, "offline")
    spec = catalog.get(request.model)
    where = f"{request.size}, {request.quality} quality"
    if spec is None:
        reason = f"{request.model} is not in dalletui's catalogue"
        return CostEstimate(None, None, images, "unknown", reason=reason)
    if spec.token_prices.known:
        editing = isinstance(request, EditRequest)
        kinds = EDIT_KINDS if editing else ("generate",)
        costs = past_image_costs(db, spec.name, request.size, request.quality, kinds=kinds)
        if not costs and editing:
            reason = (
                f"an edit also pays for the tokens of its input images; no past edit with "
                f"{spec.name} at {where} to go by"
            )
            return CostEstimate(None, None, images, "unknown", reason=reason)
        if not costs:
            reason = f"{spec.name} is priced by tokens; no past image at {where} to go by"
            return CostEstimate(None, None, images, "unknown", reason=reason)
        return CostEstimate(
            min(costs) * images,
            max(costs) * images,
            images,
            "history",
            samples=len(costs),
            unit="edit" if editing else "image",
        )
    price = spec.per_image_price(request.quality, request.size)
    if price is None:
        reason = f"the catalogue has no price for {spec.name} at {where}"
        return CostEstimate(None, None, images, "unknown", reason=reason)
    total = price.amount * images
    return CostEstimate(total, total, images, "per_image")


def cost_phrase(cost: CostEstimate) -> str:
    """``estimated $0.48``, ``estimated $0.31–$0.62, from 40 past images``, ``cost unknown: …``."""
    amount = cost.amount()
    if cost.basis == "offline":
        return "free, offline"
    if amount is None:
        return f"cost unknown: {cost.reason}" if cost.reason else "cost unknown"
    if cost.basis == "history":
        return f"estimated {amount}, from {cost.past_images}"
    return f"estimated {amount}"


# -- the monthly budget -----------------------------------------------------------------------


def dollars(amount: Decimal | float) -> str:
    """Dollars and cents, for budgets and spend: ``$1,234.50``, ``$0.50``; an amount that
    rounds to no cents at all keeps its fraction (``$0.0044``), never ``$0.00``."""
    value = Decimal(str(amount))
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value and not cents:  # under half a cent: $0.0044, not a misleading $0.00
        return format_money(value)
    return f"${cents:,}"


def _budget(value: Decimal | float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def budget_clause(cost: CostEstimate, budget: Decimal | float | None, month_spend: Decimal) -> str:
    """`` This would pass your monthly budget of $10.00 ($9.10 spent this month).`` or ``""``.

    An unknown estimate may pass it (said so); an offline request never does.
    """
    limit = _budget(budget)
    if limit is None or cost.basis == "offline":
        return ""
    spent = f"{dollars(month_spend)} spent this month"
    if cost.high is None:
        return f" It may pass your monthly budget of {dollars(limit)} ({spent})."
    if month_spend + cost.high > limit:
        return f" This would pass your monthly budget of {dollars(limit)} ({spent})."
    return ""


@dataclass(frozen=True)
class BudgetStatus:
    """This month's spend against ``settings.monthly_budget``."""

    budget: Decimal
    month: UsageTotals

    @property
    def spent(self) -> Decimal:
        return self.month.cost

    @property
    def percent(self) -> int:
        """Whole percent of the budget spent (rounded down: 79.9% does not warn as 80%)."""
        if self.budget <= 0:
            return 100 if self.spent > 0 else 0
        return int((self.spent * 100 / self.budget).to_integral_value(rounding=ROUND_FLOOR))

    @property
    def level(self) -> Literal["ok", "near", "over"]:
        """``near`` from 80% of the budget, ``over`` from 100%."""
        if self.spent >= self.budget:
            return "over"
        if self.spent >= self.budget * BUDGET_NEAR:
            return "near"
        return "ok"

    def spent_text(self) -> str:
        """``$8.40``, or ``at least $8.40`` when some of this month's cost is unknown."""
        text = dollars(self.spent)
        return text if self.month.cost_known else f"at least {text}"

    def warning(self) -> str | None:
        """One sentence with the numbers, from 80% of the budget; None below."""
        level, budget = self.level, dollars(self.budget)
        if level == "ok":
            return None
        spent = f"This month's spend, {self.spent_text()},"
        if level == "near":
            return f"{spent} is {self.percent}% of your monthly budget of {budget}."
        verb = "has reached" if self.spent == self.budget else "has passed"
        return f"{spent} {verb} your monthly budget of {budget} ({self.percent}%)."

    def short(self) -> str | None:
        """For the status line: ``budget 84% ($8.40 of $10.00)``, ``over budget: …``; None below."""
        level = self.level
        if level == "ok":
            return None
        numbers = f"{self.spent_text()} of {dollars(self.budget)}"
        if level == "near":
            return f"budget {self.percent}% ({numbers})"
        return f"over budget: {numbers}"

    def describe(self) -> str:
        """``Monthly budget $10.00 · $8.40 spent this month (84%)``; past it, ``Over budget: $10.40
        of $10.00 spent this month (104%)``."""
        spent, budget = self.spent_text(), dollars(self.budget)
        if self.level == "over":
            return f"Over budget: {spent} of {budget} spent this month ({self.percent}%)"
        return f"Monthly budget {budget} · {spent} spent this month ({self.percent}%)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "monthly_budget": f"{self.budget:.6f}",
            "spent_this_month": f"{self.spent:.6f}",
            "spent_known": self.month.cost_known,
            "percent": self.percent,
            "level": self.level,
            "warning": self.warning(),
        }


# -- the service ------------------------------------------------------------------------------


class UsageService:
    """Read-only view of ``usage_stats`` aggregates (all computed in SQL by the manager).

    ``catalog`` prices estimates (and ``reprice``); ``monthly_budget`` (US dollars, None for no
    budget) is what ``budget`` and ``budget_question`` measure against.
    """

    def __init__(
        self,
        db: DatabaseManager,
        catalog: ModelCatalog | None = None,
        monthly_budget: Decimal | float | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.monthly_budget = _budget(monthly_budget)

    # -- periods up to now --------------------------------------------------------------

    @staticmethod
    def _today() -> dt.date:
        return local(now()).date()

    def _since(self, start: dt.date, label: str) -> UsageTotals:
        totals = self.db.usage_totals(since=start_of_day(start))
        totals.label = label
        totals.start = start
        return totals

    def today(self) -> UsageTotals:
        return self._since(self._today(), "today")

    def this_week(self) -> UsageTotals:
        """Since Monday (ISO weeks), local time."""
        return self._since(start_of_week(self._today()), "this week")

    def this_month(self) -> UsageTotals:
        return self._since(start_of_month(self._today()), "this month")

    def all_time(self) -> UsageTotals:
        return self.db.usage_totals()

    def summary(self) -> list[UsageTotals]:
        """Today, this week, this month and all time."""
        return [self.today(), self.this_week(), self.this_month(), self.all_time()]

    def by_day(self, days: int = 30) -> list[UsageTotals]:
        return self.db.usage_by_day(days, today=self._today())

    def by_model(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[UsageTotals]:
        return self.db.usage_by_model(since, until)

    # -- reports ------------------------------------------------------------------------

    def default_since(self, by: Grouping) -> dt.datetime | None:
        """Where a report starts without ``since``: 30 days, 12 weeks, 12 months; models: ever."""
        span = DEFAULT_SPAN.get(by)
        if span is None:
            return None
        today = self._today()
        if by == "month":
            first = months_before(start_of_month(today), span - 1)
        elif by == "week":
            first = start_of_week(today) - dt.timedelta(weeks=span - 1)
        else:
            first = today - dt.timedelta(days=span - 1)
        return start_of_day(first)

    def report(
        self,
        by: Grouping,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> UsageReport:
        """Totals per ``by`` over [since, until); every period listed, quiet ones too.

        Without ``since`` a period report covers ``DEFAULT_SPAN`` periods up to today; periods
        run up to the one holding ``until`` (or today, whichever is earlier).
        """
        if by not in GROUPINGS:
            raise ValueError(f"cannot group usage by {by!r}; one of {', '.join(GROUPINGS)}")
        if since is None:
            since = self.default_since(by)
        rows = self.db.usage_grouped(by, since, until)
        periods = rows if by == "model" else self._every_period(by, rows, since, until)
        total = UsageTotals(label="total")
        for row in periods:
            total = total + row
        total.label = "total"
        return UsageReport(by=by, since=since, until=until, periods=periods, total=total)

    def _every_period(
        self,
        by: Grouping,
        rows: Sequence[UsageTotals],
        since: dt.datetime | None,
        until: dt.datetime | None,
    ) -> list[UsageTotals]:
        found = {_key_start(row.label, by): row for row in rows}
        today = self._today()
        last_day = today
        if until is not None:
            # ``until`` is exclusive: the last period is the one holding the moment before it.
            last_day = min(today, (local(until) - dt.timedelta(microseconds=1)).date())
        starts = sorted(found)
        if since is not None:
            first = period_start(local(since).date(), by)
        elif starts:
            first = starts[0]
        else:
            first = period_start(last_day, by)
        last = period_start(last_day, by)
        if starts:  # rows outside the span still show (a clock set wrong, a future row)
            first, last = min(first, starts[0]), max(last, starts[-1])
        periods: list[UsageTotals] = []
        start = first
        while start <= last:
            end = next_period(start, by)
            totals = found.get(start) or UsageTotals()
            totals.label = period_label(start, by)
            totals.start, totals.end = start, end
            periods.append(totals)
            start = end
        return periods

    def day_model_table(self, days: int = 14) -> DayModelTable:
        """The last ``days`` days × the models used in them (quiet days left out)."""
        today = self._today()
        first = today - dt.timedelta(days=days - 1)
        cells_list: list[UsageCell] = self.db.usage_by_day_and_model(start_of_day(first))
        cells: dict[tuple[dt.date, str], UsageTotals] = {}
        day_totals: dict[dt.date, UsageTotals] = {}
        model_totals: dict[str, UsageTotals] = {}
        total = UsageTotals(label="total")
        for cell in cells_list:
            cells[(cell.day, cell.model)] = cell.totals
            day_totals[cell.day] = day_totals.get(cell.day, UsageTotals()) + cell.totals
            model_totals[cell.model] = model_totals.get(cell.model, UsageTotals()) + cell.totals
            total = total + cell.totals
        for day, totals in day_totals.items():
            totals.label, totals.start = day.isoformat(), day
        for model, totals in model_totals.items():
            totals.label = model
        models = sorted(
            model_totals, key=lambda m: (-model_totals[m].cost, -model_totals[m].images, m)
        )
        return DayModelTable(
            span=days,
            days=sorted(day_totals, reverse=True),
            models=models,
            cells=cells,
            day_totals=day_totals,
            model_totals=model_totals,
            total=total,
        )

    # -- the budget and estimates -------------------------------------------------------

    def budget(self) -> BudgetStatus | None:
        """This month's spend against the monthly budget; None when no budget is set."""
        if self.monthly_budget is None:
            return None
        return BudgetStatus(self.monthly_budget, self.this_month())

    def estimate(self, request: GenerationRequest, offline: bool) -> CostEstimate:
        """What ``request`` (its ``n`` images) may cost."""
        if self.catalog is None:
            raise RuntimeError("UsageService needs the model catalogue to estimate a cost")
        return estimate(self.catalog, self.db, request, request.n, offline)

    def budget_question(self, request: GenerationRequest, offline: bool) -> str | None:
        """The question to ask before sending ``request``: None unless it may pass the budget.

        Offline requests and requests without a budget set are never asked about (and cost
        no query); an unknown estimate counts as possibly over, as for batches.
        """
        if self.monthly_budget is None or offline:
            return None
        cost = self.estimate(request, offline)
        clause = budget_clause(cost, self.monthly_budget, self.this_month().cost)
        if not clause:
            return None
        images = f"{request.n} image" + ("" if request.n == 1 else "s")
        return f"Send {images} ({cost_phrase(cost)})?{clause}"

    # -- repricing ----------------------------------------------------------------------

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

    priced: list[tuple[int, Decimal]] = field(default_factory=list)
    still_unknown: int = 0

    @property
    def total(self) -> Decimal:
        return sum((cost for _, cost in self.priced), Decimal(0))
