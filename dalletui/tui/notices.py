"""Notices screens give alike: a worker's failure, a move to or out of the trash."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.dom import DOMNode

from dalletui.errors import DalleTuiError
from dalletui.textsafe import printable_message

if TYPE_CHECKING:
    from dalletui.services.trash import TrashOutcome


def show_failure(node: DOMNode, error: BaseException | None, where: str) -> None:
    """A failed worker as one sentence (never a traceback), titled by the error or ``where``."""
    title = error.title if isinstance(error, DalleTuiError) else where
    node.notify(printable_message(error), title=title, severity="error", timeout=8, markup=False)


def show_trash_problems(node: DOMNode, problems: Iterable[str]) -> None:
    """What a trash move or restore could not do (a file left behind), one warning each."""
    for problem in problems:
        node.notify(problem, title="Trash", severity="warning", timeout=8, markup=False)


def show_trashed(node: DOMNode, outcome: TrashOutcome) -> None:
    """A prompt or image moved to the trash (History and the gallery say it alike)."""
    ref = outcome.item.ref
    node.notify(f"Moved {ref.label} to the trash · u undo", title="Trash", timeout=6)
    show_trash_problems(node, outcome.problems)


def show_restored(node: DOMNode, outcome: TrashOutcome) -> None:
    """What ``u`` took back out of the trash, its prompt too when that was trashed with it."""
    item = outcome.item
    also = f" and prompt #{item.prompt_id}" if item.prompt_trashed else ""
    node.notify(f"Restored {item.ref.label}{also}.", title="Trash", timeout=4)
    show_trash_problems(node, outcome.problems)
