"""Usage reports against hand-computed totals, grouped by local time in zones other than UTC.

Ledger rows are written at chosen local wall-clock times around a week and a month boundary
(Sunday 29 November to Wednesday 2 December 2026, and the last minutes of October), the clock is
fixed at Wednesday 10:00, and every total below was worked out by hand from the table ``ROWS``.
The same wall-clock times must give the same report in every zone: the stored instants are UTC,
and the grouping is the user's local day, ISO week and month.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services
from dalletui.services.usage import (
    BudgetStatus,
    CostEstimate,
    UsageService,
    UsageTotals,
    budget_clause,
    period_label,
    text_bar,
)
from dalletui.storage import DatabaseManager
from dalletui.storage.models import UsageStat

MINI, BEST, DALLE = "gpt-image-1-mini", "gpt-image-1.5", "dall-e-3"

#: (local wall-clock time, model, cost or None when unknown, tokens in, tokens out).
ROWS = [
    ("A", dt.datetime(2026, 11, 29, 23, 30), BEST, Decimal("0.042"), 40, 4160),  # Sunday
    ("B", dt.datetime(2026, 11, 30, 0, 15), BEST, Decimal("0.167"), 55, 6240),  # Monday
    ("C", dt.datetime(2026, 11, 30, 23, 59), MINI, None, 30, 1056),
    ("D", dt.datetime(2026, 12, 1, 0, 0, 30), MINI, Decimal("0.011"), 30, 1056),  # the 1st
    ("E", dt.datetime(2026, 12, 2, 9, 0), DALLE, Decimal("0.08"), 0, 0),  # today
    ("G", dt.datetime(2026, 10, 31, 23, 45), DALLE, Decimal("0.04"), 0, 0),  # a Saturday
]
#: A request whose outcome is unknown (a timeout): counted apart, cost unknown.
POSSIBLY_BILLED_AT = dt.datetime(2026, 12, 1, 12, 0)
NOW = dt.datetime(2026, 12, 2, 10, 0)  # a Wednesday; the week began on Monday 30 November

ZONES = ["America/Los_Angeles", "Asia/Tokyo", "UTC"]


@pytest.fixture(params=ZONES)
def zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run in another local time zone (TZ and tzset, so SQLite's 'localtime' follows too)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def clock(zone: str, monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    fixed = NOW.astimezone()  # Wednesday 10:00 on this zone's clock
    monkeypatch.setattr("dalletui.services.usage.now", lambda: fixed)
    return fixed


def seed_ledger(db: DatabaseManager) -> None:
    """The rows of ``ROWS`` and the possibly billed request, at their local times."""
    for name, when, model, cost, tokens_in, tokens_out in ROWS:
        prompt = db.record_prompt_use(f"row {name}")
        (row,) = db.create_generations(
            prompt,
            1,
            provider="openai",
            model=model,
            size="1024x1024",
            quality="medium",
            output_format="png",
        )
        db.finish_generation(
            row.id,
            status="succeeded",
            usage={
                "cost": cost,
                "input_text_tokens": tokens_in,
                "output_image_tokens": tokens_out,
                "created_at": when.astimezone(),
            },
        )
    prompt = db.record_prompt_use("timed out")
    rows = db.create_generations(
        prompt, 2, provider="openai", model=BEST, size="1024x1024", quality="medium",
        output_format="png",
    )  # fmt: skip
    db.mark_possibly_billed(
        [r.id for r in rows],
        "timeout",
        "No answer.",
        ledger={"created_at": POSSIBLY_BILLED_AT.astimezone()},
    )


@pytest.fixture
def usage(services: Services, clock: dt.datetime) -> UsageService:
    seed_ledger(services.db)
    return services.usage


def numbers(totals: UsageTotals) -> tuple[int, str, int, int, int, int]:
    """(images, cost, unknown, possibly billed, tokens in, tokens out)."""
    return (
        totals.images,
        str(totals.cost.normalize()) if totals.cost else "0",
        totals.unknown_cost_count,
        totals.possibly_billed,
        totals.input_tokens,
        totals.output_tokens,
    )


def test_rows_are_stored_in_utc_and_some_fall_on_another_utc_day(
    usage: UsageService, zone: str
) -> None:
    sql = "SELECT created_at FROM usage_stats ORDER BY id"
    stored = [row[0] for row in usage.db.db.execute_sql(sql)]
    assert all(text.endswith("+00:00") for text in stored)
    read = [row.created_at for row in UsageStat.select().order_by(UsageStat.id)]
    assert all(moment.tzinfo is not None for moment in read)
    assert [moment.replace(tzinfo=None) for moment in read[: len(ROWS)]] == [r[1] for r in ROWS]
    if zone != "UTC":  # the test means something: a UTC grouping would count a row elsewhere
        utc_days = [text[:10] for text in stored[: len(ROWS)]]
        local_days = [r[1].date().isoformat() for r in ROWS]
        assert utc_days != local_days


def test_today_week_month_and_all_time_are_the_hand_computed_totals(
    usage: UsageService,
) -> None:
    # today: E only
    assert numbers(usage.today()) == (1, "0.08", 0, 0, 0, 0)
    # since Monday 30 Nov: B, C (unknown), D, E and the possibly billed request
    assert numbers(usage.this_week()) == (4, "0.258", 1, 1, 115, 8352)
    # since 1 Dec: D, E and the possibly billed request (C at 23:59 on the 30th is November's)
    assert numbers(usage.this_month()) == (2, "0.091", 0, 1, 30, 1056)
    # everything: the unknown cost and the possibly billed request are counted, not added
    all_time = usage.all_time()
    assert numbers(all_time) == (6, "0.34", 1, 1, 155, 12512)
    assert not all_time.cost_known
    assert [t.label for t in usage.summary()] == ["today", "this week", "this month", "all time"]


def test_by_day_lists_every_day_and_counts_each_row_on_its_local_day(
    usage: UsageService,
) -> None:
    since = dt.datetime(2026, 11, 28).astimezone()
    report = usage.report("day", since=since)
    shown = {t.label: numbers(t) for t in report.periods}
    assert list(shown) == ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
    assert shown == {
        "2026-11-28": (0, "0", 0, 0, 0, 0),
        "2026-11-29": (1, "0.042", 0, 0, 40, 4160),  # A, 23:30
        "2026-11-30": (2, "0.167", 1, 0, 85, 7296),  # B at 00:15 and C at 23:59
        "2026-12-01": (1, "0.011", 0, 1, 30, 1056),  # D at 00:00:30, the possibly billed
        "2026-12-02": (1, "0.08", 0, 0, 0, 0),
    }
    assert numbers(report.total) == (5, "0.3", 1, 1, 155, 12512)
    first = report.periods[0]
    assert (first.start, first.end) == (dt.date(2026, 11, 28), dt.date(2026, 11, 29))


def test_until_is_exclusive_and_a_range_in_the_past_stops_there(usage: UsageService) -> None:
    since = dt.datetime(2026, 11, 29).astimezone()
    until = dt.datetime(2026, 11, 30, 23, 59).astimezone()  # C at 23:59 is left out
    report = usage.report("day", since=since, until=until)
    assert [(t.label, t.images, t.unknown_cost_count) for t in report.periods] == [
        ("2026-11-29", 1, 0),
        ("2026-11-30", 1, 0),
    ]


def test_by_week_starts_on_monday(usage: UsageService) -> None:
    report = usage.report("week", since=dt.datetime(2026, 10, 26).astimezone())
    shown = {t.start.isoformat(): numbers(t) for t in report.periods if t.start}
    assert list(shown) == [
        "2026-10-26",
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
    ]
    assert shown["2026-10-26"] == (1, "0.04", 0, 0, 0, 0)  # G, Saturday 31 Oct
    assert shown["2026-11-23"] == (1, "0.042", 0, 0, 40, 4160)  # A, Sunday 29 Nov
    assert shown["2026-11-30"] == numbers(usage.this_week())  # Monday on
    assert report.periods[-1].label == "2026-W49"


def test_by_month_and_by_model(usage: UsageService) -> None:
    months = usage.report("month", since=dt.datetime(2026, 10, 1).astimezone())
    assert {t.label: numbers(t) for t in months.periods} == {
        "2026-10": (1, "0.04", 0, 0, 0, 0),  # G at 23:45 on the 31st
        "2026-11": (3, "0.209", 1, 0, 125, 11456),  # A, B, C
        "2026-12": (2, "0.091", 0, 1, 30, 1056),  # D, E, the possibly billed request
    }
    models = usage.report("model")
    assert {t.label: numbers(t)[:4] for t in models.periods} == {
        BEST: (2, "0.209", 0, 1),
        MINI: (2, "0.011", 1, 0),
        DALLE: (2, "0.12", 0, 0),
    }
    assert numbers(models.total)[:4] == (6, "0.34", 1, 1)


def test_default_spans_end_today(usage: UsageService) -> None:
    days = usage.report("day")
    assert len(days.periods) == 30 and days.periods[-1].label == "2026-12-02"
    weeks = usage.report("week")
    assert len(weeks.periods) == 12 and weeks.periods[-1].start == dt.date(2026, 11, 30)
    months = usage.report("month")
    assert [t.label for t in months.periods][-3:] == ["2026-10", "2026-11", "2026-12"]
    assert len(months.periods) == 12 and months.periods[0].label == "2026-01"


def test_day_by_model_table(usage: UsageService) -> None:
    table = usage.day_model_table(14)
    assert table.days == [
        dt.date(2026, 12, 2),
        dt.date(2026, 12, 1),
        dt.date(2026, 11, 30),
        dt.date(2026, 11, 29),
    ]
    assert table.models == [BEST, DALLE, MINI]  # by spend
    cell = table.cell
    assert numbers(cell(dt.date(2026, 11, 30), BEST))[:4] == (1, "0.167", 0, 0)
    assert numbers(cell(dt.date(2026, 11, 30), MINI))[:4] == (1, "0", 1, 0)  # unknown, not $0
    assert numbers(cell(dt.date(2026, 12, 1), BEST))[:4] == (0, "0", 0, 1)  # possibly billed
    assert cell(dt.date(2026, 12, 2), BEST) is None
    assert numbers(table.day_totals[dt.date(2026, 12, 1)])[:4] == (1, "0.011", 0, 1)
    assert numbers(table.model_totals[BEST])[:4] == (2, "0.209", 0, 1)
    assert numbers(table.total)[:4] == (5, "0.3", 1, 1)  # G is older than 14 days
    short = usage.day_model_table(1)
    assert short.days == [dt.date(2026, 12, 2)] and short.models == [DALLE]


def test_by_day_keeps_its_thirty_day_shape(usage: UsageService) -> None:
    days = usage.by_day(30)
    assert len(days) == 30 and days[-1].label == "2026-12-02"
    assert [d.images for d in days[-4:]] == [1, 2, 1, 1]


def test_period_labels() -> None:
    assert period_label(dt.date(2026, 11, 30), "week") == "2026-W49"
    assert period_label(dt.date(2026, 12, 28), "week") == "2026-W53"
    assert period_label(dt.date(2027, 1, 4), "week") == "2027-W01"
    assert period_label(dt.date(2026, 12, 1), "month") == "2026-12"
    assert period_label(dt.date(2026, 12, 1), "day") == "2026-12-01"


def test_text_bars() -> None:
    assert text_bar(10, 10, 4) == "████"
    assert text_bar(1, 10, 4) == "▍"
    assert text_bar(0.001, 10, 4) == "▏"  # never invisible when non-zero
    assert text_bar(0, 10, 4) == "" and text_bar(3, 0, 4) == ""
    assert text_bar(5, 10, 4, ascii_only=True) == "##"
    assert text_bar(0.01, 10, 4, ascii_only=True) == "#"


# -- the monthly budget -----------------------------------------------------------------------


def status(spent: str, budget: str = "10", *, unknown: int = 0) -> BudgetStatus:
    month = UsageTotals(images=3, cost=Decimal(spent), unknown_cost_count=unknown)
    return BudgetStatus(Decimal(budget), month)


def test_the_budget_warns_from_eighty_percent_and_says_when_it_is_passed() -> None:
    assert status("7.99").level == "ok" and status("7.99").warning() is None
    assert status("7.99").short() is None
    near = status("8.00")
    assert near.level == "near" and near.percent == 80
    assert near.warning() == "This month's spend, $8.00, is 80% of your monthly budget of $10.00."
    assert near.short() == "budget 80% ($8.00 of $10.00)"
    assert status("9.999").percent == 99 and status("9.999").level == "near"  # not rounded up
    reached = status("10")
    assert reached.level == "over"
    assert reached.warning() == (
        "This month's spend, $10.00, has reached your monthly budget of $10.00 (100%)."
    )
    over = status("12.5", unknown=2)
    assert over.warning() == (
        "This month's spend, at least $12.50, has passed your monthly budget of $10.00 (125%)."
    )
    assert over.short() == "over budget: at least $12.50 of $10.00"
    assert over.describe() == "Over budget: at least $12.50 of $10.00 spent this month (125%)"
    assert status("2").describe() == "Monthly budget $10.00 · $2.00 spent this month (20%)"
    assert over.to_dict()["spent_this_month"] == "12.500000"


def test_budget_clause_counts_an_unknown_estimate_as_possibly_over() -> None:
    known = CostEstimate(Decimal("0.5"), Decimal("0.5"), 1, "per_image")
    unknown = CostEstimate(None, None, 1, "unknown", reason="no past image")
    free = CostEstimate(Decimal(0), Decimal(0), 1, "offline")
    assert budget_clause(known, None, Decimal(100)) == ""
    assert budget_clause(known, 10, Decimal("9.5")) == ""  # exactly at the budget: not past it
    assert budget_clause(known, 10, Decimal("9.51")) == (
        " This would pass your monthly budget of $10.00 ($9.51 spent this month)."
    )
    assert "may pass your monthly budget" in budget_clause(unknown, 10, Decimal(0))
    assert budget_clause(free, 10, Decimal(99)) == ""


def test_budget_question_for_one_request(services: Services, clock: dt.datetime) -> None:
    seed_ledger(services.db)  # this month: $0.091 known, one request possibly billed
    catalog = services.generation.catalog
    dalle = GenerationRequest(prompt="a fox", model=DALLE, size="1024x1024", quality="standard")
    within = UsageService(services.db, catalog, monthly_budget=1)
    assert within.budget_question(dalle, offline=False) is None  # $0.091 + $0.04 <= $1
    tight = UsageService(services.db, catalog, monthly_budget=Decimal("0.12"))
    assert tight.budget_question(dalle, offline=False) == (
        "Send 1 image (estimated $0.0400)? This would pass your monthly budget of $0.12 "
        "($0.09 spent this month)."
    )
    assert tight.budget_question(dalle, offline=True) is None  # offline is free
    no_budget = UsageService(services.db, catalog)
    assert no_budget.budget() is None and no_budget.budget_question(dalle, False) is None
    # gpt-image-1.5 is priced by tokens; with no past image at this size the cost is unknown
    best = GenerationRequest(prompt="a fox", model=BEST, size="1536x1024", quality="high", n=2)
    question = within.budget_question(best, offline=False)
    assert question is not None and question.startswith("Send 2 images (cost unknown: ")
    assert "It may pass your monthly budget of $1.00" in question
    assert tight.budget() == BudgetStatus(Decimal("0.12"), tight.this_month())
