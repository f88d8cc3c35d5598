"""Persistence: Peewee models on SQLite, the DatabaseManager, migrations, full-text search."""

from dalletui.storage.counts import GenerationEntry, PromptCounts
from dalletui.storage.database import (
    DatabaseManager,
    ImportSummary,
    PromptPage,
    PromptQuery,
    UsageTotals,
)

__all__ = [
    "DatabaseManager",
    "GenerationEntry",
    "ImportSummary",
    "PromptCounts",
    "PromptPage",
    "PromptQuery",
    "UsageTotals",
]
