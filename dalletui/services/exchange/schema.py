"""The export format's fixed parts, shared by both directions.

Its name and version, the limits a file's values must keep, the record schema (one ``Spec``
table that the writer and the checker both read, so the two cannot drift apart), how a refusal
is worded, and file paths relative to the images folder (what the format records).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from dalletui.errors import ValidationError
from dalletui.storage.models import (
    NAME_MAX_CHARS,
    PROMPT_MAX_CHARS,
    BaseModel,
    Batch,
    BatchItem,
    Collection,
    CollectionItem,
    Generation,
    GenerationInput,
    Prompt,
    Template,
    TemplateVariable,
    UsageStat,
)
from dalletui.storage.organize import NOTE_MAX_CHARS

FORMAT_NAME = "dalletui-export"
FORMAT_VERSION = 1
EXPORT_FORMATS = ("json", "jsonl", "csv")
#: The document inside a zip (exactly one of them), and where the images go.
ZIP_DOCUMENTS = {"export.json": "json", "export.jsonl": "jsonl"}
IMAGES_PREFIX = "images/"
#: Record types in the order they are written (what is referred to comes first).
SECTIONS = (
    "templates",
    "variables",
    "prompts",
    "batches",
    "generations",
    "usage",
    "collections",
)
#: JSON Lines ``type`` of each section's records.
LINE_TYPES = {
    "template": "templates",
    "variable": "variables",
    "prompt": "prompts",
    "batch": "batches",
    "generation": "generations",
    "usage": "usage",
    "collection": "collections",
}
SECTION_TYPES = {section: kind for kind, section in LINE_TYPES.items()}

#: Text fields other than prompts and template bodies (notes, errors, descriptions).
TEXT_MAX_CHARS = 64_000
#: Where an outside input file was, as the exporting machine recorded it (never read on import).
INPUT_PATH_MAX_CHARS = 4_096
#: A batch's body can be a whole prompts file.
BODY_MAX_CHARS = 4_000_000
#: A JSON value stored in a column (params, prices, choices), serialised.
OBJECT_MAX_BYTES = 64 * 1024
OBJECT_MAX_DEPTH = 16
VALUES_MAX = 10_000
VALUE_MAX_CHARS = 4_000
INT64 = 2**63 - 1
COST_MAX = Decimal(10) ** 8  # DecimalField(max_digits=14, decimal_places=6)

_UID = re.compile(r"^[0-9a-f]{32}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
#: A path inside the images folder as dalletui writes it: plain names, '/' between them.
_REL_PATH = re.compile(
    r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,120}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,120}){0,7}$"
)
_LAYOUT = re.compile(r"^\d{4}/\d{2}/(thumbs/)?[^/]+$")
IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ImportLimits:
    """How much an import file may hold; anything over is refused before a byte is written."""

    #: The JSON or JSON Lines document (on its own, or inside the zip).
    document_bytes: int = 128 * 1024 * 1024
    #: Records of every kind together (batch items included).
    records: int = 1_000_000
    #: Members of a zip.
    members: int = 200_000
    #: One image, thumbnail or sidecar inside a zip.
    image_bytes: int = 64 * 1024 * 1024
    #: Every member of a zip together, uncompressed.
    total_bytes: int = 16 * 1024**3
    #: Uncompressed / compressed size of a member over ``ratio_floor`` bytes (a zip bomb's is
    #: ~1000; PNGs are ~1, JSON ~5-20).
    ratio: int = 200
    ratio_floor: int = 1024 * 1024


class ImportRefused(ValidationError):
    """The import file is malformed, truncated, too large or hostile; nothing was changed."""

    title = "Import refused"


# -- the record schema: one table for both directions -----------------------------------------


@dataclass(frozen=True)
class Spec:
    """One field of a record: its kind, whether it may be null or missing, its limits."""

    kind: str  # str, int, bool, time, money, object, strings, uid, hash, path, items
    null: bool = False
    required: bool = True
    default: Any = None
    max: int | None = None
    min: int | None = None
    #: For ``items``: the schema of each nested record (a key of ``SCHEMAS``).
    of: str = "items"


def _s(max_chars: int, **kw: Any) -> Spec:
    return Spec("str", max=max_chars, **kw)


_TIME = Spec("time")
_TIME_NULL = Spec("time", null=True, required=False)
_OBJECT = Spec("object", required=False, default={})
_COUNT = Spec("int", min=0)

SCHEMAS: dict[str, dict[str, Spec]] = {
    "templates": {
        "name": _s(NAME_MAX_CHARS),
        "body": _s(PROMPT_MAX_CHARS),
        "description": _s(TEXT_MAX_CHARS, required=False, default=""),
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "variables": {
        "name": _s(NAME_MAX_CHARS),
        "values": Spec("strings"),
        "description": _s(TEXT_MAX_CHARS, required=False, default=""),
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "prompts": {
        "text": _s(PROMPT_MAX_CHARS),
        "text_hash": Spec("hash"),
        "created_at": _TIME,
        "last_used_at": _TIME,
        "use_count": _COUNT,
        "is_favorite": Spec("bool"),
        "notes": _s(TEXT_MAX_CHARS, required=False, default=""),
        # Tags (schema 0009), by name; a file written before has none.
        "tags": Spec("strings", required=False, default=[]),
        #: The text hash of the prompt this one was made from (issue 15); older files lack it.
        "parent": Spec("hash", null=True, required=False),
    },
    "batches": {
        "uid": Spec("uid"),
        "name": _s(NAME_MAX_CHARS),
        "template": _s(NAME_MAX_CHARS, null=True, required=False),
        "source": _s(16),
        "body": _s(BODY_MAX_CHARS, required=False, default=""),
        "mode": _s(32, required=False, default="product"),
        "seed": Spec("int", null=True, required=False),
        "variables": _OBJECT,
        "params": _OBJECT,
        "status": _s(16),
        "planned": _COUNT,
        "concurrency": Spec("int"),
        "stop_reason": _s(TEXT_MAX_CHARS, null=True, required=False),
        "created_at": _TIME,
        "started_at": _TIME_NULL,
        "finished_at": _TIME_NULL,
        "items": Spec("items", required=False, default=[]),
    },
    "items": {
        "position": _COUNT,
        "text": _s(PROMPT_MAX_CHARS),
        "choice": _OBJECT,
        "prompt": Spec("hash", null=True, required=False),
        "status": _s(16),
        "attempts": _COUNT,
        "error": _s(TEXT_MAX_CHARS, null=True, required=False),
        "updated_at": _TIME,
    },
    "generations": {
        "uid": Spec("uid"),
        "prompt": Spec("hash"),
        "batch": Spec("uid", null=True, required=False),
        "batch_item": Spec("int", null=True, required=False, min=0),
        "request_key": _s(32),
        "image_index": _COUNT,
        "provider": _s(32),
        "model": _s(64),
        "size": _s(16),
        "quality": _s(16),
        "output_format": _s(8),
        "background": _s(16, required=False, default="auto"),
        "status": _s(16),
        "error_kind": _s(32, null=True, required=False),
        "error_message": _s(TEXT_MAX_CHARS, null=True, required=False),
        "revised_prompt": _s(TEXT_MAX_CHARS, null=True, required=False),
        "file_path": Spec("path", null=True, required=False),
        "thumbnail_path": Spec("path", null=True, required=False),
        "width": Spec("int", null=True, required=False),
        "height": Spec("int", null=True, required=False),
        "seed": Spec("int", null=True, required=False),
        "params": _OBJECT,
        "created_at": _TIME,
        "started_at": _TIME_NULL,
        "finished_at": _TIME_NULL,
        "duration_ms": Spec("int", null=True, required=False),
        "request_id": _s(128, null=True, required=False),
        # Lineage (schema 0008); a file written before has neither: a plain generation.
        "kind": _s(16, required=False, default="generate"),
        "inputs": Spec("items", required=False, default=[], of="inputs"),
        # A note on the image (schema 0009).
        "note": _s(NOTE_MAX_CHARS, required=False, default=""),
    },
    "inputs": {
        "position": _COUNT,
        "role": _s(16),
        "parent": Spec("uid", null=True, required=False),
        "file_path": _s(INPUT_PATH_MAX_CHARS, null=True, required=False),
        "sha256": Spec("hash", null=True, required=False),
        "width": Spec("int", null=True, required=False, min=0),
        "height": Spec("int", null=True, required=False, min=0),
    },
    "usage": {
        "uid": Spec("uid"),
        "generation": Spec("uid", null=True, required=False),
        "kind": _s(16),
        "request_key": _s(32, null=True, required=False),
        "request_id": _s(128, null=True, required=False),
        "model": _s(64),
        "batch": Spec("uid", null=True, required=False),
        "provider": _s(32),
        "input_text_tokens": _COUNT,
        "input_image_tokens": _COUNT,
        "output_image_tokens": _COUNT,
        "output_text_tokens": _COUNT,
        "total_tokens": _COUNT,
        "cost": Spec("money", null=True),
        "size": _s(16, null=True, required=False),
        "quality": _s(16, null=True, required=False),
        "price_basis": _s(16),
        "prices": _OBJECT,
        "priced_at": _TIME_NULL,
        "created_at": _TIME,
    },
    # Collections (schema 0009): items name a prompt by text hash or a generation by uid.
    "collections": {
        "uid": Spec("uid"),
        "name": _s(NAME_MAX_CHARS),
        "description": _s(NOTE_MAX_CHARS, required=False, default=""),
        "created_at": _TIME,
        "updated_at": _TIME,
        "items": Spec("items", required=False, default=[], of="collection_items"),
    },
    "collection_items": {
        "position": _COUNT,
        "prompt": Spec("hash", null=True, required=False),
        "generation": Spec("uid", null=True, required=False),
        "added_at": _TIME_NULL,
    },
}
#: The model whose ``problems()`` checks each record's values (enums, ranges).
MODELS: dict[str, type[BaseModel]] = {
    "templates": Template,
    "variables": TemplateVariable,
    "prompts": Prompt,
    "batches": Batch,
    "items": BatchItem,
    "generations": Generation,
    "inputs": GenerationInput,
    "usage": UsageStat,
    "collections": Collection,
    "collection_items": CollectionItem,
}
#: Fields that name other records: not model fields, so not given to ``problems()``.
_REFERENCES = {"prompt", "batch", "batch_item", "generation", "template", "items", "inputs"}
#: Sections whose records carry nested records (``items`` specs), counted against the limit.
NESTED = {"batches": "items", "generations": "inputs", "collections": "items"}
HEADER_KEYS = {"format", "version", "app_version", "exported_at", "filters"}


# -- refusals ---------------------------------------------------------------------------------


#: A problem that starts by naming its place ("generations[3].file_path: ...", "line 7: ...").
_PLACED = re.compile(r"^(line \d+|member '|[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*:)")


def _refuse(where: str, problem: str) -> ImportRefused:
    """'Refused export.json, generations[3].file_path: ... leaves the images folder; ...'."""
    separator = ", " if _PLACED.match(problem) else ": "
    return ImportRefused(f"Refused {where}{separator}{problem}; nothing was imported.")


def _quoted(value: Any, width: int = 48) -> str:
    text = str(value)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return "'" + text + "'"


# -- paths inside the images folder -----------------------------------------------------------


def _roots(root: Path) -> tuple[str, ...]:
    """The images folder as given and resolved, each ending in a separator."""
    found = []
    for path in (root, _resolved(root)):
        text = str(path).rstrip(os.sep) + os.sep
        if text not in found:
            found.append(text)
    return tuple(found)


def _relative(recorded: str | None, roots: tuple[str, ...]) -> str | None:
    """A recorded (absolute) file path relative to the images folder, '/' between names.

    A row written in a data folder that was moved since records the old place: its layout
    (``YYYY/MM[/thumbs]/name``) is kept. A path that fits neither is not exported (None).
    """
    if not recorded:
        return None
    relative = None
    for root in roots:
        if recorded.startswith(root):
            relative = recorded[len(root) :].replace(os.sep, "/")
            break
    if relative is None:
        parts = Path(recorded).parts
        depth = 4 if len(parts) > 1 and parts[-2] == "thumbs" else 3
        tail = "/".join(parts[-depth:])
        relative = tail if _LAYOUT.match(tail) else None
    return relative if relative is not None and _REL_PATH.match(relative) else None


def _sidecar_relative(relative: str) -> str:
    """Where a JPEG's or WebP's sidecar sits, relative to the images folder."""
    return str(PurePosixPath(relative).with_suffix(".json"))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path
