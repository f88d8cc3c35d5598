"""Prompt history: search, favourites, reuse, delete (to the trash), import."""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dalletui.errors import ValidationError
from dalletui.generation.files import ImageStore
from dalletui.services.trash import TrashOutcome, TrashService
from dalletui.storage import DatabaseManager, ImportSummary, PromptPage, PromptQuery
from dalletui.storage.models import (
    CONTROL_CHARS,
    PROMPT_MAX_CHARS,
    Generation,
    Prompt,
    normalize_prompt,
)

log = logging.getLogger(__name__)


class HistoryService:
    """What the History screen and the ``history``/``favorite`` commands do."""

    def __init__(
        self, db: DatabaseManager, images: ImageStore, trash: TrashService | None = None
    ) -> None:
        self.db = db
        self.images = images
        self.trash = trash or TrashService(db, images)

    def search(self, query: PromptQuery) -> PromptPage:
        return self.db.search_prompts(query)

    def find(
        self,
        text: str = "",
        *,
        favorites: bool = False,
        model: str | None = None,
        order: str = "recent",
        limit: int = 20,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[Prompt]:
        """Prompts for a script (``dalletui history``), newest or most used first.

        The search text is taken as typed: the last word is not widened to a prefix as it is
        while the user types in the TUI (``cyber*`` asks for one). ``until`` is exclusive.
        """
        query = PromptQuery(
            text=text,
            favorites_only=favorites,
            model=model,
            order=order,
            limit=limit,
            since=since,
            until=until,
            prefix_last=False,
        )
        return self.db.search_prompts(query).items

    def count(self, query: PromptQuery) -> int:
        return self.db.count_prompts(query)

    def get(self, prompt_id: int) -> Prompt:
        return self.db.get_prompt(prompt_id)

    def generations(self, prompt_id: int) -> list[Generation]:
        return self.db.generations_for_prompt(prompt_id)

    def last_generation(self, prompt_id: int) -> Generation | None:
        """The newest generation of a prompt, to reuse its parameters."""
        generations = self.db.generations_for_prompt(prompt_id)
        return generations[0] if generations else None

    def gallery(
        self, limit: int = 50, before_id: int | None = None, *, succeeded_only: bool = False
    ) -> list[Generation]:
        """Generations newest first (prompt joined); ``succeeded_only`` keeps those with images."""
        status = "succeeded" if succeeded_only else None
        return self.db.list_generations(limit=limit, before_id=before_id, status=status)

    def toggle_favorite(self, prompt_id: int) -> Prompt:
        return self.db.toggle_favorite(prompt_id)

    def set_favorite(self, prompt_id: int, on: bool) -> Prompt:
        return self.db.set_favorite(prompt_id, on)

    def delete(self, prompt_id: int) -> TrashOutcome:
        """Move a prompt and its images to the trash (``trash.restore`` undoes it)."""
        return self.trash.trash_prompt(prompt_id)

    def import_file(self, path: Path) -> ImportSummary:
        """Add prompts from a text file (one a line, ``.gz`` accepted), all or nothing.

        The file is read twice: once to check every line (a bad file imports nothing and the
        message says where it is bad), once to stream it into the database.
        """
        cleaned = check_prompt_file(path)
        return self.db.import_prompts(iter_prompt_lines(path), cleaned=cleaned)


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 (closed by the caller's with)


def iter_prompt_lines(path: Path) -> Iterator[str]:
    """The lines of a prompt file, one at a time (check it first with ``check_prompt_file``)."""
    with _open_text(path) as handle:
        for line in handle:
            yield line.strip()


def check_prompt_file(path: Path) -> int:
    """Check every line of a prompt file; returns how many lines hold control characters."""
    try:
        is_file = path.is_file()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ValidationError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if not is_file:
        raise ValidationError(f"{path} does not exist or is not a file.")
    cleaned = 0
    any_text = False
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                text = line.strip()
                if "\x00" in text:
                    raise ValidationError(
                        f"{path} line {number} holds binary data; not a text file."
                    )
                if len(text) > PROMPT_MAX_CHARS:
                    raise ValidationError(
                        f"{path} line {number} is {len(text):,} characters; "
                        f"the limit is {PROMPT_MAX_CHARS:,}. Nothing was imported."
                    )
                if CONTROL_CHARS.search(text):
                    cleaned += 1
                any_text = any_text or bool(normalize_prompt(text))
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path} is not UTF-8 text ({exc.reason}); nothing was imported."
        ) from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValidationError(
            f"{path} is not a valid gzip file ({exc}); nothing was imported."
        ) from exc
    except OSError as exc:
        raise ValidationError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if not any_text:
        raise ValidationError(f"{path} holds no prompts (every line is blank).")
    return cleaned
