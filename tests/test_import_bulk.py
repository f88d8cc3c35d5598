"""Bulk prompt import: the staged, set-based merge keeps the import's meaning; progress, Ctrl+C
(all or nothing) and bounded memory; the CLI's progress line only on a terminal."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from dalletui import cli
from dalletui.errors import ValidationError
from dalletui.services.history import iter_prompt_lines
from dalletui.storage import DatabaseManager, PromptQuery, prompt_import
from dalletui.storage.models import (
    PROMPT_MAX_CHARS,
    ImportJournal,
    Prompt,
    normalize_prompt,
    prompt_hash,
)
from dalletui.storage.prompt_import import ImportProgress

HOSTILE = [
    "a red fox in snow",
    "  a red fox in snow  ",  # the same prompt once trimmed
    "A Red Fox In Snow",  # another prompt: case is kept
    "",
    "   \t ",
    "\x1b[31mred alert\x1b[0m",  # becomes "red alert"
    "red alert",
    "nul\x00 byte",
    "emoji 🦊🦉 at dusk",
    "tab\tinside",
    "\x9b31m an 8-bit escape",
    "a bell\x07 rings",
    "line\r\nbreak",
    "café au lait",
    "cafe\u0301 au lait",  # a different code point sequence: a different prompt
    "\u200bzero width",
    "w" * (PROMPT_MAX_CHARS - 5) + " long",  # as long as a prompt may be
]


def sample(seed: int, k: int) -> list[str]:
    rng = random.Random(seed)
    pool = HOSTILE + [f"prompt number {i}" for i in range(120)]
    return [rng.choice(pool) for _ in range(k)]


def reference(state: dict[str, dict[str, Any]], lines: list[str], when: dt.datetime) -> None:
    """The import's meaning, one line at a time: the model the merge must agree with."""
    counts: dict[str, int] = {}
    for line in lines:
        text = normalize_prompt(line)
        if text:
            counts[text] = counts.get(text, 0) + 1
    for text, n in counts.items():
        row = state.get(text)
        if row is None:
            state[text] = {"use_count": n, "imported_uses": n, "last_used_at": when}
        elif n > row["imported_uses"]:
            row["use_count"] += n - row["imported_uses"]
            row["imported_uses"] = n
            row["last_used_at"] = when


def contents(db: DatabaseManager) -> list[tuple[Any, ...]]:
    return [
        (p.text, p.text_hash, p.use_count, p.imported_uses, p.last_used_at, p.deleted_at)
        for p in Prompt.select().order_by(Prompt.id)
    ]


@pytest.mark.parametrize("chunks", [(10_000, 20_000), (7, 11)])
def test_the_merge_agrees_with_the_import_s_meaning(
    db: DatabaseManager, monkeypatch: pytest.MonkeyPatch, chunks: tuple[int, int]
) -> None:
    # Tiny chunks make every batch span several merges and several staged batches.
    monkeypatch.setattr(prompt_import, "IMPORT_CHUNK", chunks[0])
    monkeypatch.setattr(prompt_import, "STAGE_CHUNK", chunks[1])
    used = db.record_prompt_use("prompt number 3")
    trashed = db.record_prompt_use("prompt number 4")
    gone = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    Prompt.update(deleted_at=gone).where(Prompt.id == trashed.id).execute()
    state: dict[str, dict[str, Any]] = {
        "prompt number 3": {"use_count": 1, "imported_uses": 0, "last_used_at": used.last_used_at},
        "prompt number 4": {"use_count": 1, "imported_uses": 0, "last_used_at": used.last_used_at},
    }
    state["prompt number 4"]["last_used_at"] = trashed.last_used_at
    for day, (seed, k) in enumerate([(1, 900), (2, 300), (3, 1500)], start=1):
        lines = sample(seed, k)
        when = dt.datetime(2026, 2, day, 12, 0, tzinfo=dt.UTC)
        before = {text: dict(row) for text, row in state.items()}
        reference(state, lines, when)
        summary = db.import_prompts(lines, when=when)
        assert summary.lines == sum(1 for line in lines if normalize_prompt(line))
        assert summary.added == len(state) - len(before)
        assert summary.bumped == len({normalize_prompt(x) for x in lines} & set(before))
        assert summary.added_uses == sum(r["use_count"] for r in state.values()) - sum(
            r["use_count"] for r in before.values()
        )
    expected = [
        (
            text,
            prompt_hash(text),
            row["use_count"],
            row["imported_uses"],
            row["last_used_at"],
            gone if text == "prompt number 4" else None,
        )
        for text, row in state.items()
    ]
    # Ids follow first appearance: the two recorded prompts, then each file's new texts in order.
    assert contents(db) == expected
    assert ImportJournal.select().count() == 0
    texts = {p.text for p in db.search_prompts(PromptQuery(text="alert", limit=50)).items}
    assert texts == {"red alert"}
    assert [p.text for p in db.search_prompts(PromptQuery(text="dusk")).items] == [
        "emoji 🦊🦉 at dusk"
    ]
    assert db.search_prompts(PromptQuery(text="nul byte", prefix_last=False)).items


def test_a_line_over_the_limit_imports_nothing(db: DatabaseManager) -> None:
    db.import_prompts(["kept"])
    with pytest.raises(ValidationError, match="over the limit"):
        db.import_prompts(["new one", "x" * (PROMPT_MAX_CHARS + 1)])
    assert [p.text for p in Prompt.select()] == ["kept"]


def test_progress_is_reported_in_order(
    db: DatabaseManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_import, "IMPORT_CHUNK", 500)
    monkeypatch.setattr(prompt_import, "PROGRESS_EVERY_S", 0.0)
    seen: list[ImportProgress] = []
    summary = db.import_prompts((f"line {i % 3000}" for i in range(5000)), progress=seen.append)
    phases = [u.phase for u in seen]
    assert phases == sorted(phases, key=["reading", "merging"].index)
    assert phases.count("merging") == 6  # once a chunk
    reading = [u.lines for u in seen if u.phase == "reading"]
    merging = [(u.lines, u.added) for u in seen if u.phase == "merging"]
    assert reading == sorted(reading) and reading[-1] == 5000
    assert merging == sorted(merging) and merging[-1] == (5000, summary.added) == (5000, 3000)


def test_ctrl_c_from_the_progress_callback_takes_everything_back(
    db: DatabaseManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_import, "IMPORT_CHUNK", 100)
    monkeypatch.setattr(prompt_import, "PROGRESS_EVERY_S", 0.0)
    db.import_prompts(["prompt 1"] * 2 + ["prompt 2"])
    before = contents(db)
    for stop_at in ("reading", "merging"):

        def interrupt(
            update: ImportProgress,
            stop: str = stop_at,
            calls: list[str] = [],  # noqa: B006
        ) -> None:
            calls.append(update.phase)
            if update.phase == stop and calls.count(stop) == 3:
                raise KeyboardInterrupt

        lines = ["prompt 1"] * 5 + [f"prompt {i}" for i in range(3, 5000)]
        with pytest.raises(KeyboardInterrupt):
            db.import_prompts(lines, progress=interrupt)
        assert contents(db) == before, stop_at
        assert ImportJournal.select().count() == 0
        assert not db.search_prompts(PromptQuery(text="4000", prefix_last=False)).items
    # Nothing was left behind: the same import runs in full afterwards.
    assert db.import_prompts(["prompt 1"] * 5).bumped == 1
    assert Prompt.get(Prompt.text == "prompt 1").use_count == 5


def _peak_bytes(db: DatabaseManager, path: Path) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        db.import_prompts(iter_prompt_lines(path))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_import, "STAGE_CHUNK", 5_000)
    peaks = []
    for lines in (20_000, 80_000):
        path = tmp_path / f"{lines}.txt.gz"
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
            for i in range(lines):
                handle.write(f"a watercolour fox number {i} in the snow, {i % 7} moons\n")
        db = DatabaseManager(tmp_path / f"{lines}" / "dalletui.db").open()
        try:
            peaks.append(_peak_bytes(db, path))
            assert db.count_prompts(PromptQuery()) == lines
        finally:
            db.close()
    assert peaks[1] < peaks[0] * 1.5, peaks  # 4x the lines, about the same peak


# -- the CLI ---------------------------------------------------------------------------------


def _file(tmp_path: Path, lines: int = 3000) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("".join(f"prompt {i}\n" for i in range(lines)), encoding="utf-8")
    return path


def test_no_progress_line_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_import, "PROGRESS_EVERY_S", 0.0)
    assert cli.main(["import-prompts", str(_file(tmp_path))]) == 0
    out, err = capsys.readouterr()
    assert "Imported 3,000 lines" in out
    assert err == "" and "\r" not in out


def test_a_terminal_gets_one_updating_line_then_it_is_cleared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_import, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(prompt_import, "IMPORT_CHUNK", 1000)
    monkeypatch.setattr(cli, "_is_tty", lambda stream: True)
    assert cli.main(["import-prompts", str(_file(tmp_path))]) == 0
    out, err = capsys.readouterr()
    assert "Importing… 3,000 lines · 3,000 new prompts" in err
    assert "\n" not in err and "\x1b" not in err
    assert err.endswith("\r") and err.rsplit("\r", 2)[-2].strip() == ""  # cleared at the end
    assert out.startswith("Imported 3,000 lines")


def test_ctrl_c_in_the_cli_is_one_sentence_exit_130_and_nothing_imported(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    home: Path,
) -> None:
    monkeypatch.setattr(prompt_import, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(prompt_import, "IMPORT_CHUNK", 1000)
    monkeypatch.setattr(cli, "_is_tty", lambda stream: True)
    shown = cli.ProgressLine.__call__

    def interrupted(self: cli.ProgressLine, update: ImportProgress) -> None:
        shown(self, update)
        if update.phase == "merging" and update.added >= 2000:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.ProgressLine, "__call__", interrupted)
    assert cli.main(["import-prompts", str(_file(tmp_path))]) == cli.EXIT_INTERRUPTED
    out, err = capsys.readouterr()
    assert out == ""
    last = err.rsplit("\r", 1)[-1]
    assert last == "dalletui: import interrupted; nothing was imported.\n"
    assert "Traceback" not in err
    with DatabaseManager(home / "dalletui.db") as db:
        assert db.count_prompts(PromptQuery()) == 0


def test_the_summary_says_how_many_blank_lines_were_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The progress line counts every line read; the summary counts prompt lines, so it says
    where the difference went (the corpus: 105,467 lines read, 100,019 used)."""
    path = tmp_path / "gaps.txt"
    path.write_text("a fox\n\n   \nan owl\n\na fox\n", encoding="utf-8")
    assert cli.main(["import-prompts", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("Imported 3 lines from")
    assert out.rstrip().endswith("; 3 blank lines skipped.")
    assert cli.main(["import-prompts", str(_file(tmp_path))]) == 0
    assert "blank" not in capsys.readouterr()[0]
