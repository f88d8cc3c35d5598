"""A reusable modal that asks one question and offers a few answers, each with its own key.

``ChoiceModal`` dismisses with the chosen answer's value, or with ``None`` when cancelled
(escape, or an answer whose value is ``None``). ``ConfirmModal`` is the plain yes/no case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant

from dalletui.textsafe import printable, printable_message

T = TypeVar("T")


@dataclass(frozen=True)
class Choice(Generic[T]):
    """One answer: its button label, the key that picks it, and what the modal returns."""

    label: str
    value: T | None
    key: str = ""
    variant: ButtonVariant = "default"

    @property
    def button_label(self) -> str:
        return f"{self.label} ({self.key})" if self.key else self.label


class ChoiceModal(ModalScreen[T | None], Generic[T]):
    """Ask ``question``; the answer buttons sit in a row, the safe one focused first."""

    DEFAULT_CSS = """
    ChoiceModal {
        align: center middle;
    }
    ChoiceModal > #choice-dialog {
        width: auto;
        min-width: 40;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        border-title-color: $text;
        border-title-style: bold;
        background: $surface;
        padding: 1 2 0 2;
    }
    ChoiceModal.-danger > #choice-dialog {
        border: round $error;
    }
    ChoiceModal #choice-message {
        width: auto;
        max-width: 76;
        height: auto;
    }
    ChoiceModal #choice-detail {
        width: auto;
        max-width: 76;
        height: auto;
        color: $foreground-muted;
        margin-top: 1;
    }
    ChoiceModal #choice-buttons {
        width: auto;
        height: auto;
        margin: 1 0;
    }
    ChoiceModal #choice-buttons Button {
        margin-right: 1;
    }
    ChoiceModal #choice-buttons Button:last-child {
        margin-right: 0;
    }
    ChoiceModal #choice-buttons.-stacked {
        layout: vertical;
        width: 100%;
    }
    ChoiceModal #choice-buttons.-stacked Button {
        width: 100%;
        margin: 0 0 1 0;
    }
    ChoiceModal #choice-buttons.-stacked Button:last-child {
        margin: 0;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="choice.cancel", tooltip="Close without acting"),
        Binding(
            "left,up,shift+tab",
            "app.focus_previous",
            "Previous",
            show=False,
            id="choice.previous",
            tooltip="Focus the previous answer",
        ),
        Binding(
            "right,down,tab",
            "app.focus_next",
            "Next",
            show=False,
            id="choice.next",
            tooltip="Focus the next answer",
        ),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        choices: Sequence[Choice[T]],
        *,
        detail: str = "",
        focus: int = -1,
        danger: bool = False,
    ) -> None:
        """``focus`` indexes the answer focused first (the last, usually Cancel, by default)."""
        super().__init__(classes="-danger" if danger else "")
        if not choices:
            raise ValueError("ChoiceModal needs at least one choice")
        self.dialog_title = title
        self.message = message
        self.detail = detail
        self.choices = list(choices)
        self.initial_focus = focus if -len(choices) <= focus < len(choices) else -1

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-dialog") as dialog:
            # Content, not str: a title is never read as markup. Message and detail may quote a
            # prompt or a server: shown printable, secrets redacted.
            dialog.border_title = Content(printable(self.dialog_title, single_line=True))
            yield Static(printable_message(self.message), id="choice-message", markup=False)
            if self.detail:
                yield Static(printable_message(self.detail), id="choice-detail", markup=False)
            with Horizontal(id="choice-buttons"):
                for index, choice in enumerate(self.choices):
                    yield Button(
                        choice.button_label,
                        id=f"choice-{index}",
                        variant=choice.variant,
                        compact=True,
                    )

    def on_mount(self) -> None:
        buttons = list(self.query(Button))
        buttons[self.initial_focus].focus()

    def on_resize(self, event: events.Resize) -> None:
        """Answers side by side when they fit, else one under the other."""
        row = sum(len(choice.button_label) + 3 for choice in self.choices) + 8
        self.query_one("#choice-buttons").set_class(row > event.size.width, "-stacked")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        index = int((event.button.id or "choice-0").removeprefix("choice-"))
        self.dismiss(self.choices[index].value)

    def on_key(self, event: events.Key) -> None:
        """A choice's own key picks it at once, whichever button has focus."""
        for choice in self.choices:
            if choice.key and event.key == choice.key:
                event.stop()
                event.prevent_default()
                self.dismiss(choice.value)
                return

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(ChoiceModal[bool]):
    """Yes or no; dismisses with True only when confirmed."""

    def __init__(
        self,
        title: str,
        message: str,
        *,
        yes: str = "Yes",
        no: str = "Cancel",
        danger: bool = False,
    ) -> None:
        super().__init__(
            title,
            message,
            [
                Choice(yes, True, "y", "error" if danger else "primary"),
                Choice(no, False, "n"),
            ],
            danger=danger,
        )
