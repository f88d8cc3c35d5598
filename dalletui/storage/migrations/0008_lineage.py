"""Lineage: what a generation was made from.

- ``generations`` gains ``kind`` (``generate``, ``edit`` or ``variation``), NOT NULL with a
  default in one statement: every row made before this migration was a plain generation. The
  column is added in place; a table rebuild would unlink the ledger (``ON DELETE SET NULL``).
- ``generation_inputs`` holds a generation's inputs in order: each an image, a mask or a
  markup (``role``), either one of our own generations (``parent_generation_id``) or a file
  from outside (``file_path``), with the SHA-256 and size of what was sent. Deleting (purging)
  a generation deletes its inputs; purging a parent only unlinks it (``SET NULL``): the child
  keeps the hash of what it was made from.
- Both directions are indexed: a generation's inputs by ``(generation_id, position)``
  (unique), its children by ``parent_generation_id``.

``down`` drops the table and the column (SQLite's ``DROP COLUMN``, no rebuild).
"""

TABLE = (
    'CREATE TABLE IF NOT EXISTS "generation_inputs" ('
    '"id" INTEGER NOT NULL PRIMARY KEY, '
    '"generation_id" INTEGER NOT NULL '
    'REFERENCES "generations" ("id") ON DELETE CASCADE, '
    '"position" INTEGER NOT NULL, '
    '"role" TEXT NOT NULL, '
    '"parent_generation_id" INTEGER '
    'REFERENCES "generations" ("id") ON DELETE SET NULL, '
    '"file_path" TEXT, '
    '"sha256" TEXT, '
    '"width" INTEGER, '
    '"height" INTEGER)'
)
INDEXES = (
    'CREATE UNIQUE INDEX IF NOT EXISTS "generation_inputs_generation_position" '
    'ON "generation_inputs" ("generation_id", "position")',
    'CREATE INDEX IF NOT EXISTS "generation_inputs_parent" '
    'ON "generation_inputs" ("parent_generation_id")',
)


def up(migrator, db):
    db.execute_sql("ALTER TABLE generations ADD COLUMN kind TEXT NOT NULL DEFAULT 'generate'")
    db.execute_sql(TABLE)
    for statement in INDEXES:
        db.execute_sql(statement)


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "generation_inputs_parent"')
    db.execute_sql('DROP INDEX IF EXISTS "generation_inputs_generation_position"')
    db.execute_sql('DROP TABLE IF EXISTS "generation_inputs"')
    migrator.migrate(migrator.drop_column("generations", "kind"))
