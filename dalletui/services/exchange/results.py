"""What callers give an export and get back from an export or an import: the options, and
the summaries the CLI and the TUI print."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dalletui.storage.exchange import Conflict


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how."""

    format: str = "json"
    favorites: bool = False
    since: dt.datetime | None = None
    search: str = ""


@dataclass
class ExportSummary:
    """What an export wrote."""

    format: str
    prompts: int = 0
    generations: int = 0
    templates: int = 0
    variables: int = 0
    batches: int = 0
    usage: int = 0
    collections: int = 0
    images: int = 0
    #: Images a generation records but that were not found to put in the zip.
    missing_images: int = 0
    bytes: int = 0
    path: str | None = None

    def line(self, shown: str) -> str:
        images = f" ({self.images:,} images)" if self.format == "zip" else ""
        line = (
            f"Exported {self.prompts:,} prompts, {self.generations:,} generations{images}, "
            f"{self.usage:,} usage rows, {self.templates:,} templates, {self.variables:,} "
            f"variables, {self.batches:,} batches"
            + (f", {self.collections:,} collections" if self.collections else "")
            + f" to {shown}."
        )
        if self.missing_images and self.format == "zip":
            line += f" {self.missing_images:,} image files were missing and are not in it."
        return line


@dataclass
class ImportSummary:
    """What an import did (and, with ``dry_run``, would do)."""

    source: str
    format: str
    new_prompts: int = 0
    merged_prompts: int = 0
    unchanged_prompts: int = 0
    generations: int = 0
    skipped_generations: int = 0
    images_copied: int = 0
    #: Generations already here whose missing image or thumbnail was put back (from the zip,
    #: or from the staging folder of an import that was cut off after its commit).
    images_restored: int = 0
    #: New generations whose image the file does not hold (a JSON file, or a missing member).
    images_absent: int = 0
    usage: int = 0
    skipped_usage: int = 0
    templates: int = 0
    variables: int = 0
    batches: int = 0
    skipped_batches: int = 0
    #: Tags put on prompts, collections made, items added to collections, notes filled in.
    tags: int = 0
    collections: int = 0
    collection_items: int = 0
    notes: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    #: What went wrong after the database committed (an image that could not be moved in).
    problems: list[str] = field(default_factory=list)

    def line(self, shown: str) -> str:
        restored = f", {self.images_restored:,} images restored" if self.images_restored else ""
        return (
            f"Imported {shown}: {self.new_prompts:,} new prompts, {self.merged_prompts:,} "
            f"merged, {self.generations:,} generations ({self.images_copied:,} images copied), "
            f"{self.usage:,} usage rows, {self.templates:,} templates, {self.variables:,} "
            f"variables, {self.batches:,} batches{restored}{self._organized()}; "
            f"{len(self.conflicts):,} conflicts "
            "kept local."
        )

    def _organized(self) -> str:
        """', 3 tags, 1 collection (4 items), 2 notes': only what the import brought."""
        parts = []
        if self.tags:
            parts.append(f"{self.tags:,} tags")
        if self.collections or self.collection_items:
            parts.append(f"{self.collections:,} collections ({self.collection_items:,} items)")
        if self.notes:
            parts.append(f"{self.notes:,} notes")
        return "".join(", " + part for part in parts)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["conflicts"] = [{"kind": c.kind, "name": c.name} for c in self.conflicts]
        return data
