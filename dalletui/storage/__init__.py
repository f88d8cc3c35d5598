"""Persistence: Peewee models on SQLite, the DatabaseManager, migrations, full-text search."""

from dalletui.storage.database import (
    DatabaseManager,
    ImportSummary,
    PromptPage,
    PromptQuery,
    UsageTotals,
)

__all__ = ["DatabaseManager", "ImportSummary", "PromptPage", "PromptQuery", "UsageTotals"]
