"""Organising: tags on prompts, collections of prompts and images, notes (TUI and CLI).

A thin layer over ``OrganizeStore``: it names items the way people write them (``12`` is a
prompt, ``gen:34`` an image, as ``dalletui edit`` reads them) and hands back plain, fully
loaded values (``TagCount``, ``CollectionSummary``, ``CollectionEntry``, ``Tagging``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dalletui.errors import NotFoundError, ValidationError
from dalletui.services.editing import generation_ref
from dalletui.storage import DatabaseManager
from dalletui.storage.organize import (
    NOTE_MAX_CHARS,
    TAG_MAX_CHARS,
    CollectionEntry,
    CollectionSummary,
    ItemKind,
    TagCount,
    clean_tag,
)

__all__ = [
    "NOTE_MAX_CHARS",
    "TAG_MAX_CHARS",
    "CollectionEntry",
    "CollectionSummary",
    "CollectionView",
    "Added",
    "ItemRef",
    "Labels",
    "OrganizeService",
    "TagCount",
    "Tagging",
]

_PROMPT_REF = re.compile(r"^(?:p:|prompt:)?(\d{1,18})$", re.IGNORECASE)


@dataclass(frozen=True)
class ItemRef:
    """A prompt (``12``) or an image (``gen:34``), as the CLI and the TUI name them."""

    kind: ItemKind
    id: int

    def __str__(self) -> str:
        return str(self.id) if self.kind == "prompt" else f"gen:{self.id}"

    @property
    def label(self) -> str:
        """'prompt #12', 'image #34'."""
        return f"{'prompt' if self.kind == 'prompt' else 'image'} #{self.id}"

    @classmethod
    def parse(cls, text: str | int) -> ItemRef:
        """``12`` (or ``p:12``) for a prompt, ``gen:34`` (or ``#34``) for an image."""
        if isinstance(text, int):
            return cls.of_prompt(text)
        number = generation_ref(text or "")
        if number is not None and number > 0:
            return cls("generation", number)
        match = _PROMPT_REF.match((text or "").strip())
        if match and int(match.group(1)) > 0:
            return cls("prompt", int(match.group(1)))
        shown = (text or "").strip()[:40]
        raise ValidationError(
            f"'{shown}' is neither a prompt id (12) nor an image (gen:34); "
            "dalletui history shows them."
        )

    @classmethod
    def of_prompt(cls, prompt_id: int) -> ItemRef:
        if prompt_id < 1:
            raise ValidationError("Ids start at 1.")
        return cls("prompt", prompt_id)

    def keywords(self) -> dict[str, int]:
        """``prompt_id=`` or ``generation_id=`` for the store."""
        return {"prompt_id" if self.kind == "prompt" else "generation_id": self.id}


@dataclass(frozen=True)
class Tagging:
    """What a tag or untag call did: the links added (or removed), and each prompt's tags."""

    changed: int
    tags: dict[int, list[str]]


@dataclass(frozen=True)
class Labels:
    """What organises one prompt or image, for a detail pane: its tags (a prompt's), the
    collections it is in, and its note."""

    tags: list[str]
    collections: list[str]
    note: str

    def __bool__(self) -> bool:
        return bool(self.tags or self.collections or self.note)


@dataclass(frozen=True)
class Added:
    """Where ``add_to`` put an item: the collection (``created`` when it was new), the place."""

    collection: CollectionSummary
    position: int
    created: bool


@dataclass(frozen=True)
class CollectionView:
    """One collection and its items (outside the trash) in order."""

    summary: CollectionSummary
    items: list[CollectionEntry]


class OrganizeService:
    """Tags, collections and notes, for both faces of dalletui."""

    def __init__(self, db: DatabaseManager) -> None:
        self.db = db

    # -- tags --------------------------------------------------------------------------------

    @staticmethod
    def clean_tag(name: str) -> str:
        """The tag as it will be stored (``ValidationError`` of one sentence if it cannot)."""
        return clean_tag(name)[0]

    def tag(self, prompt_ids: Iterable[int], names: Iterable[str]) -> Tagging:
        ids = list(dict.fromkeys(prompt_ids))
        added = self.db.tag_prompts(ids, names)
        return Tagging(added, self._tags_by_prompt(ids))

    def untag(self, prompt_ids: Iterable[int], names: Iterable[str]) -> Tagging:
        ids = list(dict.fromkeys(prompt_ids))
        removed = self.db.untag_prompts(ids, names)
        return Tagging(removed, self._tags_by_prompt(ids))

    def retag(self, prompt_id: int, add: Sequence[str], remove: Sequence[str]) -> list[str]:
        """Put ``add`` on a prompt and take ``remove`` off, all or nothing (each name checked
        first); returns its tags after."""
        for name in add:
            clean_tag(name)
        with self.db.atomic():
            if add:
                self.db.tag_prompts([prompt_id], add)
            if remove:
                self.db.untag_prompts([prompt_id], remove)
        return self.tags_of(prompt_id)

    def tags(self) -> list[TagCount]:
        """Every tag in use (by prompts outside the trash), most used first."""
        return self.db.tags_with_counts()

    def tag_names(self, prefix: str = "") -> list[str]:
        """Tag names for completion: those starting with ``prefix`` (any case), most used first."""
        key = " ".join(prefix.split()).casefold()
        return [t.name for t in self.tags() if t.name.casefold().startswith(key)]

    def tags_of(self, prompt_id: int) -> list[str]:
        return self.db.tags_of(prompt_id)

    def prompt_ids_tagged(self, name: str) -> list[int]:
        """Prompts (outside the trash) carrying the tag, last used first."""
        return [p.id for p in self.db.prompts_tagged(name)]

    def _tags_by_prompt(self, ids: Sequence[int]) -> dict[int, list[str]]:
        found = self.db.tags_by_prompt(ids)
        return {pid: found.get(pid, []) for pid in ids}

    # -- collections -------------------------------------------------------------------------

    def collections(self) -> list[CollectionSummary]:
        return self.db.list_collections()

    def create_collection(self, name: str, description: str = "") -> CollectionSummary:
        created = self.db.create_collection(name, description)
        return self.db.collection_summary(created.id)

    def rename_collection(
        self, name: str, new_name: str, description: str | None = None
    ) -> CollectionSummary:
        renamed = self.db.rename_collection(name, new_name, description)
        return self.db.collection_summary(renamed.id)

    def delete_collection(self, name: str | int) -> int:
        """Delete a collection (not what is in it); returns how many items it held."""
        return self.db.delete_collection(name)

    def collection(self, name: str) -> CollectionView:
        summary = self.db.collection_summary(name)
        return CollectionView(summary, self.db.collection_items(summary.id))

    def add(self, name: str, refs: Sequence[ItemRef], position: int | None = None) -> list[int]:
        """Add items in order (at ``position`` and after, or at the end); returns their places.

        Every item is checked first (exists, not already there): one refusal adds nothing.
        """
        refs = list(refs)
        if len(set(refs)) != len(refs):
            raise ValidationError("An item is named twice; each goes in a collection once.")
        places = []
        with self.db.atomic():
            for offset, ref in enumerate(refs):
                at = None if position is None else position + offset
                places.append(self.db.add_to_collection(name, position=at, **ref.keywords()))
        return places

    def add_to(self, name: str, ref: ItemRef) -> Added:
        """Add one item at the end of the collection ``name``, creating the collection when
        there is none of that name (any case): what the TUI's "add to collection" key does."""
        with self.db.atomic():
            created = False
            try:
                self.db.collection_summary(name)
            except NotFoundError:
                self.db.create_collection(name)
                created = True
            position = self.db.add_to_collection(name, **ref.keywords())
            return Added(self.db.collection_summary(name), position, created)

    def collection_names(self) -> list[str]:
        """Collection names for completion, the most recently changed first."""
        found = sorted(self.collections(), key=lambda c: c.updated_at, reverse=True)
        return [c.name for c in found]

    def labels(self, ref: ItemRef) -> Labels:
        """The tags (of a prompt), collections and note of one item."""
        tags = self.tags_of(ref.id) if ref.kind == "prompt" else []
        return Labels(tags, self.collections_of(ref), self.note(ref))

    def remove(self, name: str, refs: Sequence[ItemRef]) -> int:
        """Take items out (all or none); returns how many."""
        with self.db.atomic():
            for ref in dict.fromkeys(refs):
                self.db.remove_from_collection(name, **ref.keywords())
        return len(set(refs))

    def move(self, name: str, ref: ItemRef, new_position: int) -> int:
        return self.db.move_item(name, new_position=new_position, **ref.keywords())

    def collections_of(self, ref: ItemRef) -> list[str]:
        return self.db.collections_of(**ref.keywords())

    # -- notes -------------------------------------------------------------------------------

    def set_note(self, ref: ItemRef, text: str | None) -> str:
        """Set (empty: clear) the note of a prompt or an image; returns it as stored."""
        if ref.kind == "prompt":
            return self.db.set_prompt_note(ref.id, text)
        return self.db.set_generation_note(ref.id, text)

    def note(self, ref: ItemRef) -> str:
        if ref.kind == "prompt":
            return self.db.get_prompt(ref.id).notes or ""
        return self.db.get_generation(ref.id).note or ""
