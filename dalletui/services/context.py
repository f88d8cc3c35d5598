"""One factory that builds dalletui's services from settings: used by the CLI, TUI and tests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from dalletui.config import Settings
from dalletui.errors import DalleTuiError
from dalletui.generation.files import ImageStore
from dalletui.services.batches import BatchService
from dalletui.services.exchange import ExchangeService
from dalletui.services.families import FamilyService
from dalletui.services.generation import GenerationService
from dalletui.services.history import HistoryService
from dalletui.services.image_import import ImageImportService
from dalletui.services.organize import OrganizeService
from dalletui.services.templates import TemplateService
from dalletui.services.trash import TrashService
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
    trash: TrashService
    batches: BatchService
    exchange: ExchangeService
    organize: OrganizeService

    @property
    def families(self) -> FamilyService:
        """Near-duplicate families of prompts (cheap to make: it holds only the database)."""
        return FamilyService(self.db)

    @property
    def image_import(self) -> ImageImportService:
        """``import-images``: images from other tools as history (made on use: rarely needed)."""
        return ImageImportService(self.db, self.images)

    def close(self) -> None:
        self.db.close()

    async def aclose(self) -> None:
        await self.generation.aclose()
        self.close()


def open_services(settings: Settings, notice: Callable[[str], None] | None = None) -> Services:
    """Open the database (running migrations) and wire the services together.

    ``notice`` hears one sentence before an existing database is upgraded (it may take a few
    seconds for a large history): the launcher and the CLI print it on a terminal.
    """
    db = DatabaseManager(settings.db_path).open(notice)
    images = ImageStore(settings.images_dir)
    generation = GenerationService(db, images, settings)
    _repair_crash_leftovers(db, images, settings)
    trash = TrashService(db, images, settings.home / "trash")
    templates = TemplateService(db)
    try:
        trash.purge_expired(settings.trash_days)
    except (DalleTuiError, OSError) as exc:  # an old trash is no reason not to start
        log.warning("could not empty the old trash: %s", exc)
    return Services(
        settings=settings,
        db=db,
        images=images,
        history=HistoryService(db, images, trash),
        usage=UsageService(db, generation.catalog, settings.monthly_budget),
        generation=generation,
        templates=templates,
        trash=trash,
        batches=BatchService(db, generation, templates),
        exchange=ExchangeService(db, images, secrets=[settings.api_key]),
        organize=OrganizeService(db),
    )


def _repair_crash_leftovers(db: DatabaseManager, images: ImageStore, settings: Settings) -> None:
    """What an earlier run killed mid-way left: pending rows, saved images, temps, records."""
    from dalletui.services.doctor import DataDoctor

    try:
        report = DataDoctor(db, images, settings.home).startup()
    except (DalleTuiError, OSError) as exc:  # a failed check is no reason not to start
        log.warning("start-up data check failed (%s); run `dalletui doctor`", exc)
        return
    for finding in report.findings:
        log.info("start-up check: %s -> %s", finding.message, finding.outcome or "left")
    if report.findings:
        left = len(report.remaining)
        log.warning(
            "start-up check of what an earlier run left: %s%s",
            report.fixed_summary() or "nothing repaired",
            f"; {left} problem(s) left, run `dalletui doctor`" if left else "",
        )
