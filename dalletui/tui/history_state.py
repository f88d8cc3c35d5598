"""What the History screen and its gallery share: the undo stack and the favourite wishes.

HistoryScreen owns one of each and hands them to the GalleryScreen it opens, so ``u`` in either
takes back the last delete made in either, and a star pressed in one shows in the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dalletui.services.trash import TrashRef

#: How many deletes ``u`` can take back, newest first.
UNDO_DEPTH = 20


class UndoStack:
    """What ``u`` takes back out of the trash (the latest last), and deletes still on their way."""

    def __init__(self, depth: int = UNDO_DEPTH) -> None:
        self.depth = depth
        self.refs: list[TrashRef] = []
        self.pending: set[TrashRef] = set()

    def begin(self, ref: TrashRef) -> bool:
        """Note a delete about to start; False if the same one is already on its way."""
        if ref in self.pending:
            return False
        self.pending.add(ref)
        return True

    def done(self, ref: TrashRef) -> None:
        self.pending.discard(ref)
        self.refs.append(ref)
        del self.refs[: -self.depth]

    def failed(self) -> None:
        self.pending.clear()

    def pop(self) -> TrashRef | None:
        return self.refs.pop() if self.refs else None

    def __bool__(self) -> bool:
        return bool(self.refs)


class FavoriteWishes:
    """The star each prompt should end with: the last press wins, whatever order workers run in.

    Every press records its wish, then a thread worker calls ``save``; each save writes the
    latest wish under one lock, so a worker that runs late writes the newest state, not its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted: dict[int, bool] = {}

    def want(self, prompt_id: int, on: bool) -> None:
        self._wanted[prompt_id] = on

    def save(self, prompt_id: int, write: Callable[[int, bool], object]) -> None:
        """Write the latest wish for ``prompt_id`` with ``write`` (run in a thread worker)."""
        with self._lock:
            write(prompt_id, self._wanted[prompt_id])
