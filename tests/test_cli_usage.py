"""`dalletui usage` and `usage reprice`: spend from the append-only ledger.

The reports run on the ledger of ``tests.test_usage_reports`` (hand-computed totals), with the
clock fixed on Wednesday 2 December 2026 at 10:00 local time.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from dalletui.cli import main
from dalletui.commands_usage import MAX_BAR
from dalletui.storage import DatabaseManager
from dalletui.storage.models import UsageStat
from tests.test_usage_reports import NOW, seed_ledger


def _row(
    db: DatabaseManager, *, cost: Decimal | None, tokens: int, model: str = "gpt-image-1-mini"
):  # noqa: ANN202, E501
    prompt = db.record_prompt_use(f"usage {cost} {tokens}")
    (generation,) = db.create_generations(
        prompt,
        1,
        provider="openai",
        model=model,
        size="1024x1024",
        quality="low",
        output_format="png",
    )
    return db.finish_generation(
        generation.id,
        usage={"output_image_tokens": tokens, "input_text_tokens": 10, "cost": cost},
        status="succeeded",
    )


def test_usage_shows_spend_and_possibly_billed_requests_apart(
    db: DatabaseManager, capsys: pytest.CaptureFixture[str]
) -> None:
    _row(db, cost=Decimal("0.0071"), tokens=100)
    prompt = db.record_prompt_use("timed out")
    rows = db.create_generations(
        prompt,
        2,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
    )
    db.mark_possibly_billed([r.id for r in rows], "timeout", "The API did not answer.")
    db.close()
    assert main(["usage"]) == 0
    out = capsys.readouterr().out
    assert "all time" in out
    assert "1 image, at least $0.0071, 1 request possibly billed, cost unknown" in out
    assert main(["usage", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["label"] for p in data["periods"]] == ["today", "this week", "this month", "all time"]
    all_time = data["periods"][3]
    assert all_time["possibly_billed_requests"] == 1 and all_time["cost_known"] is False
    assert all_time["cost"] == "0.007100"  # money as a string, exact


def test_reprice_prices_unknown_rows_once_and_never_changes_known_ones(
    db: DatabaseManager, capsys: pytest.CaptureFixture[str]
) -> None:
    known = _row(db, cost=Decimal("0.5"), tokens=100)
    unknown = _row(db, cost=None, tokens=4160)
    db.close()
    assert main(["usage", "reprice"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Priced 1 ledger rows")
    db.open()
    priced = UsageStat.get(UsageStat.generation == unknown.id)
    assert priced.cost is not None and priced.cost > 0
    assert priced.price_basis == "tokens" and priced.prices["image_out"]["source"]
    assert UsageStat.get(UsageStat.generation == known.id).cost == Decimal("0.5")
    first = priced.cost
    db.close()
    assert main(["usage", "reprice"]) == 0
    assert capsys.readouterr().out.startswith("Priced 0 ledger rows")
    db.open()
    assert UsageStat.get(UsageStat.generation == unknown.id).cost == first


# -- reports ----------------------------------------------------------------------------------


@pytest.fixture
def ledger(db: DatabaseManager, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-computed ledger, the clock fixed, the database closed for the CLI to open."""
    fixed = NOW.astimezone()
    monkeypatch.setattr("dalletui.services.usage.now", lambda: fixed)
    monkeypatch.setenv("COLUMNS", "100")
    seed_ledger(db)
    db.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    assert main(["usage", *args]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_by_day_prints_a_table_a_total_and_a_chart(
    ledger: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = run(capsys, "--by", "day", "--since", "2026-11-28")
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "Usage by day, from 2026-11-28 (local time)"
    table = {line.split()[0]: line.split()[1:] for line in lines[2:10] if line[:1].isdigit()}
    assert lines[2].split() == [
        "Day", "Images", "Tokens", "in", "Tokens", "out", "Cost", "Unknown", "Possibly", "billed",
    ]  # fmt: skip
    assert table == {
        "2026-11-28": ["0", "0", "0", "$0.00", "0", "0"],
        "2026-11-29": ["1", "40", "4,160", "$0.0420", "0", "0"],
        "2026-11-30": ["2", "85", "7,296", "at", "least", "$0.1670", "1", "0"],
        "2026-12-01": ["1", "30", "1,056", "at", "least", "$0.0110", "0", "1"],
        "2026-12-02": ["1", "0", "0", "$0.0800", "0", "0"],
    }
    [total] = [line for line in lines if line.startswith("total")]
    assert total.split() == ["total", "5", "155", "12,512", "at", "least", "$0.3000", "1", "1"]
    assert any(line.startswith("Possibly billed:") or "Possibly billed:" in line for line in lines)
    chart = lines[lines.index("Cost by day") + 1 :]
    assert [line.split()[0] for line in chart] == list(table)
    busiest = next(line for line in chart if line.startswith("2026-11-30"))
    assert "█" * 40 in busiest and busiest.endswith("at least $0.1670")
    assert chart[0].split() == ["2026-11-28", "$0.00"]  # a quiet day has no bar
    assert all(len(line) <= 100 for line in chart)


def test_by_week_and_month_and_model(ledger: None, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = run(capsys, "--by", "week", "--since", "2026-11-23")
    rows = [line.split() for line in out.splitlines() if line[:4] == "2026"]
    assert [row[0] for row in rows][:2] == ["2026-11-23", "2026-11-30"]  # Mondays
    assert rows[1][:4] == ["2026-11-30", "4", "115", "8,352"]
    out, _ = run(capsys, "--by", "month", "--since", "2026-10-01")
    assert "Cost by month" in out
    months = {line.split()[0]: line.split()[1] for line in out.splitlines()[:9] if line[:2] == "20"}
    assert months == {"2026-10": "1", "2026-11": "3", "2026-12": "2"}
    out, _ = run(capsys, "--by", "model")
    assert out.splitlines()[0] == "Usage by model, all time"
    table = out.split("Cost by model")[0].splitlines()
    models = {line.split()[0]: line.split()[1] for line in table if "image" in line}
    assert models["gpt-image-1.5"] == "2" and models["gpt-image-1-mini"] == "2"
    assert "Cost by model" in out


def test_json_is_machine_readable_with_money_as_strings(
    ledger: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = run(capsys, "--by", "day", "--since", "2026-11-29", "--until", "2026-11-30", "--json")
    data = json.loads(out)
    assert data["by"] == "day" and data["budget"] is None
    assert data["since"].startswith("2026-11-29T00:00:00")
    assert data["until"].startswith("2026-12-01T00:00:00")  # --until includes the whole day
    assert [(p["label"], p["cost"], p["cost_known"]) for p in data["periods"]] == [
        ("2026-11-29", "0.042000", True),
        ("2026-11-30", "0.167000", False),
    ]
    day = data["periods"][1]
    assert (day["start"], day["end"], day["unknown_cost_images"]) == ("2026-11-30", "2026-12-01", 1)
    assert data["total"]["cost"] == "0.209000" and data["total"]["images"] == 3


def test_csv_is_ready_for_a_spreadsheet(ledger: None, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = run(capsys, "--by", "month", "--since", "2026-10-01", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["period"] for r in rows] == ["2026-10", "2026-11", "2026-12"]
    november = rows[1]
    assert november == {
        "group": "month",
        "period": "2026-11",
        "start": "2026-11-01",
        "end": "2026-12-01",
        "model": "",
        "images": "3",
        "input_tokens": "125",
        "output_tokens": "11456",
        "cost": "0.209000",
        "cost_complete": "false",
        "unknown_cost_images": "1",
        "possibly_billed_requests": "0",
    }
    assert sum(Decimal(r["cost"]) for r in rows) == Decimal("0.34")
    out, _ = run(capsys, "--csv")
    summary = list(csv.DictReader(io.StringIO(out)))
    assert [(r["group"], r["period"], r["model"]) for r in summary][:5] == [
        ("summary", "today", ""),
        ("summary", "this week", ""),
        ("summary", "this month", ""),
        ("summary", "all time", ""),
        ("model", "all time", "gpt-image-1.5"),
    ]


def test_the_chart_fits_the_terminal_and_falls_back_to_ascii(
    ledger: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for columns in (60, 200):
        monkeypatch.setenv("COLUMNS", str(columns))
        out, _ = run(capsys, "--by", "day", "--since", "2026-11-29")
        chart = out.split("Cost by day\n", 1)[1].splitlines()
        assert all(len(line) <= max(columns, 0) for line in chart)
        assert max(line.count("█") for line in chart) == min(MAX_BAR, columns - 30)

    class AsciiOut(io.StringIO):
        encoding = "ascii"

    screen = AsciiOut()
    monkeypatch.setattr("sys.stdout", screen)
    assert main(["usage", "--by", "day", "--since", "2026-11-29"]) == 0
    text = screen.getvalue()
    text.encode("ascii")  # nothing the stream cannot print
    assert "#" * 20 in text and "█" not in text


def test_summary_adds_this_week(ledger: None, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = run(capsys)
    lines = out.splitlines()
    assert lines[:4] == [
        "today       1 image, $0.0800",
        "this week   4 images, at least $0.2580, 1 image of unknown cost, 1 request possibly "
        "billed, cost unknown",
        "this month  2 images, at least $0.0910, 1 request possibly billed, cost unknown",
        "all time    6 images, at least $0.3400, 1 image of unknown cost, 1 request possibly "
        "billed, cost unknown",
    ]
    assert "by model (all time):" in lines


@pytest.mark.parametrize(
    ("budget", "warning"),
    [
        ("0.114", None),  # $0.091 is 79.8%
        ("0.113", "This month's spend, at least $0.09, is 80% of your monthly budget of $0.11."),
        ("0.091", "This month's spend, at least $0.09, has reached your monthly budget of $0.09"),
        ("0.05", "This month's spend, at least $0.09, has passed your monthly budget of $0.05"),
    ],
)
def test_the_monthly_budget_warns_on_stderr_at_80_and_100_percent(
    ledger: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    budget: str,
    warning: str | None,
) -> None:
    monkeypatch.setenv("DALLETUI_MONTHLY_BUDGET", budget)
    for args in ((), ("--by", "week"), ("--json",)):
        out, err = run(capsys, *args)
        if warning is None:
            assert err == ""
        else:
            assert err.startswith(f"warning: {warning}") and err.count("\n") == 1
    data = json.loads(out)
    assert data["budget"]["monthly_budget"] == f"{Decimal(budget):.6f}"
    assert data["budget"]["level"] == ("ok" if warning is None else data["budget"]["level"])
    if budget == "0.05":
        assert err.strip().endswith("(182%).") and data["budget"]["level"] == "over"


def test_bad_ranges_and_combinations_are_refused(
    ledger: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["usage", "--since", "2026-12-02", "--until", "2026-12-01"]) == 1
    assert "--until must be after --since" in capsys.readouterr().err
    assert main(["usage", "reprice", "--csv"]) == 1
    assert "reprice takes no" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["usage", "--json", "--csv"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        main(["usage", "--by", "year"])
    capsys.readouterr()
    out, _ = run(capsys, "--since", "2026-11-30", "--until", "2026-11-30")  # a range: by day
    assert out.startswith("Usage by day, from 2026-11-30 to 2026-11-30")


def test_an_empty_ledger_says_so(db: DatabaseManager, capsys: pytest.CaptureFixture[str]) -> None:
    db.close()
    out, err = run(capsys, "--by", "model")
    assert "Nothing generated in this period." in out and err == ""
    out, _ = run(capsys, "--by", "day")
    assert "Cost by day" not in out and "Images by day" not in out
    assert out.rstrip().endswith("Nothing generated in this period.")
    [total] = [line for line in out.splitlines() if line.startswith("total")]
    assert total.split() == ["total", "0", "0", "0", "$0.00", "0", "0"]
