"""The footer every screen shows: as many of its keys as fit, then Help and the mode keys.

Textual's ``Footer`` lays the keys out in binding order and lets the rest fall off the right
edge; at 80 columns that cut off F1 and most mode keys ("f5 Usag▏"). This one is compact and
chooses by width: Help and the keys of the other modes always, the focused widget's and the
screen's keys in their BINDINGS order as long as they fit, and then, room permitting, the
current mode's own key, quit and the command palette (all three are in Help and the palette).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


@dataclass(frozen=True)
class _Key:
    binding: Binding
    enabled: bool
    tooltip: str
    display: str

    def width(self, palette: bool = False) -> int:
        """Cells taken in the compact footer (key, space, description, then a 1-cell margin;
        the palette key has a border on its left instead of a margin)."""
        text = cell_len(self.display)
        if self.binding.description:
            text += 1 + cell_len(self.binding.description)
        return text + 1


class KeyFooter(Footer):
    """A compact footer that fits the width (use it instead of ``Footer``)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, compact=True)
        self._laid_out_for = 0
        #: What the composed keys are (key, display, description, action) left to right, and
        #: their enabled states: a bindings change that leaves both alone costs no recompose.
        self._shown_layout: tuple[tuple[str, str, str, str], ...] | None = None
        self._shown_enabled: tuple[bool, ...] = ()
        #: How many times the footer rebuilt its keys (tests count these).
        self.recompose_count = 0

    def _choose(self, width: int) -> tuple[list[_Key], _Key | None]:
        """The keys shown left to right, and the palette key docked right (or None)."""
        app = self.app
        local: list[_Key] = []
        modes: list[_Key] = []
        others: list[_Key] = []
        help_key: _Key | None = None
        seen: set[str] = set()
        for node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            key = _Key(binding, enabled, tooltip, app.get_key_display(binding))
            if node is not app:
                local.append(key)
            elif binding.action.startswith("switch_mode"):
                modes.append(key)
            elif binding.action in ("help", "app.help"):
                help_key = key
            elif binding.key != app.COMMAND_PALETTE_BINDING:
                others.append(key)
        # The mode keys in the app's order (F2..F7), wherever a widget's own key put them.
        order = [b.action for b in app.BINDINGS if isinstance(b, Binding)]
        modes.sort(
            key=lambda key: order.index(key.binding.action) if key.binding.action in order else 99
        )
        current = f"switch_mode('{getattr(app, 'current_mode', '')}')"
        here = [key for key in modes if key.binding.action == current]
        required = [key for key in (help_key, *modes) if key is not None and key not in here]
        used = sum(key.width() for key in required)
        shown_local: list[_Key] = []
        for key in local:
            if used + key.width() > width:
                break
            shown_local.append(key)
            used += key.width()
        extras: list[_Key] = []
        for key in (*here, *others):
            if used + key.width() <= width:
                extras.append(key)
                used += key.width()
        palette = self._palette_key()
        if palette is not None and used + palette.width(palette=True) > width:
            palette = None
        ordered_modes = [key for key in modes if key in required or key in extras]
        rest = [key for key in others if key in extras]
        front = [help_key] if help_key is not None else []
        return [*shown_local, *front, *ordered_modes, *rest], palette

    def _palette_key(self) -> _Key | None:
        app = self.app
        if not (self.show_command_palette and app.ENABLE_COMMAND_PALETTE):
            return None
        active = self.screen.active_bindings.get(app.COMMAND_PALETTE_BINDING)
        if active is None:
            return None
        _node, binding, enabled, tooltip = active
        return _Key(binding, enabled, tooltip, app.get_key_display(binding))

    @staticmethod
    def _signature(
        keys: list[_Key], palette: _Key | None
    ) -> tuple[tuple[tuple[str, str, str, str], ...], tuple[bool, ...]]:
        shown = [*keys, *([palette] if palette is not None else [])]
        layout = tuple(
            (key.binding.key, key.display, key.binding.description, key.binding.action)
            for key in shown
        )
        return layout, tuple(key.enabled for key in shown)

    def bindings_changed(self, screen: Screen[object]) -> None:
        """Textual's Footer recomposes on every bindings change, and a screen publishes one on
        every highlight move (``refresh_bindings``): 54 rebuilds in 28 keystrokes. Here the
        keys are chosen again (cheap) and compared with what is shown; the widgets are rebuilt
        only when the keys or the width changed, and an enabled/disabled change is applied to
        the FooterKey widgets in place."""
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if not (self.is_attached and screen is self.screen):
            return
        width = self.size.width or self.app.size.width
        if self._shown_layout is None or width != self._laid_out_for:
            self.call_after_refresh(self.recompose)
            return
        layout, enabled = self._signature(*self._choose(width))
        if layout != self._shown_layout:
            self.call_after_refresh(self.recompose)
            return
        if enabled != self._shown_enabled:
            self._set_enabled(enabled)

    def _set_enabled(self, enabled: tuple[bool, ...]) -> None:
        """Enable or disable the shown keys without rebuilding them."""
        widgets = list(self.query(FooterKey))
        if len(widgets) != len(enabled):
            self.call_after_refresh(self.recompose)
            return
        for widget, on in zip(widgets, enabled, strict=True):
            if widget._disabled == (not on):
                continue
            widget._disabled = not on  # what its click handler checks (bell when disabled)
            widget.set_class(not on, "-disabled")
            widget.refresh()
        self._shown_enabled = enabled

    async def recompose(self) -> None:
        self.recompose_count += 1
        await super().recompose()

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        width = self.size.width or self.app.size.width
        self._laid_out_for = width
        keys, palette = self._choose(width)
        self._shown_layout, self._shown_enabled = self._signature(keys, palette)
        for key in keys:
            binding = key.binding
            yield FooterKey(
                binding.key,
                key.display,
                binding.description,
                binding.action,
                disabled=not key.enabled,
                tooltip=key.tooltip or binding.tooltip,
            ).data_bind(compact=Footer.compact)
        if palette is not None:
            binding = palette.binding
            yield FooterKey(
                binding.key,
                palette.display,
                binding.description,
                binding.action,
                classes="-command-palette",
                disabled=not palette.enabled,
                tooltip=binding.tooltip or binding.description,
            ).data_bind(compact=Footer.compact)

    def on_mount(self) -> None:
        # Textual's Footer (whose own on_mount also runs) composes only when the screen next
        # publishes a bindings change; one published before this footer subscribed left it
        # empty until a key was pressed. Compose once after the first refresh regardless.
        self.call_after_refresh(self._first_layout)

    def _first_layout(self) -> None:
        if not self._bindings_ready:
            self._bindings_ready = True
            self.recompose()

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready and event.size.width != self._laid_out_for:
            self.call_after_refresh(self.recompose)

    def shown_text(self) -> str:
        """What the footer says, as plain text (for tests and the pty harness)."""
        return " ".join(
            f"{key.key_display} {key.description}".strip() for key in self.query(FooterKey)
        )
