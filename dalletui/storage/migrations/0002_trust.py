"""Trust: an append-only ledger with its prices, trash marks, request ids, an import journal.

- ``usage_stats`` is rebuilt (SQLite cannot alter a foreign key): ``generation_id`` becomes
  nullable with ``ON DELETE SET NULL``, so purging an image never erases what it cost; new
  columns record the kind of row (a billed image or a possibly billed request), the request key
  and server request id, size and quality, and the prices the cost was computed with.
- ``prompts`` and ``generations`` get ``deleted_at`` (the trash); ``generations`` ``request_id``.
- ``import_journal`` lets a large import merge in short transactions and still be undone whole.
- Prompt texts holding terminal control characters are cleaned (duplicates merged).

The models below are frozen copies: later changes need a new numbered migration.
"""

import datetime
import hashlib
import re

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)

USAGE_COLUMNS = (
    "id",
    "generation_id",
    "model",
    "provider",
    "input_text_tokens",
    "input_image_tokens",
    "output_image_tokens",
    "output_text_tokens",
    "total_tokens",
    "cost",
    "created_at",
)


def up(migrator, db):
    class Generation(Model):
        class Meta:
            database = db
            table_name = "generations"

    class UsageStatNew(Model):
        generation = ForeignKeyField(
            Generation, null=True, unique=True, on_delete="SET NULL", column_name="generation_id"
        )
        kind = CharField(index=True, max_length=16, default="image")
        request_key = CharField(null=True, index=True, max_length=32)
        request_id = CharField(null=True, max_length=128)
        model = CharField(index=True, max_length=64)
        provider = CharField(max_length=32, default="openai")
        input_text_tokens = IntegerField(default=0)
        input_image_tokens = IntegerField(default=0)
        output_image_tokens = IntegerField(default=0)
        output_text_tokens = IntegerField(default=0)
        total_tokens = IntegerField(default=0)
        cost = DecimalField(null=True, max_digits=14, decimal_places=6)
        size = CharField(null=True, max_length=16)
        quality = CharField(null=True, max_length=16)
        price_basis = CharField(max_length=16, default="unknown")
        prices = TextField(default="{}")
        priced_at = DateTimeField(null=True)
        created_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "usage_stats_new"

    # Index names are derived from the table name: create under the final name's indexes by
    # building the table, copying, dropping the old one and renaming (indexes follow a rename
    # but keep their names, so they are recreated with the final names afterwards).
    db.create_tables([UsageStatNew], safe=False)
    columns = ", ".join(USAGE_COLUMNS)
    db.execute_sql(
        f"INSERT INTO usage_stats_new ({columns}, kind, request_key, size, quality, price_basis, "
        f"prices) SELECT u.id, u.generation_id, u.model, u.provider, u.input_text_tokens, "
        "u.input_image_tokens, u.output_image_tokens, u.output_text_tokens, u.total_tokens, "
        "u.cost, u.created_at, 'image', g.request_key, g.size, g.quality, "
        "CASE WHEN u.provider = 'offline' THEN 'offline' WHEN u.cost IS NULL THEN 'unknown' "
        "ELSE 'tokens' END, '{}' "
        "FROM usage_stats u LEFT JOIN generations g ON g.id = u.generation_id"
    )
    db.execute_sql("DROP TABLE usage_stats")
    db.execute_sql("ALTER TABLE usage_stats_new RENAME TO usage_stats")
    for name, column, unique in (
        ("generation_id", "generation_id", True),
        ("kind", "kind", False),
        ("request_key", "request_key", False),
        ("model", "model", False),
        ("created_at", "created_at", False),
    ):
        db.execute_sql(f"DROP INDEX IF EXISTS usagestatnew_{name}")
        db.execute_sql(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX usagestat_{name} ON usage_stats ({column})"
        )

    migrator.migrate(
        migrator.add_column("prompts", "deleted_at", DateTimeField(null=True)),
        migrator.add_index("prompts", ("deleted_at",)),
        migrator.add_column("generations", "deleted_at", DateTimeField(null=True)),
        migrator.add_index("generations", ("deleted_at",)),
        migrator.add_column("generations", "request_id", CharField(max_length=128, null=True)),
    )

    class Prompt(Model):
        class Meta:
            database = db
            table_name = "prompts"

    class ImportJournal(Model):
        import_key = CharField(index=True, max_length=32)
        prompt = ForeignKeyField(Prompt, null=True, on_delete="CASCADE")
        first_id = IntegerField(null=True)
        last_id = IntegerField(null=True)
        created = BooleanField(default=False)
        added_uses = IntegerField(default=0)
        previous_last_used_at = DateTimeField(null=True)
        started_at = DateTimeField(default=datetime.datetime.now)

        class Meta:
            database = db
            table_name = "import_journal"

    db.create_tables([ImportJournal])
    _clean_prompt_texts(db)
    _redact_stored_errors(db)


def _redact_stored_errors(db):
    """Server error bodies used to be stored verbatim, some echoing the API key: redact them."""
    from dalletui.textsafe import redact_secrets

    rows = db.execute_sql(
        "SELECT id, error_message FROM generations WHERE error_message LIKE '%sk-%' "
        "OR error_message LIKE '%sess-%' OR error_message LIKE '%Bearer%'"
    ).fetchall()
    for generation_id, message in rows:
        clean = redact_secrets(message)
        if clean != message:
            db.execute_sql(
                "UPDATE generations SET error_message = ? WHERE id = ?", (clean, generation_id)
            )


def _clean_prompt_texts(db):
    """Remove control characters from stored prompts; a cleaned text that exists merges into it."""
    rows = db.execute_sql("SELECT id, text, use_count FROM prompts").fetchall()
    for prompt_id, text, uses in rows:
        clean = _CONTROLS.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n"))).strip()
        if clean == text:
            continue
        if not clean:
            clean = "(empty prompt)"
        digest = hashlib.sha256(clean.encode("utf-8")).hexdigest()
        found = db.execute_sql("SELECT id FROM prompts WHERE text_hash = ?", (digest,)).fetchone()
        if found is None:
            db.execute_sql(
                "UPDATE prompts SET text = ?, text_hash = ? WHERE id = ?",
                (clean, digest, prompt_id),
            )
            continue
        (keep,) = found
        db.execute_sql(
            "UPDATE generations SET prompt_id = ? WHERE prompt_id = ?", (keep, prompt_id)
        )
        db.execute_sql(
            "UPDATE prompts SET use_count = use_count + ?, "
            "is_favorite = MAX(is_favorite, (SELECT is_favorite FROM prompts WHERE id = ?)) "
            "WHERE id = ?",
            (uses, prompt_id, keep),
        )
        db.execute_sql("DELETE FROM prompts WHERE id = ?", (prompt_id,))


def down(migrator, db):
    db.execute_sql("DROP TABLE IF EXISTS import_journal")
    migrator.migrate(
        migrator.drop_index("generations", "generations_deleted_at"),
        migrator.drop_column("generations", "request_id"),
        migrator.drop_column("generations", "deleted_at"),
        migrator.drop_index("prompts", "prompts_deleted_at"),
        migrator.drop_column("prompts", "deleted_at"),
    )
    # The ledger keeps its new shape: going down must not erase recorded spend.
