"""Messages that cross screens (posted up to the app, which routes them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class ReusePrompt(Message):
    """Open Compose with this prompt text and (optionally) its last parameters."""

    text: str
    params: dict[str, Any] = field(default_factory=dict)
    #: The prompt the text is (when known): changed before generating, the new prompt
    #: remembers it as its parent.
    prompt_id: int | None = None


@dataclass
class DataChanged(Message):
    """Something was generated, starred or deleted: screens showing data should refresh."""

    what: str = "generation"


@dataclass
class ModelChanged(Message):
    """Compose's model picker now says ``model``: the status line shows it (not the default)."""

    model: str


@dataclass
class StartEdit(Message):
    """Edit generation ``generation_id`` in Compose (its prompt prefilled), or with ``add``, add
    it as one more reference image to the edit Compose is preparing (starting one if none)."""

    generation_id: int
    prompt: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    add: bool = False
