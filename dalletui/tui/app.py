"""The Textual app: six modes (Compose, History, Templates, Batches, Usage, Trash), one key surface.

Batches run in the app (``batch_runs``), not in a screen, so they keep going from screen to screen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Literal, overload

from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.theme import Theme

from dalletui.config import save_theme, saved_theme
from dalletui.formatting import format_money
from dalletui.tui import graphics as graphics_layer
from dalletui.tui.commands import DalleTuiCommands
from dalletui.tui.keys import build_keymap, known_bindings, readable_key
from dalletui.tui.latest import Latest
from dalletui.tui.messages import DataChanged, ModelChanged, ReusePrompt, StartEdit
from dalletui.tui.screens.compose import ComposeScreen
from dalletui.tui.styles import css_paths
from dalletui.tui.widgets.batch_runs import (
    BatchEnded,
    BatchesChanged,
    BatchRuns,
    ended_error,
    ended_toast,
    quit_question,
)
from dalletui.tui.widgets.confirm import Choice, ChoiceModal

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from textual.screen import Screen

    from dalletui.services.batch_plan import BatchPlan
    from dalletui.services.context import Services
    from dalletui.services.usage import BudgetStatus
    from dalletui.tui.graphics import Graphics
    from dalletui.tui.screens.batches import BatchesScreen
    from dalletui.tui.screens.history import HistoryScreen


def _shown_later(module: str, name: str) -> Callable[[], Screen[None]]:
    """A ``MODES`` entry that imports and builds its screen when the mode is first shown
    (Textual calls it then), so the first frame has only Compose's work."""

    def build() -> Screen[None]:
        screen: type[Screen[None]] = getattr(import_module(f"dalletui.tui.screens.{module}"), name)
        return screen()

    return build


#: Why a batch stopped when dalletui was closed while it ran.
QUIT_REASON = "dalletui was closed while the batch ran."


class DalleTuiApp(App[None]):
    """Compose, browse, template and account for images, from the keyboard."""

    TITLE = "dalletui"
    #: The app-wide styles and the first screen's (whose file also holds the ``.problem``,
    #: ``.warning`` and ``.preview-*`` rules other screens use); every other screen names its
    #: own files in its ``CSS_PATH``, read when it is first shown.
    CSS_PATH = css_paths("app.tcss", "compose.tcss")
    COMMANDS = App.COMMANDS | {DalleTuiCommands}
    MODES = {
        "compose": ComposeScreen,
        # The other screens are imported and built when first shown (Textual calls these).
        "history": _shown_later("history", "HistoryScreen"),
        "templates": _shown_later("templates", "TemplatesScreen"),
        "batches": _shown_later("batches", "BatchesScreen"),
        "usage": _shown_later("usage", "UsageScreen"),
        "trash": _shown_later("trash", "TrashScreen"),
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
        Binding(
            "f7",
            "switch_mode('batches')",
            "Batches",
            id="mode.batches",
            tooltip="Batches: live progress, images, cancel, resume, retry",
            priority=True,  # the prompt editor (a TextArea) binds f7 to "select all"
        ),
        # F1 everywhere, dialogs too (priority: before any widget, past a modal); ? wherever it
        # is not typed into a text field (the prompt, a search box), where Textual hands it to
        # the field: a prompt may need a literal "?".
        Binding(
            "f1",
            "help",
            "Help",
            id="app.help",
            priority=True,
            tooltip="Every key that works here; F1 again closes it",
        ),
        Binding(
            "question_mark",
            "help",
            "Help",
            id="app.help-question",
            show=False,
            tooltip="Every key that works here (in a text field ? types a ?; F1 always works)",
        ),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True, tooltip="Quit dalletui"),
        Binding(
            "ctrl+l",
            "redraw",
            "Redraw",
            id="app.redraw",
            show=False,
            tooltip="Draw the whole screen again, images included",
        ),
    ]
    #: Seconds between refreshes of the status line's "today" (another dalletui may generate).
    STATUS_REFRESH_SECONDS = 15.0

    #: Shown in every screen's status line: provider, model, today's spend.
    status = reactive("")
    #: This month's spend against the monthly budget (None: no budget); the status line warns.
    budget: reactive[BudgetStatus | None] = reactive(None)

    def __init__(self, services: Services, graphics: Graphics | None = None) -> None:
        super().__init__()
        self.services = services
        self._graphics = graphics
        self.batch_runs = BatchRuns(self, services)
        self._status_base = ""
        self._status_loads = Latest()  # only the newest refresh sets the line
        self._quitting = False
        #: The model Compose has picked (None until it says: the configured default).
        self.model: str | None = None
        self._provider_label = ""
        self._today = ""
        keys = services.settings.keys
        # Checking ``[keys]`` needs every binding, so every screen imported: only when it is set.
        known = known_bindings(type(self)) if keys else {}
        keymap = build_keymap(keys, known, services.settings.config_path)
        self.set_keymap(keymap.keymap)
        #: Binding id -> keys, as remapped by ``[keys]`` (the palette names other screens' keys).
        self.keymap_in_use: dict[str, str] = dict(keymap.keymap)
        #: Sentences about settings that could not be applied, shown once the app is up.
        self.settings_warnings: list[str] = [*services.settings.warnings, *keymap.warnings]
        for warning in keymap.warnings:
            log.warning("%s", warning)
        self._theme_kept = ""

    @property
    def graphics(self) -> Graphics:
        """How this app draws images: the layer it was given (the launcher's decision), else
        the default layer as configured when asked."""
        return self._graphics if self._graphics is not None else graphics_layer.current()

    def on_mount(self) -> None:
        self._apply_theme()
        self._theme_kept = self.theme  # the start's own theme is not a pick to save
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        for warning in self.settings_warnings:
            self.notify(warning, title="Settings", severity="warning", timeout=15, markup=False)
        self.mode_change_signal.subscribe(self, lambda _mode: self.refresh_status())
        self.set_interval(self.STATUS_REFRESH_SECONDS, self.refresh_status, name="status")
        self.refresh_status()

    def on_app_focus(self, _event: events.AppFocus) -> None:
        self.refresh_status()  # back from another window, maybe another dalletui

    # -- keys and theme ---------------------------------------------------------------------

    def get_key_display(self, binding: Binding) -> str:
        """Keys in the footer as people read them, short: ``F1``, ``^g``, ``esc``, ``/``."""
        if binding.key_display:
            return binding.key_display
        return readable_key(binding.key.split(",")[0], short=True)

    def _apply_theme(self) -> None:
        """Start with the theme picked last time, else the config's (checked here: only
        Textual knows its themes)."""
        settings = self.services.settings
        wanted = saved_theme(settings)
        if wanted is not None and wanted in self.available_themes:
            self.theme = wanted
            return
        if settings.theme is None:
            return
        if settings.theme in self.available_themes:
            self.theme = settings.theme
            return
        where = f"in {settings.config_path}" if settings.config_path else "in the config file"
        names = ", ".join(sorted(self.available_themes))
        warning = (
            f"The theme '{settings.theme}' {where} is not one of Textual's themes, so "
            f"{self.theme} is used; choose one of: {names}."
        )
        log.warning("%s", warning)
        self.settings_warnings.append(warning)

    def _theme_changed(self, theme: Theme) -> None:
        """A theme picked at run time (palette) is remembered for the next start.

        Written here, not in a thread: a few bytes, and two picks in a row must land in order."""
        if theme.name == self._theme_kept:
            return
        self._theme_kept = theme.name
        try:
            save_theme(self.services.settings, theme.name)
        except OSError as exc:
            self.notify(
                f"The theme is used now but could not be saved for the next start: {exc}.",
                title="Theme",
                severity="warning",
                markup=False,
            )

    @on(ModelChanged)
    def model_changed(self, message: ModelChanged) -> None:
        if message.model != self.model:
            self.model = message.model
            self._set_status()

    def action_redraw(self) -> None:
        """ctrl+l: every cell and image again (another program or a terminal bug left marks)."""
        self.graphics.redraw(self)

    def action_help(self) -> None:
        """Open Help for what is under it (a dialog too); again, close it."""
        from dalletui.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen())

    @on(ReusePrompt)
    async def reuse_prompt(self, message: ReusePrompt) -> None:
        await self.switch_mode("compose")
        screen = self.screen
        if isinstance(screen, ComposeScreen):
            screen.load_prompt(message.text, message.params, prompt_id=message.prompt_id)

    @on(StartEdit)
    async def start_edit(self, message: StartEdit) -> None:
        await self.switch_mode("compose")
        screen = self.screen
        if isinstance(screen, ComposeScreen):
            screen.start_edit(
                message.generation_id, message.prompt, message.params, add=message.add
            )

    @on(DataChanged)
    def data_changed(self, message: DataChanged) -> None:
        self.refresh_status()
        if message.what == "batch":
            # A batch ran in the background: History shows its prompts (now, or when shown).
            history = self._mode_screen("history")
            if history is not None:
                history.data_arrived()

    def refresh_status(self) -> None:
        """Recompute the status line off the UI thread (today's spend is a query).

        Each refresh is numbered and only the newest may set the line: ``exclusive`` cancels
        an older worker, but a thread cannot be stopped, and one that finished its query late
        once wrote "today 0 images" over the newer "today 4 images"."""
        self._query_status(self._status_loads.take())

    # Not ``_compute_status``: Textual would take that for the compute method of ``status``.
    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def _query_status(self, asked: int) -> None:
        provider = self.services.generation.provider_name
        today = self.services.usage.today()
        spend = self._money(today.cost, today.unknown_cost_count, today.possibly_billed)
        label = "offline (no API key)" if provider == "offline" else provider
        images = "1 image" if today.images == 1 else f"{today.images} images"
        budget = self.services.usage.budget()  # None, and no query, without a budget
        self.call_from_thread(self._apply_status, asked, label, f"today {images}, {spend}", budget)

    def _apply_status(
        self, asked: int, provider: str, today: str, budget: BudgetStatus | None
    ) -> None:
        if not self._status_loads.is_newest(asked):
            return  # a newer refresh was asked for meanwhile: its answer is the one to show
        self.budget = budget
        self._provider_label, self._today = provider, today
        self._set_status()

    def _set_status(self) -> None:
        """The status line: provider, the model Compose has picked, today, and the batches
        running here."""
        if self._provider_label:
            model = self.model or self.services.settings.model
            self._status_base = f"{self._provider_label} · {model} · {self._today}"
        running = self.batch_runs.status_text()
        self.status = f"{self._status_base} · {running}" if running else self._status_base

    # -- batches ---------------------------------------------------------------------------

    def run_batch_plan(self, plan: BatchPlan, concurrency: int | None = None) -> None:
        """Store ``plan`` as a batch (in a worker), start it, and show it on the Batches screen."""
        self.batch_runs.create_and_start(plan, concurrency, self.show_batch)

    async def show_batch(self, batch_id: int) -> None:
        await self.switch_mode("batches")
        screen = self._batches_screen()
        if screen is not None and screen.is_current:
            screen.select(batch_id)

    def _batches_screen(self) -> BatchesScreen | None:
        return self._mode_screen("batches")

    @overload
    def _mode_screen(self, mode: Literal["history"]) -> HistoryScreen | None: ...
    @overload
    def _mode_screen(self, mode: Literal["batches"]) -> BatchesScreen | None: ...
    def _mode_screen(self, mode: str) -> Screen[None] | None:
        """The screen of ``mode`` if it was ever shown (its module is imported only then)."""
        try:
            stack = self.get_screen_stack(mode)
        except KeyError:
            return None
        if not stack:
            return None
        kind = type(stack[0])  # the mode's own screen, under whatever it pushed
        found = [screen for screen in stack if isinstance(screen, kind)]
        return found[-1] if found else None

    @on(BatchesChanged)
    def _batches_changed(self, message: BatchesChanged) -> None:
        self._set_status()
        screen = self._batches_screen()
        if screen is not None and screen.is_current:
            screen.batches_changed(message)
        if message.finished_items:
            self.refresh_status()  # today's images and spend

    @on(BatchEnded)
    def _batch_ended(self, message: BatchEnded) -> None:
        self._set_status()
        screen = self._batches_screen()
        if screen is not None:
            screen.batch_ended(message)
        on_batches = screen is not None and screen.is_current
        if message.error is not None:
            text, title, severity = ended_error(message)
            self.notify(text, title=title, severity=severity, timeout=10, markup=False)
        elif not on_batches and not self._quitting:
            toast = ended_toast(message)
            if toast is not None:
                text, severity = toast
                self.notify(text, title="Batch", severity=severity, timeout=8, markup=False)
        self.post_message(DataChanged("batch"))  # the status line and History follow

    # -- quitting --------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit; while batches run, ask first (what is in flight would be cut off)."""
        runs = self.batch_runs
        if not runs:
            self.exit()
            return
        if self._quitting:  # asked again while waiting: stop waiting, cancel what flies
            runs.stop_all("paused", in_flight="cancel", reason=QUIT_REASON)
            return
        offline = self.services.generation.provider_name == "offline"
        choices: list[Choice[str]] = [
            Choice("Quit now", "cancel", "q", "error"),
            Choice("Finish in-flight, then quit", "finish", "f", "primary"),
            Choice("Keep running", None, "k"),
        ]

        def answered(choice: str | None) -> None:
            if choice in ("cancel", "finish"):
                self._quit_after_batches(choice)

        modal = ChoiceModal("Quit dalletui?", quit_question(runs, offline), choices, danger=True)
        await self.push_screen(modal, answered)

    @work(group="quit", exclusive=True, exit_on_error=False)
    async def _quit_after_batches(self, in_flight: str) -> None:
        self._quitting = True
        runs = self.batch_runs
        runs.stop_all("paused", in_flight=in_flight, reason=QUIT_REASON)  # type: ignore[arg-type]
        if in_flight == "finish" and runs:
            self.notify(
                "Waiting for the requests in flight to finish; ctrl+q again cancels them.",
                title="Quitting",
                timeout=30,
            )
        await runs.wait_all()
        self.exit()

    @staticmethod
    def _money(cost: object, unknown: int, possibly_billed: int = 0) -> str:
        text = format_money(cost)  # type: ignore[arg-type]
        if unknown:
            text += f" + {unknown} unknown"
        if possibly_billed:
            text += f" + {possibly_billed} possibly billed"
        return text


def make_app(services: Services, graphics: Graphics | None = None) -> DalleTuiApp:
    """The one factory the CLI and the tests use to build the app."""
    return DalleTuiApp(services, graphics)
