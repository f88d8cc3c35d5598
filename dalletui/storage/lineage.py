"""Lineage: what a generation was made from, and what was made from it.

A generation's inputs (``GenerationInput`` rows, in order) are images, masks or markups, each
either one of our own generations (its *parent*) or a file from outside. ``children`` are the
generations that name it as a parent; ``chain`` walks back from a generation through its
*primary* parent (the first ``image`` input that is one of ours) to the oldest one it can reach.

The trash is handled as in the rest of the store: listings leave trashed generations out unless
``include_deleted`` is given. The lineage itself is a fact, so ``chain`` walks *through* a
trashed ancestor (an older live version stays reachable) and only leaves it out of the answer.
A purged parent is unlinked (``SET NULL``): the walk stops there, and the child's input keeps the
SHA-256 of what it was made from. Walks are bounded (``CHAIN_MAX``) and stop at a generation seen
before, so a cycle in an imported or hand-edited database cannot hang them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dalletui.errors import NotFoundError, ValidationError
from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import (
    GENERATION_KINDS,
    INPUT_ROLES,
    Generation,
    GenerationInput,
)

#: The most generations ``chain`` walks back through (and ``record_inputs`` checks for cycles).
CHAIN_MAX = 1_000
#: Inputs one generation may have (the Images API takes up to 16 images and one mask).
INPUTS_MAX = 32


@dataclass(frozen=True)
class InputSpec:
    """One input to record: one of our generations (``parent_id``) or an outside file."""

    role: str = "image"
    parent_id: int | None = None
    file_path: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None

    @classmethod
    def of(cls, value: InputSpec | Mapping[str, Any]) -> InputSpec:
        if isinstance(value, InputSpec):
            return value
        known = {"role", "parent_id", "file_path", "sha256", "width", "height"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValidationError(f"Unknown input field '{unknown[0]}'.")
        return cls(**dict(value))


def primary_parent_id(inputs: Iterable[GenerationInput]) -> int | None:
    """The parent ``chain`` follows: the first ``image`` input that is one of our generations."""
    for row in sorted(inputs, key=lambda r: r.position):
        if row.role == "image" and row.parent_generation_id is not None:
            return int(row.parent_generation_id)
    return None


class LineageStore(StoreBase):
    """Record and read a generation's inputs, parents, children and chain of ancestors."""

    # -- writing -----------------------------------------------------------------------------

    @guarded
    def record_inputs(
        self,
        generation_id: int,
        kind: str,
        inputs: Sequence[InputSpec | Mapping[str, Any]] = (),
    ) -> list[GenerationInput]:
        """Set how ``generation_id`` was made: its ``kind`` and its inputs, in order (position
        0, 1, ...), replacing any recorded before; one transaction.

        ``generate`` takes no inputs; ``edit`` needs at least one image; ``variation`` exactly
        one image and nothing else. A parent must exist and must not descend from this
        generation (no cycles). ``ValidationError`` lists what is wrong; nothing is written.
        """
        specs = [InputSpec.of(value) for value in inputs]
        problems = _kind_problems(kind, specs)
        rows = [
            GenerationInput(
                generation=generation_id,
                position=position,
                role=spec.role,
                parent_generation=spec.parent_id,
                file_path=spec.file_path or None,
                sha256=spec.sha256.lower() if spec.sha256 else None,
                width=spec.width,
                height=spec.height,
            )
            for position, spec in enumerate(specs)
        ]
        for position, row in enumerate(rows):
            problems.extend(f"Input {position}: {p}" for p in row.problems())
            if row.parent_generation_id is None and not row.file_path:
                problems.append(f"Input {position}: name a generation (parent_id) or a file.")
        if problems:
            raise ValidationError(problems)
        with self.write():
            self._get(Generation, generation_id)
            parent_ids = {s.parent_id for s in specs if s.parent_id is not None}
            if generation_id in parent_ids:
                raise ValidationError(f"Generation #{generation_id} cannot be its own input.")
            found = {
                g.id for g in Generation.select(Generation.id).where(Generation.id.in_(parent_ids))
            }
            missing = sorted(parent_ids - found)
            if missing:
                raise NotFoundError(f"No generation #{missing[0]} to use as an input.")
            looped = sorted(parent_ids & self._descendant_ids(generation_id))
            if looped:
                raise ValidationError(
                    f"Generation #{looped[0]} was made from #{generation_id}; "
                    "it cannot be its input too."
                )
            Generation.update(kind=kind).where(Generation.id == generation_id).execute()
            GenerationInput.delete().where(GenerationInput.generation == generation_id).execute()
            for row in rows:
                row.save(force_insert=True)
        return rows

    # -- reading -----------------------------------------------------------------------------

    @guarded
    def inputs(self, generation_id: int) -> list[GenerationInput]:
        """Every input of a generation in order (outside files too), whatever is in the trash."""
        return list(
            GenerationInput.select()
            .where(GenerationInput.generation == generation_id)
            .order_by(GenerationInput.position)
        )

    @guarded
    def parents(self, generation_id: int, *, include_deleted: bool = False) -> list[Generation]:
        """The generations of ours this one was made from, in input order, each once; trashed
        ones left out unless ``include_deleted``."""
        ids = list(
            dict.fromkeys(
                row.parent_generation_id
                for row in self.inputs(generation_id)
                if row.parent_generation_id is not None
            )
        )
        return self._live(ids, include_deleted)

    @guarded
    def children(self, generation_id: int, *, include_deleted: bool = False) -> list[Generation]:
        """The generations made from this one (as any input), oldest first; trashed ones left
        out unless ``include_deleted``."""
        select = (
            Generation.select()
            .join(GenerationInput, on=(GenerationInput.generation == Generation.id))
            .where(GenerationInput.parent_generation == generation_id)
            .distinct()
            .order_by(Generation.id)
        )
        if not include_deleted:
            select = select.where(Generation.deleted_at.is_null())
        return list(select)

    @guarded
    def chain(
        self, generation_id: int, *, include_deleted: bool = False, limit: int = CHAIN_MAX
    ) -> list[Generation]:
        """The ancestors of a generation, oldest first, ending with the generation itself.

        Follows the primary parent (the first image input that is ours). Trashed ancestors
        are walked through but left out unless ``include_deleted``; the generation asked for
        is always there (``NotFoundError`` when it does not exist). At most ``limit``
        generations; a cycle stops the walk where it closes.
        """
        ids = [generation_id, *self._ancestor_ids(generation_id, limit=max(0, limit - 1))]
        by_id = {g.id: g for g in Generation.select().where(Generation.id.in_(ids))}
        if generation_id not in by_id:
            raise NotFoundError(f"No generation #{generation_id}.")
        ordered = [by_id[i] for i in reversed(ids) if i in by_id]
        return [
            g for g in ordered if include_deleted or g.id == generation_id or g.deleted_at is None
        ]

    @guarded
    def family_ids(self, generation_id: int, *, limit: int = CHAIN_MAX) -> list[int]:
        """Every generation of the lineage ``generation_id`` belongs to: its oldest ancestor
        and all made from that at any depth, newest first (trashed ones too; bounded)."""
        ancestors = self._ancestor_ids(generation_id, limit=limit)
        root = ancestors[-1] if ancestors else generation_id
        found = {root, generation_id, *self._descendant_ids(root, limit=limit)}
        return sorted(found, reverse=True)

    @guarded
    def generation_for_file(self, path: str) -> Generation | None:
        """The succeeded generation whose image is the file ``path`` (as stored), if any: so an
        image of ours given by its path is linked as a parent, not as an outside file."""
        return (
            Generation.select()
            .where((Generation.file_path == path) & (Generation.status == "succeeded"))
            .order_by(Generation.id.desc())
            .first()
        )

    # -- helpers -----------------------------------------------------------------------------

    def _ancestor_ids(self, generation_id: int, *, limit: int = CHAIN_MAX) -> list[int]:
        """Primary parents of ``generation_id``, nearest first, bounded and cycle-safe."""
        seen = {generation_id}
        found: list[int] = []
        current = generation_id
        while len(found) < limit:
            parent = primary_parent_id(
                GenerationInput.select(
                    GenerationInput.position,
                    GenerationInput.role,
                    GenerationInput.parent_generation,
                ).where(GenerationInput.generation == current)
            )
            if parent is None or parent in seen:
                break
            seen.add(parent)
            found.append(parent)
            current = parent
        return found

    def _descendant_ids(self, generation_id: int, *, limit: int = CHAIN_MAX) -> set[int]:
        """Generations made from ``generation_id`` through any input, at any depth (bounded)."""
        found: set[int] = set()
        frontier = [generation_id]
        while frontier and len(found) < limit:
            rows = (
                GenerationInput.select(GenerationInput.generation)
                .where(GenerationInput.parent_generation.in_(frontier))
                .distinct()
                .tuples()
            )
            frontier = [gid for (gid,) in rows if gid not in found and gid != generation_id]
            found.update(frontier)
        return found

    @staticmethod
    def _live(ids: list[int], include_deleted: bool) -> list[Generation]:
        if not ids:
            return []
        select = Generation.select().where(Generation.id.in_(ids))
        if not include_deleted:
            select = select.where(Generation.deleted_at.is_null())
        by_id = {g.id: g for g in select}
        return [by_id[i] for i in ids if i in by_id]


def _kind_problems(kind: str, specs: Sequence[InputSpec]) -> list[str]:
    """What is wrong with ``kind`` and its inputs taken together."""
    if kind not in GENERATION_KINDS:
        return [f"Kind '{kind}' is unknown; one of {', '.join(GENERATION_KINDS)}."]
    if len(specs) > INPUTS_MAX:
        return [f"{len(specs)} inputs; at most {INPUTS_MAX}."]
    roles = [spec.role for spec in specs]
    unknown = [role for role in roles if role not in INPUT_ROLES]
    if unknown:
        return []  # each row says so in its own words
    images = roles.count("image")
    if kind == "generate" and specs:
        return ["A generation made from a prompt alone has no inputs."]
    if kind == "edit" and images == 0:
        return ["An edit needs at least one image input."]
    if kind == "variation" and (images != 1 or len(roles) != 1):
        return ["A variation is made from exactly one image and nothing else."]
    if roles.count("mask") > 1:
        return ["At most one mask."]
    return []
