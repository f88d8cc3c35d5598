"""Batches: what a batch was asked to do, one row per expanded prompt, spend kept per batch.

- ``batches`` gains the source (template, text, file, repeat), the body and mode it expanded,
  the seed of a sample, the variables used, the concurrency, why it stopped, the pid of the
  process running it and when it started; ``total`` becomes ``planned``. Its counters
  ``succeeded`` / ``failed`` go: counts come from the items, so they cannot drift. Statuses
  become planned, running, paused, cancelled, completed, failed.
- ``batch_items``: one row per expanded prompt (its text, the values chosen, its status, the
  prompt it became in history, attempts, the last error).
- ``generations.batch_item_id`` links each generation to its item (a retry adds rows to the
  same item); ``usage_stats.batch_id`` keeps a batch's spend when its images are purged.

The batches table is altered in place, never rebuilt: dropping it would unlink generations
through ``ON DELETE SET NULL``. The models below are frozen copies.
"""

import datetime

from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

STATUS_MAP = {
    "pending": "planned",
    "succeeded": "completed",
    "partial": "completed",
}


def up(migrator, db):
    class Batch(Model):
        class Meta:
            database = db
            table_name = "batches"

    class Prompt(Model):
        class Meta:
            database = db
            table_name = "prompts"

    class BatchItem(Model):
        batch = ForeignKeyField(Batch, on_delete="CASCADE", backref="items")
        position = IntegerField()
        text = TextField()
        choice = TextField(default="{}")
        prompt = ForeignKeyField(Prompt, null=True, on_delete="SET NULL")
        status = CharField(max_length=16, default="planned")
        attempts = IntegerField(default=0)
        error = TextField(null=True)
        updated_at = DateTimeField(default=datetime.datetime.now)

        class Meta:
            database = db
            table_name = "batch_items"
            indexes = ((("batch", "position"), True), (("batch", "status"), False))

    migrator.migrate(
        migrator.rename_column("batches", "total", "planned"),
        migrator.drop_column("batches", "succeeded"),
        migrator.drop_column("batches", "failed"),
        migrator.add_column("batches", "source", CharField(max_length=16, default="template")),
        migrator.add_column("batches", "body", TextField(default="")),
        migrator.add_column("batches", "mode", CharField(max_length=32, default="product")),
        migrator.add_column("batches", "seed", IntegerField(null=True)),
        migrator.add_column("batches", "variables", TextField(default="{}")),
        migrator.add_column("batches", "concurrency", IntegerField(default=4)),
        migrator.add_column("batches", "stop_reason", TextField(null=True)),
        migrator.add_column("batches", "owner_pid", IntegerField(null=True)),
        migrator.add_column("batches", "started_at", DateTimeField(null=True)),
    )
    for old, new in STATUS_MAP.items():
        db.execute_sql("UPDATE batches SET status = ? WHERE status = ?", (new, old))
    db.create_tables([BatchItem])
    migrator.migrate(
        migrator.add_column(
            "generations",
            "batch_item_id",
            ForeignKeyField(BatchItem, null=True, on_delete="SET NULL", field=BatchItem.id),
        ),
        migrator.add_column("usage_stats", "batch_id", IntegerField(null=True)),
        migrator.add_index("usage_stats", ("batch_id",)),
    )
    # Spend already recorded for batches (before this migration) is attributed to them.
    db.execute_sql(
        "UPDATE usage_stats SET batch_id = (SELECT g.batch_id FROM generations g "
        "WHERE g.id = usage_stats.generation_id) WHERE generation_id IS NOT NULL"
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index("usage_stats", "usage_stats_batch_id"),
        migrator.drop_column("usage_stats", "batch_id"),
        migrator.drop_column("generations", "batch_item_id"),
    )
    db.execute_sql("DROP TABLE IF EXISTS batch_items")
    for new, old in (("planned", "pending"), ("completed", "succeeded"), ("paused", "cancelled")):
        db.execute_sql("UPDATE batches SET status = ? WHERE status = ?", (old, new))
    migrator.migrate(
        *(
            migrator.drop_column("batches", column)
            for column in (
                "started_at",
                "owner_pid",
                "stop_reason",
                "concurrency",
                "variables",
                "seed",
                "mode",
                "body",
                "source",
            )
        ),
        migrator.add_column("batches", "succeeded", IntegerField(default=0)),
        migrator.add_column("batches", "failed", IntegerField(default=0)),
        migrator.rename_column("batches", "planned", "total"),
    )
