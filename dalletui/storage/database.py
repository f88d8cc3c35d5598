"""DatabaseManager: the one façade callers use, made of small stores (one job each).

Lifecycle lives here: connection, pragmas, migrations, the schema version, and refusing a
database written by a newer dalletui. Prompts, templates, batches, generations, lineage,
organising (tags, collections, notes), usage, trash and maintenance live in their own modules and
are mixed into this class.

Peewee keeps one connection per thread, so Textual thread workers get their own; WAL mode lets
readers and the writer work side by side. One manager is open per process (models are bound to
the module-level deferred database in ``models``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playhouse.migrations import Runner

from dalletui.errors import StorageError
from dalletui.storage.base import BUSY_TIMEOUT_MS, StoreBase, describe_error, guarded
from dalletui.storage.batches import BatchStore
from dalletui.storage.exchange import ExchangeStore
from dalletui.storage.folding import FoldingStore
from dalletui.storage.gallery import GalleryStore
from dalletui.storage.generations import GenerationStore
from dalletui.storage.imported import ImportedImageStore
from dalletui.storage.lineage import LineageStore
from dalletui.storage.maintenance import MaintenanceStore
from dalletui.storage.models import ALL_MODELS, database
from dalletui.storage.organize import OrganizeStore
from dalletui.storage.prompts import (
    IMPORT_CHUNK,
    ImportSummary,
    PromptPage,
    PromptQuery,
    PromptStore,
)
from dalletui.storage.templates import TemplateStore
from dalletui.storage.trash import TrashStore
from dalletui.storage.usage import UsageStore, UsageTotals

__all__ = [
    "IMPORT_CHUNK",
    "DatabaseManager",
    "ImportSummary",
    "PromptPage",
    "PromptQuery",
    "UsageTotals",
    "describe_error",
    "guarded",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_MS,  # another dalletui may hold the write lock for a moment
    "synchronous": 1,  # NORMAL: durable enough in WAL mode, much faster than FULL
    # 4 MB a connection (was 16 MB; three connections). Measured on the History search (250
    # corpus queries, 37k and 100k prompts): ~40 more 4 KB page reads a query from the OS cache
    # than with 16 MB (~1.5 µs each: ~0.06 ms, under the run-to-run noise); each searching
    # connection holds ~12 MB less. mmap read nothing but grew RSS by the file's size.
    "cache_size": -4_000,
}


def known_migrations() -> list[str]:
    """Names of the migrations this version of dalletui ships, in order."""
    return sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py"))


def code_schema_version() -> int:
    """The schema version this dalletui writes (its newest migration's number)."""
    return max((int(name.split("_", 1)[0]) for name in known_migrations()), default=0)


class DatabaseManager(
    PromptStore,
    TemplateStore,
    BatchStore,
    GenerationStore,
    GalleryStore,
    UsageStore,
    TrashStore,
    MaintenanceStore,
    ExchangeStore,
    ImportedImageStore,
    LineageStore,
    OrganizeStore,
    FoldingStore,
    StoreBase,
):
    """Owns the SQLite database of one dalletui home."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = database

    # -- lifecycle -------------------------------------------------------------------------

    @guarded
    def open(self, notice: Callable[[str], None] | None = None) -> DatabaseManager:
        """Create folders and the database if needed, set pragmas, run pending migrations.

        A database from a newer dalletui is refused before anything is written to it. An
        existing database that needs upgrading first gets ``notice`` with a sentence saying
        so: rebuilding a large history's search index takes seconds (about 1.4 s for 100k
        prompts), which should not look like a hang.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        self._refuse_newer()
        if not self.db.is_closed():
            self.db.close()
        self.db.init(str(self.path), pragmas=PRAGMAS, check_same_thread=False)
        self.db.connect(reuse_if_open=True)
        # Reading the schema first surfaces a corrupt file before anything writes to it.
        self.db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
        runner = Runner(self.db, str(MIGRATIONS_DIR))
        if notice is not None and existed and _pending(runner):
            notice(
                f"Upgrading the history in {self.path} for this dalletui (once; "
                "a large history takes a few seconds)…"
            )
        applied = runner.up()
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
            self.db.pragma("user_version", self.schema_version())
        self.recover_imports()
        return self

    def _refuse_newer(self) -> None:
        """Read the file's schema version read-only; refuse one newer than this code."""
        if not self.path.exists():
            return
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=30)
        except sqlite3.Error:
            return  # open() reports what is wrong with the file in its own words
        try:
            (user_version,) = conn.execute("PRAGMA user_version").fetchone()
            names: set[str] = set()
            has_history = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migration'"
            ).fetchone()
            if has_history:
                names = {name for (name,) in conn.execute("SELECT name FROM schema_migration")}
        except sqlite3.Error:
            return
        finally:
            conn.close()
        ours = code_schema_version()
        unknown = sorted(names - set(known_migrations()))
        if user_version > ours or unknown:
            theirs = max(
                [user_version, *(int(n.split("_", 1)[0]) for n in unknown if n[:4].isdigit())]
            )
            raise StorageError(
                f"The database {self.path} was written by a newer dalletui (schema version "
                f"{theirs}; this dalletui knows up to {ours}"
                + (f", not {', '.join(unknown)}" if unknown else "")
                + "). It was not changed: upgrade dalletui, or set DALLETUI_HOME to another folder."
            )

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    def __enter__(self) -> DatabaseManager:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @guarded
    def schema_version(self) -> int:
        """The number of the newest applied migration."""
        names = Runner(self.db, str(MIGRATIONS_DIR)).applied()
        return max((int(name.split("_", 1)[0]) for name in names), default=0)

    @guarded
    def table_names(self) -> list[str]:
        return self.db.get_tables()

    @guarded
    def index_names(self) -> list[str]:
        rows = self.db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
        return sorted(name for (name,) in rows)

    @guarded
    def pragma(self, name: str) -> Any:
        return self.db.pragma(name)

    @guarded
    def counts(self) -> dict[str, int]:
        """Row count of every table (for the status line and verification)."""
        return {model._meta.table_name: model.select().count() for model in ALL_MODELS}


def _pending(runner: Runner) -> bool:
    """True when some migration file has not been applied yet."""
    return any(m.path is not None and not m.applied for m in runner.status())
