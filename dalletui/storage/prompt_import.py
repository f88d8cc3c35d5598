"""Large prompt imports: staged, then merged in short journaled transactions, all or nothing.

A large import never holds the write lock for long, yet is all or nothing: lines are read and
counted into a TEMP staging table (which locks nothing in the main database), then merged in
short transactions of ``IMPORT_CHUNK`` prompts, each journaled in ``import_journal``. If the merge
fails or is interrupted (Ctrl+C: ``KeyboardInterrupt``, from anywhere, the progress callback
included), every chunk already merged is taken back from the journal; if the process dies, the
next start does the same (``recover_imports``).

Fast and bounded: per line only a dict look-up; each distinct line is cleaned, checked and
hashed once per batch of ``STAGE_CHUNK`` and appended to the stage with a plain parameterised
INSERT (executemany); the merge is set-based SQL (INSERT ... SELECT), never ORM-compiled rows.
Memory holds one batch whatever the file's length; the stage lives in SQLite's temp file.

Kept apart from ``prompts.py`` (search, favourites) as a mixin of ``PromptStore`` so that the two
can change independently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
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

#: Prompts merged per transaction: about 0.2 s of write lock (see bench/bench_storage.py). Each
#: commit costs a WAL checkpoint and an FTS5 segment flush, so fewer, larger chunks import faster.
IMPORT_CHUNK = 10_000
#: WAL pages (4 KB) an import lets pile up before a checkpoint (SQLite's default is 1,000).
IMPORT_WAL_PAGES = 8_192
#: Pause between merged chunks, so that another process waiting to write gets its turn.
IMPORT_PAUSE_S = 0.005
#: Distinct lines counted in memory before they are staged (memory stays bounded for any file).
STAGE_CHUNK = 20_000
#: Progress is reported at most this often (seconds), and once per merged chunk at most.
PROGRESS_EVERY_S = 0.2
#: A journal left by a process that is gone, or older than this, is an import that died.
STALE_IMPORT = dt.timedelta(hours=6)
#: Any character that ``normalize_prompt`` could remove (every control, in 7 and 8 bits): a line
#: without one only needs its surrounding space trimmed, which skips two regex passes.
_MAY_NEED_CLEANING = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    #: Blank lines read and skipped (the progress line counts every line read).
    blank: int = 0


@dataclass(frozen=True)
class ImportProgress:
    """How far a running import is: ``phase`` is "checking" (a file's lines are checked before
    anything is read in), "reading" (lines read so far, blank ones included) or "merging" (all
    lines read; new prompts added so far). Within a phase the numbers never go down."""

    phase: str
    lines: int
    added: int = 0


#: Called with an ``ImportProgress`` now and then; it may raise (``KeyboardInterrupt``) to stop.
ProgressCallback = Callable[[ImportProgress], None]


class _Throttle:
    """Calls ``progress`` at most every ``PROGRESS_EVERY_S`` (or always, when ``force``)."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.last = 0.0

    def __call__(self, update: ImportProgress, *, force: bool = False) -> None:
        if self.progress is None:
            return
        moment = time.monotonic()
        if force or moment - self.last >= PROGRESS_EVERY_S:
            self.last = moment
            self.progress(update)


class PromptImportStore(StoreBase):
    """Bulk prompt import and its undo journal; mixed into ``PromptStore``."""

    @guarded
    def import_prompts(
        self,
        texts: Iterable[str],
        when: dt.datetime | None = None,
        *,
        cleaned: int = 0,
        progress: ProgressCallback | None = None,
    ) -> ImportSummary:
        """Add many prompts as history, all or nothing; a text's lines count as its uses.

        What imports bring is kept apart (``Prompt.imported_uses``) as the most lines any one
        import held for a text, not their sum: importing the same file again, or a longer copy
        of it, adds only the lines not counted before, so "most used" keeps its meaning. (Two
        unrelated files that share a prompt count it as the larger of the two: a use is never
        counted twice, at the price of sometimes counting one less.) A prompt already counted
        keeps its last use time. Blank lines are skipped. ``cleaned`` (lines the reader stripped
        of control characters) is passed through to the summary.

        ``texts`` is read once, as a stream (memory does not grow with its length).
        ``progress``, if given, is called now and then (never inside a write transaction); an
        exception it raises, ``KeyboardInterrupt`` included, takes back everything imported so
        far and propagates.
        """
        when = when or now()
        report = _Throttle(progress)
        key = f"{os.getpid()}:{uuid.uuid4().hex[:20]}"
        try:
            lines, read = self._stage_import(texts, report)
            try:
                added, bumped, counted, uses = self._merge_import(key, when, read, report)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):  # the user's choice: no traceback
                    log.info("import %s interrupted; taking back what it merged", key)
                else:
                    log.warning("import %s failed; taking back what it merged", key, exc_info=True)
                self._undo_import(key)
                if isinstance(exc, peewee.PeeweeException | sqlite3.Error | OSError):
                    raise StorageError(
                        f"{describe_error(exc, self.path)} Nothing was imported."
                    ) from exc
                raise
        finally:
            self._drop_stage()
        self._clear_journal(key)
        return ImportSummary(
            lines=lines,
            added=added,
            bumped=bumped,
            cleaned=cleaned,
            already_counted=counted,
            added_uses=uses,
            blank=read - lines,
        )

    def _drop_stage(self) -> None:
        for table in ("import_stage", "import_lines"):
            self.db.execute_sql(f"DROP TABLE IF EXISTS temp.{table}")

    def _stage_import(self, texts: Iterable[str], report: _Throttle) -> tuple[int, int]:
        """Clean, check, hash and count every line into ``temp.import_stage`` (one row per
        distinct text, ``seq`` its first line); returns (lines used, lines read).

        Lines are counted in a dict of at most ``STAGE_CHUNK`` texts, which is then appended
        (a plain INSERT: no index to keep) to ``temp.import_lines``. A text that spans two
        such batches has a row in each, merged into one at the end. TEMP tables live in their
        own file and lock nothing in the main database.
        """
        self._drop_stage()
        self.db.execute_sql(
            "CREATE TEMP TABLE import_lines (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, "
            "text TEXT NOT NULL, n INTEGER NOT NULL)"
        )
        conn = self.db.connection()
        used = read = flushes = 0
        counts: dict[str, list[int]] = {}  # a line as given -> [lines, first line]
        sha256 = hashlib.sha256
        may_need_cleaning = _MAY_NEED_CLEANING.search

        def flush() -> None:
            """Clean, check and hash each distinct line once; stage one row per text."""
            nonlocal used, flushes
            by_text: dict[str, list[Any]] = {}  # clean text -> [first line, hash, lines]
            for raw, (n, seq) in counts.items():
                if may_need_cleaning(raw):
                    clean = normalize_prompt(raw)
                    digest = prompt_hash(clean)
                else:  # nothing to remove: normalize_prompt(raw) is raw.strip(), hashed as is
                    clean = raw.strip()
                    digest = sha256(clean.encode("utf-8")).hexdigest()
                if not clean:
                    continue
                if len(clean) > PROMPT_MAX_CHARS:
                    raise ValidationError(
                        f"A prompt of {len(clean):,} characters is over the limit of "
                        f"{PROMPT_MAX_CHARS:,}; nothing was imported."
                    )
                entry = by_text.get(clean)
                if entry is None:
                    by_text[clean] = [seq, digest, n]
                else:  # two spellings of one prompt (" a", "a\x07"): first line, all lines
                    entry[0] = min(entry[0], seq)
                    entry[2] += n
            rows = [(seq, digest, clean, n) for clean, (seq, digest, n) in by_text.items()]
            rows.sort()  # by first line: the staging table is appended in rowid order
            # A deferred transaction that writes only TEMP takes no lock on the main database.
            conn.execute("BEGIN DEFERRED")
            try:
                conn.executemany(
                    "INSERT INTO temp.import_lines (seq, hash, text, n) VALUES (?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            used += sum(row[3] for row in rows)
            counts.clear()
            flushes += 1

        # Per line only a dict look-up: cleaning, checking and hashing wait for the flush,
        # once per distinct line (a corpus repeats its popular prompts many times).
        for raw in texts:
            read += 1
            entry = counts.get(raw)
            if entry is None:
                if not raw or raw.isspace():
                    continue
                counts[raw] = [1, read]
                if len(counts) >= STAGE_CHUNK:
                    flush()
                    report(ImportProgress("reading", read))
            else:
                entry[0] += 1
            if not read & 1023:
                report(ImportProgress("reading", read))
        if counts:
            flush()
        if flushes > 1:
            # A text may have a row in several batches: its first row gets all its lines and
            # the others go. In place, through an index on hash (which the merge then uses):
            # cheaper than rewriting the whole table sorted by a GROUP BY.
            sql = self.db.execute_sql
            sql("CREATE INDEX temp.import_stage_hash ON import_lines (hash)")
            with self.db.atomic():  # TEMP only: no lock on the main database
                sql(
                    "UPDATE temp.import_lines SET n = (SELECT SUM(d.n) FROM temp.import_lines d "
                    "WHERE d.hash = import_lines.hash) WHERE seq IN (SELECT MIN(seq) FROM "
                    "temp.import_lines GROUP BY hash HAVING COUNT(*) > 1)"
                )
                sql(
                    "DELETE FROM temp.import_lines WHERE seq IN (SELECT l.seq FROM "
                    "temp.import_lines l JOIN (SELECT hash, MIN(seq) AS first FROM "
                    "temp.import_lines GROUP BY hash HAVING COUNT(*) > 1) d "
                    "ON l.hash = d.hash AND l.seq > d.first)"
                )
        self.db.execute_sql("ALTER TABLE temp.import_lines RENAME TO import_stage")
        report(ImportProgress("reading", read), force=True)
        return used, read

    def _merge_import(
        self, key: str, when: dt.datetime, lines: int, report: _Throttle
    ) -> tuple[int, int, int, int]:
        """Merge the staged prompts in short journaled transactions; returns (added, bumped,
        already counted, uses added)."""
        (pages,) = self.db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()
        # Every commit past the threshold checkpoints (copies and syncs): with the default 4 MB
        # nearly every chunk did. Let the WAL grow to ``IMPORT_WAL_PAGES`` before it is folded.
        self.db.execute_sql(f"PRAGMA wal_autocheckpoint = {max(int(pages), IMPORT_WAL_PAGES)}")
        try:
            return self._merge_chunks(key, when, lines, report)
        finally:
            self.db.execute_sql(f"PRAGMA wal_autocheckpoint = {int(pages)}")

    def _merge_chunks(
        self, key: str, when: dt.datetime, lines: int, report: _Throttle
    ) -> tuple[int, int, int, int]:
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
            report(ImportProgress("merging", lines, added))  # outside the transaction
            time.sleep(IMPORT_PAUSE_S)  # room for another dalletui's write between chunks

    def _merge_chunk(
        self, key: str, after: int, upto: int, stamp: str
    ) -> tuple[int, int, int, int]:
        """Merge staged rows ``after < seq <= upto`` into prompts, journaling every change;
        returns (added, already in history, of those already counted, uses added).

        A prompt already in history gets the lines an earlier import did not count
        (``n - imported_uses``, when positive). Plain SQL over the staging table: compiling
        thousands of rows through the ORM took most of an import's time. One pass first finds
        what of the chunk is in history; into an empty history (or for a chunk of new texts)
        the merge is then a single INSERT ... SELECT.
        """
        chunk = "s.seq > ? AND s.seq <= ?"
        sql = self.db.execute_sql
        matched, new_uses, more = sql(
            "SELECT COUNT(p.id), COALESCE(SUM(CASE WHEN p.id IS NULL THEN s.n END), 0), "
            "COALESCE(SUM(CASE WHEN s.n > p.imported_uses THEN s.n - p.imported_uses END), 0) "
            "FROM temp.import_stage s LEFT JOIN prompts p ON p.text_hash = s.hash "
            f"WHERE {chunk}",
            (after, upto),
        ).fetchone()
        journaled = 0
        if matched:
            journaled = sql(
                "INSERT INTO import_journal (import_key, prompt_id, created, added_uses, "
                "previous_last_used_at, started_at) SELECT ?, p.id, 0, s.n - p.imported_uses, "
                "p.last_used_at, ? FROM temp.import_stage s CROSS JOIN prompts p "
                f"ON p.text_hash = s.hash WHERE {chunk} AND s.n > p.imported_uses",
                (key, stamp, after, upto),
            ).rowcount
        if journaled:
            sql("CREATE INDEX IF NOT EXISTS temp.import_stage_hash ON import_stage (hash)")
            # SET reads the old row: use_count grows by what imports had not counted yet.
            sql(
                "UPDATE prompts SET use_count = use_count - imported_uses + (SELECT s.n FROM "
                "temp.import_stage s WHERE s.hash = prompts.text_hash), imported_uses = "
                "(SELECT s.n FROM temp.import_stage s WHERE s.hash = prompts.text_hash), "
                "last_used_at = ? WHERE id IN (SELECT p.id FROM temp.import_stage s CROSS JOIN "
                f"prompts p ON p.text_hash = s.hash WHERE {chunk} AND s.n > p.imported_uses)",
                (stamp, after, upto),
            )
        (before,) = sql("SELECT COALESCE(MAX(id), 0) FROM prompts").fetchone()
        # Without a text already in history, every staged row of the chunk is new (the stage
        # holds each text once): no need to look each up again.
        missing = (
            " AND NOT EXISTS (SELECT 1 FROM prompts p WHERE p.text_hash = s.hash)"
            if matched
            else ""
        )
        added = sql(
            "INSERT INTO prompts (text, text_hash, created_at, last_used_at, use_count, "
            "imported_uses, is_favorite, notes) SELECT s.text, s.hash, ?, ?, s.n, s.n, 0, '' "
            f"FROM temp.import_stage s WHERE {chunk}{missing} ORDER BY s.seq",
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
