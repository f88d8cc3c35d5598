"""Usage screen through the pilot: its numbers are the service's, unknown costs stay unknown."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import DataTable, Sparkline, Static, TextArea

from dalletui.config import Settings
from dalletui.formatting import format_money
from dalletui.services.context import Services, open_services
from dalletui.storage.models import Generation, Prompt, UsageStat
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens.usage import TABLE_DAYS, UsageScreen
from dalletui.tui.widgets.confirm import ConfirmModal
from dalletui.tui.widgets.status import StatusLine
from dalletui.tui.widgets.usage_cards import money
from dalletui.tui.widgets.usage_chart import DailyChart, bar, day_label
from tests.fakes import FakeOpenAIServer

# (days ago, model, cost, input tokens, output tokens); None is a cost nobody could compute.
ROWS = [
    (0, "gpt-image-1.5", Decimal("0.042"), 40, 4160),
    (0, "gpt-image-1-mini", None, 30, 1056),
    (2, "gpt-image-1.5", Decimal("0.167"), 55, 6240),
    (40, "dall-e-3", Decimal("0.08"), 0, 0),
]


def seed_usage(services: Services, rows=ROWS, noon: dt.datetime | None = None) -> None:
    """Generations with usage rows, through the same storage calls the generator uses."""
    noon = noon or dt.datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)
    prompt = services.db.record_prompt_use("a red fox in the snow")
    for days_ago, model, cost, tokens_in, tokens_out in rows:
        (row,) = services.db.create_generations(
            prompt,
            1,
            provider="openai",
            model=model,
            size="1024x1024",
            quality="medium",
            output_format="png",
        )
        services.db.finish_generation(
            row.id,
            status="succeeded",
            usage={
                "cost": cost,
                "input_text_tokens": tokens_in,
                "output_image_tokens": tokens_out,
                "created_at": noon - dt.timedelta(days=days_ago),
            },
        )


def card_lines(screen: UsageScreen, card_id: str) -> list[str]:
    return str(screen.query_one(card_id, Static).content).splitlines()


async def open_usage(app: DalleTuiApp, pilot) -> UsageScreen:  # noqa: ANN001
    await pilot.press("f5")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, UsageScreen)
    return app.screen


async def test_cards_and_model_table_show_the_services_numbers(
    app: DalleTuiApp, services: Services
) -> None:
    seed_usage(services)
    usage = services.usage
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_usage(app, pilot)
        for card_id, totals in (
            ("#usage-today", usage.today()),
            ("#usage-week", usage.this_week()),
            ("#usage-all", usage.all_time()),
            ("#usage-month", usage.this_month()),
        ):
            assert card_lines(screen, card_id) == [
                f"{totals.images:,} image{'s' if totals.images != 1 else ''}",
                money(totals),
                f"{totals.input_tokens:,} tokens in",
                f"{totals.output_tokens:,} tokens out",
            ]
        # Unknown costs are counted and said, never folded into zero.
        all_time = usage.all_time()
        assert all_time.unknown_cost_count == 1
        assert card_lines(screen, "#usage-all")[:2] == ["4 images", "$0.2890 + 1 unknown"]
        assert card_lines(screen, "#usage-today")[1] == "$0.0420 + 1 unknown"

        table = screen.query_one("#usage-model-table", DataTable)
        shown = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        headings = [str(column.label) for column in table.ordered_columns]
        # An unknown column because one model has an image of unknown cost; no possibly billed.
        assert headings == ["Model", "Images", "Tokens in", "Tokens out", "Cost", "Unknown"]
        assert shown == [
            [
                row.label,
                f"{row.images:,}",
                f"{row.input_tokens:,}",
                f"{row.output_tokens:,}",
                ("" if row.cost_known else "≥") + format_money(row.cost),
                f"{row.unknown_cost_count}",
            ]
            for row in usage.by_model()
        ]
        assert ["gpt-image-1-mini", "1", "30", "1,056", "≥$0.00", "1"] in shown
        assert ["gpt-image-1.5", "2", "95", "10,400", "$0.2090", "0"] in shown


async def test_daily_chart_lists_active_days_and_toggles_its_metric(
    app: DalleTuiApp, services: Services
) -> None:
    seed_usage(services)
    days = services.usage.by_day(30)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_usage(app, pilot)
        chart = screen.query_one(DailyChart)
        sparkline = screen.query_one(Sparkline)
        assert chart.values == [float(day.cost) for day in days]
        cells = len(sparkline.data or []) // 30  # every day gets the same number of cells
        assert cells >= 2
        assert list(sparkline.data or []) == [v for v in chart.values for _ in range(cells)]
        table = screen.query_one("#usage-day-table", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert [row[:3] for row in rows] == [
            ["today", "2", "$0.0420 + 1 unknown"],
            [day_label(days[-3].label, days[-1].label), "1", "$0.1670"],
        ]
        assert rows[1][3] == "█" * 20  # the busiest day fills the bar
        assert "28 quiet days" in str(screen.query_one("#usage-quiet", Static).content)
        await pilot.press("m")
        await pilot.pause()
        assert chart.values == [float(day.images) for day in days]
        assert list(sparkline.data or [])[::cells] == chart.values
        assert "images" in str(screen.query_one("#usage-days").border_title)


async def test_empty_history_and_refresh_on_return(app: DalleTuiApp, services: Services) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_usage(app, pilot)
        assert card_lines(screen, "#usage-all")[:2] == ["0 images", format_money(Decimal(0))]
        assert not screen.query_one("#usage-possibly-billed").display  # said only when any
        assert "No images in this period" in str(screen.query_one("#usage-quiet", Static).content)
        assert screen.metric == "images"  # nothing spent: chart what there is
        await pilot.press("f4")
        await pilot.pause()
        seed_usage(services, ROWS[:1])
        await pilot.press("f5")  # on_screen_resume reloads
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert card_lines(screen, "#usage-today")[:2] == ["1 image", "$0.0420"]


def test_bar_scales_in_eighths() -> None:
    assert bar(0, 10) == "" and bar(5, 0) == ""
    assert bar(10, 10, width=4) == "████"
    assert bar(5, 10, width=4) == "██"
    assert bar(1, 10, width=4) == "▍"  # 3.2 eighths, rounded
    assert bar(0.001, 10, width=4) == "▏"  # never invisible when non-zero


def test_day_labels_are_relative_to_the_last_day() -> None:
    assert day_label("2026-03-15", "2026-03-15") == "today"
    assert day_label("2026-03-14", "2026-03-15") == "yesterday"
    assert day_label("2026-03-09", "2026-03-15") == "Mon 09 Mar"


def seed_possibly_billed(services: Services, days_ago: int, model: str = "gpt-image-1.5") -> None:
    """One request whose outcome is unknown, recorded the way the generation service does."""
    noon = dt.datetime.now().replace(hour=12, minute=0, second=0, microsecond=0)
    prompt = services.db.record_prompt_use("a fox in the fog")
    rows = services.db.create_generations(
        prompt,
        2,
        provider="openai",
        model=model,
        size="1024x1024",
        quality="medium",
        output_format="png",
    )
    services.db.mark_possibly_billed(
        [row.id for row in rows],
        "timeout",
        "No answer; the request may have been billed.",
        request_id="req_fog",
        ledger={"created_at": noon - dt.timedelta(days=days_ago)},
    )


async def test_possibly_billed_requests_are_said_apart_and_no_total_reads_as_exact(
    app: DalleTuiApp, services: Services
) -> None:
    seed_usage(services)
    seed_possibly_billed(services, 0)
    seed_possibly_billed(services, 0)
    seed_possibly_billed(services, 40, model="dall-e-3")
    usage = services.usage
    assert (usage.today().possibly_billed, usage.all_time().possibly_billed) == (2, 3)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_usage(app, pilot)
        today = card_lines(screen, "#usage-today")
        assert today[:3] == [
            "2 images",  # a possibly billed request is no image
            "$0.0420 + 1 unknown",
            "+ 2 possibly billed",
        ]
        assert card_lines(screen, "#usage-all")[2] == "+ 3 possibly billed"
        month = card_lines(screen, "#usage-month")
        assert len(month) == len(today)  # cards side by side stay the same height
        expected = usage.this_month().possibly_billed
        assert month[2] == ("" if not expected else f"+ {expected} possibly billed")

        explained = screen.query_one("#usage-possibly-billed", Static)
        assert explained.display and "cost is unknown and not in these totals" in str(
            explained.content
        )

        table = screen.query_one("#usage-model-table", DataTable)
        shown = {
            str(table.get_row_at(i)[0]): [str(cell) for cell in table.get_row_at(i)[4:]]
            for i in range(table.row_count)
        }
        assert str(table.ordered_columns[-1].label) == "Possibly billed"
        assert shown["gpt-image-1.5"] == ["≥$0.2090", "0", "2"]  # cost, unknown, possibly billed
        assert shown["dall-e-3"] == ["≥$0.0800", "0", "1"]
        assert shown["gpt-image-1-mini"] == ["≥$0.00", "1", "0"]
        days = screen.query_one("#usage-day-table", DataTable)
        assert str(days.get_row_at(0)[2]) == "$0.0420 + 1 unknown + 2 possibly billed"


async def test_a_day_with_only_a_possibly_billed_request_is_listed(
    app: DalleTuiApp, services: Services
) -> None:
    seed_possibly_billed(services, 0)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_usage(app, pilot)
        assert card_lines(screen, "#usage-today")[:3] == [
            "0 images",
            "$0.00",
            "+ 1 possibly billed",
        ]
        days = screen.query_one("#usage-day-table", DataTable)
        assert [str(cell) for cell in days.get_row_at(0)][:3] == [
            "today",
            "0",
            "$0.00 + 1 possibly billed",
        ]


# -- this week, the day × model table, the budget ------------------------------------------


async def test_week_card_and_the_day_by_model_table_are_the_services(
    app: DalleTuiApp, services: Services
) -> None:
    seed_usage(services)
    seed_possibly_billed(services, 0)
    usage = services.usage
    grid = usage.day_model_table(TABLE_DAYS)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_usage(app, pilot)
        week = usage.this_week()
        assert card_lines(screen, "#usage-week")[:3] == [
            f"{week.images:,} image{'s' if week.images != 1 else ''}",
            money(week, possibly_billed=False),
            f"+ {week.possibly_billed} possibly billed" if week.possibly_billed else "",
        ]
        assert not screen.query_one("#usage-cards").has_class("-narrow")  # four in a row
        table = screen.query_one("#usage-day-model-table", DataTable)
        headings = [str(column.label) for column in table.ordered_columns]
        assert headings == ["Day", *grid.models, "Total"]
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        today = dt.date.today()

        def cost(totals) -> str:  # noqa: ANN001
            if totals is None or totals.empty:
                return "·"
            return ("" if totals.cost_known else "≥") + format_money(totals.cost)

        assert rows == [
            [
                day_label(day.isoformat(), today.isoformat()),
                *(cost(grid.cell(day, model)) for model in grid.models),
                cost(grid.day_totals[day]),
            ]
            for day in grid.days
        ] + [["Total", *(cost(grid.model_totals[m]) for m in grid.models), cost(grid.total)]]
        assert rows[0][0] == "today"
        # today's gpt-image-1.5: $0.042 known plus two requests possibly billed: at least.
        assert rows[0][headings.index("gpt-image-1.5")] == "≥$0.0420"
        note = str(screen.query_one("#usage-day-model-note", Static).content)
        assert "≥ at least" in note
        await pilot.press("m")  # the chart's metric applies to the table too
        await pilot.pause()
        assert "images" in str(screen.query_one("#usage-day-model").border_title)
        assert str(table.get_row_at(0)[-1]) == f"{grid.day_totals[grid.days[0]].images}"


async def test_cards_sit_two_by_two_on_80_columns(app: DalleTuiApp, services: Services) -> None:
    seed_usage(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_usage(app, pilot)
        cards = screen.query_one("#usage-cards")
        assert cards.has_class("-narrow")
        today, week = screen.query_one("#usage-today"), screen.query_one("#usage-week")
        month = screen.query_one("#usage-month")
        assert today.region.y == week.region.y < month.region.y  # two rows of two
        assert today.region.width >= 30  # room for "$0.0420 + 1 unknown" and more


def budget_app(home: Path, budget: float, **settings: object) -> tuple[DalleTuiApp, Services]:
    services = open_services(Settings(home=home, monthly_budget=budget, **settings))  # type: ignore[arg-type]
    graphics.configure("halfcell")
    return make_app(services), services


@pytest.mark.parametrize(
    ("budget", "line", "status"),
    [
        (
            0.05,
            "! Monthly budget $0.05 · at least $0.04 spent this month (84%)",
            "! budget 84% (at least $0.04 of $0.05) · offline (no API key)",
        ),
        (
            0.04,
            "! Over budget: at least $0.04 of $0.04 spent this month (105%)",
            "! over budget: at least $0.04 of $0.04 · offline (no API key)",
        ),
        (
            1.0,
            "Monthly budget $1.00 · at least $0.04 spent this month (4%)",
            "offline (no API key)",
        ),
    ],
)
async def test_the_budget_is_on_the_usage_screen_and_warned_in_the_status_line(
    tmp_path: Path, budget: float, line: str, status: str
) -> None:
    app, services = budget_app(tmp_path / "home", budget)
    seed_usage(services, ROWS[:2])  # today: $0.042 and one image of unknown cost
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_usage(app, pilot)
            assert str(screen.query_one("#usage-budget", Static).content) == line
            shown = str(screen.query_one(StatusLine).content)
            assert shown.startswith(status)
            assert screen.query_one(StatusLine).has_class("-budget") == status.startswith("!")
    finally:
        services.close()


async def test_no_budget_line_without_a_budget(app: DalleTuiApp, services: Services) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_usage(app, pilot)
        assert not screen.query_one("#usage-budget").display
        assert str(screen.query_one(StatusLine).content).startswith("offline")


async def write_and_generate(pilot, text: str) -> None:  # noqa: ANN001
    editor = pilot.app.screen.query_one("#prompt", TextArea)
    editor.focus()
    editor.load_text(text)
    await pilot.pause()
    await pilot.press("ctrl+g")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_compose_asks_before_a_request_that_may_pass_the_budget(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    app, services = budget_app(
        tmp_path / "home",
        0.01,
        api_key="sk-test-budget",
        base_url=fake_openai.base_url,
        provider="openai",
    )
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await write_and_generate(pilot, "a fox in the snow")
            modal = app.screen
            assert isinstance(modal, ConfirmModal)
            assert modal.dialog_title == "Monthly budget"
            # gpt-image-1-mini is priced by tokens and nothing was made yet: unknown, so asked.
            assert modal.message.startswith("Send 1 image (cost unknown: gpt-image-1-mini is")
            assert modal.message.endswith(
                "It may pass your monthly budget of $0.01 ($0.00 spent this month)."
            )
            await pilot.press("n")  # cancel: nothing is sent and nothing is stored
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmModal)
            assert fake_openai.generation_count == 0
            assert (Generation.select().count(), Prompt.select().count()) == (0, 0)
            assert UsageStat.select().count() == 0
            outcome = str(app.screen.query_one("#compose-outcome", Static).render())
            assert outcome == "Not sent (monthly budget)"

            await write_and_generate(pilot, "a fox in the snow")
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("y")  # send it after all
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert fake_openai.generation_count == 1
            assert [g.status for g in Generation.select()] == ["succeeded"]
    finally:
        await services.generation.aclose()
        services.close()


async def test_compose_does_not_ask_offline_even_with_a_budget(tmp_path: Path) -> None:
    app, services = budget_app(tmp_path / "home", 0.01)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await write_and_generate(pilot, "a fox in the snow")
            assert not isinstance(app.screen, ConfirmModal)  # offline images are free
            assert [g.status for g in Generation.select()] == ["succeeded"]
    finally:
        await services.generation.aclose()
        services.close()


async def test_a_late_status_answer_never_overwrites_a_newer_one(
    app: DalleTuiApp, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up refresh is held inside its query until a newer refresh (after data
    arrived) has set the line; then it finishes: the line must keep the newer numbers."""
    import threading

    real_today = services.usage.today
    first_started, let_first_finish = threading.Event(), threading.Event()
    calls: list[int] = []

    def today():  # noqa: ANN202
        calls.append(1)
        if len(calls) == 1:
            answer = real_today()  # "today 0 images", asked before the data arrived
            first_started.set()
            let_first_finish.wait(10)
            return answer
        return real_today()

    monkeypatch.setattr(services.usage, "today", today)

    async def until(check) -> None:  # noqa: ANN001
        for _ in range(3000):  # 30 s at most
            if check():
                return
            await pilot.pause(0.01)
        raise AssertionError("not in time")

    async with app.run_test(size=(100, 30)) as pilot:
        await until(first_started.is_set)
        seed_usage(services)
        app.refresh_status()
        await until(lambda: bool(app.status))
        let_first_finish.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "today 0 images" not in app.status
        assert f"today {sum(1 for row in ROWS if row[0] == 0)} images" in app.status
