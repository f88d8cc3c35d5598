"""Organising prompts (issue 15): tags, collections, notes on images, prompt versions, families.

- ``tags``: one row a tag; ``name`` as first written, ``name_key`` its case-folded form (unique:
  ``Portrait`` and ``portrait`` are one tag). ``prompt_tags`` links prompts and tags (both
  deleted with either side; indexed both ways).
- ``collections``: named (``name_key`` unique, case-folded), with a stable ``uid`` for export;
  ``collection_items`` are its entries in order (``position``), each one prompt *or* one
  generation (a CHECK says exactly one), each at most once in a collection.
- ``generations.note``: a note on an image (prompts already have ``notes``).
- ``prompts.parent_prompt_id``: the prompt this one was made from (a reused prompt changed
  before generating, an edit's prompt); purging the parent unlinks it (``SET NULL``).
- ``prompts.family_key``: the prompt's near-duplicate key (case, whitespace, punctuation and
  word order removed), filled in the background; NULL until computed.

Columns are added in place (``ALTER TABLE ... ADD COLUMN``): a rebuild of ``prompts`` would
drop its FTS triggers and unlink the ledger. ``down`` drops what ``up`` made.
"""

TABLES = (
    'CREATE TABLE IF NOT EXISTS "tags" ('
    '"id" INTEGER NOT NULL PRIMARY KEY, '
    '"name" TEXT NOT NULL, '
    '"name_key" TEXT NOT NULL, '
    '"created_at" DATETIME NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "prompt_tags" ('
    '"prompt_id" INTEGER NOT NULL REFERENCES "prompts" ("id") ON DELETE CASCADE, '
    '"tag_id" INTEGER NOT NULL REFERENCES "tags" ("id") ON DELETE CASCADE, '
    '"created_at" DATETIME NOT NULL, '
    'PRIMARY KEY ("prompt_id", "tag_id")) WITHOUT ROWID',
    'CREATE TABLE IF NOT EXISTS "collections" ('
    '"id" INTEGER NOT NULL PRIMARY KEY, '
    '"uid" VARCHAR(32) NOT NULL, '
    '"name" TEXT NOT NULL, '
    '"name_key" TEXT NOT NULL, '
    "\"description\" TEXT NOT NULL DEFAULT '', "
    '"created_at" DATETIME NOT NULL, '
    '"updated_at" DATETIME NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "collection_items" ('
    '"id" INTEGER NOT NULL PRIMARY KEY, '
    '"collection_id" INTEGER NOT NULL REFERENCES "collections" ("id") ON DELETE CASCADE, '
    '"position" INTEGER NOT NULL, '
    '"prompt_id" INTEGER REFERENCES "prompts" ("id") ON DELETE CASCADE, '
    '"generation_id" INTEGER REFERENCES "generations" ("id") ON DELETE CASCADE, '
    '"added_at" DATETIME NOT NULL, '
    'CHECK (("prompt_id" IS NULL) <> ("generation_id" IS NULL)))',
)
INDEXES = (
    'CREATE UNIQUE INDEX IF NOT EXISTS "tags_name_key" ON "tags" ("name_key")',
    'CREATE INDEX IF NOT EXISTS "prompt_tags_tag" ON "prompt_tags" ("tag_id", "prompt_id")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "collections_name_key" ON "collections" ("name_key")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "collections_uid" ON "collections" ("uid")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "collection_items_position" '
    'ON "collection_items" ("collection_id", "position")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "collection_items_prompt" '
    'ON "collection_items" ("collection_id", "prompt_id") WHERE "prompt_id" IS NOT NULL',
    'CREATE UNIQUE INDEX IF NOT EXISTS "collection_items_generation" '
    'ON "collection_items" ("collection_id", "generation_id") WHERE "generation_id" IS NOT NULL',
    'CREATE INDEX IF NOT EXISTS "collection_items_of_prompt" ON "collection_items" ("prompt_id")',
    'CREATE INDEX IF NOT EXISTS "collection_items_of_generation" '
    'ON "collection_items" ("generation_id")',
    'CREATE INDEX IF NOT EXISTS "prompts_parent" ON "prompts" ("parent_prompt_id")',
    'CREATE INDEX IF NOT EXISTS "prompts_family_key" ON "prompts" ("family_key")',
)
COLUMNS = (
    "ALTER TABLE generations ADD COLUMN note TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE prompts ADD COLUMN parent_prompt_id INTEGER "
    'REFERENCES "prompts" ("id") ON DELETE SET NULL',
    "ALTER TABLE prompts ADD COLUMN family_key TEXT",
)


def up(migrator, db):
    for statement in (*COLUMNS, *TABLES, *INDEXES):
        db.execute_sql(statement)


def down(migrator, db):
    for name in (
        "prompts_family_key",
        "prompts_parent",
        "collection_items_of_generation",
        "collection_items_of_prompt",
        "collection_items_generation",
        "collection_items_prompt",
        "collection_items_position",
        "collections_uid",
        "collections_name_key",
        "prompt_tags_tag",
        "tags_name_key",
    ):
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    for table in ("collection_items", "collections", "prompt_tags", "tags"):
        db.execute_sql(f'DROP TABLE IF EXISTS "{table}"')
    migrator.migrate(
        migrator.drop_column("prompts", "family_key"),
        migrator.drop_column("prompts", "parent_prompt_id"),
        migrator.drop_column("generations", "note"),
    )
