"""Prompt versions: the prompt one was made from (reused and changed, or an edit's).

A prompt's *parent* is set once, when the prompt is first recorded from another one (or, for a
prompt recorded before, while it has none yet); it is never itself and never closes a cycle.
``prompt_family`` answers the chain of ancestors (oldest first, bounded) and the children.

As with lineage, the link is a fact: the chain walks *through* a trashed ancestor and only
leaves it out of the answer; trashed children are left out of the listing. A purged parent is
unlinked (``SET NULL``) and the walk stops there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Prompt

#: The most ancestors ``prompt_family`` walks back through (and the cycle check looks at).
FAMILY_MAX = 200
#: How far back the cycle check looks before linking (further than any family shown).
CYCLE_CHECK_MAX = 10_000
#: The most children ``prompt_family`` lists (their total is counted).
CHILDREN_MAX = 200


@dataclass(frozen=True)
class PromptFamily:
    """A prompt with its ancestors (oldest first; the parent is the last) and its children."""

    prompt: Prompt
    ancestors: list[Prompt] = field(default_factory=list)
    children: list[Prompt] = field(default_factory=list)
    #: Live children in all (``children`` holds at most ``CHILDREN_MAX``).
    child_count: int = 0
    #: The direct parent, even when it is in the trash (None when there is none or it is gone).
    parent: Prompt | None = None

    @property
    def chain(self) -> list[Prompt]:
        """The ancestors then the prompt itself: each one's parent is the one before it."""
        return [*self.ancestors, self.prompt]


class VersionStore(StoreBase):
    """Link a prompt to the one it came from and read its family."""

    def _link_parent(self, prompt: Prompt, parent_id: int | None) -> bool:
        """Set ``prompt``'s parent to ``parent_id`` when it has none, the parent exists and
        the link would not be a cycle (inside the caller's transaction). True when set."""
        if parent_id is None or prompt.parent_prompt_id is not None:
            return False
        parent_id = int(parent_id)
        if parent_id == prompt.id:
            return False
        if not Prompt.select().where(Prompt.id == parent_id).exists():
            return False
        if prompt.id in self._prompt_ancestor_ids(parent_id, limit=CYCLE_CHECK_MAX):
            return False
        Prompt.update(parent_prompt=parent_id).where(
            (Prompt.id == prompt.id) & Prompt.parent_prompt.is_null()
        ).execute()
        prompt.parent_prompt = parent_id
        return True

    @guarded
    def set_prompt_parent(self, prompt_id: int, parent_id: int | None) -> bool:
        """Link ``prompt_id`` to ``parent_id`` unless it has a parent already, is the parent
        itself, or the link would close a cycle; True when it was linked."""
        with self.write():
            prompt = self._get(Prompt, prompt_id)
            return self._link_parent(prompt, parent_id)

    @guarded
    def prompt_family(self, prompt_id: int, *, limit: int = FAMILY_MAX) -> PromptFamily:
        """``prompt_id`` with its ancestors (live ones, oldest first) and live children
        (oldest first). ``NotFoundError`` when there is no such prompt."""
        prompt = self._get(Prompt, prompt_id)
        ids = self._prompt_ancestor_ids(prompt_id, limit=limit)
        by_id = {p.id: p for p in Prompt.select().where(Prompt.id.in_(ids))} if ids else {}
        ancestors = [by_id[i] for i in reversed(ids) if i in by_id and by_id[i].deleted_at is None]
        parent = by_id.get(ids[0]) if ids else None
        live = Prompt.select().where(
            (Prompt.parent_prompt == prompt_id) & Prompt.deleted_at.is_null()
        )
        children = list(live.order_by(Prompt.id).limit(CHILDREN_MAX))
        count = len(children) if len(children) < CHILDREN_MAX else live.count()
        return PromptFamily(
            prompt=prompt, ancestors=ancestors, children=children, child_count=count, parent=parent
        )

    def _prompt_ancestor_ids(self, prompt_id: int, *, limit: int = FAMILY_MAX) -> list[int]:
        """Parents of ``prompt_id``, nearest first, bounded and cycle-safe."""
        seen = {prompt_id}
        found: list[int] = []
        current = prompt_id
        while len(found) < limit:
            row = Prompt.select(Prompt.parent_prompt).where(Prompt.id == current).tuples().first()
            parent = row[0] if row else None
            if parent is None or parent in seen:
                break
            seen.add(parent)
            found.append(parent)
            current = parent
        return found
