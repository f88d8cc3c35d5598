"""Small dialogs that organise a prompt or an image: tag it, add it to a collection, note it.

``AskTextModal`` asks for one line (with completion from a list of names) or, for a note,
several lines; it dismisses with the text, or ``None`` when cancelled. It only asks: the screen
that opened it does the work, in a worker, and says what happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static, TextArea

from dalletui.textsafe import printable


class NamesSuggester(Suggester):
    """Completes what is typed from known names, case-insensitively, most used first.

    With ``separator`` (a comma, for tags) only the last item is completed and the ones before
    it stay as typed; a ``-`` in front of an item (a tag to take off) is kept.
    """

    def __init__(self, names: Sequence[str], separator: str | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names = list(names)
        self.separator = separator

    async def get_suggestion(self, value: str) -> str | None:
        return complete_name(value, self.names, self.separator)


def complete_name(value: str, names: Sequence[str], separator: str | None = None) -> str | None:
    """``value`` with its last item completed to the first of ``names`` it starts (any case)."""
    head, item = "", value
    if separator is not None and separator in value:
        cut = value.rindex(separator) + len(separator)
        head, item = value[:cut], value[cut:]
    lead = item[: len(item) - len(item.lstrip())]
    typed = item.lstrip()
    sign = ""
    if separator is not None and typed.startswith("-"):
        sign, typed = "-", typed[1:]
    if not typed:
        return None
    key = typed.casefold()
    taken = set()
    if separator is not None:
        taken = {part.strip().lstrip("-").casefold() for part in head.split(separator)}
    for name in names:
        if name.casefold().startswith(key) and name.casefold() not in taken and name != typed:
            return f"{head}{lead}{sign}{typed}{name[len(typed) :]}"
    return None


def split_tags(text: str) -> tuple[list[str], list[str]]:
    """Comma-separated tags to put on, and those written ``-name`` to take off."""
    add: list[str] = []
    remove: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if name.startswith("-"):
            if name[1:].strip():
                remove.append(name[1:].strip())
        elif name:
            add.append(name)
    return add, remove


class AskTextModal(ModalScreen[str | None]):
    """Ask for a line (``Input``, completed from ``names``) or a note (``multiline``)."""

    DEFAULT_CSS = """
    AskTextModal {
        align: center middle;
    }
    AskTextModal > #ask-dialog {
        width: 72;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        border-title-color: $text;
        border-title-style: bold;
        background: $surface;
        padding: 1 2;
    }
    AskTextModal .ask-message {
        width: 100%;
        height: auto;
        margin-bottom: 1;
    }
    AskTextModal .ask-hint {
        width: 100%;
        height: auto;
        color: $foreground-muted;
        margin-top: 1;
    }
    AskTextModal #ask-input {
        width: 100%;
    }
    AskTextModal #ask-note {
        width: 100%;
        height: 6;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="ask.cancel", tooltip="Close without a change"),
        Binding(
            "ctrl+s",
            "save",
            "Save",
            id="ask.save",
            tooltip="Save what is written (enter does it too, on one line)",
        ),
    ]

    def __init__(
        self,
        title: str,
        message: Content | str,
        *,
        value: str = "",
        placeholder: str = "",
        hint: str = "",
        names: Sequence[str] = (),
        separator: str | None = None,
        multiline: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.value = value
        self.placeholder = placeholder
        self.hint = hint
        self.names = list(names)
        self.separator = separator
        self.multiline = multiline

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-dialog") as dialog:
            dialog.border_title = printable(self.title_text, single_line=True)
            message = self.message
            if isinstance(message, str):
                message = Content(printable(message))
            yield Static(message, classes="ask-message")
            if self.multiline:
                yield TextArea(self.value, id="ask-note", soft_wrap=True, show_line_numbers=False)
            else:
                yield Input(
                    self.value,
                    placeholder=self.placeholder,
                    id="ask-input",
                    suggester=NamesSuggester(self.names, self.separator) if self.names else None,
                    select_on_focus=False,
                )
            if self.hint:
                yield Static(Content(self.hint), classes="ask-hint")

    @on(Input.Submitted, "#ask-input")
    def _submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        if self.multiline:
            self.dismiss(self.query_one("#ask-note", TextArea).text)
        else:
            self.dismiss(self.query_one("#ask-input", Input).value)

    def action_cancel(self) -> None:
        self.dismiss(None)
