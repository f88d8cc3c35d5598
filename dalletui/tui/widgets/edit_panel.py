"""Compose's edit panel: the images an edit starts from, its mask or markup, input fidelity.

Hidden while Compose generates from a prompt alone; shown once an image is added (``e`` on a
result card, in the image view or the gallery; ``ctrl+o`` for a path or ``gen:ID``; a path pasted
into the prompt). The first image is shown as a thumbnail; every file is read once, off the UI
thread, when it is added, so checking the request on each keystroke never touches the disk and
the bytes sent are the bytes that were checked. Names from outside go through ``printable``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from dalletui.textsafe import printable
from dalletui.tui import graphics

if TYPE_CHECKING:
    from dalletui.generation.types import EditImage
    from dalletui.services.editing import EditSource

#: Suffixes offered by the path completion (the Images API takes these).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Most entries a completion looks through in one folder.
_LISTING_MAX = 2_000
#: The first image's thumbnail, in cells (small enough for Compose at 80x24).
THUMB_BOX = (10, 4)
#: The most images one edit takes (the API's limit; validation says so past it).
MAX_IMAGES = 16


@dataclass(frozen=True)
class Loaded:
    """One input: where it came from and its bytes (read once)."""

    source: EditSource
    image: EditImage
    #: What to call it instead of its file name (a mask drawn here: where it is).
    name: str | None = None

    @property
    def label(self) -> str:
        return printable(self.name or self.source.label, single_line=True)


def unquote_path(text: str) -> str:
    """A path as a terminal pastes a dropped file: quoted, or with backslash-escaped spaces,
    or as a ``file://`` URL."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    if text.startswith("file://"):
        from urllib.parse import unquote, urlparse

        text = unquote(urlparse(text).path)
    return text.replace("\\ ", " ")


def looks_like_image_path(text: str) -> Path | None:
    """The file ``text`` names when it is one existing image file (a pasted path), else None."""
    if "\n" in text.strip() or len(text) > 4096:
        return None
    candidate = Path(unquote_path(text)).expanduser()
    try:
        if candidate.suffix.lower() in IMAGE_SUFFIXES and candidate.is_file():
            return candidate
    except (OSError, ValueError):
        return None
    return None


class PathSuggester(Suggester):
    """Completes a file path as it is typed: folders, and image files (``gen:ID`` left as is).

    Right arrow (or End) takes the suggestion, as in every Textual ``Input``."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        import asyncio

        if not value or value.lower().startswith(("gen:", "#")):
            return None
        role, _, rest = value.partition(":")
        prefix = ""
        if role in ("mask", "markup") and rest:
            prefix, value = f"{role}:", rest
        found = await asyncio.to_thread(complete_path, value)
        return None if found is None else prefix + found


def complete_path(value: str) -> str | None:
    """The first folder or image file that starts with what ``value`` names (as typed)."""
    expanded = os.path.expanduser(value)
    folder, _, start = expanded.rpartition(os.sep)
    base = Path(folder or ("/" if expanded.startswith(os.sep) else "."))
    try:
        names: list[str] = []
        with os.scandir(base) as entries:
            for count, entry in enumerate(entries):
                if count >= _LISTING_MAX:
                    break
                if not entry.name.startswith(start) or entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    names.append(entry.name + os.sep)
                elif entry.name.lower().endswith(IMAGE_SUFFIXES):
                    names.append(entry.name)
    except OSError:
        return None
    if not names:
        return None
    name = sorted(names)[0]
    typed_folder = value[: len(value) - len(start)] if start else value
    if not start and not value.endswith(os.sep):
        return None
    return typed_folder + name


class EditPanel(Widget):
    """The images, mask and fidelity of the edit being prepared (hidden when there is none)."""

    DEFAULT_CSS = """
    EditPanel {
        height: auto;
        border: round $panel-lighten-2;
        border-title-color: $accent;
        margin: 0;
        padding: 0 1;

        &:focus-within {
            border: round $border;
        }
        #edit-row {
            height: auto;
        }
        #edit-thumb {
            width: 10;
            height: 4;
        }
        #edit-side {
            width: 1fr;
            height: auto;
            padding: 0 0 0 1;
        }
        #edit-inputs {
            height: auto;
            max-height: 2;
            border: none;
            padding: 0;
            background: transparent;
        }
        #edit-options {
            height: 1;
            Select {
                width: 18;
                margin: 0 1 0 0;
            }
        }
        #edit-estimate {
            height: 1;
            color: $foreground-muted;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        #edit-path {
            margin: 1 0 0 0;
        }
    }
    """

    BINDINGS = [
        Binding("delete,backspace", "remove", "Remove", id="edit.remove", tooltip="Remove it"),
        Binding("escape", "close_path", "Close", show=False, id="edit.close"),
    ]

    @dataclass
    class Changed(Message):
        """Images, mask or fidelity changed (Compose revalidates and re-estimates)."""

        panel: EditPanel

    @dataclass
    class Cleared(Message):
        """The last image was removed: Compose generates from the prompt alone again."""

        panel: EditPanel

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.images: list[Loaded] = []
        self.overlay: Loaded | None = None  # the mask (role "mask") or markup
        self._fidelities: tuple[str, ...] = ()
        self._thumbnail_of: Path | None = None  # the file the thumbnail shows

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="edit-row"):
            yield Vertical(id="edit-thumb")
            with Vertical(id="edit-side"):
                yield OptionList(id="edit-inputs")
                with Horizontal(id="edit-options"):
                    yield Select[str](
                        [("fidelity auto", "auto")],
                        value="auto",
                        allow_blank=False,
                        id="edit-fidelity",
                        compact=True,
                        tooltip="Input fidelity: how closely the edit keeps the inputs' details",
                    )
                    yield Button(
                        "Stop",
                        id="edit-stop",
                        compact=True,
                        tooltip="Remove every image: generate from the prompt alone",
                    )
                yield Static("", id="edit-estimate", markup=False)

    def on_mount(self) -> None:
        self.border_title = "Edit"
        self.display = False
        self.query_one("#edit-fidelity", Select).display = False

    # -- state ----------------------------------------------------------------------------

    @property
    def editing(self) -> bool:
        return bool(self.images)

    @property
    def sources(self) -> list[EditSource]:
        """The sources in request order: the images, then the mask or markup."""
        listed = [loaded.source for loaded in self.images]
        if self.overlay is not None:
            listed.append(self.overlay.source)
        return listed

    @property
    def mask(self) -> EditImage | None:
        overlay = self.overlay
        return overlay.image if overlay is not None and overlay.source.role == "mask" else None

    @property
    def markup(self) -> EditImage | None:
        overlay = self.overlay
        return overlay.image if overlay is not None and overlay.source.role == "markup" else None

    @property
    def fidelity(self) -> str | None:
        select = self.query_one("#edit-fidelity", Select)
        value = select.value if select.display else None
        return value if isinstance(value, str) and value != "auto" else None

    def first_image(self) -> Loaded | None:
        return self.images[0] if self.images else None

    def set_images(self, loaded: Iterable[Loaded]) -> None:
        """Start a new edit from these images (mask and markup dropped)."""
        self.images = list(loaded)
        self.overlay = None
        self._refresh()

    def add(self, loaded: Loaded) -> None:
        """Add an image, or set the mask or markup (by the source's role)."""
        if loaded.source.role in ("mask", "markup"):
            self.overlay = loaded
        else:
            self.images.append(loaded)
        self._refresh()

    def clear(self) -> None:
        self.images = []
        self.overlay = None
        self._refresh()
        self.post_message(self.Cleared(self))

    def set_fidelities(self, values: tuple[str, ...]) -> None:
        """The ``input_fidelity`` values the model takes (none: the picker is hidden)."""
        if values == self._fidelities:
            return
        self._fidelities = values
        select = self.query_one("#edit-fidelity", Select)
        current = select.value
        options = [("fidelity auto", "auto"), *((f"fidelity {v}", v) for v in values)]
        select.set_options(options)
        select.value = current if current in values else "auto"
        select.display = bool(values)

    def set_estimate(self, text: str) -> None:
        self.query_one("#edit-estimate", Static).update(printable(text, single_line=True))

    @property
    def path_open(self) -> bool:
        """Whether the path input is shown (it is made the first time it is asked for)."""
        found = self.query("#edit-path")
        return bool(found) and found.first().display

    def open_path_input(self) -> None:
        """Show (the first time: make) the path input and focus it."""
        self.display = True
        found = self.query("#edit-path")
        if found:
            path = found.first(Input)
            path.display = True
            path.focus()
            return
        path = Input(
            placeholder="Path or gen:ID (mask:PATH, markup:PATH) · enter adds · esc closes",
            id="edit-path",
            suggester=PathSuggester(),
        )
        self.mount(path)
        path.focus()

    def close_path_input(self) -> None:
        for path in self.query("#edit-path").results(Input):
            path.value = ""
            path.display = False
        self.display = self.editing

    # -- drawing --------------------------------------------------------------------------

    def _refresh(self) -> None:
        self.display = self.editing or self.path_open
        first = self.first_image()
        count = len(self.images)
        if first is None:
            self.border_title = "Edit"
        else:
            more = f" + {count - 1} reference" + ("s" if count > 2 else "") if count > 1 else ""
            self.border_title = f"Edit {first.label}{more}"
        inputs = self.query_one("#edit-inputs", OptionList)
        inputs.clear_options()
        options = [
            Option(f"{'image' if i else 'edit'} {loaded.label}", id=f"image-{i}")
            for i, loaded in enumerate(self.images)
        ]
        if self.overlay is not None:
            options.append(Option(f"{self.overlay.source.role} {self.overlay.label}", id="overlay"))
        inputs.add_options(options)
        self._show_thumbnail(first)
        self.post_message(self.Changed(self))

    def _show_thumbnail(self, first: Loaded | None) -> None:
        path = None if first is None else first.source.path
        if path == self._thumbnail_of:
            return
        self._thumbnail_of = path
        box = self.query_one("#edit-thumb", Vertical)
        box.remove_children()
        if path is not None:
            box.mount(graphics.of(self).preview(path, box=THUMB_BOX, classes="thumb"))

    # -- keys and events ------------------------------------------------------------------

    def action_remove(self) -> None:
        inputs = self.query_one("#edit-inputs", OptionList)
        index = inputs.highlighted
        if index is None or not inputs.has_focus:
            return
        option = inputs.get_option_at_index(index)
        if option.id == "overlay":
            self.overlay = None
        else:
            del self.images[int(str(option.id).removeprefix("image-"))]
            if not self.images:
                self.clear()
                return
        self._refresh()

    @on(Button.Pressed, "#edit-stop")
    def _stop(self, event: Button.Pressed) -> None:
        event.stop()
        self.clear()

    @on(Select.Changed, "#edit-fidelity")
    def _fidelity_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))

    def action_close_path(self) -> None:
        """esc: close the path input (if open) and go back to the prompt."""
        self.close_path_input()
        self.screen.query_one("#prompt").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_path":
            return self.path_open
        if action == "remove":
            return self.query_one("#edit-inputs", OptionList).has_focus or None
        return True
