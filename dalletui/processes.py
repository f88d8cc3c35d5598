"""Is a process still running? (Pending rows and half-done imports record their owner's pid.)"""

from __future__ import annotations

import os
from typing import Any


def process_alive(pid: Any) -> bool:
    """True when ``pid`` names a running process (or one we may not signal)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed child that is not reaped yet still answers signals; Linux shows it as Z."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
