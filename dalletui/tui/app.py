"""The Textual app: five modes (Compose, History, Templates, Usage, Trash), one key surface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive

from dalletui.formatting import format_money
from dalletui.tui.commands import DalleTuiCommands
from dalletui.tui.messages import DataChanged, ReusePrompt
from dalletui.tui.screens.compose import ComposeScreen
from dalletui.tui.screens.help import HelpScreen
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.screens.templates import TemplatesScreen
from dalletui.tui.screens.trash import TrashScreen
from dalletui.tui.screens.usage import UsageScreen

if TYPE_CHECKING:
    from dalletui.services.context import Services


def styles_dir() -> Path:
    """``styles/`` inside the wheel (dalletui/styles), or at the top of a source checkout."""
    packaged = Path(__file__).resolve().parents[1] / "styles"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "styles"


def stylesheets() -> list[str | Path]:
    folder = styles_dir()
    others = sorted(p for p in folder.glob("*.tcss") if p.name != "app.tcss")
    return [folder / "app.tcss", *others]


class DalleTuiApp(App[None]):
    """Compose, browse, template and account for images, from the keyboard."""

    TITLE = "dalletui"
    CSS_PATH = stylesheets()
    COMMANDS = App.COMMANDS | {DalleTuiCommands}
    MODES = {
        "compose": ComposeScreen,
        "history": HistoryScreen,
        "templates": TemplatesScreen,
        "usage": UsageScreen,
        "trash": TrashScreen,
    }
    DEFAULT_MODE = "compose"
    BINDINGS = [
        Binding(
            "f2",
            "switch_mode('compose')",
            "Compose",
            id="mode.compose",
            tooltip="Write a prompt and generate",
        ),
        Binding(
            "f3",
            "switch_mode('history')",
            "History",
            id="mode.history",
            tooltip="Search past prompts and images",
        ),
        Binding(
            "f4",
            "switch_mode('templates')",
            "Templates",
            id="mode.templates",
            tooltip="Prompt templates and variables",
        ),
        Binding(
            "f5",
            "switch_mode('usage')",
            "Usage",
            id="mode.usage",
            tooltip="Images, tokens and spend",
        ),
        Binding(
            "f6",
            "switch_mode('trash')",
            "Trash",
            id="mode.trash",
            tooltip="Restore or purge deleted prompts and images",
            priority=True,  # the prompt editor (a TextArea) binds f6 to "select line"
        ),
        Binding("f1,question_mark", "help", "Help", id="app.help", tooltip="Every key binding"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    #: Shown in every screen's status line: provider, model, today's spend.
    status = reactive("")

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def on_mount(self) -> None:
        self.refresh_status()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    @on(ReusePrompt)
    async def reuse_prompt(self, message: ReusePrompt) -> None:
        await self.switch_mode("compose")
        screen = self.screen
        if isinstance(screen, ComposeScreen):
            screen.load_prompt(message.text, message.params)

    @on(DataChanged)
    def data_changed(self, message: DataChanged) -> None:
        self.refresh_status()

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def refresh_status(self) -> None:
        """Recompute the status line off the UI thread (today's spend is a query)."""
        settings = self.services.settings
        provider = self.services.generation.provider_name
        today = self.services.usage.today()
        spend = self._money(today.cost, today.unknown_cost_count, today.possibly_billed)
        label = "offline (no API key)" if provider == "offline" else provider
        images = "1 image" if today.images == 1 else f"{today.images} images"
        text = f"{label} · {settings.model} · today {images}, {spend}"
        self.call_from_thread(setattr, self, "status", text)

    @staticmethod
    def _money(cost: object, unknown: int, possibly_billed: int = 0) -> str:
        text = format_money(cost)  # type: ignore[arg-type]
        if unknown:
            text += f" + {unknown} unknown"
        if possibly_billed:
            text += f" + {possibly_billed} possibly billed"
        return text


def make_app(services: Services) -> DalleTuiApp:
    """The one factory the CLI and the tests use to build the app."""
    return DalleTuiApp(services)
