"""The trash: prompts and images marked deleted (restorable) until they are purged."""

from __future__ import annotations

from dalletui.storage.base import StoreBase


class TrashStore(StoreBase):
    """Mark, restore, list and purge trashed prompts and generations."""
