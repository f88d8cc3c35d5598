"""The two notifications every screen gives the same way: a worker's failure, a trash warning."""

from __future__ import annotations

from collections.abc import Iterable

from textual.dom import DOMNode

from dalletui.errors import DalleTuiError
from dalletui.textsafe import printable_message


def show_failure(node: DOMNode, error: BaseException | None, where: str) -> None:
    """A failed worker as one sentence (never a traceback), titled by the error or ``where``."""
    title = error.title if isinstance(error, DalleTuiError) else where
    node.notify(printable_message(error), title=title, severity="error", timeout=8, markup=False)


def show_trash_problems(node: DOMNode, problems: Iterable[str]) -> None:
    """What a trash move or restore could not do (a file left behind), one warning each."""
    for problem in problems:
        node.notify(problem, title="Trash", severity="warning", timeout=8, markup=False)
