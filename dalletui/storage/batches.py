"""Batch records (a run of many generations)."""

from __future__ import annotations

from typing import Any

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Batch


class BatchStore(StoreBase):
    """Batch records (a run of many generations)."""

    @guarded
    def create_batch(
        self, name: str, total: int, template_id: int | None = None, params: dict | None = None
    ) -> Batch:
        batch = Batch(name=name, total=total, template=template_id, params=params or {})
        batch.validate()
        batch.save()
        return batch

    @guarded
    def get_batch(self, batch_id: int) -> Batch:
        return self._get(Batch, batch_id)

    @guarded
    def list_batches(self, limit: int = 100) -> list[Batch]:
        return list(Batch.select().order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit))

    @guarded
    def update_batch(self, batch_id: int, **changes: Any) -> Batch:
        return self._save(self._get(Batch, batch_id), **changes)

    @guarded
    def delete_batch(self, batch_id: int) -> None:
        """Delete a batch record; its generations stay in history, unlinked."""
        self._get(Batch, batch_id)
        Batch.delete().where(Batch.id == batch_id).execute()
