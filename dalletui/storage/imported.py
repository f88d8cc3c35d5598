"""Images made by other tools (``import-images``): history rows without a ledger row.

An imported image is a prompt use and a succeeded generation whose ``provider`` names the tool
that made it. Nothing was billed by dalletui, so no ``usage_stats`` row is written. Its ``uid``
is the first 32 hex digits of the file's SHA-256 (the whole digest is in ``params``): the unique
index makes a second import of the same file a no-op, even from two processes at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import peewee

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Generation, Prompt


class ImportedImageStore(StoreBase):
    """Record images copied in from elsewhere, once each."""

    record_prompt_use: Callable[..., Prompt]  # from PromptStore, mixed into the same manager

    @guarded
    def imported_generation(self, content_key: str) -> Generation | None:
        """The generation an earlier import of this content made (trashed ones too), or None."""
        return Generation.get_or_none(Generation.uid == content_key)

    @guarded
    def add_imported_image(
        self,
        prompt_text: str,
        content_key: str,
        values: dict[str, Any],
        place: Callable[[int], dict[str, Any]],
    ) -> Generation | None:
        """Record one imported image, or return None when this content is already there.

        In one transaction: the prompt use, the generation row, then ``place(generation_id)``
        (which copies the files in and returns ``file_path`` / ``thumbnail_path``). If ``place``
        raises, nothing is recorded.
        """
        try:
            with self.write():
                if Generation.get_or_none(Generation.uid == content_key) is not None:
                    return None
                prompt = self.record_prompt_use(prompt_text)
                row = Generation(
                    prompt=prompt,
                    uid=content_key,
                    request_key=content_key,
                    image_index=0,
                    **values,
                )
                row.validate()
                row.save()
                return self._save(row, **place(row.id))
        except peewee.IntegrityError:
            if Generation.get_or_none(Generation.uid == content_key) is not None:
                return None  # another process imported the same file a moment ago
            raise
