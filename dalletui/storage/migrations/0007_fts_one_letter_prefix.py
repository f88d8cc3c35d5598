"""One-letter prefixes in the search index.

The History searches the last word typed as a prefix, so the first letter typed searches
``a*``. With ``prefix='2 3'`` FTS5 answered that by merging the doclist of every term starting
with the letter (~15 ms at 100k prompts, the p95 of the search). ``prefix='1 2 3'`` adds an
index of one-letter prefixes: measured at 100k prompts, search p50/p95 3.24/26.22 ms ->
1.92/10.68 ms, for +4.4 MB and a rebuild of ~2 s.

``prompts_fts`` is declared again with the extra prefix and rebuilt from ``prompts`` (it is an
external-content table). Columns, tokenizer, the ``content="prompts"`` spelling and the triggers
are those of 0004, so every search finds what it found before; only the speed changes.
"""

FTS_CREATE = (
    'CREATE VIRTUAL TABLE prompts_fts USING fts5(text, content="prompts", content_rowid="id", '
    "tokenize='unicode61 remove_diacritics 2', prefix='1 2 3')"
)
FTS_CREATE_OLD = (
    'CREATE VIRTUAL TABLE prompts_fts USING fts5(text, content="prompts", content_rowid="id", '
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


def _rebuild_fts(db, create):
    for statement in FTS_DROP:
        db.execute_sql(statement)
    db.execute_sql(create)
    for statement in FTS_TRIGGERS:
        db.execute_sql(statement)
    db.execute_sql("INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild')")


def up(migrator, db):
    _rebuild_fts(db, FTS_CREATE)


def down(migrator, db):
    _rebuild_fts(db, FTS_CREATE_OLD)
