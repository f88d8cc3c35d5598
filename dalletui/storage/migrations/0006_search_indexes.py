"""Indexes the History search sorts by, and no duplicates.

- ``prompt_last_used_at`` (``last_used_at``) duplicated ``prompts_recency``
  (``last_used_at, id``): SQLite appends the rowid to every index, so both held the same keys
  and every write paid for two. ``prompts_recency`` is kept: the keyset cursor compares the
  pair ``(last_used_at, id)``, which only a declared two-column index serves as a range.
- ``prompts_uses`` (``use_count, id``) replaces ``prompt_use_count``: "most used" walks it
  newest-id-first within a count and stops at the page's end, instead of sorting every match.
"""


def up(migrator, db):
    db.execute_sql("DROP INDEX IF EXISTS prompt_last_used_at")
    db.execute_sql("DROP INDEX IF EXISTS prompt_use_count")
    db.execute_sql("CREATE INDEX IF NOT EXISTS prompts_uses ON prompts (use_count, id)")


def down(migrator, db):
    db.execute_sql("DROP INDEX IF EXISTS prompts_uses")
    db.execute_sql('CREATE INDEX IF NOT EXISTS "prompt_use_count" ON "prompts" ("use_count")')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "prompt_last_used_at" ON "prompts" ("last_used_at")')
