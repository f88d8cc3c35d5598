"""The one generation use case that the TUI, the CLI and batches call.

validate -> check the images folder -> record/bump the prompt -> pending rows -> provider -> save
files -> succeeded rows with usage, cost and the prices used (one transaction per finished image).

Money rules: a request that may have reached the API (timeout, cut-off answer, most 5xx) leaves
``possibly_billed`` rows and a ledger row saying so, and is sent again only when the user asks
(``retry``). An image the API returned is never deleted by our own error: a cancel after it
arrived still records it; if its file cannot be saved the bytes are kept under
``<home>/recovery``; if its row cannot be written a recovery record lets the next start attach
it. Failures that surely were not billed leave ``failed`` rows; a cancel before the answer leaves
``cancelled`` rows. Database and file work runs in threads so an event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import inspect
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from dalletui.config import Settings
from dalletui.errors import DalleTuiError, ErrorKind, GenerationError, ValidationError
from dalletui.generation import recovery
from dalletui.generation.catalog import ModelCatalog, load_catalog
from dalletui.generation.files import ImageStore, SavedImage, extension_for
from dalletui.generation.pricing import compute_cost, price_snapshot
from dalletui.generation.providers import make_provider
from dalletui.generation.request import validate_edit_request, validate_request
from dalletui.generation.retry import WaitCallback
from dalletui.generation.types import (
    EditImage,
    EditRequest,
    GenerationRequest,
    ImageProvider,
    PartialCallback,
    ProviderImage,
    Usage,
)
from dalletui.services.editing import EDIT_KINDS, EditPlan, EditSource, plan_edit, resolve_source
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, Prompt, normalize_prompt, now

log = logging.getLogger(__name__)

CANCELLED_MESSAGE = "Cancelled before the image was finished."
INTERRUPTED_MESSAGE = "dalletui stopped before this generation finished."
#: Statuses a user may send again with ``retry`` (never a succeeded or pending one).
RETRYABLE = ("possibly_billed", "failed", "cancelled", "interrupted")
#: Request fields kept in ``params`` that rebuild the request for ``retry``.
REQUEST_FIELDS = tuple(GenerationRequest.__dataclass_fields__)


def retry_hint(generation_id: int) -> str:
    """How to send a possibly billed request again, in the TUI and the CLI."""
    return f"press r in Compose or run `dalletui retry {generation_id}` to send it again."


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
    #: Each image's own cost (None where unknown), by generation id.
    costs: dict[int, Decimal | None] = field(default_factory=dict)

    @property
    def possibly_billed(self) -> bool:
        return self.error is not None and self.error.possibly_billed

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
        """Warnings for ``request`` (an ``EditRequest`` too); raises ``ValidationError`` with
        every problem."""
        if isinstance(request, EditRequest):
            return validate_edit_request(request, self.catalog)
        return validate_request(request, self.catalog)

    def source(self, spec: str | int | Path, role: str = "image") -> EditSource:
        """An image to edit from ``gen:ID``, an id or a path (``ValidationError``: one sentence)."""
        return resolve_source(self.db, spec, role)

    async def edit(
        self,
        plan: EditPlan,
        *,
        provider: str | None = None,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> GenerationOutcome:
        """Run one edit (or variation) end to end, as ``generate`` runs a request: validated
        before anything is recorded or sent; its inputs recorded as each image's lineage (in
        the database and in the file's metadata) before the request goes out."""
        return await self._run(plan.request, plan, provider, on_partial, on_wait, None, None)

    def edit_parent_prompt(self, plan: EditPlan) -> int | None:
        """The prompt an edit's prompt was made from: that of its first image when the image
        is one of our generations and its prompt's text differs (None otherwise)."""
        first = next((s for s in plan.sources if s.role == "image"), None)
        if first is None or first.generation_id is None:
            return None
        try:
            source = self.db.get_generation(first.generation_id)
        except DalleTuiError:
            return None
        if source.prompt_id is None:
            return None
        if normalize_prompt(source.prompt.text) == normalize_prompt(plan.request.prompt):
            return None
        return int(source.prompt_id)

    async def generate(
        self,
        request: GenerationRequest,
        *,
        provider: str | None = None,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
        batch_id: int | None = None,
        batch_item_id: int | None = None,
        parent_prompt_id: int | None = None,
    ) -> GenerationOutcome:
        """Run one request end to end. Raises before anything is recorded or sent when the
        request is invalid (``ValidationError``) or the images folder is not writable.

        ``parent_prompt_id``: the prompt this one was reused from and changed; a new prompt
        (or one with no parent yet) remembers it as its parent."""
        if isinstance(request, EditRequest):
            raise TypeError("send an EditRequest with edit(plan)")
        return await self._run(
            request, None, provider, on_partial, on_wait, batch_id, batch_item_id, parent_prompt_id
        )

    async def _run(
        self,
        request: GenerationRequest,
        plan: EditPlan | None,
        provider: str | None,
        on_partial: PartialCallback | None,
        on_wait: WaitCallback | None,
        batch_id: int | None,
        batch_item_id: int | None,
        parent_prompt_id: int | None = None,
    ) -> GenerationOutcome:
        clean = normalize_prompt(request.prompt)
        cleaned = clean != request.prompt.strip()
        if cleaned:
            # What is sent is what is stored: no terminal control characters in either.
            request = dataclasses.replace(request, prompt=clean)
        warnings = self.validate(request)
        chosen = self.provider(provider)
        edit = getattr(chosen, "edit", None) if plan is not None else None
        if plan is not None and edit is None:
            raise ValidationError(f"The {chosen.name} provider cannot edit images.")
        if cleaned:
            warnings.append("Control characters were removed from the prompt.")
        for warning in warnings:
            log.warning("%s", warning)
        started = time.monotonic()
        # Never pay for images we could not keep: prove the folder is writable before sending.
        await asyncio.to_thread(self.images.check_writable, now())
        # In history at once (to retry it), but a use only once it brings an image.
        if plan is not None and parent_prompt_id is None:
            parent_prompt_id = await asyncio.to_thread(self.edit_parent_prompt, plan)
        prompt = await asyncio.to_thread(
            self.db.record_prompt_use, request.prompt, count=False, parent_id=parent_prompt_id
        )
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
            batch_item_id=batch_item_id,
        )
        outcome = GenerationOutcome(prompt=prompt, generations=rows, warnings=warnings)
        ids = [row.id for row in rows]
        extra: dict[str, str] = {}
        if plan is not None:
            # Known before sending: a request that fails still says what it was made from.
            extra = await asyncio.to_thread(self._record_lineage, plan, ids)
        waiting = _WaitWatch(on_wait)
        try:
            if edit is not None:
                assert isinstance(request, EditRequest)
                result = await edit(request, on_partial, waiting)
            else:
                result = await chosen.generate(request, on_partial, waiting)
        except asyncio.CancelledError:
            # Cancelled before an answer. Offline nothing was spent, and during a wait before a
            # retry nothing is in flight (each earlier attempt surely was not processed). Else
            # a request to the API may be made and billed, and nobody can tell: say so.
            if chosen.offline or waiting.in_wait():
                await asyncio.to_thread(
                    self.db.fail_generations,
                    ids,
                    "cancelled",
                    ErrorKind.CANCELLED,
                    CANCELLED_MESSAGE,
                )
            else:
                await asyncio.shield(
                    self._fail(
                        outcome,
                        ids,
                        GenerationError(
                            ErrorKind.CANCELLED,
                            "Cancelled while the API was working on it; the request may have "
                            "been billed.",
                            possibly_billed=True,
                        ),
                        started,
                    )
                )
            raise
        except GenerationError as exc:
            return await self._fail(outcome, ids, exc, started)
        except Exception as exc:  # noqa: BLE001 (recorded on the row, then reported)
            log.exception("provider %s failed unexpectedly", chosen.name)
            # We cannot tell whether it reached the API: treat it as possibly billed.
            error = GenerationError(
                ErrorKind.UNKNOWN,
                f"Unexpected error: {exc}; the request may have been billed.",
                possibly_billed=not chosen.offline,
            )
            return await self._fail(outcome, ids, error, started)

        outcome.usage = result.usage
        spec = self.catalog.get(request.model)
        basis, prices = price_snapshot(
            spec, size=request.size, quality=request.quality, offline=chosen.offline
        )
        shares = split_usage(result.usage, len(result.images))
        request_id = result.request_id
        costs: list[Decimal | None] = []
        # From here on the images are paid for: a cancel waits until every one is recorded.
        record = asyncio.ensure_future(
            self._record_all(
                rows,
                result.images,
                shares,
                prompt,
                spec,
                request,
                chosen.offline,
                basis,
                prices,
                request_id,
                started,
                costs,
                extra,
            )
        )
        try:
            await asyncio.shield(record)
        except asyncio.CancelledError:
            await record
            raise
        missing = [row.id for row in rows[len(result.images) :]]
        if missing:
            await asyncio.to_thread(
                self.db.fail_generations,
                missing,
                "failed",
                ErrorKind.SERVER,
                f"The API returned {len(result.images)} of {request.n} images.",
            )
        outcome.generations = await asyncio.to_thread(self.db.generations_by_ids, ids)
        outcome.costs = {row.id: cost for row, cost in zip(rows, costs, strict=False)}
        outcome.cost = None if any(c is None for c in costs) else sum(costs, Decimal(0))
        errors = [g.error_message for g in outcome.generations if g.error_kind == "filesystem"]
        if errors:
            outcome.error = GenerationError(ErrorKind.FILESYSTEM, errors[0])
        outcome.seconds = time.monotonic() - started
        return outcome

    async def _record_all(
        self,
        rows: list[Generation],
        images: list[ProviderImage],
        shares: list[Usage | None],
        prompt: Prompt,
        spec: Any,
        request: GenerationRequest,
        offline: bool,
        basis: str,
        prices: dict[str, Any],
        request_id: str | None,
        started: float,
        costs: list[Decimal | None],
        extra: dict[str, str],
    ) -> None:
        """Save and record every returned image; a failure for one never drops the others.

        The first image recorded also counts the prompt's use (in its transaction).
        """
        counted = False
        for row, image, share in zip(rows, images, shares, strict=False):
            if offline:
                cost: Decimal | None = Decimal(0)
            else:
                cost = compute_cost(spec, share, size=request.size, quality=request.quality, n=1)
            costs.append(cost)
            usage_values = _usage_values(share, cost, basis, prices, request_id)
            try:
                saved = await asyncio.to_thread(self._save, row, image, prompt, extra)
            except GenerationError as exc:
                recorded = await asyncio.to_thread(
                    self._keep_unsaved, row, prompt, image, exc, usage_values, not counted
                )
            else:
                recorded = await asyncio.to_thread(
                    self._finish,
                    row,
                    prompt,
                    saved,
                    image,
                    usage_values,
                    request_id,
                    started,
                    not counted,
                )
            counted = counted or recorded

    def _record_lineage(self, plan: EditPlan, ids: list[int]) -> dict[str, str]:
        """Record each new row's inputs; the lineage fields its file's metadata carries."""
        specs = plan.input_specs()
        for generation_id in ids:
            self.db.record_inputs(generation_id, plan.kind, specs)
        parents = [s.parent_id for s in specs if s.parent_id is not None]
        uids = {g.id: g.uid for g in self.db.generations_by_ids(parents)}
        return plan.metadata(uids)

    def _save(
        self,
        row: Generation,
        image: ProviderImage,
        prompt: Prompt,
        extra: dict[str, str] | None = None,
    ) -> SavedImage:
        metadata = {
            "prompt": prompt.text,
            "model": row.model,
            "size": row.size,
            "quality": row.quality,
            "provider": row.provider,
        }
        if image.revised_prompt:
            metadata["revised_prompt"] = image.revised_prompt
        if row.seed is not None:  # the A1111 line says Seed: -1 (unknown) otherwise
            metadata["seed"] = str(row.seed)
        if row.background and row.background != "auto":
            metadata["background"] = row.background
        metadata.update(extra or {})
        return self.images.save(row.id, image.data, image.output_format, metadata, row.created_at)

    def _keep_unsaved(
        self,
        row: Generation,
        prompt: Prompt,
        image: ProviderImage,
        error: GenerationError,
        usage_values: dict[str, Any],
        count_use: bool = False,
    ) -> bool:
        """The image came back but could not be saved: keep its bytes, bill it, say where."""
        extension = extension_for(image.output_format)
        try:
            kept = recovery.keep_bytes(self.settings.home, row.id, image.data, extension)
            where = f"; the image was kept at {kept}"
        except OSError:
            kept = None
            where = "; it could not be kept anywhere either"
        changes: dict[str, Any] = {
            "status": "failed",
            "error_kind": ErrorKind.FILESYSTEM,
            "error_message": f"{error}{where}.",
            "file_path": str(kept) if kept else None,
            "revised_prompt": image.revised_prompt,
            "finished_at": now(),
            **_applied_changes(row, image),
        }
        return self._record(row, prompt, changes, usage_values, count_use)

    def _finish(
        self,
        row: Generation,
        prompt: Prompt,
        saved: SavedImage,
        image: ProviderImage,
        usage_values: dict[str, Any],
        request_id: str | None,
        started: float,
        count_use: bool = False,
    ) -> bool:
        changes: dict[str, Any] = {
            "status": "succeeded",
            "file_path": str(saved.path),
            "thumbnail_path": str(saved.thumbnail_path),
            "width": saved.width,
            "height": saved.height,
            "output_format": _format_of(saved.path, image.output_format),
            "revised_prompt": image.revised_prompt,
            "request_id": request_id,
            "finished_at": now(),
            "duration_ms": int((time.monotonic() - started) * 1000),
            **_applied_changes(row, image),
        }
        return self._record(row, prompt, changes, usage_values, count_use)

    def _record(
        self,
        row: Generation,
        prompt: Prompt,
        changes: dict[str, Any],
        usage_values: dict[str, Any],
        count_use: bool = False,
    ) -> bool:
        """Finish the row with its ledger values (and, with ``count_use``, its prompt's use);
        if that fails, leave a recovery record. True when the row was written.

        The image is paid for (and its file or kept bytes are on disk): the next start
        (``dalletui doctor``) attaches the record to its row. A record that cannot be written
        either is logged; the files stay, and the doctor attaches a file it finds by its id.
        """
        try:
            self.db.finish_generation(row.id, usage=usage_values, count_use=count_use, **changes)
            return True
        except DalleTuiError as exc:
            log.warning("generation %s: cannot record the image: %s", row.id, exc)
            try:
                recovery.write_record(
                    self.settings.home,
                    generation_id=row.id,
                    request_key=row.request_key,
                    prompt=prompt.text,
                    changes=changes,
                    usage=usage_values,
                )
            except OSError:
                log.exception("generation %s: cannot write its recovery record", row.id)
            return False

    async def _fail(
        self,
        outcome: GenerationOutcome,
        ids: list[int],
        error: GenerationError,
        started: float,
    ) -> GenerationOutcome:
        if error.possibly_billed and ids:
            batch_id = outcome.generations[0].batch_id
            if batch_id is not None:
                # A batch's prompt is sent again through its batch (so its item stays right).
                hint = (
                    f"Batch #{batch_id}: press I in Batches or run `dalletui batch resume "
                    f"{batch_id} --rerun-interrupted` to send it again."
                )
            else:
                hint = f"Generation #{min(ids)}: {retry_hint(min(ids))}"
            message = f"{error} {hint}"
            error = GenerationError(
                error.kind,
                message,
                status_code=error.status_code,
                possibly_billed=True,
                request_id=error.request_id,
            )
            first = outcome.generations[0]
            spec = self.catalog.get(first.model)
            basis, prices = price_snapshot(spec, size=first.size, quality=first.quality)
            await asyncio.to_thread(
                self.db.mark_possibly_billed,
                ids,
                error.kind,
                message,
                request_id=error.request_id,
                ledger={"price_basis": basis, "prices": prices},
            )
        else:
            await asyncio.to_thread(self.db.fail_generations, ids, "failed", error.kind, str(error))
        outcome.error = error
        outcome.generations = await asyncio.to_thread(
            self.db.generations_by_ids, [g.id for g in outcome.generations]
        )
        outcome.seconds = time.monotonic() - started
        return outcome

    # -- sending again ----------------------------------------------------------------------

    def _retryable(self, generation_id: int) -> Generation:
        """Generation ``generation_id``, refused (one sentence) unless it may be sent again."""
        generation = self.db.get_generation(generation_id)
        if generation.status not in RETRYABLE:
            raise ValidationError(
                f"Generation #{generation_id} is {generation.status.replace('_', ' ')}; only a "
                "failed, cancelled, interrupted or possibly billed one can be sent again."
            )
        return generation

    @staticmethod
    def _request_fields(generation: Generation) -> dict[str, Any]:
        """The request fields a generation recorded, its columns filling what ``params`` lacks."""
        params = {k: v for k, v in (generation.params or {}).items() if k in REQUEST_FIELDS}
        params["prompt"] = generation.prompt.text
        params.setdefault("model", generation.model)
        params.setdefault("size", generation.size)
        params.setdefault("quality", generation.quality)
        params.setdefault("output_format", generation.output_format)
        params.setdefault("background", generation.background)
        return params

    def request_for(self, generation_id: int) -> GenerationRequest:
        """The request that made generation ``generation_id`` (to send it again)."""
        generation = self._retryable(generation_id)
        if generation.kind in EDIT_KINDS:
            return self._plan_for(generation).request
        params = self._request_fields(generation)
        try:
            return GenerationRequest(**params)
        except TypeError as exc:
            raise ValidationError(
                f"Generation #{generation_id} does not record a request that can be sent again."
            ) from exc

    def _plan_for(self, generation: Generation) -> EditPlan:
        """The edit that made ``generation``, its inputs read again and checked unchanged."""
        label = f"generation #{generation.id}"
        sources: list[EditSource] = []
        images: list[EditImage] = []
        for row in self.db.inputs(generation.id):
            if row.parent_generation_id is not None:
                try:
                    parent = self.db.get_generation(row.parent_generation_id)
                except DalleTuiError:
                    parent = None
                path = parent.file_path if parent is not None else None
            else:
                path = row.file_path
            name = f"#{row.parent_generation_id}" if row.parent_generation_id else path
            if not path:
                raise ValidationError(
                    f"Input {row.position + 1} of {label} ({name or 'unknown'}) is gone; "
                    "start a new edit instead."
                )
            source = EditSource(Path(path), row.parent_generation_id, row.role)
            image = source.read()
            if row.sha256 and hashlib.sha256(image.data).hexdigest() != row.sha256:
                raise ValidationError(
                    f"Input {row.position + 1} of {label} ({name}) has changed since it was "
                    "sent; start a new edit from it instead."
                )
            sources.append(source)
            images.append(image)
        roles = [source.role for source in sources]
        if "image" not in roles:
            raise ValidationError(
                f"{label.capitalize()} does not record the images it was made from."
            )
        stored = generation.params or {}
        params = {**self._request_fields(generation), "model": generation.model}
        overlay = {source.role: image for source, image in zip(sources, images, strict=True)}
        try:
            request = EditRequest(
                **params,
                images=tuple(i for s, i in zip(sources, images, strict=True) if s.role == "image"),
                mask=overlay.get("mask"),
                markup=overlay.get("markup"),
                input_fidelity=stored.get("input_fidelity"),
            )
        except TypeError as exc:
            raise ValidationError(
                f"{label.capitalize()} does not record an edit that can be sent again."
            ) from exc
        ordered = [s for s in sources if s.role == "image"] + [
            s for s in sources if s.role != "image"
        ]
        return plan_edit(request, ordered, generation.kind)

    async def retry(
        self,
        generation_id: int,
        *,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> GenerationOutcome:
        """Send the request of ``generation_id`` again, as a new request (the user's word)."""
        generation = await asyncio.to_thread(self._retryable, generation_id)
        if generation.kind in EDIT_KINDS:
            # Its inputs are read (and their hashes checked) once, here.
            plan = await asyncio.to_thread(self._plan_for, generation)
            return await self.edit(
                plan, provider=generation.provider, on_partial=on_partial, on_wait=on_wait
            )
        request = await asyncio.to_thread(self.request_for, generation_id)
        outcome = await self.generate(
            request,
            provider=generation.provider,
            on_partial=on_partial,
            on_wait=on_wait,
            batch_id=generation.batch_id,
            batch_item_id=generation.batch_item_id,
        )
        if generation.batch_item_id is not None:
            # The batch's prompt was sent again: it now stands where this request left it.
            if outcome.succeeded:
                status = "succeeded"
            else:
                status = "possibly_billed" if outcome.possibly_billed else "failed"
            error = None if outcome.error is None else str(outcome.error)
            with contextlib.suppress(DalleTuiError):
                await asyncio.to_thread(
                    self.db.finish_batch_item, generation.batch_item_id, status, error=error
                )
        return outcome


class _WaitWatch:
    """Passes each retry wait on, and knows whether a wait (nothing in flight) is under way.

    An ``on_wait`` that is a coroutine may itself wait longer (a batch's shared backoff): the
    whole of it counts as the wait.
    """

    def __init__(self, on_wait: WaitCallback | None) -> None:
        self._on_wait = on_wait
        self._until = 0.0

    def __call__(self, wait: Any) -> Any:
        self._until = time.monotonic() + float(wait.seconds)
        outcome = self._on_wait(wait) if self._on_wait is not None else None
        if inspect.isawaitable(outcome):
            return self._through(outcome, float(wait.seconds))
        return outcome

    async def _through(self, outcome: Awaitable[Any], seconds: float) -> None:
        self._until = math.inf
        try:
            await outcome
        finally:
            self._until = time.monotonic() + seconds

    def in_wait(self) -> bool:
        return time.monotonic() < self._until


def _usage_values(
    usage: Usage | None,
    cost: Decimal | None,
    basis: str,
    prices: dict[str, Any],
    request_id: str | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "cost": cost,
        "price_basis": basis,
        "prices": prices,
        "request_id": request_id,
    }
    if usage is not None:
        values.update(
            input_text_tokens=usage.input_text_tokens,
            input_image_tokens=usage.input_image_tokens,
            output_image_tokens=usage.output_image_tokens,
            output_text_tokens=usage.output_text_tokens,
        )
    return values


def _applied_changes(row: Generation, image: ProviderImage) -> dict[str, Any]:
    """``params`` with what the provider said it applied, when it said anything."""
    if not image.applied:
        return {}
    return {"params": {**(row.params or {}), "applied": dict(image.applied)}}


def _format_of(path: Path, fallback: str) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return {"jpg": "jpeg"}.get(suffix, suffix) or fallback
