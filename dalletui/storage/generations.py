"""Generations: one row per image asked of a provider, from pending to its final status."""

from __future__ import annotations

import uuid
from typing import Any

from peewee import JOIN

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Generation, Prompt, UsageStat, now
from dalletui.textsafe import redact_secrets


class GenerationStore(StoreBase):
    """Create, finish, fail and list generations (with their usage rows joined)."""

    add_usage: Any  # from UsageStore, mixed into the same manager

    @guarded
    def create_generations(
        self,
        prompt: Prompt,
        count: int,
        *,
        provider: str,
        model: str,
        size: str,
        quality: str,
        output_format: str,
        background: str = "auto",
        params: dict | None = None,
        seed: int | None = None,
        batch_id: int | None = None,
        batch_item_id: int | None = None,
    ) -> list[Generation]:
        """Create ``count`` pending generations for one request, in one transaction."""
        key = uuid.uuid4().hex
        started = now()
        rows = []
        with self.write():
            for index in range(count):
                row = Generation(
                    prompt=prompt,
                    batch=batch_id,
                    batch_item=batch_item_id,
                    request_key=key,
                    image_index=index,
                    provider=provider,
                    model=model,
                    size=size,
                    quality=quality,
                    output_format=output_format,
                    background=background,
                    params=params or {},
                    seed=seed,
                    status="pending",
                    created_at=started,
                    started_at=started,
                )
                row.validate()
                row.save()
                rows.append(row)
        return rows

    @guarded
    def get_generation(self, generation_id: int) -> Generation:
        return self._get(Generation, generation_id)

    @guarded
    def update_generation(self, generation_id: int, **changes: Any) -> Generation:
        return self._save(self._get(Generation, generation_id), **changes)

    @guarded
    def finish_generation(
        self, generation_id: int, usage: dict[str, Any] | None = None, **changes: Any
    ) -> Generation:
        """Mark a generation finished and write its usage row, in one transaction."""
        if changes.get("error_message"):
            changes["error_message"] = redact_secrets(changes["error_message"])
        with self.write():
            generation = self._save(self._get(Generation, generation_id), **changes)
            if usage is not None:
                self.add_usage(generation, **usage)
        return generation

    @guarded
    def fail_generations(self, ids: list[int], status: str, kind: str, message: str) -> int:
        """Mark pending generations failed, cancelled or interrupted (secrets redacted)."""
        finished = now()
        return (
            Generation.update(
                status=status,
                error_kind=kind,
                error_message=redact_secrets(message),
                finished_at=finished,
            )
            .where(Generation.id.in_(ids) & (Generation.status == "pending"))
            .execute()
        )

    @guarded
    def mark_possibly_billed(
        self,
        ids: list[int],
        kind: str,
        message: str,
        *,
        request_id: str | None = None,
        ledger: dict[str, Any] | None = None,
    ) -> int:
        """Pending generations of one request whose outcome is unknown: it may have been billed.

        The rows say so, and the ledger gets one ``possibly_billed`` row for the request (cost
        unknown), so Usage can count such requests apart. One transaction.
        """
        finished = now()
        with self.write():
            changed = (
                Generation.update(
                    status="possibly_billed",
                    error_kind=kind,
                    error_message=redact_secrets(message),
                    request_id=request_id,
                    finished_at=finished,
                )
                .where(Generation.id.in_(ids) & (Generation.status == "pending"))
                .execute()
            )
            if changed and ids:
                first = self._get(Generation, min(ids))
                self.add_usage(
                    first,
                    kind="possibly_billed",
                    request_id=request_id,
                    cost=None,
                    **(ledger or {}),
                )
        return changed

    @guarded
    def generations_by_ids(self, ids: list[int]) -> list[Generation]:
        """These generations in the order given, each with its usage row joined (or None)."""
        rows = self._with_usage(
            Generation.select(Generation, UsageStat)
            .join(UsageStat, JOIN.LEFT_OUTER, on=(UsageStat.generation == Generation.id))
            .where(Generation.id.in_(ids))
        )
        by_id = {row.id: row for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    @guarded
    def generations_for_prompt(
        self, prompt_id: int, *, include_deleted: bool = False
    ) -> list[Generation]:
        """A prompt's generations, newest first, each with its usage row joined (or None)."""
        condition = Generation.prompt == prompt_id
        if not include_deleted:
            condition &= Generation.deleted_at.is_null()
        return self._with_usage(
            Generation.select(Generation, UsageStat)
            .join(UsageStat, JOIN.LEFT_OUTER, on=(UsageStat.generation == Generation.id))
            .where(condition)
            .order_by(Generation.id.desc())
        )

    @guarded
    def list_generations(
        self,
        *,
        limit: int = 50,
        before_id: int | None = None,
        status: str | None = None,
        batch_id: int | None = None,
        include_deleted: bool = False,
    ) -> list[Generation]:
        """Generations newest first (keyset on id), with prompt and usage joined."""
        select = (
            Generation.select(Generation, Prompt, UsageStat)
            .join(Prompt)
            .switch(Generation)
            .join(UsageStat, JOIN.LEFT_OUTER, on=(UsageStat.generation == Generation.id))
        )
        conditions = [] if include_deleted else [Generation.deleted_at.is_null()]
        if before_id is not None:
            conditions.append(Generation.id < before_id)
        if status:
            conditions.append(Generation.status == status)
        if batch_id is not None:
            conditions.append(Generation.batch == batch_id)
        if conditions:
            select = select.where(*conditions)
        return self._with_usage(select.order_by(Generation.id.desc()).limit(limit))

    @staticmethod
    def _with_usage(select: Any) -> list[Generation]:
        rows = list(select)
        for row in rows:
            usage = getattr(row, "usagestat", None)
            row.usage_row = usage if usage is not None and usage.id is not None else None
        return rows

    @guarded
    def delete_generation(self, generation_id: int) -> Generation:
        """Remove a generation row for good (its ledger row stays, unlinked): the trash's purge."""
        generation = self._get(Generation, generation_id)
        generation.delete_instance()
        return generation
