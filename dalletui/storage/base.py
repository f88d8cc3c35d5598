"""What every part of the database manager shares: error translation and row helpers.

``StoreBase`` is the small core each store mixes in: the database handle, the path (for error
messages), ``_get`` / ``_save``, and ``write()``, a transaction that takes the write lock at its
start (``BEGIN IMMEDIATE``) so that a read-then-write never fails with SQLITE_BUSY_SNAPSHOT
beside another writer; the busy timeout then covers the wait for the lock.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import peewee

from dalletui.errors import NotFoundError, StorageError, ValidationError
from dalletui.storage.models import BaseModel, EpochSqliteDatabase, now

log = logging.getLogger(__name__)

#: How long a statement waits for another writer (SQLite's busy handler; a PRAGMA).
BUSY_TIMEOUT_MS = 30_000
#: How long ``write()`` waits for the write lock, polling every ``LOCK_POLL_S`` or so.
WRITE_WAIT_S = 30.0
LOCK_POLL_S = 0.002

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def describe_error(exc: BaseException, path: Path) -> str:
    """Turn a low-level database error into one sentence a user can act on."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return (
            f"The database {path} stayed locked by another program (another dalletui?) for "
            "longer than the wait allows; try again in a moment."
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"The database {path} is damaged or is not a dalletui database. It was left "
            "untouched: move it aside to start fresh, or restore a backup."
        )
    if "readonly" in text or "read-only" in text or "permission" in text:
        return f"The database {path} is read-only; check the permissions of the file and folder."
    if "disk is full" in text or "no space" in text:
        return f"The disk holding {path} is full; free some space and try again."
    if "unable to open" in text:
        return (
            f"Cannot open the database {path}: its folder is missing or not writable. "
            "Set DALLETUI_HOME to a writable folder."
        )
    if isinstance(exc, OverflowError) or "too large" in text:
        return "A number is too large for the database."
    if isinstance(exc, peewee.IntegrityError):
        return f"That change conflicts with existing data ({exc})."
    return f"Database error on {path}: {exc}."


def guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Convert database and file-system errors raised by ``method`` into ``StorageError``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        try:
            return method(*args, **kwargs)
        except (peewee.PeeweeException, sqlite3.Error, OSError, OverflowError) as exc:
            message = describe_error(exc, self.path)  # type: ignore[attr-defined]
            log.info("%s failed: %s", method.__name__, message, exc_info=True)
            raise StorageError(message) from exc

    return wrapper


class StoreBase:
    """The core shared by the stores that make up ``DatabaseManager``."""

    path: Path
    db: EpochSqliteDatabase

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction that holds the write lock from its start (a savepoint if nested).

        SQLite's own busy handler polls every 100 ms once it has waited a while, so a writer that
        commits and begins again quickly (a long import) could starve it. Taking the lock here
        polls every few milliseconds instead, for up to ``WRITE_WAIT_S``.
        """
        if self.db.in_transaction():
            with self.db.atomic():
                yield
            return
        transaction = self._take_write_lock()  # already entered: only its exit is left
        with contextlib.ExitStack() as stack:
            stack.push(transaction)
            yield

    def _take_write_lock(self) -> Any:
        deadline = time.monotonic() + WRITE_WAIT_S
        self.db.pragma("busy_timeout", 0)
        try:
            while True:
                transaction = self.db.atomic()
                try:
                    transaction.__enter__()
                    return transaction
                except peewee.OperationalError as exc:
                    text = str(exc).lower()
                    if ("locked" not in text and "busy" not in text) or (
                        time.monotonic() > deadline
                    ):
                        raise
                time.sleep(LOCK_POLL_S * (0.5 + random.random()))
        finally:
            self.db.pragma("busy_timeout", BUSY_TIMEOUT_MS)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction (a savepoint when nested); errors become ``StorageError``."""
        try:
            with self.write():
                yield
        except (peewee.PeeweeException, sqlite3.Error) as exc:
            raise StorageError(describe_error(exc, self.path)) from exc

    @staticmethod
    def _get(model: type[M], row_id: int) -> M:
        row = model.get_or_none(model.id == row_id)
        if row is None:
            name = re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()
            raise NotFoundError(f"No {name} #{row_id}.")
        return row

    @staticmethod
    def _save(instance: M, **changes: Any) -> M:
        for key, value in changes.items():
            if key not in instance._meta.fields:
                raise ValidationError(f"Unknown field '{key}'.")
            setattr(instance, key, value)
        if "updated_at" in instance._meta.fields and "updated_at" not in changes:
            instance.updated_at = now()
        instance.validate()
        instance.save()
        return instance
