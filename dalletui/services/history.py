"""Prompt history: search, favourites, reuse, delete, import."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

from dalletui.errors import ValidationError
from dalletui.generation.files import ImageStore
from dalletui.storage import DatabaseManager, PromptPage, PromptQuery
from dalletui.storage.models import PROMPT_MAX_CHARS, Generation, Prompt

log = logging.getLogger(__name__)


class HistoryService:
    """What the History screen and the ``history``/``favorite`` commands do."""

    def __init__(self, db: DatabaseManager, images: ImageStore) -> None:
        self.db = db
        self.images = images

    def search(self, query: PromptQuery) -> PromptPage:
        return self.db.search_prompts(query)

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

    def delete(self, prompt_id: int, *, remove_files: bool) -> int:
        """Delete a prompt and its generations (and their files if asked); returns files removed."""
        removed = self.db.delete_prompt(prompt_id)
        files = 0
        if remove_files:
            for generation in removed:
                if generation.file_path:
                    thumb = Path(generation.thumbnail_path) if generation.thumbnail_path else None
                    self.images.delete(Path(generation.file_path), thumb)
                    files += 1
        return files

    def import_file(self, path: Path) -> int:
        """Add prompts from a text file (one a line, ``.gz`` accepted) in one transaction."""
        lines = read_prompt_lines(path)
        return self.db.import_prompts(lines)


def read_prompt_lines(path: Path) -> list[str]:
    """Read and check every line first, so a bad file imports nothing and says where it is bad."""
    if not path.is_file():
        raise ValidationError(f"{path} does not exist or is not a file.")
    opener = gzip.open if path.suffix == ".gz" else open
    lines: list[str] = []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
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
                lines.append(text)
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path} is not UTF-8 text ({exc.reason}); nothing was imported."
        ) from exc
    except (gzip.BadGzipFile, EOFError) as exc:
        raise ValidationError(
            f"{path} is not a valid gzip file ({exc}); nothing was imported."
        ) from exc
    except OSError as exc:
        raise ValidationError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if not any(lines):
        raise ValidationError(f"{path} holds no prompts (every line is blank).")
    return lines
