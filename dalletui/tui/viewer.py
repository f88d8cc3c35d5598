"""Open an image file full size in the system viewer, or copy its path, and say so.

Compose's result cards, the image view and anything else showing a file use these, so the
launch (never waited for, no output into the terminal) and its messages are the same everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from dalletui.textsafe import printable

if TYPE_CHECKING:
    from textual.app import App


def open_in_viewer(path: str) -> str | None:
    """Open ``path`` in the system image viewer without waiting; a reason if that is impossible."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        try:
            os.startfile(path)  # type: ignore[attr-defined]
        except OSError as exc:
            return f"Windows could not open {path}: {exc}."
        return None
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(opener) is None:
        return f"No image viewer found ({opener} is not installed). The file is {path}"
    try:
        subprocess.Popen(
            [opener, path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        return f"{opener} could not be started: {exc}. The file is {path}"
    return None


def show_in_viewer(app: App[Any], path: str) -> bool:
    """Open ``path`` in the system viewer and tell the user what happened; True if launched."""
    problem = open_in_viewer(path)
    if problem:
        app.notify(
            printable(problem),
            title="Cannot open the image",
            severity="warning",
            timeout=8,
            markup=False,
        )
        return False
    app.notify(printable(path), title="Opening in the image viewer", markup=False)
    return True


def copy_path(app: App[Any], path: str) -> None:
    """Put ``path`` on the clipboard (OSC 52 through Textual) and show it in a notification."""
    app.copy_to_clipboard(path)
    app.notify(printable(path), title="Path copied to the clipboard", markup=False)
