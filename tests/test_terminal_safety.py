"""Nothing from outside drives the terminal, nothing is read as markup, and keys are redacted.

A hostile prompt (OSC 52 clipboard write, CSI 2 J, the one-byte C1 CSI, BEL, bidi overrides and
Textual markup) is written straight into the database, the way an old or imported row could hold
it, then shown by History (list, detail, gallery, delete dialog), by Compose's result cards, and by
``dalletui history`` / ``dalletui generate``. The TUI is checked on the exported screen (every
character Textual would write) and, once, on the raw bytes a real pty receives.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static, TextArea

from dalletui import cli
from dalletui.cli import main
from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services
from dalletui.storage import DatabaseManager
from dalletui.textsafe import (
    REDACTED,
    SecretFilter,
    dump_json,
    is_printable,
    printable,
    printable_message,
    redact_secrets,
    without_controls,
)
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens.compose import ComposeScreen
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.widgets.confirm import Choice, ChoiceModal
from dalletui.tui.widgets.history_detail import GenerationCard
from dalletui.tui.widgets.history_gallery import GalleryCard
from dalletui.tui.widgets.results import LiveSlot, ProblemSlot, ResultsPanel
from tests.fakes import FakeOpenAIServer, Fault

SIZE = (120, 40)
#: What a hostile prompt may hold. ``ZXZpbA==`` is base64 for "evil".
OSC52 = "\x1b]52;c;ZXZpbA==\x07"
CLEAR = "\x1b[2J"
C1_CSI = "\x9b31m"
EVIL = f"[bold]markup[/] fox {OSC52} clip {CLEAR} clear {C1_CSI} c1 \u202eevil\u202c end"
#: Characters that must never reach the terminal from outside text.
FORBIDDEN = ("\x1b", "\x9b", "\x07", "\u202e", "\u202c")
KEY = "sk-proj-abc123DEF456ghi789JKL012mno345PQR678stu901"
ERROR_BODY = f"Invalid value for 'size'. Your key {KEY} said {OSC52}[red]no[/]"


def no_controls(text: str) -> list[str]:
    """The forbidden characters found in ``text`` (empty when it is safe)."""
    return [repr(char) for char in FORBIDDEN if char in text]


def make_hostile(db: DatabaseManager, prompt_id: int, text: str = EVIL) -> None:
    """Write ``text`` into a prompt row as is, bypassing the cleaning a new prompt gets."""
    db.db.execute_sql("UPDATE prompts SET text = ? WHERE id = ?", (text, prompt_id))


def add_hostile_failure(services: Services, message: str = ERROR_BODY) -> int:
    """A hostile prompt with a failed generation whose stored error holds ``message`` raw."""
    row = services.db.record_prompt_use("hostile placeholder")
    [generation] = services.db.create_generations(
        row,
        1,
        provider="openai",
        model="gpt-image-1-mini",
        size="1024x1024",
        quality="low",
        output_format="png",
    )
    services.db.fail_generations([generation.id], "failed", "bad_request", "placeholder")
    services.db.db.execute_sql(
        "UPDATE generations SET error_message = ? WHERE id = ?", (message, generation.id)
    )
    make_hostile(services.db, row.id)
    return int(row.id)


async def settle(pilot: Pilot[Any], delay: float = 0.0) -> None:
    if delay:
        await pilot.pause(delay)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def exported(app: DalleTuiApp) -> str:
    """Every character of the current screen as Textual would draw it (toasts included)."""
    return app.export_screenshot()


def plain(widget: Static) -> str:
    return str(widget.render())


@pytest.fixture
def history_app(services: Services, monkeypatch: pytest.MonkeyPatch) -> DalleTuiApp:
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


# -- textsafe ----------------------------------------------------------------------------------


def test_printable_neutralises_every_control_and_keeps_width() -> None:
    every = "".join(chr(code) for code in [*range(0x20), *range(0x7F, 0xA0)])
    shown = printable(every, tabs=False)
    assert all(ord(char) >= 0xA0 or char in "\n " for char in shown), repr(shown)
    assert "\x1b" not in shown and "␛" in shown and "␇" in shown and "␡" in shown
    assert printable("a\x9bb") == "a\ufffdb"
    # One character in, one character out (CR LF is the one pair that becomes a newline).
    assert len(printable(EVIL)) == len(EVIL)
    assert printable(EVIL) == printable(printable(EVIL))


def test_printable_line_breaks_tabs_bidi_and_surrogates() -> None:
    assert printable("a\r\nb\rc\u2028d\x85e") == "a\nb\nc\nd\ne"
    assert printable("a\r\nb\tc\nd", single_line=True) == "a b c d"
    assert printable("a\tb") == "a\tb" and printable("a\tb", tabs=False) == "a b"
    for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert printable(f"x{char}y") == "x\ufffdy"
    assert printable("file-\udcff.png") == "file-\ufffd.png"
    printable("\udcff").encode("utf-8")  # a lone surrogate would raise here
    # Ordinary text, scripts, marks and emoji are left exactly as they are.
    for text in ("a red fox", "owl 🦉 at dusk", "שלום עולם", "👩\u200d💻", "x\u200fy", "café"):
        assert printable(text) == text and is_printable(text)
    assert printable(None) == "" and printable("") == ""


def test_without_controls_drops_what_printable_would_show() -> None:
    assert (
        without_controls(EVIL)
        == "[bold]markup[/] fox ]52;c;ZXZpbA== clip [2J clear 31m c1 evil end"
    )
    assert without_controls("a\r\nb\tc") == "a\nb\tc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Incorrect API key provided: {KEY}.", "Incorrect API key provided: sk-proj-…REDACTED."),
        ("key sk-svcacct-AbCdEfGhIjKlMnOpQrStUvWx0123 x", "key sk-svcacct-…REDACTED x"),
        ("legacy sk-" + "a1" * 24, "legacy sk-…REDACTED"),
        ("admin sk-admin-ZZZZZZZZZZZZZZZZZZZZ", "admin sk-admin-…REDACTED"),
        ("session sess-AbCdEfGhIjKlMnOpQrSt", "session sess-…REDACTED"),
        (f"Authorization: Bearer {KEY}", "Authorization: Bearer sk-proj-…REDACTED"),
        ("authorization: bearer eyJhbGciOi.JIUzI1NiJ9.abc==", "authorization: bearer …REDACTED"),
        ('json {"key":"' + KEY + '"}', 'json {"key":"sk-proj-…REDACTED"}'),
    ],
)
def test_redact_secrets_shapes(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected
    assert redact_secrets(expected) == expected  # redacting twice changes nothing more


def test_redact_secrets_leaves_words_and_masked_keys_alone() -> None:
    for text in (
        "a task-force of husky sk-8 skaters",
        "desk-lampshade-collection-of-the-year",
        "Incorrect API key provided: sk-proj-****************************abcd.",
        "Bearer short",
        "",
    ):
        assert redact_secrets(text) == text
    # A configured key of any shape is hidden when given; short ones would hide words.
    assert redact_secrets("key weird-key-1234 used", ["weird-key-1234"]) == f"key {REDACTED} used"
    assert redact_secrets("a b c", ["a"]) == "a b c"
    assert printable_message(ERROR_BODY).count("REDACTED") == 1
    assert no_controls(printable_message(ERROR_BODY)) == []


def test_secret_filter_redacts_message_args_and_traceback(tmp_path: Path) -> None:
    log_file = tmp_path / "dalletui.log"
    cli._log_to(log_file, verbose=True)
    log = logging.getLogger("dalletui.test")
    try:
        log.warning("body: %s (status %d)", ERROR_BODY, 400)
        log.warning("Bearer %s", KEY)
        try:
            raise RuntimeError(f"server said {KEY}")
        except RuntimeError:
            log.exception("failed with %r", {"key": KEY})
    finally:
        for handler in logging.getLogger().handlers:
            handler.close()
        cli._log_to(None, verbose=False)
    text = log_file.read_text(encoding="utf-8")
    assert KEY not in text
    assert "status 400" in text and "RuntimeError: server said sk-proj-…REDACTED" in text
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "k=%s", (KEY,), None)
    assert SecretFilter().filter(record) and record.getMessage() == "k=sk-proj-…REDACTED"


def test_json_stays_exact_and_escapes_what_a_terminal_would_act_on() -> None:
    data = {"text": EVIL, "lone": "\udcff", "sep": "a\u2028b", "del": "\x7f"}
    # The standard encoder leaves DEL, C1 (a one-byte CSI) and bidi controls raw...
    assert "\x9b" in json.dumps(data, ensure_ascii=False)
    for kwargs in ({}, {"indent": 2}, {"ensure_ascii": True}):
        text = dump_json(data, **kwargs)
        assert no_controls(text) == [] and "\x7f" not in text and "\u2028" not in text
        assert json.loads(text) == data  # ...this one escapes them: the same data comes back
        text.encode("utf-8")
    assert "🦉" in dump_json("🦉")  # still ensure_ascii=False: readable text stays readable


# -- History -----------------------------------------------------------------------------------


async def test_history_list_detail_and_dialog_show_a_hostile_prompt_as_text(
    history_app: DalleTuiApp, services: Services
) -> None:
    add_hostile_failure(services)
    async with history_app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.3)
        screen = history_app.screen
        assert isinstance(screen, HistoryScreen)
        assert screen.prompt_list.highlighted.text == EVIL  # the data itself is untouched
        row = screen.prompt_list.render_line(1).text
        assert row.lstrip().startswith("[bold]markup[/] fox ␛]52;c;ZXZpbA==␇"), row
        assert no_controls(row) == []

        detail_text = plain(screen.detail.query_one("#detail-text", Static))
        assert detail_text == printable(EVIL)
        assert "[bold]markup[/]" in detail_text and "␛[2J" in detail_text
        [card] = screen.detail.query(GenerationCard)
        facts = plain(card.query_one(".generation-facts", Static))
        assert "sk-proj-…REDACTED" in facts and KEY not in facts
        assert "[red]no[/]" in facts and no_controls(facts) == []

        screen_text = exported(history_app)
        assert no_controls(screen_text) == [] and KEY not in screen_text


async def test_dialogs_show_quoted_outside_text_as_text(history_app: DalleTuiApp) -> None:
    async with history_app.run_test(size=SIZE) as pilot:
        modal: ChoiceModal[bool] = ChoiceModal(
            f"About {EVIL}", ERROR_BODY, [Choice("Yes", True, "y")], detail=EVIL
        )
        await history_app.push_screen(modal)
        await pilot.pause()
        detail = plain(modal.query_one("#choice-detail", Static))
        message = plain(modal.query_one("#choice-message", Static))
        assert detail == printable(EVIL) and "[bold]markup[/]" in detail
        assert "sk-proj-…REDACTED" in message and "[red]no[/]" in message
        screen_text = exported(history_app)
        assert no_controls(screen_text) == [] and KEY not in screen_text
        await pilot.press("escape")


async def test_gallery_card_shows_a_hostile_prompt_as_text(
    history_app: DalleTuiApp, services: Services
) -> None:
    outcome = await services.generation.generate(GenerationRequest(prompt="placeholder", seed=1))
    assert outcome.ok
    make_hostile(services.db, outcome.prompt.id)
    async with history_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot, 0.2)
        [card] = history_app.screen.query(GalleryCard)
        assert card.prompt_text == EVIL
        shown = plain(card.query_one(".card-prompt", Static))
        assert shown.startswith("[bold]markup[/] fox ␛]52") and no_controls(shown) == []
        assert no_controls(exported(history_app)) == []


async def test_model_names_from_the_records_are_not_markup(
    history_app: DalleTuiApp, services: Services
) -> None:
    # A usage row naming a model "[/]" once crashed the model filter (MarkupError).
    add_hostile_failure(services)
    services.db.db.execute_sql("UPDATE generations SET model = ?", ("[/]\x1b[2Jodd",))
    async with history_app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.3)
        [card] = history_app.screen.query(GenerationCard)
        facts = plain(card.query_one(".generation-facts", Static))
        assert facts.startswith("[/]␛[2Jodd")
        assert no_controls(exported(history_app)) == []


# -- Compose -----------------------------------------------------------------------------------


class HostileProvider:
    """Fails the way a server echoing the key and an escape sequence would be reported."""

    name = "offline"
    offline = True

    async def generate(self, request: GenerationRequest, *args: Any, **kwargs: Any) -> Any:
        raise GenerationError(ErrorKind.BAD_REQUEST, ERROR_BODY)

    async def aclose(self) -> None:
        """Nothing to release."""


async def test_compose_result_cards_and_toasts_show_outside_text_as_text(
    app: DalleTuiApp, services: Services
) -> None:
    services.generation._providers["offline"] = HostileProvider()  # noqa: SLF001
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ComposeScreen)
        screen.generate(GenerationRequest(prompt=EVIL))
        await pilot.pause()
        live = screen.query(LiveSlot)
        if live:  # the title of the running request
            assert no_controls(live.first().border_title or "") == []
        await settle(pilot)
        [slot] = screen.query_one(ResultsPanel).query(ProblemSlot)
        message = plain(slot.query_one(".slot-message", Static))
        assert "[red]no[/]" in message and "sk-proj-…REDACTED" in message
        assert no_controls(message) == [] and KEY not in message
        assert slot.border_title is not None and no_controls(slot.border_title) == []
        screen_text = exported(app)  # with the error toast on top
        assert no_controls(screen_text) == [] and KEY not in screen_text
        assert "REDACTED" in screen_text

        # A prompt reused from History goes into the editor without its control characters.
        screen.load_prompt(EVIL, {})
        await pilot.pause()
        editor = screen.query_one("#prompt", TextArea)
        assert editor.text == without_controls(EVIL) and "[bold]markup[/]" in editor.text
        assert no_controls(exported(app)) == []


# -- CLI ---------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_history_prints_a_hostile_prompt_as_text(
    db: DatabaseManager, capsys: pytest.CaptureFixture[str]
) -> None:
    row = db.record_prompt_use("placeholder")
    make_hostile(db, row.id)
    db.close()
    code, out, err = run(capsys, "history")
    assert code == 0, err
    assert no_controls(out + err) == []
    assert "[bold]markup[/] fox ␛]52;c;ZXZpbA==␇ clip ␛[2J" in out

    code, out, _ = run(capsys, "favorite", str(row.id))
    assert code == 0 and "[bold]markup[/]" in out and no_controls(out) == []

    code, out, _ = run(capsys, "history", "--json")
    assert code == 0 and no_controls(out) == []
    assert json.loads(out)[0]["text"] == EVIL  # exact JSON: the same text comes back


def test_cli_generate_prints_no_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "generate", EVIL, "--seed", "3")
    assert code == 0, err
    assert no_controls(out + err) == []
    code, out, err = run(capsys, "generate", EVIL, "--json")
    assert code == 0 and no_controls(out + err) == []
    assert json.loads(out)["images"][0]["status"] == "succeeded"


# -- keys: an error body echoing the key ----------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 404, 429])
def test_key_echoed_by_the_server_is_redacted_in_db_output_and_log(
    status: int,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_openai: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    headers = {"retry-after-ms": "1"} if status == 429 else None
    fault = Fault.http_error(status, ERROR_BODY, headers=headers)
    fake_openai.script(*[fault] * 20)  # enough for every retry of both runs
    code, out, err = run(capsys, "-v", "generate", "a fox", "--model", "gpt-image-1-mini")
    assert code == 1
    assert KEY not in out + err and "sk-proj-…REDACTED" in err
    assert no_controls(out + err) == []
    code, out, err = run(capsys, "generate", "a fox", "--model", "gpt-image-1-mini", "--json")
    data = json.loads(out)
    assert KEY not in out + err and no_controls(out) == []
    assert "REDACTED" in data["error"]["message"]
    # Everything the two runs left in the data folder: database, WAL, images, logs.
    for path in home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


# -- the real terminal -------------------------------------------------------------------------


def _read(fd: int, timeout: float, until: bytes | None = None) -> bytes:
    buffer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buffer += chunk
        if until is not None and until in buffer:
            break
    return buffer


def hostile_home(home: Path) -> None:
    """A data folder holding the hostile prompt with a failed generation echoing the key."""
    manager = DatabaseManager(home / "dalletui.db").open()
    try:
        row = manager.record_prompt_use("placeholder")
        [generation] = manager.create_generations(
            row,
            1,
            provider="openai",
            model="gpt-image-1-mini",
            size="1024x1024",
            quality="low",
            output_format="png",
        )
        manager.fail_generations([generation.id], "failed", "bad_request", "placeholder")
        manager.db.execute_sql(
            "UPDATE generations SET error_message = ? WHERE id = ?", (ERROR_BODY, generation.id)
        )
        make_hostile(manager, row.id)
    finally:
        manager.close()


def run_history_in_pty(home: Path, config: Path) -> bytes:
    """Start dalletui in a pty, go to History (F3), wait for the detail, quit; the raw bytes."""
    import fcntl
    import pty
    import struct
    import termios

    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "DALLETUI_HOME": str(home),
        "DALLETUI_CONFIG": str(config),
        "DALLETUI_GRAPHICS": "halfcell",
        "COLUMNS": "120",
        "LINES": "40",
    }
    env.pop("OPENAI_API_KEY", None)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "dalletui"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(follower)
    try:
        raw = _read(leader, 30, until=b"offline")
        os.write(leader, b"\x1bOR")  # F3: History
        raw += _read(leader, 20, until=b"REDACTED")
        raw += _read(leader, 1.0)  # let the rest of the frame arrive
        os.write(leader, b"\x11")  # ctrl+q
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            raw += _read(leader, 0.2)
        assert process.wait(timeout=5) == 0, raw[-2000:]
        return raw
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        os.close(leader)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")
def test_raw_terminal_bytes_carry_no_sequence_from_the_prompt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hostile_home(home)
    raw = run_history_in_pty(home, tmp_path / "none.toml")
    assert b"Traceback" not in raw
    assert b"markup[/] fox" in raw and b"REDACTED" in raw  # the hostile row was on screen
    assert b"\x1b]52" not in raw  # no clipboard write at all
    # Textual's own pointer-shape OSC 22 is the only sequence that ends with BEL.
    assert raw.count(b"\x07") == len(re.findall(rb"\x1b\]22;[a-z-]*\x07", raw))
    assert b"\x1b[2J" not in raw  # the prompt's screen clear
    assert b"\xc2\x9b" not in raw  # U+009B, the one-byte CSI, in UTF-8
    assert b"\xe2\x80\xae" not in raw and b"\xe2\x80\xac" not in raw  # RLO, PDF
    assert KEY.encode() not in raw
    assert "␛]52;c;ZXZpbA==".encode() in raw  # shown, harmlessly, as text
