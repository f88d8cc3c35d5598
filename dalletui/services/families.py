"""Near-duplicate prompt families: fold the history in the background, list heads, expand one.

The folding itself lives in ``storage/folding.py``; this is what the faces call. ``fold`` is
what a thread worker runs when History opens (and the CLI before ``history --fold``): it writes
keys only for prompts that have none, so after the first pass it costs one indexed query.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dalletui.services.history import PromptRow
from dalletui.storage import DatabaseManager
from dalletui.storage.folding import FOLD_BATCH, FamilySummary

__all__ = ["FamilyHeadRow", "FamilyService", "FamilySummary", "FoldRun"]


@dataclass(frozen=True)
class FoldRun:
    """One background pass: prompts given a family key, and how long it took."""

    folded: int
    seconds: float


@dataclass(frozen=True)
class FamilyHeadRow:
    """A family as a list shows it: its head (most used) and how many variants it hides."""

    head: PromptRow
    variants: int

    @property
    def label(self) -> str:
        return (
            f"(+{self.variants} variant{'s' if self.variants != 1 else ''})"
            if self.variants
            else ""
        )


class FamilyService:
    """Prompt families over one database."""

    def __init__(self, db: DatabaseManager) -> None:
        self.db = db

    def pending(self) -> int:
        """Prompts not folded yet."""
        return self.db.pending_families()

    def fold(
        self,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        batch: int = FOLD_BATCH,
    ) -> FoldRun:
        """Give every prompt without a family key one (safe to run in a thread worker)."""
        start = time.perf_counter()
        done = self.db.compute_families(batch=batch, progress=progress, cancelled=cancelled)
        return FoldRun(folded=done, seconds=time.perf_counter() - start)

    def heads(self, limit: int = 50, offset: int = 0) -> list[FamilyHeadRow]:
        """Live families, most used first."""
        return [
            FamilyHeadRow(head=PromptRow.of(h.prompt), variants=h.variants)
            for h in self.db.family_heads(limit=limit, offset=offset)
        ]

    def members(self, prompt_id: int) -> list[PromptRow]:
        """The prompt's family, its head first (just the prompt when it is not folded yet)."""
        return [PromptRow.of(p) for p in self.db.family_members(prompt_id)]

    def summary(self) -> FamilySummary:
        return self.db.family_summary()
