"""Prompt versions as the History pane and ``dalletui history --family`` show them.

A ``FamilyView`` holds plain values (no Peewee rows): the chain of ancestors down to the prompt,
its children, and for each the word diff against its parent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dalletui.services.prompt_diff import DiffSegment, render_plain, word_diff
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Prompt, normalize_prompt


def same_prompt(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are recorded as one prompt (the same normalised text)."""
    return normalize_prompt(a) == normalize_prompt(b)


@dataclass(frozen=True)
class VersionRow:
    """One prompt of a family: its text, when it was first used, and what changed from the
    prompt it was made from (``diff`` empty when it has no parent shown)."""

    id: int
    text: str
    created_at: dt.datetime
    use_count: int
    parent_id: int | None = None
    diff: tuple[DiffSegment, ...] = ()

    @classmethod
    def of(cls, prompt: Prompt, parent: Prompt | None = None) -> VersionRow:
        return cls(
            id=int(prompt.id),
            text=prompt.text,
            created_at=prompt.created_at,
            use_count=int(prompt.use_count or 0),
            parent_id=None if parent is None else int(parent.id),
            diff=tuple(word_diff(parent.text, prompt.text)) if parent is not None else (),
        )

    @property
    def plain_diff(self) -> str:
        """``[-old-]{+new+}`` against the parent ("" when it has none)."""
        return render_plain(list(self.diff)) if self.diff else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "use_count": self.use_count,
            "parent_id": self.parent_id,
            "diff": [{"kind": s.kind, "text": s.text} for s in self.diff],
            "plain_diff": self.plain_diff,
        }


@dataclass(frozen=True)
class FamilyView:
    """A prompt with its ancestors (oldest first) and children (oldest first), each with its
    diff against its parent; ``parent_trashed`` when the direct parent is in the trash."""

    prompt: VersionRow
    ancestors: list[VersionRow] = field(default_factory=list)
    children: list[VersionRow] = field(default_factory=list)
    child_count: int = 0
    parent_trashed: bool = False

    @property
    def parent(self) -> VersionRow | None:
        """The live parent (None when there is none or it is in the trash)."""
        if self.parent_trashed or not self.ancestors:
            return None
        return self.ancestors[-1]

    @property
    def has_family(self) -> bool:
        return bool(self.ancestors or self.children or self.parent_trashed)

    @property
    def chain(self) -> list[VersionRow]:
        return [*self.ancestors, self.prompt]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt.to_dict(),
            "ancestors": [row.to_dict() for row in self.ancestors],
            "children": [row.to_dict() for row in self.children],
            "child_count": self.child_count,
            "parent_trashed": self.parent_trashed,
        }


def family_view(db: DatabaseManager, prompt_id: int) -> FamilyView:
    """The family of ``prompt_id`` (``NotFoundError`` when there is no such prompt)."""
    family = db.prompt_family(prompt_id)
    prompt = family.prompt
    parent = family.parent
    trashed = parent is not None and parent.deleted_at is not None
    # Each ancestor is diffed against the one before it when that one is its own parent (a
    # trashed one between them is left out: then the diff would be against the wrong text).
    ancestors: list[VersionRow] = []
    for index, row in enumerate(family.ancestors):
        before = family.ancestors[index - 1] if index else None
        linked = before if before is not None and row.parent_prompt_id == before.id else None
        ancestors.append(VersionRow.of(row, linked))
    own_parent = None if parent is None or trashed else parent
    return FamilyView(
        prompt=VersionRow.of(prompt, own_parent),
        ancestors=ancestors,
        children=[VersionRow.of(child, prompt) for child in family.children],
        child_count=family.child_count,
        parent_trashed=trashed,
    )
