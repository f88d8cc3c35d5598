"""Generations: one row per image asked of a provider, from pending to its final status.

Listing for people (History, the gallery) goes through ``prompt_entries`` and ``list_images``:
one entry per image and one per request that brought none (see ``storage.counts``).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from peewee import JOIN, fn

from dalletui.storage import counts
from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.counts import GenerationEntry, PromptCounts
from dalletui.storage.models import Generation, Prompt, UsageStat, now
from dalletui.textsafe import redact_secrets


class GenerationStore(StoreBase):
    """Create, finish, fail and list generations (with their usage rows joined)."""

    add_usage: Any  # from UsageStore, mixed into the same manager
    _prompt_conditions: Any  # from PromptStore, mixed into the same manager

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
        self,
        generation_id: int,
        usage: dict[str, Any] | None = None,
        *,
        count_use: bool = False,
        **changes: Any,
    ) -> Generation:
        """Mark a generation finished and write its usage row, in one transaction.

        ``count_use`` adds the use of its prompt in the same transaction (the first image a
        request brought): a use is a request that brought an image.
        """
        if changes.get("error_message"):
            changes["error_message"] = redact_secrets(changes["error_message"])
        with self.write():
            generation = self._save(self._get(Generation, generation_id), **changes)
            if usage is not None:
                self.add_usage(generation, **usage)
            if count_use:
                Prompt.update(use_count=Prompt.use_count + 1).where(
                    Prompt.id == generation.prompt_id
                ).execute()
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
    def prompt_counts(self, prompt_id: int) -> PromptCounts:
        """A prompt's images, and its requests without image (one each), trashed rows left out."""
        row = (
            Prompt.select(
                counts.image_count(Prompt.id).alias("images"),
                counts.failed_request_count(Prompt.id).alias("failed"),
                counts.pending_request_count(Prompt.id).alias("pending"),
            )
            .where(Prompt.id == prompt_id)
            .dicts()
            .get_or_none()
        )
        if row is None:
            return PromptCounts()
        return PromptCounts(row["images"], row["failed"], row["pending"])

    @guarded
    def prompt_entries(self, prompt_id: int, *, limit: int | None = None) -> list[GenerationEntry]:
        """A prompt's generations for people, newest first: each image (succeeded row) on its
        own, and the rows without image of one request as one entry, however many it asked.

        Trashed rows are left out. Each entry's ``generation`` has its usage row joined.
        """
        live = (Generation.prompt == prompt_id) & Generation.deleted_at.is_null()
        firsts = (
            Generation.select(fn.MIN(Generation.id))
            .where(live & (Generation.status != "succeeded"))
            .group_by(Generation.request_key)
        )
        select = (
            Generation.select(Generation, UsageStat)
            .join(UsageStat, JOIN.LEFT_OUTER, on=(UsageStat.generation == Generation.id))
            .where(live & ((Generation.status == "succeeded") | Generation.id.in_(firsts)))
            .order_by(Generation.id.desc())
        )
        if limit is not None:
            select = select.limit(max(1, limit))
        rows = self._with_usage(select)
        keys = {row.request_key for row in rows}
        shape: dict[str, tuple[int, int, int]] = {}
        if keys:
            succeeded = fn.SUM((Generation.status == "succeeded").cast("INTEGER"))
            without = fn.SUM(
                ((Generation.status != "succeeded") & Generation.deleted_at.is_null()).cast(
                    "INTEGER"
                )
            )
            grouped = (
                Generation.select(
                    Generation.request_key,
                    fn.COUNT(Generation.id),
                    succeeded,
                    without,
                )
                .where((Generation.prompt == prompt_id) & Generation.request_key.in_(list(keys)))
                .group_by(Generation.request_key)
                .tuples()
            )
            shape = {key: (asked, images or 0, rest or 0) for key, asked, images, rest in grouped}
        entries = []
        for row in rows:
            asked, images, rest = shape.get(row.request_key, (1, 0, 1))
            rows_here = 1 if row.status == "succeeded" else rest
            entries.append(GenerationEntry(row, rows=rows_here, asked=asked, request_images=images))
        return entries

    @guarded
    def list_images(
        self,
        query: Any = None,
        *,
        limit: int = 50,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[Generation]:
        """Images (succeeded, with a file, not trashed) of the prompts ``query`` (a
        ``PromptQuery``) matches, newest first by id, prompt and usage joined.

        The query's model filter asks for images of that model; ``since``/``until`` are taken
        on when the image was made. Keyset: ``before_id`` gives the page after (older),
        ``after_id`` the page before (newer, still newest first). The query's own order, limit
        and cursor are not used.
        """
        conditions = self._image_conditions(query)
        if before_id is not None:
            conditions.append(Generation.id < before_id)
        order = Generation.id.desc()
        if after_id is not None:
            conditions.append(Generation.id > after_id)
            order = Generation.id.asc()
        select = (
            Generation.select(Generation, Prompt, UsageStat)
            .join(Prompt)
            .switch(Generation)
            .join(UsageStat, JOIN.LEFT_OUTER, on=(UsageStat.generation == Generation.id))
            .where(*conditions)
            .order_by(order)
            .limit(max(1, min(limit, 1000)))
        )
        rows = self._with_usage(select)
        if after_id is not None:
            rows.reverse()
        return rows

    @guarded
    def count_images(self, query: Any = None) -> int:
        """How many images ``list_images`` would list in all (ignoring its keyset)."""
        conditions = self._image_conditions(query)
        return Generation.select().join(Prompt).where(*conditions).count()

    def _image_conditions(self, query: Any) -> list[Any]:
        conditions = [Generation.deleted_at.is_null(), counts.is_image()]
        if query is None:
            return [*conditions, Prompt.deleted_at.is_null()]
        conditions.extend(
            self._prompt_conditions(dataclasses.replace(query, since=None, until=None))
        )
        if query.model:
            conditions.append(Generation.model == query.model)
        if query.since:
            conditions.append(Generation.created_at >= query.since)
        if query.until:
            conditions.append(Generation.created_at < query.until)
        return conditions

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
