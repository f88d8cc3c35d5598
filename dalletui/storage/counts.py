"""What History counts: images, and requests that brought none (one each, not one per image).

A request for ``n`` images leaves ``n`` rows (``request_key`` ties them): they exist for crash
recovery and the ledger, and stay. Readers count at read time instead: an *image* is a
succeeded row with its file; a *failed request* is a request none of whose rows brought an image
(failed, cancelled, interrupted or possibly billed), counted once however many it asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peewee import SQL, fn

from dalletui.storage.models import Generation

#: Final statuses of a row that brought no image.
NO_IMAGE_STATUSES = ("failed", "cancelled", "interrupted", "possibly_billed")


@dataclass(frozen=True)
class PromptCounts:
    """A prompt's images and its requests without one (trashed rows left out)."""

    images: int = 0
    #: Requests that ended without any image: failed, cancelled, interrupted, possibly billed.
    failed_requests: int = 0
    #: Requests still under way (their rows pending).
    pending_requests: int = 0

    @property
    def requests_without_image(self) -> int:
        return self.failed_requests + self.pending_requests


@dataclass(frozen=True)
class GenerationEntry:
    """One line of a prompt's generations: an image, or one request that brought none.

    ``generation`` is the image, or the first row of the request's rows without an image (the
    one a ``possibly_billed`` ledger row hangs on); it carries ``usage_row`` like every listed
    generation.
    """

    generation: Generation
    #: Rows this entry stands for: 1 for an image; the request's rows without image otherwise.
    rows: int = 1
    #: Images the request asked for (its ``n``).
    asked: int = 1
    #: Images the request brought (succeeded rows, trashed ones too).
    request_images: int = 0

    @property
    def is_image(self) -> bool:
        return self.generation.status == "succeeded"

    @property
    def partial(self) -> bool:
        """Rows without image of a request that brought some images (the API returned fewer)."""
        return not self.is_image and self.request_images > 0


def is_image(model: Any = Generation) -> Any:
    """SQL: the row of ``model`` (Generation or an alias) is an image."""
    return (model.status == "succeeded") & model.file_path.is_null(False)


def image_count(prompt_id: Any) -> Any:
    """Correlated subquery: images of the prompt ``prompt_id`` (a column or a value)."""
    g = Generation.alias("img")
    return g.select(fn.COUNT(g.id)).where(
        (g.prompt == prompt_id) & g.deleted_at.is_null() & is_image(g)
    )


def request_brought_something(outer: Any) -> Any:
    """SQL: some row of ``outer``'s request is an image, has a file, or is still pending."""
    other = Generation.alias("req")
    return fn.EXISTS(
        other.select(SQL("1")).where(
            (other.prompt == outer.prompt)
            & (other.request_key == outer.request_key)
            & (other.file_path.is_null(False) | other.status.not_in(NO_IMAGE_STATUSES))
        )
    )


def failed_request_count(prompt_id: Any) -> Any:
    """Correlated subquery: requests of the prompt that ended without any image."""
    g = Generation.alias("failed")
    return g.select(fn.COUNT(g.request_key.distinct())).where(
        (g.prompt == prompt_id)
        & g.deleted_at.is_null()
        & g.status.in_(NO_IMAGE_STATUSES)
        & ~request_brought_something(g)
    )


def pending_request_count(prompt_id: Any) -> Any:
    """Correlated subquery: requests of the prompt still under way."""
    g = Generation.alias("pending")
    return g.select(fn.COUNT(g.request_key.distinct())).where(
        (g.prompt == prompt_id) & g.deleted_at.is_null() & (g.status == "pending")
    )
