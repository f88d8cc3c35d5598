"""The command palette (ctrl+p): the app's actions and the keyed actions that apply right now.

Besides the modes and a few app commands, it lists every key binding of the screen it was
opened from, of that screen's focused widget and its ancestors (a result card, a gallery card)
that applies now (``check_action``), read from the live bindings like Help, with the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from dalletui.tui.keys import LiveBinding, live_groups, readable_keys

Callback = Callable[[], Awaitable[Any] | Any]

#: Actions that move a cursor or a view rather than do something: keys, not commands.
_NAVIGATION = frozenset(
    {"move", "page", "first", "last", "back", "escape", "dismiss", "detail", "step"}
)
_NAVIGATION_PREFIXES = ("scroll_", "cursor_", "app.focus_", "select_")

#: Screen actions that a fixed command below already offers (with a wider reach).
_COVERED = {("ComposeScreen", "generate"), ("ComposeScreen", "cancel"), ("TrashScreen", "empty")}


@dataclass(frozen=True)
class PaletteCommand:
    """One palette entry: the text searched, what it runs, and a line of help."""

    name: str
    run: Callback
    help: str


def _action_name(action: str) -> str:
    return action.partition("(")[0]


class DalleTuiCommands(Provider):
    """Modes, help, generate/cancel, the light/dark switch, and the screen's keyed actions."""

    def commands(self) -> list[PaletteCommand]:
        app: Any = self.app
        screen = self.screen  # the screen the palette was opened from (not the palette)
        groups = live_groups(screen)
        keys = {
            live.binding.action: live.keys_text
            for group in groups
            if group.node is app
            for live in group.bindings
        }
        found = [
            PaletteCommand(
                f"Mode: {binding.description}",
                partial(app.run_action, binding.action),
                f"{binding.tooltip} ({keys.get(binding.action) or readable_keys(binding.key)})",
            )
            for binding in app.BINDINGS
            if binding.action.startswith("switch_mode")
        ]
        help_keys = keys.get("help") or "F1"
        found += [
            PaletteCommand(
                "Generate images",
                self._generate,
                f"Generate the prompt in Compose ({self._key('compose.generate')})",
            ),
            PaletteCommand(
                "Cancel generation",
                self._cancel,
                f"Stop the running generation ({self._key('compose.cancel')})",
            ),
            PaletteCommand(
                "Trash: empty", self._empty_trash, "Delete everything in the trash (asks first)"
            ),
            PaletteCommand(
                "Help: keys", app.action_help, f"Every key that works here ({help_keys})"
            ),
            PaletteCommand(
                "Theme: toggle dark / light",
                self._toggle_dark,
                "Switch between dark and light (remembered for the next start)",
            ),
        ]
        found += self._screen_commands(groups)
        return found

    def _key(self, binding_id: str) -> str:
        """The key(s) of a binding of another screen, with the keymap applied."""
        from dalletui.tui.keys import known_bindings

        app: Any = self.app
        remapped = getattr(app, "keymap_in_use", {}).get(binding_id)
        if remapped:
            return readable_keys(remapped)
        known = known_bindings(type(app)).get(binding_id)
        return readable_keys(known.binding.key) if known else ""

    def _screen_commands(self, groups: list[Any]) -> list[PaletteCommand]:
        """Every keyed action of the screen and its focused widget that applies right now."""
        app: Any = self.app
        screen = self.screen
        commands: list[PaletteCommand] = []
        for group in groups:
            if group.node is app or not group.ours:
                continue
            prefix = str(screen.sub_title or group.title) if group.node is screen else group.title
            for live in group.bindings:
                if self._offered(live, type(group.node).__name__):
                    commands.append(
                        PaletteCommand(
                            f"{prefix}: {live.binding.description}",
                            partial(app.run_action, live.binding.action, live.node),
                            f"{live.help_text} ({live.keys_text})",
                        )
                    )
        return commands

    @staticmethod
    def _offered(live: LiveBinding, owner: str) -> bool:
        action = _action_name(live.binding.action)
        if not live.enabled or not live.binding.description:
            return False
        if not live.binding.id or live.binding.system:
            return False  # Textual's own (focus next, copy selected text, scrolling)
        if action in _NAVIGATION or live.binding.action.startswith(_NAVIGATION_PREFIXES):
            return False
        if action == "show_tab":
            return False  # a tab is a click away and named on screen
        return (owner, action) not in _COVERED

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
