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
    except (PermissionError, OverflowError):
        return isinstance(pid, int) and pid < 2**31
    return True
