"""The trash: prompts and images marked deleted (restorable) until they are purged.

An entry of the trash is either a prompt, with the generations trashed together with it (they
share its ``deleted_at`` to the microsecond), or one generation trashed on its own. Restoring a
prompt brings back exactly the generations trashed with it; restoring a generation whose prompt is
in the trash brings the prompt back too. Purging removes rows for good through
``delete_prompt`` / ``delete_generation``; the ledger keeps its rows (``generation_id`` becomes
NULL), so past spend never changes. Files are the service's business: this store only records
where they are.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dalletui.errors import NotFoundError, ValidationError
from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Generation, Prompt, now

TrashKind = Literal["prompt", "generation"]
#: Accepted spellings of each kind in a reference such as ``prompt:12`` or ``generation:34``.
_KIND_NAMES: dict[str, TrashKind] = {
    "prompt": "prompt",
    "p": "prompt",
    "generation": "generation",
    "gen": "generation",
    "g": "generation",
    "image": "generation",
}
_REF = re.compile(r"^\s*([A-Za-z]+)\s*[:#]\s*(\d{1,18})\s*$")

#: (file_path, thumbnail_path) of one generation.
Paths = tuple[str | None, str | None]


@dataclass(frozen=True)
class TrashRef:
    """Names one entry of the trash: ``prompt:12`` or ``generation:34``."""

    kind: TrashKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def label(self) -> str:
        """How people call it: 'prompt #12', 'image #34'."""
        return f"{'prompt' if self.kind == 'prompt' else 'image'} #{self.id}"

    @classmethod
    def parse(cls, text: str) -> TrashRef:
        """``prompt:12`` / ``generation:34`` (also ``p:12``, ``g:34``, ``image:34``)."""
        match = _REF.match(text or "")
        kind = _KIND_NAMES.get(match.group(1).lower()) if match else None
        if match is None or kind is None:
            shown = (text or "").strip()[:40]
            hint = shown if shown.isdigit() else "ID"
            raise ValidationError(
                f"'{shown}' is not a trash id: write prompt:{hint} or generation:{hint} "
                "(dalletui trash list shows them)."
            )
        number = int(match.group(2))
        if number < 1:
            raise ValidationError(f"'{text.strip()}' is not a trash id: ids start at 1.")
        return cls(kind, number)


@dataclass(frozen=True)
class TrashItem:
    """One entry of the trash, newest first in listings.

    ``generations`` are the rows this entry holds (prompt joined): for a prompt, those trashed
    with it; for a generation, itself. ``size_bytes`` is filled in by the service, which knows
    the files.
    """

    ref: TrashRef
    prompt_id: int
    text: str
    deleted_at: dt.datetime
    generations: tuple[Generation, ...] = ()
    #: For a generation entry: its prompt is in the trash too (restoring it restores the prompt).
    prompt_trashed: bool = False
    size_bytes: int | None = None

    @property
    def kind(self) -> TrashKind:
        return self.ref.kind

    @property
    def image_count(self) -> int:
        """Generations of the entry that have an image file."""
        return sum(1 for g in self.generations if g.file_path)


@dataclass(frozen=True)
class PurgedRows:
    """What a purge removed: the entries (still in the trash when it ran) and every generation."""

    refs: tuple[TrashRef, ...]
    generations: tuple[Generation, ...]


class TrashStore(StoreBase):
    """Mark, restore, list and purge trashed prompts and generations."""

    delete_prompt: Any  # from PromptStore, mixed into the same manager
    delete_generation: Any  # from GenerationStore

    # -- into the trash ---------------------------------------------------------------------

    @guarded
    def trash_prompt(self, prompt_id: int, when: dt.datetime | None = None) -> TrashItem:
        """Mark a prompt and all its live generations deleted, with one timestamp."""
        when = when or now()
        with self.write():
            prompt = self._get(Prompt, prompt_id)
            if prompt.deleted_at is not None:
                raise ValidationError(f"Prompt #{prompt_id} is already in the trash.")
            Prompt.update(deleted_at=when).where(Prompt.id == prompt_id).execute()
            Generation.update(deleted_at=when).where(
                (Generation.prompt == prompt_id) & Generation.deleted_at.is_null()
            ).execute()
            generations = self._generations(
                (Generation.prompt == prompt_id) & (Generation.deleted_at == when)
            )
        return TrashItem(
            TrashRef("prompt", prompt_id), prompt_id, prompt.text, when, tuple(generations)
        )

    @guarded
    def trash_generation(self, generation_id: int, when: dt.datetime | None = None) -> TrashItem:
        """Mark one live generation (an image) deleted; its prompt stays."""
        when = when or now()
        with self.write():
            generation = self._generation(generation_id)
            if generation.deleted_at is not None:
                raise ValidationError(f"Generation #{generation_id} is already in the trash.")
            Generation.update(deleted_at=when).where(Generation.id == generation_id).execute()
            generation.deleted_at = when
        return self._item_for_generation(generation)

    @guarded
    def set_generation_paths(self, paths: Mapping[int, Paths]) -> int:
        """Record where generations' files now are (one transaction); returns rows changed."""
        changed = 0
        with self.write():
            for generation_id, (file_path, thumbnail_path) in paths.items():
                changed += (
                    Generation.update(file_path=file_path, thumbnail_path=thumbnail_path)
                    .where(Generation.id == generation_id)
                    .execute()
                )
        return changed

    # -- what is in it ----------------------------------------------------------------------

    @guarded
    def trash_entry(self, ref: TrashRef) -> TrashItem:
        """The entry ``ref`` names; ``NotFoundError`` when it is not in the trash."""
        if ref.kind == "prompt":
            prompt = Prompt.get_or_none(Prompt.id == ref.id)
            if prompt is None or prompt.deleted_at is None:
                raise NotFoundError(f"Prompt #{ref.id} is not in the trash.")
            generations = self._generations(
                (Generation.prompt == ref.id) & (Generation.deleted_at == prompt.deleted_at)
            )
            return TrashItem(ref, prompt.id, prompt.text, prompt.deleted_at, tuple(generations))
        generation = (
            Generation.select(Generation, Prompt)
            .join(Prompt)
            .where(Generation.id == ref.id)
            .get_or_none()
        )
        if generation is None or generation.deleted_at is None:
            raise NotFoundError(f"Generation #{ref.id} is not in the trash.")
        return self._item_for_generation(generation)

    @guarded
    def list_trash(self, *, before: dt.datetime | None = None) -> list[TrashItem]:
        """Every entry of the trash (trashed before ``before`` if given), newest first."""
        prompt_condition = Prompt.deleted_at.is_null(False)
        generation_condition = Generation.deleted_at.is_null(False)
        if before is not None:
            prompt_condition &= Prompt.deleted_at < before
            generation_condition &= Generation.deleted_at < before
        items: dict[TrashRef, TrashItem] = {}
        held: dict[int, list[Generation]] = {}
        loose: list[Generation] = []
        for generation in self._generations(generation_condition):
            if generation.prompt.deleted_at == generation.deleted_at:
                held.setdefault(generation.prompt_id, []).append(generation)
            else:
                loose.append(generation)
        for prompt in Prompt.select().where(prompt_condition):
            ref = TrashRef("prompt", prompt.id)
            generations = tuple(held.get(prompt.id, ()))
            items[ref] = TrashItem(ref, prompt.id, prompt.text, prompt.deleted_at, generations)
        for generation in loose:
            item = self._item_for_generation(generation)
            items[item.ref] = item
        return sorted(items.values(), key=lambda i: (i.deleted_at, i.ref.id), reverse=True)

    # -- out of it --------------------------------------------------------------------------

    @guarded
    def restore_entry(self, item: TrashItem, paths: Mapping[int, Paths] | None = None) -> int:
        """Take an entry out of the trash with its files' new paths; returns generations restored.

        A prompt comes back with the generations listed in ``item``; a generation brings its
        prompt back too. One transaction; ``NotFoundError`` when the rows were purged meanwhile.
        """
        paths = paths or {}
        with self.write():
            prompt = Prompt.get_or_none(Prompt.id == item.prompt_id)
            if prompt is None:
                raise NotFoundError(f"{item.ref.label.capitalize()} is no longer in the trash.")
            restored = 0
            for generation in item.generations:
                changes: dict[str, Any] = {"deleted_at": None}
                if generation.id in paths:
                    changes["file_path"], changes["thumbnail_path"] = paths[generation.id]
                restored += (
                    Generation.update(**changes)
                    .where((Generation.id == generation.id) & Generation.deleted_at.is_null(False))
                    .execute()
                )
            if item.kind == "generation" and not restored:
                raise NotFoundError(f"{item.ref.label.capitalize()} is no longer in the trash.")
            Prompt.update(deleted_at=None).where(Prompt.id == item.prompt_id).execute()
        return restored

    @guarded
    def purge_entries(self, refs: Iterable[TrashRef]) -> PurgedRows:
        """Delete entries for good, in one transaction; entries no longer in the trash are skipped.

        Purging a prompt removes every generation it still has (those trashed on their own too).
        The ledger keeps its rows.
        """
        purged: list[TrashRef] = []
        removed: dict[int, Generation] = {}
        with self.write():
            for ref in dict.fromkeys(refs):
                if ref.kind == "prompt":
                    prompt = Prompt.get_or_none(Prompt.id == ref.id)
                    if prompt is None or prompt.deleted_at is None:
                        continue
                    for generation in self.delete_prompt(ref.id):
                        removed[generation.id] = generation
                else:
                    generation = Generation.get_or_none(Generation.id == ref.id)
                    if generation is None or generation.deleted_at is None:
                        continue
                    removed[generation.id] = self.delete_generation(ref.id)
                purged.append(ref)
        return PurgedRows(tuple(purged), tuple(removed.values()))

    @guarded
    def generation_exists(self, generation_ids: Sequence[int]) -> set[int]:
        """Which of ``generation_ids`` still have a row (trashed or not)."""
        found: set[int] = set()
        for start in range(0, len(generation_ids), 500):
            chunk = list(generation_ids[start : start + 500])
            found.update(
                row.id for row in Generation.select(Generation.id).where(Generation.id.in_(chunk))
            )
        return found

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _generations(condition: Any) -> list[Generation]:
        return list(
            Generation.select(Generation, Prompt)
            .join(Prompt)
            .where(condition)
            .order_by(Generation.id.desc())
        )

    @staticmethod
    def _generation(generation_id: int) -> Generation:
        generation = (
            Generation.select(Generation, Prompt)
            .join(Prompt)
            .where(Generation.id == generation_id)
            .get_or_none()
        )
        if generation is None:
            raise NotFoundError(f"No generation #{generation_id}.")
        return generation

    @staticmethod
    def _item_for_generation(generation: Generation) -> TrashItem:
        prompt = generation.prompt
        return TrashItem(
            TrashRef("generation", generation.id),
            prompt.id,
            prompt.text,
            generation.deleted_at,
            (generation,),
            prompt_trashed=prompt.deleted_at is not None,
        )
