"""Organising prompts and images: tags, collections and notes (schema 0009).

- A *tag* is one row whatever its case: ``name_key`` (the case-folded name, inner whitespace
  collapsed) is unique; ``name`` is as first written. A tag whose last link goes is deleted.
- A *collection* is a named, ordered list of prompts and images (``name_key`` unique, like
  tags). Its items' positions are always dense, ``0 .. n-1``: adding, removing and moving
  renumber them in the same transaction.
- A *note* is free text on a prompt (``notes``) or an image (``note``), cleaned like a prompt
  (escape sequences and control characters removed, surrounding space trimmed).

The trash works as everywhere in the store: a prompt or image in the trash keeps its tags and
its place in collections (restoring it brings them back), but listings leave it out.
Positions count every item, trashed ones too, so a restored item returns to its place.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from peewee import JOIN, Expression, ForeignKeyField, fn

from dalletui.errors import NotFoundError, ValidationError
from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import (
    NAME_MAX_CHARS,
    Collection,
    CollectionItem,
    Generation,
    Prompt,
    PromptTag,
    Tag,
    normalize_prompt,
    now,
)

#: The longest tag name, in characters.
TAG_MAX_CHARS = 64
#: The longest note on a prompt or an image, in characters (after cleaning).
NOTE_MAX_CHARS = 10_000
#: Tags one call may add or remove, and prompts one call may tag.
TAGS_MAX = 100
PROMPTS_MAX = 10_000

_SPACE = re.compile(r"\s+")
_CHUNK = 500

ItemKind = Literal["prompt", "generation"]


def clean_tag(name: str) -> tuple[str, str]:
    """``(name, key)`` of a tag as written: space trimmed and collapsed; the key case-folded.

    ``ValidationError`` (one sentence) when it is empty, longer than ``TAG_MAX_CHARS``, or
    holds a comma, a line break or another character that does not print.
    """
    raw = name if isinstance(name, str) else ""
    if "," in raw:
        raise ValidationError(f"Tag {_shown(raw)} holds a comma; give each tag on its own.")
    if any(char in raw for char in "\n\r\x85\u2028\u2029"):
        raise ValidationError(f"Tag {_shown(raw)} holds a line break; a tag is one line.")
    text = _SPACE.sub(" ", raw).strip()
    if not text:
        raise ValidationError("A tag needs at least one character other than space.")
    if len(text) > TAG_MAX_CHARS:
        raise ValidationError(
            f"Tag {_shown(text)} is {len(text)} characters; the limit is {TAG_MAX_CHARS}."
        )
    if not text.isprintable():
        raise ValidationError(f"Tag {_shown(text)} holds a character that does not print.")
    return text, text.casefold()


def clean_collection_name(name: str) -> tuple[str, str]:
    """``(name, key)`` of a collection name, as ``clean_tag`` does (commas allowed)."""
    raw = name if isinstance(name, str) else ""
    if any(char in raw for char in "\n\r\x85\u2028\u2029"):
        raise ValidationError(
            f"Collection name {_shown(raw)} holds a line break; a name is one line."
        )
    text = _SPACE.sub(" ", raw).strip()
    if not text:
        raise ValidationError("A collection needs a name.")
    if len(text) > NAME_MAX_CHARS:
        raise ValidationError(
            f"The collection name is {len(text)} characters; the limit is {NAME_MAX_CHARS}."
        )
    if not text.isprintable():
        raise ValidationError(
            f"Collection name {_shown(text)} holds a character that does not print."
        )
    return text, text.casefold()


def clean_note(text: str | None) -> str:
    """A note as stored: controls removed, space trimmed; refused over ``NOTE_MAX_CHARS``."""
    cleaned = normalize_prompt(text or "")
    if len(cleaned) > NOTE_MAX_CHARS:
        raise ValidationError(
            f"The note is {len(cleaned):,} characters; the limit is {NOTE_MAX_CHARS:,}."
        )
    return cleaned


def _shown(text: str, width: int = 40) -> str:
    text = normalize_prompt(_SPACE.sub(" ", text))
    text = "".join(char if char.isprintable() else "\ufffd" for char in text)
    return "'" + (text if len(text) <= width else text[: width - 1] + "…") + "'"


@dataclass(frozen=True)
class TagCount:
    """A tag and how many prompts outside the trash carry it."""

    name: str
    count: int


@dataclass(frozen=True)
class CollectionSummary:
    """A collection with the number of its items outside the trash."""

    id: int
    uid: str
    name: str
    description: str
    count: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class CollectionEntry:
    """One item of a collection, loaded whole: a prompt, or an image with its prompt's text."""

    position: int
    kind: ItemKind
    prompt_id: int
    generation_id: int | None
    text: str
    added_at: dt.datetime
    #: For an image: its model, status and file (thumbnail for previews).
    model: str | None = None
    file_path: str | None = None
    thumbnail_path: str | None = None

    @property
    def ref(self) -> str:
        """How the CLI names it: ``12`` for a prompt, ``gen:34`` for an image."""
        return str(self.prompt_id) if self.kind == "prompt" else f"gen:{self.generation_id}"


class OrganizeStore(StoreBase):
    """Tags on prompts, collections of prompts and images, notes on both."""

    # -- tags --------------------------------------------------------------------------------

    @guarded
    def tag_prompts(self, prompt_ids: Iterable[int], names: Iterable[str]) -> int:
        """Tag every prompt with every name (new tags made); returns the links added.

        Names are checked first (``clean_tag``) and every prompt must exist (a prompt in the
        trash may be tagged); nothing is written otherwise. Already there: left as it is.
        """
        ids, tags = self._tag_arguments(prompt_ids, names)
        added = 0
        with self.write():
            self._existing_prompts(ids)
            for name, key in tags:
                tag = Tag.get_or_none(Tag.name_key == key)
                if tag is None:
                    tag = Tag.create(name=name, name_key=key)
                have = {
                    pid
                    for (pid,) in PromptTag.select(PromptTag.prompt)
                    .where((PromptTag.tag == tag.id) & PromptTag.prompt.in_(ids))
                    .tuples()
                }
                rows = [{"prompt": pid, "tag": tag.id} for pid in ids if pid not in have]
                for start in range(0, len(rows), _CHUNK):
                    PromptTag.insert_many(rows[start : start + _CHUNK]).execute()
                added += len(rows)
        return added

    @guarded
    def untag_prompts(self, prompt_ids: Iterable[int], names: Iterable[str]) -> int:
        """Take the names off the prompts; returns the links removed. A tag left with no
        prompt is deleted. Unknown tags and prompts are nothing to remove (no error)."""
        ids, tags = self._tag_arguments(prompt_ids, names)
        removed = 0
        with self.write():
            for _name, key in tags:
                tag = Tag.get_or_none(Tag.name_key == key)
                if tag is None:
                    continue
                removed += (
                    PromptTag.delete()
                    .where((PromptTag.tag == tag.id) & PromptTag.prompt.in_(ids))
                    .execute()
                )
                if not PromptTag.select().where(PromptTag.tag == tag.id).exists():
                    tag.delete_instance()
        return removed

    @guarded
    def tags_with_counts(self) -> list[TagCount]:
        """Every tag some prompt outside the trash carries, most used first, then by name."""
        count = fn.COUNT(PromptTag.prompt)
        rows = (
            Tag.select(Tag.name, count.alias("n"))
            .join(PromptTag, on=(PromptTag.tag == Tag.id))
            .join(Prompt, on=(PromptTag.prompt == Prompt.id))
            .where(Prompt.deleted_at.is_null())
            .group_by(Tag.id)
            .order_by(count.desc(), Tag.name_key)
            .tuples()
        )
        return [TagCount(name, n) for name, n in rows]

    @guarded
    def tags_of(self, prompt_id: int) -> list[str]:
        """The tags of one prompt, by name (case-folded order)."""
        rows = (
            Tag.select(Tag.name)
            .join(PromptTag, on=(PromptTag.tag == Tag.id))
            .where(PromptTag.prompt == prompt_id)
            .order_by(Tag.name_key)
            .tuples()
        )
        return [name for (name,) in rows]

    @guarded
    def tags_by_prompt(self, prompt_ids: Sequence[int]) -> dict[int, list[str]]:
        """The tags of many prompts at once (one query a chunk): id -> names."""
        found: dict[int, list[str]] = {}
        ids = list(dict.fromkeys(prompt_ids))
        for start in range(0, len(ids), _CHUNK):
            rows = (
                PromptTag.select(PromptTag.prompt, Tag.name)
                .join(Tag, on=(PromptTag.tag == Tag.id))
                .where(PromptTag.prompt.in_(ids[start : start + _CHUNK]))
                .order_by(PromptTag.prompt, Tag.name_key)
                .tuples()
            )
            for pid, name in rows:
                found.setdefault(pid, []).append(name)
        return found

    @guarded
    def prompts_tagged(self, name: str) -> list[Prompt]:
        """Prompts outside the trash carrying the tag ``name`` (any case), last used first."""
        _name, key = clean_tag(name)
        return list(
            Prompt.select()
            .join(PromptTag, on=(PromptTag.prompt == Prompt.id))
            .join(Tag, on=(PromptTag.tag == Tag.id))
            .where((Tag.name_key == key) & Prompt.deleted_at.is_null())
            .order_by(Prompt.last_used_at.desc(), Prompt.id.desc())
        )

    # -- collections -------------------------------------------------------------------------

    @guarded
    def create_collection(self, name: str, description: str = "") -> Collection:
        """A new, empty collection; refused when the name (any case) is taken."""
        shown, key = clean_collection_name(name)
        text = clean_note(description)
        with self.write():
            if Collection.select().where(Collection.name_key == key).exists():
                raise ValidationError(f"There is a collection named {_shown(shown)} already.")
            return Collection.create(name=shown, name_key=key, description=text)

    @guarded
    def collection(self, name_or_id: str | int) -> Collection:
        """The collection of that name (any case) or id; ``NotFoundError`` when none."""
        if isinstance(name_or_id, int):
            found = Collection.get_or_none(Collection.id == name_or_id)
            shown = f"#{name_or_id}"
        else:
            _name, key = clean_collection_name(name_or_id)
            found = Collection.get_or_none(Collection.name_key == key)
            shown = _shown(name_or_id)
        if found is None:
            raise NotFoundError(f"No collection {shown}.")
        return found

    @guarded
    def rename_collection(
        self, name_or_id: str | int, new_name: str, description: str | None = None
    ) -> Collection:
        """Rename a collection (and set its description when given)."""
        shown, key = clean_collection_name(new_name)
        text = None if description is None else clean_note(description)
        with self.write():
            found = self.collection(name_or_id)
            clash = Collection.get_or_none(Collection.name_key == key)
            if clash is not None and clash.id != found.id:
                raise ValidationError(f"There is a collection named {_shown(shown)} already.")
            found.name, found.name_key, found.updated_at = shown, key, now()
            if text is not None:
                found.description = text
            found.save()
        return found

    @guarded
    def delete_collection(self, name_or_id: str | int) -> int:
        """Delete a collection (its prompts and images stay); returns how many items it had."""
        with self.write():
            found = self.collection(name_or_id)
            count = CollectionItem.select().where(CollectionItem.collection == found.id).count()
            found.delete_instance()  # items go with it (ON DELETE CASCADE)
        return count

    @guarded
    def list_collections(self) -> list[CollectionSummary]:
        """Every collection by name (case-folded), with its items outside the trash counted."""
        live = {
            cid: n
            for cid, n in (
                CollectionItem.select(CollectionItem.collection, fn.COUNT(CollectionItem.id))
                .join(Prompt, JOIN.LEFT_OUTER, on=(CollectionItem.prompt == Prompt.id))
                .join(
                    Generation,
                    JOIN.LEFT_OUTER,
                    on=(CollectionItem.generation == Generation.id),
                    src=CollectionItem,
                )
                .where(_live_item())
                .group_by(CollectionItem.collection)
                .tuples()
            )
        }
        return [
            _summary(c, live.get(c.id, 0))
            for c in Collection.select().order_by(Collection.name_key)
        ]

    @guarded
    def collection_summary(self, name_or_id: str | int) -> CollectionSummary:
        found = self.collection(name_or_id)
        count = next(
            (s.count for s in self.list_collections() if s.id == found.id),
            0,
        )
        return _summary(found, count)

    @guarded
    def collection_items(
        self, name_or_id: str | int, *, include_deleted: bool = False
    ) -> list[CollectionEntry]:
        """The items of a collection in order, loaded whole; trashed ones left out unless
        ``include_deleted``."""
        found = self.collection(name_or_id)
        of_generation = Prompt.alias()
        select = (
            CollectionItem.select(
                CollectionItem.position,
                CollectionItem.prompt,
                CollectionItem.generation,
                CollectionItem.added_at,
                Prompt.text.alias("prompt_text"),
                of_generation.id.alias("gen_prompt_id"),
                of_generation.text.alias("gen_prompt_text"),
                Generation.model,
                Generation.file_path,
                Generation.thumbnail_path,
            )
            .join(Prompt, JOIN.LEFT_OUTER, on=(CollectionItem.prompt == Prompt.id))
            .join(
                Generation,
                JOIN.LEFT_OUTER,
                on=(CollectionItem.generation == Generation.id),
                src=CollectionItem,
            )
            .join(
                of_generation,
                JOIN.LEFT_OUTER,
                on=(Generation.prompt == of_generation.id),
                src=Generation,
            )
            .where(CollectionItem.collection == found.id)
            .order_by(CollectionItem.position)
        )
        if not include_deleted:
            select = select.where(_live_item())
        entries = []
        for row in select.dicts():
            if row["generation"] is None:
                entries.append(
                    CollectionEntry(
                        position=row["position"],
                        kind="prompt",
                        prompt_id=row["prompt"],
                        generation_id=None,
                        text=row["prompt_text"] or "",
                        added_at=row["added_at"],
                    )
                )
            else:
                entries.append(
                    CollectionEntry(
                        position=row["position"],
                        kind="generation",
                        prompt_id=row["gen_prompt_id"],
                        generation_id=row["generation"],
                        text=row["gen_prompt_text"] or "",
                        added_at=row["added_at"],
                        model=row["model"],
                        file_path=row["file_path"],
                        thumbnail_path=row["thumbnail_path"],
                    )
                )
        return entries

    @guarded
    def collections_of(
        self, *, prompt_id: int | None = None, generation_id: int | None = None
    ) -> list[str]:
        """Names of the collections holding this prompt (or image), by name."""
        column, item_id, _label = _item_column(prompt_id, generation_id)
        rows = (
            Collection.select(Collection.name)
            .join(CollectionItem, on=(CollectionItem.collection == Collection.id))
            .where(column == item_id)
            .order_by(Collection.name_key)
            .tuples()
        )
        return [name for (name,) in rows]

    @guarded
    def add_to_collection(
        self,
        name_or_id: str | int,
        *,
        prompt_id: int | None = None,
        generation_id: int | None = None,
        position: int | None = None,
    ) -> int:
        """Put a prompt or an image in a collection at ``position`` (None: at the end; past
        the end: at the end); returns the position it got. Once per collection."""
        column, item_id, label = _item_column(prompt_id, generation_id)
        if position is not None and position < 0:
            raise ValidationError("A position is 0 or more.")
        with self.write():
            found = self.collection(name_or_id)
            self._get(Prompt if prompt_id is not None else Generation, item_id)
            if (
                CollectionItem.select()
                .where((CollectionItem.collection == found.id) & (column == item_id))
                .exists()
            ):
                raise ValidationError(f"{label} is in collection {_shown(found.name)} already.")
            order = self._item_order(found.id)
            at = len(order) if position is None else min(position, len(order))
            self._renumber(found.id, [*order[:at], None, *order[at:]])
            CollectionItem.create(
                collection=found.id,
                position=at,
                prompt=prompt_id,
                generation=generation_id,
            )
            Collection.update(updated_at=now()).where(Collection.id == found.id).execute()
        return at

    @guarded
    def remove_from_collection(
        self,
        name_or_id: str | int,
        *,
        prompt_id: int | None = None,
        generation_id: int | None = None,
    ) -> None:
        """Take a prompt or an image out of a collection (the rest close up)."""
        column, item_id, label = _item_column(prompt_id, generation_id)
        with self.write():
            found = self.collection(name_or_id)
            item = CollectionItem.get_or_none(
                (CollectionItem.collection == found.id) & (column == item_id)
            )
            if item is None:
                raise NotFoundError(f"{label} is not in collection {_shown(found.name)}.")
            item.delete_instance()
            self._renumber(found.id, self._item_order(found.id))
            Collection.update(updated_at=now()).where(Collection.id == found.id).execute()

    @guarded
    def move_item(
        self,
        name_or_id: str | int,
        *,
        prompt_id: int | None = None,
        generation_id: int | None = None,
        new_position: int,
    ) -> int:
        """Move an item to ``new_position`` (clamped to the end); returns where it went."""
        column, item_id, label = _item_column(prompt_id, generation_id)
        if new_position < 0:
            raise ValidationError("A position is 0 or more.")
        with self.write():
            found = self.collection(name_or_id)
            item = CollectionItem.get_or_none(
                (CollectionItem.collection == found.id) & (column == item_id)
            )
            if item is None:
                raise NotFoundError(f"{label} is not in collection {_shown(found.name)}.")
            order = [i for i in self._item_order(found.id) if i != item.id]
            at = min(new_position, len(order))
            self._renumber(found.id, [*order[:at], item.id, *order[at:]])
            Collection.update(updated_at=now()).where(Collection.id == found.id).execute()
        return at

    # -- notes -------------------------------------------------------------------------------

    @guarded
    def set_prompt_note(self, prompt_id: int, text: str | None) -> str:
        """Set (empty: clear) the note of a prompt; returns it as stored."""
        return self._set_note(Prompt, Prompt.notes, prompt_id, text)

    @guarded
    def set_generation_note(self, generation_id: int, text: str | None) -> str:
        """Set (empty: clear) the note of an image; returns it as stored."""
        return self._set_note(Generation, Generation.note, generation_id, text)

    def _set_note(self, model: Any, column: Any, row_id: int, text: str | None) -> str:
        note = clean_note(text)
        with self.write():
            self._get(model, row_id)
            model.update({column: note}).where(model.id == row_id).execute()
        return note

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _tag_arguments(
        prompt_ids: Iterable[int], names: Iterable[str]
    ) -> tuple[list[int], list[tuple[str, str]]]:
        ids = list(dict.fromkeys(int(i) for i in prompt_ids))
        if isinstance(names, str):
            names = [names]
        chosen: dict[str, tuple[str, str]] = {}
        for name, key in map(clean_tag, names):
            chosen.setdefault(key, (name, key))  # the first spelling wins
        tags = list(chosen.values())
        if not ids:
            raise ValidationError("Name at least one prompt.")
        if not tags:
            raise ValidationError("Name at least one tag.")
        if len(ids) > PROMPTS_MAX:
            raise ValidationError(f"{len(ids):,} prompts at once; at most {PROMPTS_MAX:,}.")
        if len(tags) > TAGS_MAX:
            raise ValidationError(f"{len(tags)} tags at once; at most {TAGS_MAX}.")
        return ids, tags

    @staticmethod
    def _existing_prompts(ids: list[int]) -> None:
        found: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            found.update(
                p for (p,) in Prompt.select(Prompt.id).where(Prompt.id.in_(chunk)).tuples()
            )
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"No prompt #{missing[0]}.")

    @staticmethod
    def _item_order(collection_id: int) -> list[int | None]:
        return [
            item_id
            for (item_id,) in CollectionItem.select(CollectionItem.id)
            .where(CollectionItem.collection == collection_id)
            .order_by(CollectionItem.position, CollectionItem.id)
            .tuples()
        ]

    @staticmethod
    def _renumber(collection_id: int, order: Sequence[int | None]) -> None:
        """Give the items their index in ``order`` (None: a gap kept for a new item).

        SQLite checks the unique (collection, position) index row by row, so positions move
        out of the way first (negative), then to their places.
        """
        changes = [(item_id, index) for index, item_id in enumerate(order) if item_id is not None]
        current = dict(
            CollectionItem.select(CollectionItem.id, CollectionItem.position)
            .where(CollectionItem.collection == collection_id)
            .tuples()
        )
        moved = [(item_id, index) for item_id, index in changes if current.get(item_id) != index]
        if not moved:
            return
        ids = [item_id for item_id, _ in moved]
        CollectionItem.update(position=CollectionItem.position * -1 - 1).where(
            CollectionItem.id.in_(ids)
        ).execute()
        for item_id, index in moved:
            CollectionItem.update(position=index).where(CollectionItem.id == item_id).execute()


def _live_item() -> Expression:
    """Items whose prompt or image is outside the trash (with both joined)."""
    return (CollectionItem.prompt.is_null(False) & Prompt.deleted_at.is_null()) | (
        CollectionItem.generation.is_null(False) & Generation.deleted_at.is_null()
    )


def _item_column(
    prompt_id: int | None, generation_id: int | None
) -> tuple[ForeignKeyField, int, str]:
    """The column, id and label of an item given as exactly one of a prompt or an image."""
    if (prompt_id is None) == (generation_id is None):
        raise ValidationError("Name one prompt or one image, not both or neither.")
    if prompt_id is not None:
        return CollectionItem.prompt, int(prompt_id), f"Prompt #{prompt_id}"
    return CollectionItem.generation, int(generation_id or 0), f"Image #{generation_id}"


def _summary(collection: Collection, count: int) -> CollectionSummary:
    return CollectionSummary(
        id=collection.id,
        uid=collection.uid,
        name=collection.name,
        description=collection.description or "",
        count=count,
        created_at=collection.created_at,
        updated_at=collection.updated_at,
    )
