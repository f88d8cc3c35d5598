"""The command palette (ctrl+p): every dalletui action, found by fuzzy search."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

Callback = Callable[[], Awaitable[Any] | Any]

_MODES = (
    ("compose", "Write a prompt and generate images (F2)"),
    ("history", "Search past prompts and images (F3)"),
    ("templates", "Prompt templates and variables (F4)"),
    ("batches", "Batches: live progress, images, cancel, resume, retry (F7)"),
    ("usage", "Images, tokens and spend (F5)"),
    ("trash", "Restore or purge deleted prompts and images (F6)"),
)


@dataclass(frozen=True)
class PaletteCommand:
    """One palette entry: the text searched, what it runs, and a line of help."""

    name: str
    run: Callback
    help: str


class DalleTuiCommands(Provider):
    """Modes, help, generate/cancel and the light/dark switch."""

    def commands(self) -> list[PaletteCommand]:
        app: Any = self.app
        found = [
            PaletteCommand(f"Mode: {name.capitalize()}", partial(app.switch_mode, name), text)
            for name, text in _MODES
        ]
        found += [
            PaletteCommand("Generate images", self._generate, "Generate the prompt in Compose"),
            PaletteCommand("Cancel generation", self._cancel, "Stop the running generation"),
            PaletteCommand(
                "Trash: empty", self._empty_trash, "Delete everything in the trash (asks first)"
            ),
            PaletteCommand("Help: keys", app.action_help, "Every key binding (F1)"),
            PaletteCommand(
                "Theme: toggle dark / light", self._toggle_dark, "Switch between dark and light"
            ),
        ]
        from dalletui.tui.screens.history import HistoryScreen

        screen = app.screen
        if isinstance(screen, HistoryScreen) and screen.check_action("undo", ()):
            found.append(
                PaletteCommand(
                    "Undo delete", screen.action_undo, "Bring back what was just trashed (u)"
                )
            )
        found += self._screen_commands(screen)
        return found

    @staticmethod
    def _screen_commands(screen: Any) -> list[PaletteCommand]:
        """The keyed actions of the Batches and Templates screens that apply right now."""
        from dalletui.tui.screens.batches import BatchesScreen
        from dalletui.tui.screens.templates import TemplatesScreen

        if isinstance(screen, BatchesScreen):
            prefix = "Batch"
        elif isinstance(screen, TemplatesScreen):
            prefix = "Template"
        else:
            return []
        commands: list[PaletteCommand] = []
        for binding in screen.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            action, _, argument = binding.action.partition("(")
            if not binding.show or action in ("reload", "back", "show_tab", "detail"):
                continue
            parameters = (int(argument.rstrip(")")),) if argument.rstrip(")").isdigit() else ()
            if screen.check_action(action, parameters) is not True:
                continue
            run = partial(screen.run_action, binding.action)
            key = screen.app.get_key_display(binding)
            commands.append(
                PaletteCommand(
                    f"{prefix}: {binding.description}", run, f"{binding.tooltip} ({key})"
                )
            )
        return commands

    async def discover(self) -> Hits:
        for command in self.commands():
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)

    def _compose(self) -> Any:
        """The Compose screen if it exists (it keeps running while another mode shows)."""
        from dalletui.tui.screens.compose import ComposeScreen

        try:
            stack = self.app.get_screen_stack("compose")
        except KeyError:
            return None
        found = [screen for screen in stack if isinstance(screen, ComposeScreen)]
        return found[-1] if found else None

    async def _generate(self) -> None:
        app: Any = self.app
        if app.current_mode != "compose":
            await app.switch_mode("compose")
        screen = self._compose()
        if screen is not None:
            screen.action_generate()

    def _cancel(self) -> None:
        screen = self._compose()
        if screen is not None and screen.generating:
            screen.action_cancel()
        else:
            self.app.notify("Nothing is generating.", title="Cancel")

    async def _empty_trash(self) -> None:
        app: Any = self.app
        if app.current_mode != "trash":
            await app.switch_mode("trash")
        app.screen.request_empty()

    def _toggle_dark(self) -> None:
        app = self.app
        app.theme = "textual-light" if app.current_theme.dark else "textual-dark"
