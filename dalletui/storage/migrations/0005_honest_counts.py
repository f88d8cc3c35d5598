"""Honest use counts: a use is a request that brought an image, or a line of an imported file.

- ``prompts`` gains ``imported_uses``: the part of ``use_count`` that came from prompt files.
  An import keeps the most times any one file held a text (not the sum), so importing the same
  or an overlapping file again never doubles the count. Rows made before this migration did not
  say which uses were imported; the uses their generations do not explain (``use_count`` minus
  the requests recorded for the prompt) are taken as imported, which is exact while no
  generation was purged and otherwise errs towards counting a later import's lines once.
- Each request that finished without any image (failed, cancelled, interrupted or possibly
  billed, none of its rows holding a file) had added one use before it was sent: that use is
  taken back. Requests still pending are left alone.

The column is added in place, NOT NULL with a default in one statement (peewee's
``add_column`` would add the constraint by rebuilding ``prompts``, which cascades to
generations). ``down`` drops the column and leaves the counts as corrected: the uses taken back
were never uses.
"""

# Requests of a prompt, and those of them that brought no image. A request is its rows with one
# request_key (random per request; matched within the prompt too, to be safe).
REQUESTS = "SELECT COUNT(DISTINCT g.request_key) FROM generations g WHERE g.prompt_id = prompts.id"
WITHOUT_IMAGE = (
    "SELECT COUNT(DISTINCT g.request_key) FROM generations g WHERE g.prompt_id = prompts.id "
    "AND NOT EXISTS (SELECT 1 FROM generations h WHERE h.prompt_id = g.prompt_id "
    "AND h.request_key = g.request_key AND (h.file_path IS NOT NULL OR h.status NOT IN "
    "('failed', 'cancelled', 'interrupted', 'possibly_billed')))"
)


def up(migrator, db):
    db.execute_sql("ALTER TABLE prompts ADD COLUMN imported_uses INTEGER NOT NULL DEFAULT 0")
    db.execute_sql(
        f"UPDATE prompts SET imported_uses = MAX(use_count - ({REQUESTS}), 0), "
        f"use_count = MAX(use_count - ({WITHOUT_IMAGE}), 0)"
    )


def down(migrator, db):
    migrator.migrate(migrator.drop_column("prompts", "imported_uses"))
