"""One factory that builds dalletui's services from settings: used by the CLI, TUI and tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dalletui.config import Settings
from dalletui.generation.files import ImageStore
from dalletui.services.generation import GenerationService
from dalletui.services.history import HistoryService
from dalletui.services.templates import TemplateService
from dalletui.services.usage import UsageService
from dalletui.storage import DatabaseManager

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a face of dalletui (TUI or CLI) needs, opened on one data folder."""

    settings: Settings
    db: DatabaseManager
    images: ImageStore
    history: HistoryService
    usage: UsageService
    generation: GenerationService
    templates: TemplateService

    def close(self) -> None:
        self.db.close()

    async def aclose(self) -> None:
        await self.generation.aclose()
        self.close()


def open_services(settings: Settings) -> Services:
    """Open the database (running migrations) and wire the services together."""
    db = DatabaseManager(settings.db_path).open()
    images = ImageStore(settings.images_dir)
    generation = GenerationService(db, images, settings)
    interrupted = generation.recover_interrupted()
    if interrupted:
        log.warning(
            "%d generation(s) left pending by an earlier run are now interrupted", interrupted
        )
    return Services(
        settings=settings,
        db=db,
        images=images,
        history=HistoryService(db, images),
        usage=UsageService(db),
        generation=generation,
        templates=TemplateService(db),
    )
