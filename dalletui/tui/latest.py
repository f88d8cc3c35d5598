"""Only the newest answer counts: numbering the loads a screen asks of a thread worker.

``@work(thread=True, exclusive=True)`` cancels an older worker when a new one starts, but a
thread cannot be stopped: an older query that finishes late would still hand its (stale) answer
to the UI after the newer one. Each load takes a ticket; the UI applies an answer only when its
ticket is still the newest. Tickets are taken and checked on the UI thread.
"""

from __future__ import annotations


class Latest:
    """Tickets for loads: ``take()`` when asking, ``is_newest(ticket)`` when the answer comes."""

    def __init__(self) -> None:
        self._newest = 0

    def take(self) -> int:
        self._newest += 1
        return self._newest

    def is_newest(self, ticket: int) -> bool:
        return ticket == self._newest
