"""The list of verification checks, shared by verify_phase3 and the modules that add checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

CheckFn = Callable[[Path], None]
CHECKS: list[tuple[str, CheckFn]] = []


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check: it gets a fresh data folder and raises to fail."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS.append((name, fn))
        return fn

    return register
