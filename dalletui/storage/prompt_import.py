"""Large prompt imports: staged, then merged in short journaled transactions, all or nothing.

A large import never holds the write lock for long, yet is all or nothing: lines are read and
counted into a TEMP staging table (which locks nothing in the main database), then merged in
short transactions of ``IMPORT_CHUNK`` prompts, each journaled in ``import_journal``. If the merge
fails, every chunk already merged is taken back from the journal; if the process dies, the next
start does the same (``recover_imports``).

Kept apart from ``prompts.py`` (search, favourites) as a mixin of ``PromptStore`` so that the two
can change independently.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import peewee
from peewee import fn

from dalletui.errors import StorageError, ValidationError
from dalletui.processes import process_alive
from dalletui.storage.base import StoreBase, describe_error, guarded
from dalletui.storage.models import (
    PROMPT_MAX_CHARS,
    Generation,
    ImportJournal,
    Prompt,
    normalize_prompt,
    now,
    prompt_hash,
)

log = logging.getLogger(__name__)

#: Prompts merged per transaction: about 0.1 s of write lock (see bench/bench_storage.py).
IMPORT_CHUNK = 2000
#: Pause between merged chunks, so that another process waiting to write gets its turn.
IMPORT_PAUSE_S = 0.005
#: Lines hashed and staged per step (memory stays bounded for any file size).
STAGE_CHUNK = 20_000
#: A journal left by a process that is gone, or older than this, is an import that died.
STALE_IMPORT = dt.timedelta(hours=6)


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: lines used, prompts added, prompts already in history, lines cleaned
    of controls.

    ``bumped`` counts every prompt already in history; ``already_counted`` those of them whose
    uses an earlier import of this (or an overlapping) file had already counted, left alone.
    """

    lines: int
    added: int
    bumped: int
    cleaned: int = 0
    already_counted: int = 0
    #: Uses the import added in all (new prompts' and bumped prompts').
    added_uses: int = 0


class PromptImportStore(StoreBase):
    """Bulk prompt import and its undo journal; mixed into ``PromptStore``."""

    @guarded
    def import_prompts(
        self, texts: Iterable[str], when: dt.datetime | None = None, *, cleaned: int = 0
    ) -> ImportSummary:
        """Add many prompts as history, all or nothing; a text's lines count as its uses.

        What imports bring is kept apart (``Prompt.imported_uses``) as the most lines any one
        import held for a text, not their sum: importing the same file again, or a longer copy
        of it, adds only the lines not counted before, so "most used" keeps its meaning. (Two
        unrelated files that share a prompt count it as the larger of the two: a use is never
        counted twice, at the price of sometimes counting one less.) A prompt already counted
        keeps its last use time. Blank lines are skipped. ``cleaned`` (lines the reader stripped
        of control characters) is passed through to the summary.
        """
        when = when or now()
        lines = self._stage_import(texts)
        key = f"{os.getpid()}:{uuid.uuid4().hex[:20]}"
        try:
            added, bumped, counted, uses = self._merge_import(key, when)
        except BaseException as exc:
            log.warning("import %s failed; taking back what it merged", key, exc_info=True)
            self._undo_import(key)
            if isinstance(exc, peewee.PeeweeException | sqlite3.Error | OSError):
                raise StorageError(
                    f"{describe_error(exc, self.path)} Nothing was imported."
                ) from exc
            raise
        finally:
            self.db.execute_sql("DROP TABLE IF EXISTS temp.import_stage")
        self._clear_journal(key)
        return ImportSummary(
            lines=lines,
            added=added,
            bumped=bumped,
            cleaned=cleaned,
            already_counted=counted,
            added_uses=uses,
        )

    def _stage_import(self, texts: Iterable[str]) -> int:
        """Hash, check and count every line into ``temp.import_stage``; returns lines used."""
        self.db.execute_sql("DROP TABLE IF EXISTS temp.import_stage")
        self.db.execute_sql(
            "CREATE TEMP TABLE import_stage (hash TEXT PRIMARY KEY, text TEXT NOT NULL, "
            "n INTEGER NOT NULL, seq INTEGER NOT NULL)"
        )
        conn = self.db.connection()
        used = 0
        counts: dict[str, list[Any]] = {}

        def flush() -> None:
            # A deferred transaction that writes only TEMP takes no lock on the main database.
            conn.execute("BEGIN DEFERRED")
            try:
                conn.executemany(
                    "INSERT INTO temp.import_stage (hash, text, n, seq) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(hash) DO UPDATE SET n = n + excluded.n",
                    ((digest, text, n, seq) for digest, (text, n, seq) in counts.items()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            counts.clear()

        for raw in texts:
            clean = normalize_prompt(raw)
            if not clean:
                continue
            if len(clean) > PROMPT_MAX_CHARS:
                raise ValidationError(
                    f"A prompt of {len(clean):,} characters is over the limit of "
                    f"{PROMPT_MAX_CHARS:,}; nothing was imported."
                )
            used += 1
            digest = prompt_hash(clean)
            entry = counts.get(digest)
            if entry is None:
                counts[digest] = [clean, 1, used]
            else:
                entry[1] += 1
            if len(counts) >= STAGE_CHUNK:
                flush()
        if counts:
            flush()
        return used

    def _merge_import(self, key: str, when: dt.datetime) -> tuple[int, int, int, int]:
        """Merge the staged prompts in short journaled transactions; returns (added, bumped,
        already counted, uses added)."""
        self.db.execute_sql("CREATE INDEX IF NOT EXISTS temp.stage_seq ON import_stage (seq)")
        added = bumped = counted = uses = 0
        last_seq = 0
        stamp = Prompt.last_used_at.db_value(when)  # the stored form: UTC with its offset
        while True:
            row = self.db.execute_sql(
                "SELECT seq FROM temp.import_stage WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?",
                (last_seq, IMPORT_CHUNK - 1),
            ).fetchone()
            upper = row[0] if row else None
            if upper is None:
                (upper,) = self.db.execute_sql(
                    "SELECT MAX(seq) FROM temp.import_stage WHERE seq > ?", (last_seq,)
                ).fetchone()
                if upper is None:
                    return added, bumped, counted, uses
            with self.write():
                new, old, same, more = self._merge_chunk(key, last_seq, upper, stamp)
            added += new
            bumped += old
            counted += same
            uses += more
            last_seq = upper
            time.sleep(IMPORT_PAUSE_S)  # room for another dalletui's write between chunks

    def _merge_chunk(
        self, key: str, after: int, upto: int, stamp: str
    ) -> tuple[int, int, int, int]:
        """Merge staged rows ``after < seq <= upto`` into prompts, journaling every change;
        returns (added, already in history, of those already counted, uses added).

        A prompt already in history gets the lines an earlier import did not count
        (``n - imported_uses``, when positive). Plain SQL over the staging table: compiling
        thousands of rows through the ORM took most of an import's time.
        """
        chunk = "s.seq > ? AND s.seq <= ?"
        sql = self.db.execute_sql
        (matched,) = sql(
            "SELECT COUNT(*) FROM temp.import_stage s CROSS JOIN prompts p "
            f"ON p.text_hash = s.hash WHERE {chunk}",
            (after, upto),
        ).fetchone()
        journaled = sql(
            "INSERT INTO import_journal (import_key, prompt_id, created, added_uses, "
            "previous_last_used_at, started_at) SELECT ?, p.id, 0, s.n - p.imported_uses, "
            "p.last_used_at, ? FROM temp.import_stage s CROSS JOIN prompts p "
            f"ON p.text_hash = s.hash WHERE {chunk} AND s.n > p.imported_uses",
            (key, stamp, after, upto),
        ).rowcount
        more = 0
        if journaled:
            (more,) = sql(
                "SELECT COALESCE(SUM(s.n - p.imported_uses), 0) FROM temp.import_stage s "
                f"CROSS JOIN prompts p ON p.text_hash = s.hash WHERE {chunk} "
                "AND s.n > p.imported_uses",
                (after, upto),
            ).fetchone()
            # SET reads the old row: use_count grows by what imports had not counted yet.
            sql(
                "UPDATE prompts SET use_count = use_count - imported_uses + (SELECT s.n FROM "
                "temp.import_stage s WHERE s.hash = prompts.text_hash), imported_uses = "
                "(SELECT s.n FROM temp.import_stage s WHERE s.hash = prompts.text_hash), "
                "last_used_at = ? WHERE text_hash IN (SELECT s.hash FROM temp.import_stage s "
                f"WHERE {chunk} AND s.n > prompts.imported_uses)",
                (stamp, after, upto),
            )
        (before,) = sql("SELECT COALESCE(MAX(id), 0) FROM prompts").fetchone()
        (new_uses,) = sql(
            f"SELECT COALESCE(SUM(s.n), 0) FROM temp.import_stage s WHERE {chunk} AND NOT "
            "EXISTS (SELECT 1 FROM prompts p WHERE p.text_hash = s.hash)",
            (after, upto),
        ).fetchone()
        added = sql(
            "INSERT INTO prompts (text, text_hash, created_at, last_used_at, use_count, "
            "imported_uses, is_favorite, notes) SELECT s.text, s.hash, ?, ?, s.n, s.n, 0, '' "
            f"FROM temp.import_stage s WHERE {chunk} AND NOT EXISTS "
            "(SELECT 1 FROM prompts p WHERE p.text_hash = s.hash) ORDER BY s.seq",
            (stamp, stamp, after, upto),
        ).rowcount
        if added:
            # Inside this transaction nobody else writes: the new rows are exactly these ids.
            sql(
                "INSERT INTO import_journal (import_key, first_id, last_id, created, "
                "added_uses, started_at) SELECT ?, ?, MAX(id), 1, 0, ? FROM prompts",
                (key, before + 1, stamp),
            )
        return added, matched, matched - journaled, more + new_uses

    def _undo_import(self, key: str) -> None:
        """Take back every merged chunk of import ``key``, chunk by chunk."""
        while True:
            with self.write():
                rows = list(
                    ImportJournal.select()
                    .where(ImportJournal.import_key == key)
                    .order_by(ImportJournal.created.desc(), ImportJournal.id)
                    .limit(IMPORT_CHUNK)
                )
                if not rows:
                    return
                if rows[0].created:
                    rows = rows[:1]  # one chunk's new prompts per transaction
                used = Generation.select(Generation.prompt)
                for row in rows:
                    if row.created and row.first_id is not None and row.last_id is not None:
                        # A prompt another process has generated with meanwhile is kept.
                        Prompt.delete().where(
                            Prompt.id.between(row.first_id, row.last_id) & ~Prompt.id.in_(used)
                        ).execute()
                for row in rows:
                    if not row.created and row.prompt_id is not None:
                        Prompt.update(
                            use_count=fn.MAX(Prompt.use_count - row.added_uses, 0),
                            imported_uses=fn.MAX(Prompt.imported_uses - row.added_uses, 0),
                            last_used_at=row.previous_last_used_at,
                        ).where(Prompt.id == row.prompt_id).execute()
                ImportJournal.delete().where(
                    ImportJournal.id.in_([row.id for row in rows])
                ).execute()

    def _clear_journal(self, key: str) -> None:
        while True:
            with self.write():
                ids = [
                    row.id
                    for row in ImportJournal.select(ImportJournal.id)
                    .where(ImportJournal.import_key == key)
                    .limit(IMPORT_CHUNK * 5)
                ]
                if not ids:
                    return
                ImportJournal.delete().where(ImportJournal.id.in_(ids)).execute()

    @guarded
    def recover_imports(self) -> int:
        """Take back imports that died half-merged (their process is gone); returns how many."""
        keys = [
            row.import_key
            for row in ImportJournal.select(
                ImportJournal.import_key, fn.MIN(ImportJournal.started_at).alias("started_at")
            ).group_by(ImportJournal.import_key)
            if _import_dead(row.import_key, row.started_at)
        ]
        for key in keys:
            log.warning("taking back import %s, which stopped before it finished", key)
            self._undo_import(key)
        return len(keys)


def _import_dead(key: str, started: dt.datetime | None) -> bool:
    pid_text = key.split(":", 1)[0]
    if started is not None and now() - started > STALE_IMPORT:
        return True
    return not process_alive(int(pid_text) if pid_text.isdigit() else None)
