"""Portable data: UTC timestamps, stable ids, and a search index other tools detect.

- Every timestamp column is rewritten from naive local time to UTC with an explicit offset
  (``YYYY-MM-DD HH:MM:SS.ffffff+00:00``), the form ``UTCDateTimeField`` writes from now on. The
  conversion uses SQLite's ``'utc'`` modifier, which reads the text as local time exactly as
  Python did when it wrote it; values already carrying an offset are left alone.
- ``generations``, ``batches`` and ``usage_stats`` gain ``uid``: a random 32-hex identity,
  kept by export and import so a record is recognised in another database. Columns are added
  in place (never a table rebuild: rebuilding ``generations`` would unlink the ledger through
  ``ON DELETE SET NULL``) and stay nullable in SQL; the models always set one.
- ``prompts_fts`` is declared again with ``content="prompts"`` in double quotes, the spelling
  sqlite-utils and Datasette look for, and rebuilt from ``prompts``. Tokenizer, prefixes and
  triggers are unchanged, so search behaves as before.
"""

from peewee import CharField

TIMESTAMPS = {
    "prompts": ("created_at", "last_used_at", "deleted_at"),
    "templates": ("created_at", "updated_at"),
    "template_variables": ("created_at", "updated_at"),
    "batches": ("created_at", "started_at", "finished_at"),
    "batch_items": ("updated_at",),
    "generations": ("created_at", "started_at", "finished_at", "deleted_at"),
    "usage_stats": ("priced_at", "created_at"),
    "import_journal": ("previous_last_used_at", "started_at"),
}
UID_TABLES = ("generations", "batches", "usage_stats")

FTS_CREATE = (
    'CREATE VIRTUAL TABLE prompts_fts USING fts5(text, content="prompts", content_rowid="id", '
    "tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
)
FTS_CREATE_OLD = (
    "CREATE VIRTUAL TABLE prompts_fts USING fts5(text, content='prompts', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
)
FTS_TRIGGERS = (
    "CREATE TRIGGER prompts_fts_insert AFTER INSERT ON prompts BEGIN "
    "INSERT INTO prompts_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER prompts_fts_delete AFTER DELETE ON prompts BEGIN "
    "INSERT INTO prompts_fts(prompts_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER prompts_fts_update AFTER UPDATE OF text ON prompts BEGIN "
    "INSERT INTO prompts_fts(prompts_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO prompts_fts(rowid, text) VALUES (new.id, new.text); END",
)
FTS_DROP = (
    "DROP TRIGGER IF EXISTS prompts_fts_update",
    "DROP TRIGGER IF EXISTS prompts_fts_delete",
    "DROP TRIGGER IF EXISTS prompts_fts_insert",
    "DROP TABLE IF EXISTS prompts_fts",
)

# Local text -> UTC text, keeping the microseconds Python wrote ('.123456', or none).
TO_UTC = (
    "UPDATE {table} SET {column} = strftime('%Y-%m-%d %H:%M:%S', {column}, 'utc') || "
    "CASE WHEN substr({column}, 20, 1) = '.' THEN substr({column} || '000000', 20, 7) "
    "ELSE '.000000' END || '+00:00' "
    "WHERE {column} IS NOT NULL AND {column} NOT LIKE '%+__:__' AND {column} NOT LIKE '%Z' "
    "AND strftime('%Y-%m-%d %H:%M:%S', {column}, 'utc') IS NOT NULL"
)
# UTC text -> local text without an offset (what 0003 and before wrote).
TO_LOCAL = (
    "UPDATE {table} SET {column} = strftime('%Y-%m-%d %H:%M:%S', substr({column}, 1, 19), "
    "'localtime') || CASE WHEN substr({column}, 20, 1) = '.' THEN substr({column}, 20, 7) "
    "ELSE '' END WHERE {column} LIKE '%+00:00'"
)


def _rebuild_fts(db, create):
    for statement in FTS_DROP:
        db.execute_sql(statement)
    db.execute_sql(create)
    for statement in FTS_TRIGGERS:
        db.execute_sql(statement)
    db.execute_sql("INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild')")


def up(migrator, db):
    for table, columns in TIMESTAMPS.items():
        for column in columns:
            db.execute_sql(TO_UTC.format(table=table, column=column))
    for table in UID_TABLES:
        migrator.migrate(migrator.add_column(table, "uid", CharField(max_length=32, null=True)))
        db.execute_sql(f"UPDATE {table} SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL")
        migrator.migrate(migrator.add_index(table, ("uid",), True))
    _rebuild_fts(db, FTS_CREATE)


def down(migrator, db):
    _rebuild_fts(db, FTS_CREATE_OLD)
    for table in UID_TABLES:
        migrator.migrate(
            migrator.drop_index(table, f"{table}_uid"),
            migrator.drop_column(table, "uid"),
        )
    for table, columns in TIMESTAMPS.items():
        for column in columns:
            db.execute_sql(TO_LOCAL.format(table=table, column=column))
