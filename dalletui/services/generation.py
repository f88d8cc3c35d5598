"""The one generation use case that the TUI, the CLI and batches call.

validate -> record/bump the prompt -> pending rows -> provider -> save files -> succeeded rows with
usage and cost (one transaction per finished image). Failures leave ``failed`` rows with the error
kind and message; cancellation leaves ``cancelled`` rows and no files. Database and file work runs
in threads so an event loop (the TUI's) never blocks on it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from dalletui.config import Settings
from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.catalog import ModelCatalog, load_catalog
from dalletui.generation.files import ImageStore, SavedImage
from dalletui.generation.pricing import compute_cost
from dalletui.generation.providers import make_provider
from dalletui.generation.request import validate_request
from dalletui.generation.types import (
    GenerationRequest,
    ImageProvider,
    PartialCallback,
    ProviderImage,
    Usage,
)
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, Prompt, now

log = logging.getLogger(__name__)

CANCELLED_MESSAGE = "Cancelled before the image was finished."
INTERRUPTED_MESSAGE = "dalletui stopped before this generation finished."


@dataclass
class GenerationOutcome:
    """What one request produced: final rows (succeeded or failed), cost and any error."""

    prompt: Prompt
    generations: list[Generation]
    warnings: list[str] = field(default_factory=list)
    usage: Usage | None = None
    cost: Decimal | None = None
    error: GenerationError | None = None
    seconds: float = 0.0

    @property
    def succeeded(self) -> list[Generation]:
        return [g for g in self.generations if g.status == "succeeded"]

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.succeeded)


def split_usage(usage: Usage | None, parts: int) -> list[Usage | None]:
    """Divide one request's tokens among its images (remainders go to the first image)."""
    if usage is None or parts < 1:
        return [None] * max(parts, 0)
    names = ("input_text_tokens", "input_image_tokens", "output_image_tokens", "output_text_tokens")
    shares: list[dict[str, int]] = [{} for _ in range(parts)]
    for name in names:
        total = getattr(usage, name)
        base, extra = divmod(total, parts)
        for index in range(parts):
            shares[index][name] = base + (extra if index == 0 else 0)
    return [Usage(**share) for share in shares]


class GenerationService:
    """Turns a ``GenerationRequest`` into images on disk and rows in the database."""

    def __init__(
        self,
        db: DatabaseManager,
        images: ImageStore,
        settings: Settings,
        catalog: ModelCatalog | None = None,
        provider_factory: Callable[[Settings, str], ImageProvider] = make_provider,
    ) -> None:
        self.db = db
        self.images = images
        self.settings = settings
        self.catalog = catalog or load_catalog(settings.price_overrides)
        self._factory = provider_factory
        self._providers: dict[str, ImageProvider] = {}

    @property
    def provider_name(self) -> str:
        return self.settings.effective_provider

    def provider(self, name: str | None = None) -> ImageProvider:
        """The provider called ``name`` (default: from settings), created once."""
        key = name or self.provider_name
        if key not in self._providers:
            self._providers[key] = self._factory(self.settings, key)
        return self._providers[key]

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()

    def validate(self, request: GenerationRequest) -> list[str]:
        """Warnings for ``request``; raises ``ValidationError`` with every problem."""
        return validate_request(request, self.catalog)

    def recover_interrupted(self) -> int:
        """Pending rows whose process is gone (a crash) become ``interrupted``."""
        pending = self.db.list_generations(status="pending", limit=100_000)
        # A pid can be reused; no request legitimately stays pending for an hour.
        stale = now() - dt.timedelta(hours=1)
        dead = [
            g.id
            for g in pending
            if g.created_at < stale or not _process_alive(g.params.get("owner_pid"))
        ]
        if not dead:
            return 0
        return self.db.fail_generations(
            dead, "interrupted", ErrorKind.INTERRUPTED, INTERRUPTED_MESSAGE
        )

    async def generate(
        self,
        request: GenerationRequest,
        *,
        provider: str | None = None,
        on_partial: PartialCallback | None = None,
        batch_id: int | None = None,
    ) -> GenerationOutcome:
        """Run one request end to end. Raises ``ValidationError`` before anything is recorded."""
        warnings = self.validate(request)
        for warning in warnings:
            log.warning("%s", warning)
        chosen = self.provider(provider)
        started = time.monotonic()
        prompt = await asyncio.to_thread(self.db.record_prompt_use, request.prompt)
        rows = await asyncio.to_thread(
            self.db.create_generations,
            prompt,
            request.n,
            provider=chosen.name,
            model=request.model,
            size=request.size,
            quality=request.quality,
            output_format=request.output_format,
            background=request.background,
            params={**request.params(), "owner_pid": os.getpid()},
            seed=request.seed,
            batch_id=batch_id,
        )
        outcome = GenerationOutcome(prompt=prompt, generations=rows, warnings=warnings)
        ids = [row.id for row in rows]
        try:
            result = await chosen.generate(request, on_partial)
        except asyncio.CancelledError:
            await asyncio.to_thread(
                self.db.fail_generations, ids, "cancelled", ErrorKind.CANCELLED, CANCELLED_MESSAGE
            )
            raise
        except GenerationError as exc:
            return await self._fail(outcome, ids, exc, started)
        except Exception as exc:  # noqa: BLE001 (recorded on the row, then reported)
            log.exception("provider %s failed unexpectedly", chosen.name)
            error = GenerationError(ErrorKind.UNKNOWN, f"Unexpected error: {exc}")
            return await self._fail(outcome, ids, error, started)

        outcome.usage = result.usage
        spec = self.catalog.get(request.model)
        shares = split_usage(result.usage, len(result.images))
        finished: list[Generation] = []
        costs: list[Decimal | None] = []
        for row, image, share in zip(rows, result.images, shares, strict=False):
            try:
                saved = await self._save(row, image, prompt)
            except GenerationError as exc:
                left = [r.id for r in rows if r not in finished]
                return await self._fail(outcome, left, exc, started)
            if chosen.offline:
                cost: Decimal | None = Decimal(0)
            else:
                cost = compute_cost(spec, share, size=request.size, quality=request.quality, n=1)
            costs.append(cost)
            finished.append(
                await asyncio.to_thread(self._finish, row, saved, image, share, cost, started)
            )
        missing = [row.id for row in rows[len(result.images) :]]
        if missing:
            await asyncio.to_thread(
                self.db.fail_generations,
                missing,
                "failed",
                ErrorKind.SERVER,
                f"The API returned {len(result.images)} of {request.n} images.",
            )
        outcome.generations = await asyncio.to_thread(self._reload, ids)
        outcome.cost = None if any(c is None for c in costs) else sum(costs, Decimal(0))
        outcome.seconds = time.monotonic() - started
        return outcome

    async def _save(self, row: Generation, image: ProviderImage, prompt: Prompt) -> SavedImage:
        metadata = {
            "prompt": prompt.text,
            "model": row.model,
            "size": row.size,
            "quality": row.quality,
            "provider": row.provider,
        }
        if image.revised_prompt:
            metadata["revised_prompt"] = image.revised_prompt
        write = asyncio.ensure_future(
            asyncio.to_thread(
                self.images.save, row.id, image.data, image.output_format, metadata, row.created_at
            )
        )
        try:
            return await asyncio.shield(write)
        except asyncio.CancelledError:
            # The write runs on in its thread: let it finish, then remove what it wrote.
            try:
                saved = await write
                self.images.delete(saved.path, saved.thumbnail_path)
            finally:
                await asyncio.to_thread(
                    self.db.fail_generations,
                    [row.id],
                    "cancelled",
                    ErrorKind.CANCELLED,
                    CANCELLED_MESSAGE,
                )
            raise

    def _finish(
        self,
        row: Generation,
        saved: SavedImage,
        image: ProviderImage,
        usage: Usage | None,
        cost: Decimal | None,
        started: float,
    ) -> Generation:
        usage_values: dict[str, Any] = {"cost": cost}
        if usage is not None:
            usage_values.update(
                input_text_tokens=usage.input_text_tokens,
                input_image_tokens=usage.input_image_tokens,
                output_image_tokens=usage.output_image_tokens,
                output_text_tokens=usage.output_text_tokens,
            )
        try:
            return self.db.finish_generation(
                row.id,
                usage=usage_values,
                status="succeeded",
                file_path=str(saved.path),
                thumbnail_path=str(saved.thumbnail_path),
                width=saved.width,
                height=saved.height,
                output_format=_format_of(saved.path, image.output_format),
                revised_prompt=image.revised_prompt,
                finished_at=now(),
                duration_ms=int((time.monotonic() - started) * 1000),
            )
        except Exception:
            # The row could not be written: do not leave an orphan file behind.
            self.images.delete(saved.path, saved.thumbnail_path)
            raise

    async def _fail(
        self,
        outcome: GenerationOutcome,
        ids: list[int],
        error: GenerationError,
        started: float,
    ) -> GenerationOutcome:
        await asyncio.to_thread(self.db.fail_generations, ids, "failed", error.kind, str(error))
        outcome.error = error
        outcome.generations = await asyncio.to_thread(
            self._reload, [g.id for g in outcome.generations]
        )
        outcome.seconds = time.monotonic() - started
        return outcome

    def _reload(self, ids: list[int]) -> list[Generation]:
        return [self.db.get_generation(i) for i in ids]


def _format_of(path: Path, fallback: str) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return {"jpg": "jpeg"}.get(suffix, suffix) or fallback


def _process_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
