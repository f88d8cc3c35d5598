"""Two more questions about images for the gallery and the model filter.

Where an image stands among those a query matches (how many are newer), for the gallery's
"13–24 of 40" and the image view's "3 of 12"; and which models the history holds, by use.
The images themselves are listed by ``GenerationStore.list_images``.
"""

from __future__ import annotations

from typing import Any

from peewee import fn

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Generation, Prompt


class GalleryStore(StoreBase):
    """Counts the gallery needs beside ``list_images`` and ``count_images``."""

    _image_conditions: Any  # from GenerationStore, mixed into the same manager

    @guarded
    def count_images_newer(self, query: Any, generation_id: int) -> int:
        """How many images ``list_images(query)`` lists before (newer than) ``generation_id``."""
        conditions = [*self._image_conditions(query), Generation.id > generation_id]
        return Generation.select().join(Prompt).where(*conditions).count()

    @guarded
    def models_by_use(self) -> list[tuple[str, int]]:
        """Models of the requests in the history (not in the trash), most used first.

        A use is one request, however many images it asked for.
        """
        uses = fn.COUNT(Generation.request_key.distinct())
        rows = (
            Generation.select(Generation.model, uses.alias("uses"))
            .join(Prompt)
            .where(Generation.deleted_at.is_null() & Prompt.deleted_at.is_null())
            .group_by(Generation.model)
            .order_by(uses.desc(), Generation.model)
        )
        return [(row.model, int(row.uses)) for row in rows]
