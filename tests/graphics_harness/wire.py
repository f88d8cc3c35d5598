"""See the bytes a Textual app would send to a real terminal, inside ``run_test``.

``run_test`` uses Textual's headless driver, which draws nothing. ``capture_wire`` makes that
driver claim it is not headless and keeps what the app writes, so a test can count bytes per
keypress and decode the sixel and kitty data, in process, in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest


class Wire:
    def __init__(self) -> None:
        self.chunks: list[str] = []

    def write(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def mark(self) -> int:
        return len(self.chunks)

    def since(self, mark: int) -> str:
        return "".join(self.chunks[mark:])


@contextmanager
def capture_wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    from textual.drivers.headless_driver import HeadlessDriver

    wire = Wire()
    monkeypatch.setattr(HeadlessDriver, "is_headless", property(lambda self: False))
    monkeypatch.setattr(HeadlessDriver, "write", lambda self, data: wire.write(data))
    yield wire
