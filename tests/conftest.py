"""Shared fixtures: every test gets its own data folder and none sees the developer's config."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalletui.config import Settings
from dalletui.services.context import Services, open_services
from dalletui.storage import DatabaseManager
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app

pytest_plugins = ["tests.fakes.fixtures"]

_ENV_TO_CLEAR = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "DALLETUI_HOME",
    "DALLETUI_PROVIDER",
    "DALLETUI_MODEL",
    "DALLETUI_GRAPHICS",
    "DALLETUI_CELL_SIZE",
    "DALLETUI_REQUEST_TIMEOUT",
    "DALLETUI_TRASH_DAYS",
    "DALLETUI_BATCH_CONCURRENCY",
    "DALLETUI_MONTHLY_BUDGET",
    "DALLETUI_SAFETY_IDENTIFIER",
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DALLETUI_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("DALLETUI_HOME", str(tmp_path / "home"))


#: Tests that changed the SIGINT handler and left it so (restored after each one).
SIGINT_LEAKS: list[str] = []


@pytest.fixture(autouse=True)
def python_sigint_handler(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with Python's own ctrl+c (``default_int_handler``) and leaves it so.

    A handler left behind by one test (an event loop's, a command's) would change what ctrl+c
    does in the next: the import tests that send themselves SIGINT failed in a full run for
    that reason, and passed alone.
    """
    before = signal.getsignal(signal.SIGINT)
    if before is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        SIGINT_LEAKS.append(request.node.nodeid)
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def pilot_waits_for_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``Pilot.pause`` (so every ``press``, and the pause before a snapshot's screenshot)
    also waits, bounded, until no ``ImageView`` is still preparing its picture in a worker, and
    then lets the app paint it: tests and screenshots see the image, as a user does a few
    milliseconds later. ``tests/test_graphics_prepare.py`` undoes this to see the worker path.
    """
    import sys

    from textual.pilot import Pilot

    original = Pilot.pause

    async def pause(self: Pilot[object], delay: float | None = None) -> None:
        await original(self, delay)
        widgets = sys.modules.get("dalletui.tui.graphics.widgets")
        if widgets is not None and widgets.preparing(self.app):
            await widgets.wait_prepared(self.app)
            await original(self)

    monkeypatch.setattr(Pilot, "pause", pause)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home)


@pytest.fixture
def db(home: Path) -> Iterator[DatabaseManager]:
    manager = DatabaseManager(home / "dalletui.db").open()
    yield manager
    manager.close()


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    opened = open_services(settings)
    yield opened
    opened.close()


@pytest.fixture
def app(services: Services) -> DalleTuiApp:
    """The real app on a temporary home, with half-cell previews (same picture on every machine)."""
    graphics.configure("halfcell")
    return make_app(services)


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Name the tests that left a SIGINT handler behind (each was undone after it)."""
    if SIGINT_LEAKS:
        write = terminalreporter.write_line  # type: ignore[attr-defined]
        write(f"SIGINT handler left behind (and restored) by {len(SIGINT_LEAKS)} tests:")
        for nodeid in SIGINT_LEAKS[:10]:
            write(f"  {nodeid}")
