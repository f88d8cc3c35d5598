"""Export a history to a file and import one back: ``dalletui export`` / ``dalletui import``.

The format (``docs/export-format.md``) is versioned and names records by stable keys: prompts
by text hash, generations, batches and usage rows by uid, templates and variables by name, image
files by their path relative to the images folder. So a file does not depend on the database it
came from, and importing it twice changes nothing the second time.

An import is all or nothing. Everything in the file is read and checked first (types, enums
through the models' own ``problems()``, sizes, record counts, paths, zip members) before the
first byte is written anywhere; a refusal names the place ("export.json, generations[3].
file_path: ...") and leaves the database and the images folder exactly as they were. Images from
a zip are copied into a staging folder inside the images folder, the database merge runs in one
write transaction, and only after it commits are the images moved into place (a rename: the same
file system). Anything failing before the commit removes what was staged.

What the user paid for is never lost between the commit and the moves: the staging folder's
journal (written and flushed inside the transaction) says which file goes where, with its hash;
Ctrl-C waits until the moves are done; each generation's image moves last. If the process dies
there anyway, the next import moves the staged files in (``_rescue``), and importing the zip
again puts back any file a generation already here is missing (``_Staging.plan_repair``).

No secret is ever written: the export carries no setting, and every byte written (each zip
member included) is checked for the configured API key; a match refuses the export.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import IO, Any

from dalletui import __version__
from dalletui.errors import StorageError, ValidationError
from dalletui.generation.files import ImageStore, fsync_folder, sidecar_path
from dalletui.processes import process_alive
from dalletui.storage import DatabaseManager
from dalletui.storage.exchange import Conflict, ImportBundle, MergeResult, PathRepair
from dalletui.storage.models import (
    NAME_MAX_CHARS,
    PROMPT_MAX_CHARS,
    BaseModel,
    Batch,
    BatchItem,
    Generation,
    Prompt,
    Template,
    TemplateVariable,
    UsageStat,
    normalize_prompt,
    prompt_hash,
)
from dalletui.textsafe import dump_json, without_controls
from dalletui.timeutil import local, now, utc

log = logging.getLogger(__name__)

FORMAT_NAME = "dalletui-export"
FORMAT_VERSION = 1
EXPORT_FORMATS = ("json", "jsonl", "csv")
#: The document inside a zip (exactly one of them), and where the images go.
ZIP_DOCUMENTS = {"export.json": "json", "export.jsonl": "jsonl"}
IMAGES_PREFIX = "images/"
#: Record types in the order they are written (what is referred to comes first).
SECTIONS = ("templates", "variables", "prompts", "batches", "generations", "usage")
#: JSON Lines ``type`` of each section's records.
LINE_TYPES = {
    "template": "templates",
    "variable": "variables",
    "prompt": "prompts",
    "batch": "batches",
    "generation": "generations",
    "usage": "usage",
}
SECTION_TYPES = {section: kind for kind, section in LINE_TYPES.items()}

#: Text fields other than prompts and template bodies (notes, errors, descriptions).
TEXT_MAX_CHARS = 64_000
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
STAGING_PREFIX = ".import-staging-"
_STAGING = re.compile(r"^\.import-staging-(\d{1,10})-[0-9a-f]{12}$")
_BOM = b"\xef\xbb\xbf"
_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


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

    kind: str  # str, int, bool, time, money, object, strings, uid, hash, path
    null: bool = False
    required: bool = True
    default: Any = None
    max: int | None = None
    min: int | None = None


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
}
#: The model whose ``problems()`` checks each record's values (enums, ranges).
MODELS: dict[str, type[BaseModel]] = {
    "templates": Template,
    "variables": TemplateVariable,
    "prompts": Prompt,
    "batches": Batch,
    "items": BatchItem,
    "generations": Generation,
    "usage": UsageStat,
}
#: Fields that name other records: not model fields, so not given to ``problems()``.
_REFERENCES = {"prompt", "batch", "batch_item", "generation", "template", "items"}
HEADER_KEYS = {"format", "version", "app_version", "exported_at", "filters"}


# -- results ------------------------------------------------------------------------------------


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
            f"variables, {self.batches:,} batches to {shown}."
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
    conflicts: list[Conflict] = field(default_factory=list)
    #: What went wrong after the database committed (an image that could not be moved in).
    problems: list[str] = field(default_factory=list)

    def line(self, shown: str) -> str:
        restored = f", {self.images_restored:,} images restored" if self.images_restored else ""
        return (
            f"Imported {shown}: {self.new_prompts:,} new prompts, {self.merged_prompts:,} "
            f"merged, {self.generations:,} generations ({self.images_copied:,} images copied), "
            f"{self.usage:,} usage rows, {self.templates:,} templates, {self.variables:,} "
            f"variables, {self.batches:,} batches{restored}; {len(self.conflicts):,} conflicts "
            "kept local."
        )

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["conflicts"] = [{"kind": c.kind, "name": c.name} for c in self.conflicts]
        return data


# -- the service ------------------------------------------------------------------------------


class ExchangeService:
    """Exports and imports whole histories (see the module docstring for the rules)."""

    def __init__(
        self,
        db: DatabaseManager,
        images: ImageStore,
        *,
        secrets: Iterable[str | None] = (),
        limits: ImportLimits = ImportLimits(),
    ) -> None:
        self.db = db
        self.images = images
        self.secrets = [s for s in secrets if s and len(s) >= 8]
        self.limits = limits

    # -- export --------------------------------------------------------------------------------

    def export_bytes(self, options: ExportOptions) -> tuple[bytes, ExportSummary]:
        """The export as bytes (JSON, JSON Lines or CSV), for standard output."""
        document, summary, _files = self._document(options, with_files=False)
        data = self._encode(document, options.format)
        self._refuse_secrets(data, "the export")
        summary.bytes = len(data)
        return data, summary

    def export_file(self, path: Path, options: ExportOptions) -> ExportSummary:
        """Write the export to ``path`` atomically (a refused export writes nothing)."""
        data, summary = self.export_bytes(options)
        if options.format == "csv":
            data = _BOM + data  # spreadsheets read the file as UTF-8 only with it
        _write_atomic(Path(path), lambda out: out.write(data))
        summary.path = str(path)
        summary.bytes = len(data)
        return summary

    def export_zip(self, path: Path, options: ExportOptions) -> ExportSummary:
        """A zip holding the JSON (or JSON Lines) document and the image files, atomically."""
        if options.format not in ZIP_DOCUMENTS.values():
            raise ValidationError(
                "A zip holds a JSON or JSON Lines export (CSV cannot be imported back); "
                "use --format json or jsonl with --zip."
            )
        document, summary, files = self._document(options, with_files=True)
        data = self._encode(document, options.format)
        self._refuse_secrets(data, "the export")
        name = next(n for n, kind in ZIP_DOCUMENTS.items() if kind == options.format)
        summary.format = "zip"

        def write(out: IO[bytes]) -> None:
            with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
                archive.writestr(_zip_info(name, now()), data, zipfile.ZIP_DEFLATED)
                for relative, (source, is_image) in files:
                    try:
                        payload = source.read_bytes()
                        stamp = dt.datetime.fromtimestamp(source.stat().st_mtime)
                    except OSError:
                        summary.missing_images += is_image
                        continue
                    self._refuse_secrets(payload, f"the image file {source}")
                    archive.writestr(
                        _zip_info(IMAGES_PREFIX + relative, stamp), payload, zipfile.ZIP_STORED
                    )
                    summary.images += is_image

        _write_atomic(Path(path), write)
        summary.path = str(path)
        with contextlib.suppress(OSError):
            summary.bytes = Path(path).stat().st_size
        return summary

    def _document(
        self, options: ExportOptions, *, with_files: bool
    ) -> tuple[dict[str, Any], ExportSummary, list[tuple[str, tuple[Path, bool]]]]:
        """The export document, its counts, and (``with_files``) every file a zip would hold:
        (relative path, (file, whether it is an image, not a thumbnail or sidecar)), sorted."""
        if options.format not in EXPORT_FORMATS:
            raise ValidationError(
                f"Export format '{options.format}' is unknown; one of {', '.join(EXPORT_FORMATS)}."
            )
        rows = self.db.export_rows(
            favorites=options.favorites, since=options.since, search=options.search
        )
        # Keyed by relative path: two records never share a file, but a zip must not repeat one.
        files: dict[str, tuple[Path, bool]] = {}
        missing = 0
        generations: list[dict[str, Any]] = []
        roots = _roots(self.images.root)
        for row in rows.generations:
            record = _export_record("generations", row)
            for key in ("file_path", "thumbnail_path"):
                record[key] = _relative(row.get(key), roots)
                if not with_files or record[key] is None:
                    continue
                source = self._source_of(row[key], record[key])
                is_image = key == "file_path"
                if source is None:
                    missing += bool(record[key]) and is_image
                    continue
                files[record[key]] = (source, is_image)
                if is_image and source.suffix.lower() != ".png":
                    sidecar = sidecar_path(source)
                    if sidecar.is_file():
                        files[_sidecar_relative(record[key])] = (sidecar, False)
            generations.append(record)
        document: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "app_version": __version__,
            "exported_at": _iso(now()),
            "filters": {
                "favorites": options.favorites,
                "since": _iso(options.since) if options.since else None,
                "search": options.search.strip() or None,
            },
            "templates": [_export_record("templates", r) for r in rows.templates],
            "variables": [_export_record("variables", r) for r in rows.variables],
            "prompts": [_export_record("prompts", r) for r in rows.prompts],
            "batches": [_export_record("batches", r) for r in rows.batches],
            "generations": generations,
            "usage": [_export_record("usage", r) for r in rows.usage],
        }
        summary = ExportSummary(
            format=options.format,
            prompts=len(rows.prompts),
            generations=len(rows.generations),
            templates=len(rows.templates),
            variables=len(rows.variables),
            batches=len(rows.batches),
            usage=len(rows.usage),
            missing_images=missing,
        )
        return document, summary, sorted(files.items())

    def _source_of(self, recorded: str, relative: str) -> Path | None:
        """The file to put in a zip: where the row says, else at its place here."""
        for candidate in (Path(recorded), self.images.root / relative):
            if candidate.is_file():
                return candidate
        return None

    @staticmethod
    def _encode(document: dict[str, Any], kind: str) -> bytes:
        if kind == "json":
            return _json_bytes(document)
        if kind == "jsonl":
            header = {"type": "header", **{k: document[k] for k in _HEADER_ORDER}}
            lines = [dump_json(header, separators=(",", ":"))]
            count = 0
            for section in SECTIONS:
                for record in document[section]:
                    line = {"type": SECTION_TYPES[section], **record}
                    lines.append(dump_json(line, separators=(",", ":")))
                    count += 1
            lines.append(dump_json({"type": "end", "records": count}, separators=(",", ":")))
            return ("\n".join(lines) + "\n").encode("utf-8")
        return _csv_bytes(document)

    def _refuse_secrets(self, data: bytes, what: str) -> None:
        for secret in self.secrets:
            if secret.encode("utf-8", "surrogatepass") in data:
                raise ValidationError(
                    f"{what.capitalize()} would contain your API key (in a prompt, a note or "
                    "an image's metadata); nothing was written. Remove it there and export again."
                )

    # -- import --------------------------------------------------------------------------------

    def import_file(self, path: Path, *, dry_run: bool = False) -> ImportSummary:
        """Merge an export file (JSON, JSON Lines or a zip; told apart by content) into this
        database, all or nothing. ``dry_run`` checks and counts, and changes nothing."""
        path = Path(path)
        shown = path.name or str(path)
        source = _open_source(path, shown, self.limits)
        try:
            bundle = _check_document(source.document, source.where, self.limits)
            summary = ImportSummary(source=str(path), format=source.kind)
            if dry_run:
                return self._dry_run(bundle, source, summary)
            return self._merge(bundle, source, summary)
        finally:
            source.close()

    def _dry_run(
        self, bundle: ImportBundle, source: _Source, summary: ImportSummary
    ) -> ImportSummary:
        class _Rollback(Exception):
            pass

        outcome: list[MergeResult] = []

        def stop(result: MergeResult) -> None:
            outcome.append(result)
            raise _Rollback

        with contextlib.suppress(_Rollback):
            self.db.merge_exchange(bundle, lambda _record, _id: (None, None), stop)
        _fill(summary, outcome[0])
        summary.images_copied = sum(
            1
            for record in bundle.generations
            if record["uid"] in outcome[0].new_generation_ids
            and source.member_for(record.get("file_path"))
        )
        summary.images_absent = summary.generations - summary.images_copied
        if source.archive is not None:
            planner = _Staging(self.images.root)
            here = self.db.generation_files([g["uid"] for g in bundle.generations])
            summary.images_restored = sum(
                1
                for record in bundle.generations
                if record["uid"] in here
                and planner.plan_repair(source, record, here[record["uid"]])
            )
        return summary

    def recover_staging(self) -> tuple[int, list[str]]:
        """Finish what imports that were cut off after their commit left staged (see
        ``_rescue``); returns (generations whose files were restored, problems). Every import
        does this first; ``dalletui doctor`` may too, before it calls an image missing."""
        outcome = _rescue(self.images.root, self.db.generation_files)
        for problem in outcome.problems:
            log.warning("import: %s", problem)
        return outcome.restored, outcome.problems

    def _merge(
        self, bundle: ImportBundle, source: _Source, summary: ImportSummary
    ) -> ImportSummary:
        rescued, problems = self.recover_staging()
        staging = _Staging(self.images.root)
        held = _InterruptsHeld()

        def before_commit(result: MergeResult) -> None:
            staging.check_targets(result)
            staging.write_journal()
            held.start()  # from here the rows and their files go in together

        try:
            with held:
                try:
                    if source.archive is not None:
                        here = self.db.generation_files([g["uid"] for g in bundle.generations])
                        for record in bundle.generations:
                            row = here.get(record["uid"])
                            if row is None:
                                staging.stage(source, record, self.limits)
                            else:
                                staging.stage_repair(source, record, row, self.limits)
                        staging.settle_repairs()
                    result = self.db.merge_exchange(
                        bundle, staging.place, before_commit, staging.path_repairs()
                    )
                except BaseException:
                    staging.discard()
                    raise
                _fill(summary, result)
                summary.images_copied, restored = staging.move_in()
        finally:
            staging.close()
        summary.images_restored = rescued + restored
        summary.images_absent = summary.generations - len(staging.placed)
        summary.problems = [*problems, *staging.problems]
        return summary


def _fill(summary: ImportSummary, result: MergeResult) -> None:
    for name in (
        "new_prompts",
        "merged_prompts",
        "unchanged_prompts",
        "generations",
        "skipped_generations",
        "usage",
        "skipped_usage",
        "templates",
        "variables",
        "batches",
        "skipped_batches",
    ):
        setattr(summary, name, getattr(result, name))
    summary.conflicts = list(result.conflicts)


# -- export helpers -----------------------------------------------------------------------------

_HEADER_ORDER = ("format", "version", "app_version", "exported_at", "filters")


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


def _json_bytes(document: dict[str, Any]) -> bytes:
    """The JSON document with one record a line: readable, diffable, and fast to write (the
    standard encoder is pure Python when it indents, about 10x slower)."""
    out = ["{"]
    keys = list(document)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        value = document[key]
        if key in SECTIONS:
            if not value:
                out.append(f'"{key}": []{comma}')
                continue
            out.append(f'"{key}": [')
            last = len(value) - 1
            out.extend(dump_json(r) + ("," if i < last else "") for i, r in enumerate(value))
            out.append(f"]{comma}")
        else:
            out.append(f"{dump_json(key)}: {dump_json(value)}{comma}")
    out.append("}")
    return ("\n".join(out) + "\n").encode("utf-8")


def _iso(value: dt.datetime) -> str:
    """A moment as ISO 8601 in UTC: the same text whatever the exporting machine's zone."""
    return utc(value).isoformat()


def _export_value(spec: Spec, value: Any) -> Any:
    if value is None:
        return None
    if spec.kind == "time":
        return _iso(value)
    if spec.kind == "money":
        return str(value)
    return value


def _export_record(section: str, row: dict[str, Any]) -> dict[str, Any]:
    """A storage row as an export record: the schema's fields, in the schema's order."""
    record: dict[str, Any] = {}
    for name, spec in SCHEMAS[section].items():
        if spec.kind == "items":
            record[name] = [_export_record("items", item) for item in row.get(name) or []]
        else:
            record[name] = _export_value(spec, row.get(name))
    return record


CSV_COLUMNS = (
    "created_at",
    "prompt",
    "favorite",
    "model",
    "provider",
    "size",
    "quality",
    "format",
    "status",
    "cost",
    "billing",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "seed",
    "width",
    "height",
    "duration_s",
    "revised_prompt",
    "error",
    "batch",
    "file_path",
    "thumbnail_path",
    "request_id",
    "uid",
)


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: formulas (= + - @, tab, CR first) are defused with
    a leading apostrophe; control characters are dropped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = without_controls(str(value))
    return "'" + text if text.startswith(_CSV_FORMULA) else text


def _csv_bytes(document: dict[str, Any]) -> bytes:
    """One row per generation, local times, ready for a spreadsheet."""
    prompts = {p["text_hash"]: p for p in document["prompts"]}
    batches = {b["uid"]: b["name"] for b in document["batches"]}
    usage = {u["generation"]: u for u in document["usage"] if u["generation"]}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for g in document["generations"]:
        prompt = prompts.get(g["prompt"], {})
        spend = usage.get(g["uid"])
        if spend is None:
            cost, billing = None, "not billed" if g["provider"] == "offline" else "no record"
        elif spend["kind"] == "possibly_billed":
            cost, billing = None, "possibly billed"
        else:
            cost = spend["cost"]
            billing = spend["price_basis"] if cost is not None else "unknown cost"
        tokens = spend or {}
        created = local(dt.datetime.fromisoformat(g["created_at"]))
        duration = g["duration_ms"]
        row = {
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "prompt": prompt.get("text", ""),
            "favorite": bool(prompt.get("is_favorite")),
            "model": g["model"],
            "provider": g["provider"],
            "size": g["size"],
            "quality": g["quality"],
            "format": g["output_format"],
            "status": g["status"],
            "cost": cost,
            "billing": billing,
            "input_tokens": (tokens.get("input_text_tokens") or 0)
            + (tokens.get("input_image_tokens") or 0)
            if spend
            else None,
            "output_tokens": (tokens.get("output_image_tokens") or 0)
            + (tokens.get("output_text_tokens") or 0)
            if spend
            else None,
            "total_tokens": tokens.get("total_tokens") if spend else None,
            "seed": g["seed"],
            "width": g["width"],
            "height": g["height"],
            "duration_s": None if duration is None else f"{duration / 1000:.3f}",
            "revised_prompt": g["revised_prompt"],
            "error": g["error_message"],
            "batch": batches.get(g["batch"]) if g["batch"] else None,
            "file_path": g["file_path"],
            "thumbnail_path": g["thumbnail_path"],
            "request_id": g["request_id"],
            "uid": g["uid"],
        }
        writer.writerow([_csv_cell(row[column]) for column in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _sidecar_relative(relative: str) -> str:
    """Where a JPEG's or WebP's sidecar sits, relative to the images folder."""
    return str(PurePosixPath(relative).with_suffix(".json"))


def _zip_info(name: str, when: dt.datetime) -> zipfile.ZipInfo:
    stamp = max(when.timetuple()[:6], (1980, 1, 1, 0, 0, 0))
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def _write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write through a temp file in the target folder, then rename over ``path``."""
    if path.is_dir():
        raise ValidationError(f"{path} is a folder; give the name of the file to write.")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise StorageError(
            f"Cannot write {path}: {exc.strerror or exc}; nothing was written."
        ) from exc
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise StorageError(
                f"Cannot write {path}: {exc.strerror or exc}; nothing was written."
            ) from exc
        raise
    with contextlib.suppress(OSError):
        fsync_folder(folder)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


# -- reading an import file ---------------------------------------------------------------------


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


@dataclass
class _Source:
    """An opened import file: its document (parsed JSON) and, for a zip, the archive."""

    kind: str  # json, jsonl or zip
    where: str  # how messages name the document: "x.json" or "x.zip: export.json"
    shown: str
    document: dict[str, Any]
    archive: zipfile.ZipFile | None = None
    members: dict[str, zipfile.ZipInfo] = field(default_factory=dict)

    def member_for(self, relative: str | None) -> zipfile.ZipInfo | None:
        if not relative or self.archive is None:
            return None
        return self.members.get(IMAGES_PREFIX + relative)

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _open_source(path: Path, shown: str, limits: ImportLimits) -> _Source:
    """Open ``path`` and tell what it is by its bytes: a zip, or a JSON (Lines) document."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
            if head[:2] == b"PK":
                return _open_zip(path, shown, limits)
            if head[:2] == b"\x1f\x8b":
                raise _refuse(shown, "it is gzip-compressed; unpack it first")
            handle.seek(0)
            data = handle.read(limits.document_bytes + 1)
    except IsADirectoryError as exc:
        raise ImportRefused(f"{path} is a folder, not an export file.") from exc
    except OSError as exc:
        raise ImportRefused(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if len(data) > limits.document_bytes:
        raise _refuse(shown, f"it is over {_mib(limits.document_bytes)}, the most an import reads")
    kind, document = _parse_text(data, shown)
    return _Source(kind=kind, where=shown, shown=shown, document=document)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:,.0f} MiB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _open_zip(path: Path, shown: str, limits: ImportLimits) -> _Source:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _refuse(shown, f"it is not a complete zip file ({exc})") from exc
    try:
        infos = archive.infolist()
        if len(infos) > limits.members:
            raise _refuse(shown, f"it has {len(infos):,} members; at most {limits.members:,}")
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        documents = []
        for info in infos:
            name = info.filename
            place = f"member {_quoted(name)}"
            if name in members:
                raise _refuse(shown, f"{place} appears twice")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise _refuse(shown, f"{place} is a symbolic link")
            if info.flag_bits & 0x1:
                raise _refuse(shown, f"{place} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _refuse(shown, f"{place} is compressed with a method dalletui does not read")
            _check_member_name(name, shown, place)
            if name.endswith("/"):
                continue
            limit = limits.document_bytes if name in ZIP_DOCUMENTS else limits.image_bytes
            if info.file_size > limit:
                raise _refuse(shown, f"{place} is {_mib(info.file_size)}; at most {_mib(limit)}")
            if info.file_size > limits.ratio_floor and info.file_size > limits.ratio * max(
                info.compress_size, 1
            ):
                raise _refuse(
                    shown,
                    f"{place} expands {info.file_size // max(info.compress_size, 1):,} times "
                    f"(at most {limits.ratio}): a zip bomb?",
                )
            total += info.file_size
            if total > limits.total_bytes:
                raise _refuse(
                    shown, f"its members add up to over {_mib(limits.total_bytes)} uncompressed"
                )
            members[name] = info
            if name in ZIP_DOCUMENTS:
                documents.append(name)
        if len(documents) != 1:
            what = "neither export.json nor export.jsonl" if not documents else "both documents"
            raise _refuse(shown, f"it holds {what}; a dalletui export zip holds exactly one")
        name = documents[0]
        data = _read_member(archive, members[name], limits.document_bytes, shown)
        kind, document = _parse_text(data, f"{shown}: {name}")
        if kind != ZIP_DOCUMENTS[name]:
            raise _refuse(f"{shown}: {name}", f"it is {kind}, not what its name says")
    except BaseException:
        archive.close()
        raise
    return _Source(
        kind="zip",
        where=f"{shown}: {name}",
        shown=shown,
        document=document,
        archive=archive,
        members=members,
    )


def _check_member_name(name: str, shown: str, place: str) -> None:
    """Only the document and ``images/...`` under plain names; never out of the folder."""
    if name in ZIP_DOCUMENTS:
        return
    bare = name.rstrip("/")
    if _escapes(bare):
        raise _refuse(shown, f"{place} leaves the images folder")
    if not (name == IMAGES_PREFIX or name.startswith(IMAGES_PREFIX)):
        raise _refuse(shown, f"{place} is not part of a dalletui export")
    inner = bare[len(IMAGES_PREFIX) :]
    if inner and not _REL_PATH.match(inner):
        raise _refuse(shown, f"{place} is not a file name dalletui writes")


def _escapes(text: str) -> bool:
    """A path that is absolute or climbs out with '..' (either slash, any drive)."""
    parts = re.split(r"[\\/]", text)
    return (
        text.startswith(("/", "\\"))
        or bool(re.match(r"^[A-Za-z]:", text))
        or any(part == ".." for part in parts)
    )


#: What reading a damaged member raises: a bad checksum or header (BadZipFile), a broken
#: deflate stream (zlib.error), data cut short (EOFError), an unsupported feature.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, RuntimeError, NotImplementedError)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, shown: str) -> bytes:
    """A member's bytes, never more than its declared size or ``limit`` (the header may lie)."""
    chunks = []
    total = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(1024 * 1024):
                total += len(chunk)
                if total > min(limit, info.file_size):
                    raise _refuse(shown, f"member {_quoted(info.filename)} holds more than it says")
                chunks.append(chunk)
    except (*_DAMAGED, OSError) as exc:
        raise _refuse(shown, f"member {_quoted(info.filename)} is damaged ({exc})") from exc
    return b"".join(chunks)


class _Duplicate(ValueError):
    pass


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Duplicate(key)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _loads(text: str, where: str, line: int | None = None) -> Any:
    at = f"line {line}: " if line is not None else ""
    try:
        return json.loads(
            text,
            object_pairs_hook=_object_pairs,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except _Duplicate as exc:
        raise _refuse(
            where, f"{at}the key {_quoted(exc.args[0])} appears twice in one object"
        ) from exc
    except json.JSONDecodeError as exc:
        lineno = exc.lineno if line is None else line
        raise _refuse(
            where,
            f"not valid JSON at line {lineno}, column {exc.colno} ({exc.msg}); is it cut short?",
        ) from exc
    except RecursionError as exc:
        raise _refuse(where, f"{at}its JSON is nested too deeply") from exc
    except ValueError as exc:
        raise _refuse(where, f"{at}{exc}") from exc


def _parse_text(data: bytes, where: str) -> tuple[str, dict[str, Any]]:
    """Decode and parse a document; returns ("json" | "jsonl", document as one dict).

    JSON Lines is recognised by its first line being a complete ``{"type": "header"}``
    object; its records are gathered into the same sections as a JSON document's, each
    remembering its line (in ``_lines``) for messages.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _refuse(
            where, f"line {line}: the text is not UTF-8 (byte 0x{data[exc.start]:02x})"
        ) from exc
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        raise _refuse(where, "it is not a dalletui export (it does not start with a JSON object)")
    first = stripped.split("\n", 1)[0].strip()
    head: Any = None
    with contextlib.suppress(ImportRefused):  # a JSON document's first line is not JSON
        head = _loads(first, where)
    if isinstance(head, dict) and head.get("type") == "header":
        return "jsonl", _parse_lines(text, where)
    document = _loads(text, where)
    if not isinstance(document, dict):
        raise _refuse(where, "it is not a dalletui export (not a JSON object)")
    return "json", document


def _parse_lines(text: str, where: str) -> dict[str, Any]:
    document: dict[str, Any] = {section: [] for section in SECTIONS}
    lines_of: dict[str, list[int]] = {section: [] for section in SECTIONS}
    header: dict[str, Any] | None = None
    ended: int | None = None
    count = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if ended is not None:
            raise _refuse(where, f"line {number}: there is more after the 'end' line")
        record = _loads(line, where, number)
        if not isinstance(record, dict):
            raise _refuse(where, f"line {number}: a line must hold a JSON object")
        kind = record.pop("type", None)
        if header is None:
            if kind != "header":
                raise _refuse(where, f"line {number}: the first line must be the header")
            header = record
            continue
        if kind == "end":
            records = record.get("records")
            if set(record) != {"records"} or type(records) is not int or records != count:
                raise _refuse(where, f"line {number}: the 'end' line does not match the records")
            ended = number
            continue
        section = LINE_TYPES.get(kind) if isinstance(kind, str) else None
        if section is None:
            raise _refuse(where, f"line {number}: unknown record type {_quoted(kind)}")
        document[section].append(record)
        lines_of[section].append(number)
        count += 1
    if header is None:
        raise _refuse(where, "it is empty")
    if ended is None:
        raise _refuse(where, "it ends before its 'end' line; is it cut short?")
    if set(header) & set(SECTIONS):
        raise _refuse(where, "line 1: the header holds records")
    document.update(header)
    document["_lines"] = lines_of
    return document


# -- checking the records -----------------------------------------------------------------------


def _check_document(document: dict[str, Any], where: str, limits: ImportLimits) -> ImportBundle:
    """Every record checked and converted, every reference resolved within the file.

    (A zip's members were checked as it was opened: names, sizes, ratios; their bytes are
    checked while they are staged.)
    """
    lines_of = document.pop("_lines", None)
    _check_header(document, where)
    unknown = sorted(set(document) - HEADER_KEYS - set(SECTIONS))
    if unknown:
        raise _refuse(where, f"unknown section {_quoted(unknown[0])}")
    total = 0
    sections: dict[str, list[Any]] = {}
    for section in SECTIONS:
        records = document.get(section, [])
        if not isinstance(records, list):
            raise _refuse(where, f"{section}: must be a list of records")
        total += len(records)
        if section == "batches":
            for record in records:
                items = record.get("items") if isinstance(record, dict) else None
                total += len(items) if isinstance(items, list) else 0
        sections[section] = records
    if total > limits.records:
        raise _refuse(where, f"it holds {total:,} records; at most {limits.records:,}")

    def place(section: str, index: int) -> str:
        if lines_of is not None:
            return f"line {lines_of[section][index]}: {SECTION_TYPES[section]}"
        return f"{section}[{index}]"

    bundle = ImportBundle()
    places: dict[tuple[str, int], str] = {}
    for section in SECTIONS:
        checked = []
        for index, raw in enumerate(sections[section]):
            at = place(section, index)
            places[(section, index)] = at
            checked.append(_check_record(section, raw, where, at))
        setattr(bundle, section, checked)
    _check_references(bundle, where, places)
    return bundle


def _check_header(document: dict[str, Any], where: str) -> None:
    name = document.get("format")
    if name != FORMAT_NAME:
        raise _refuse(
            where,
            "it is not a dalletui export (its 'format' is "
            + (_quoted(name) if name is not None else "missing")
            + f", not '{FORMAT_NAME}')",
        )
    version = document.get("version")
    if type(version) is not int:
        raise _refuse(where, f"version: {_quoted(version)} is not a format version number")
    if version > FORMAT_VERSION:
        raise _refuse(
            where,
            f"it was written by a newer dalletui (format version {version}; this dalletui "
            f"reads version {FORMAT_VERSION}): upgrade dalletui to import it",
        )
    if version < 1:
        raise _refuse(where, f"version: {version} is not a format version")
    app = document.get("app_version")
    if app is not None and (not isinstance(app, str) or len(app) > 64):
        raise _refuse(where, "app_version: must be short text")
    if "exported_at" in document:
        _convert(Spec("time"), document["exported_at"], where, "exported_at")
    filters = document.get("filters")
    if filters is not None and not isinstance(filters, dict):
        raise _refuse(where, "filters: must be an object")


def _check_record(section: str, raw: Any, where: str, at: str) -> dict[str, Any]:
    schema = SCHEMAS[section]
    if not isinstance(raw, dict):
        raise _refuse(where, f"{at}: a record must be a JSON object, not {_json_kind(raw)}")
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise _refuse(where, f"{at}: unknown field {_quoted(unknown[0])}")
    record: dict[str, Any] = {}
    for name, spec in schema.items():
        spot = f"{at}.{name}"
        if name not in raw:
            if spec.required:
                raise _refuse(where, f"{spot}: missing")
            value = _fresh(spec.default)
        elif spec.kind == "items":
            value = raw[name]
            if not isinstance(value, list):
                raise _refuse(where, f"{spot}: must be a list of items")
            value = [
                _check_record("items", item, where, f"{spot}[{i}]") for i, item in enumerate(value)
            ]
            positions = [item["position"] for item in value]
            if len(set(positions)) != len(positions):
                raise _refuse(where, f"{spot}: two items have the same position")
        else:
            value = _convert(spec, raw[name], where, spot)
        record[name] = value
    if section == "prompts":
        text = normalize_prompt(record["text"])
        if prompt_hash(text) != record["text_hash"]:
            raise _refuse(where, f"{at}.text_hash: does not match the prompt's text")
        record["text"] = text
    model = MODELS[section]
    values = {k: v for k, v in record.items() if k not in _REFERENCES and k in model._meta.fields}
    problems = model(**values).problems()
    if problems:
        raise _refuse(where, f"{at}: {problems[0].rstrip('.')}")
    if section == "generations":
        _check_image_path(record, where, at)
    return record


def _fresh(value: Any) -> Any:
    return type(value)() if isinstance(value, dict | list) else value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _convert(spec: Spec, value: Any, where: str, spot: str) -> Any:
    """One value checked against its spec and converted to the model's type."""
    if value is None:
        if spec.null:
            return None
        raise _refuse(where, f"{spot}: must not be null")
    kind = spec.kind
    if kind in ("str", "uid", "hash", "path"):
        if not isinstance(value, str):
            raise _refuse(where, f"{spot}: must be text, not {_json_kind(value)}")
        _check_text(value, where, spot)
        if kind == "str" and spec.max is not None and len(value) > spec.max:
            raise _refuse(
                where, f"{spot}: {len(value):,} characters is over the limit of {spec.max:,}"
            )
        if kind == "uid" and not _UID.match(value):
            raise _refuse(where, f"{spot}: {_quoted(value)} is not a uid (32 hex digits)")
        if kind == "hash" and not _HASH.match(value):
            raise _refuse(where, f"{spot}: {_quoted(value)} is not a text hash (64 hex digits)")
        if kind == "path":
            if _escapes(value):
                raise _refuse(where, f"{spot}: {_quoted(value)} leaves the images folder")
            if not _REL_PATH.match(value):
                raise _refuse(
                    where,
                    f"{spot}: {_quoted(value)} is not a path dalletui writes (plain names of "
                    "letters, digits, '.', '_' and '-', with '/' between them)",
                )
        return value
    if kind == "int":
        if type(value) is not int:
            raise _refuse(where, f"{spot}: must be a whole number, not {_json_kind(value)}")
        low = spec.min if spec.min is not None else -INT64 - 1
        if not low <= value <= INT64:
            raise _refuse(where, f"{spot}: {value} is out of range")
        return value
    if kind == "bool":
        if type(value) is not bool:
            raise _refuse(where, f"{spot}: must be true or false, not {_json_kind(value)}")
        return value
    if kind == "time":
        if not isinstance(value, str) or len(value) > 40:
            raise _refuse(where, f"{spot}: must be an ISO 8601 date and time")
        try:
            moment = dt.datetime.fromisoformat(value)
            return local(moment)
        except (ValueError, OverflowError) as exc:
            raise _refuse(
                where, f"{spot}: {_quoted(value)} is not an ISO 8601 date and time"
            ) from exc
    if kind == "money":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _refuse(where, f"{spot}: must be a decimal amount, not {_json_kind(value)}")
        try:
            amount = Decimal(str(value))
        except InvalidOperation as exc:
            raise _refuse(where, f"{spot}: {_quoted(value)} is not an amount") from exc
        if not amount.is_finite() or not abs(amount) < COST_MAX:
            raise _refuse(where, f"{spot}: {_quoted(value)} is out of range")
        return amount
    if kind == "object":
        if not isinstance(value, dict):
            raise _refuse(where, f"{spot}: must be an object, not {_json_kind(value)}")
        _check_json_value(value, where, spot)
        return value
    if kind == "strings":
        if not isinstance(value, list):
            raise _refuse(where, f"{spot}: must be a list of text, not {_json_kind(value)}")
        if len(value) > VALUES_MAX:
            raise _refuse(where, f"{spot}: {len(value):,} values; at most {VALUES_MAX:,}")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise _refuse(where, f"{spot}[{index}]: must be text, not {_json_kind(item)}")
            _check_text(item, where, f"{spot}[{index}]")
            if len(item) > VALUE_MAX_CHARS:
                raise _refuse(where, f"{spot}[{index}]: over {VALUE_MAX_CHARS:,} characters")
        return value
    raise AssertionError(f"unknown spec kind {kind}")  # pragma: no cover - a bug in SCHEMAS


_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _check_text(value: str, where: str, spot: str) -> None:
    bad = _BAD_TEXT.search(value)
    if bad is None:
        return
    if bad.group() == "\x00":
        raise _refuse(where, f"{spot}: holds a NUL character")
    raise _refuse(where, f"{spot}: holds a lone surrogate (not valid Unicode text)")


def _check_json_value(value: Any, where: str, spot: str) -> None:
    def depth(item: Any, level: int) -> None:
        if level > OBJECT_MAX_DEPTH:
            raise _refuse(where, f"{spot}: nested more than {OBJECT_MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, where, spot)
                depth(child, level + 1)
        elif isinstance(item, list):
            for child in item:
                depth(child, level + 1)
        elif isinstance(item, str):
            _check_text(item, where, spot)

    depth(value, 1)
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > OBJECT_MAX_BYTES:
        raise _refuse(where, f"{spot}: {size:,} bytes is over the limit of {OBJECT_MAX_BYTES:,}")


def _check_image_path(record: dict[str, Any], where: str, at: str) -> None:
    for key, allowed in (("file_path", IMAGE_SUFFIXES), ("thumbnail_path", {".png": "PNG"})):
        value = record.get(key)
        if value and Path(value).suffix.lower() not in allowed:
            names = ", ".join(sorted(allowed))
            raise _refuse(where, f"{at}.{key}: {_quoted(value)} is not an image ({names})")


def _check_references(bundle: ImportBundle, where: str, places: dict[tuple[str, int], str]) -> None:
    """Keys are unique within the file, and generations name prompts and batches it holds."""

    def unique(section: str, key: str) -> set[Any]:
        seen: set[Any] = set()
        for index, record in enumerate(getattr(bundle, section)):
            if record[key] in seen:
                raise _refuse(
                    where,
                    f"{places[(section, index)]}.{key}: {_quoted(record[key])} appears twice",
                )
            seen.add(record[key])
        return seen

    unique("templates", "name")
    unique("variables", "name")
    prompts = unique("prompts", "text_hash")
    unique("batches", "uid")
    unique("generations", "uid")
    unique("usage", "uid")
    positions = {b["uid"]: {i["position"] for i in b["items"]} for b in bundle.batches}
    for index, record in enumerate(bundle.generations):
        at = places[("generations", index)]
        if record["prompt"] not in prompts:
            raise _refuse(where, f"{at}.prompt: no prompt of the file has this text hash")
        batch, item = record.get("batch"), record.get("batch_item")
        if batch is not None and batch not in positions:
            raise _refuse(where, f"{at}.batch: no batch of the file has this uid")
        if item is not None and (batch is None or item not in positions[batch]):
            raise _refuse(where, f"{at}.batch_item: the batch has no item at position {item}")


# -- staging images -----------------------------------------------------------------------------


def _image_kind(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


#: The record a staging folder keeps of its files (``journal.json``: not a name ``doctor`` or
#: the trash takes for a generation's file). It is written, and flushed to disk, inside the
#: merge's transaction, before the commit: so whenever rows name files that are still in a
#: staging folder, the folder says which file goes where and what its bytes hash to.
JOURNAL_NAME = "journal.json"
JOURNAL_FORMAT = "dalletui-import-staging"
#: Staging folders of imports running in this process (the pid alone cannot tell an import
#: cut off by an exception from one still running in another thread).
_ACTIVE: set[str] = set()
_ACTIVE_LOCK = threading.Lock()
#: The order a generation's files are moved in: its image last, so that an image in place
#: has its thumbnail and sidecar beside it whenever the moves are cut off (and ``doctor``
#: never finds half a set to make again); each missing file is put back on its own.
_MOVE_ORDER = {"sidecar": 0, "thumbnail": 1, "file": 2}


@dataclass
class _Placed:
    """One file of a generation: staged here, to be moved there after the commit."""

    uid: str
    generation_id: int
    role: str  # file, thumbnail or sidecar
    staged: Path
    target: Path
    sha256: str
    already_there: bool = False


@dataclass
class _Staged:
    """A staged copy of one zip member, with the hash of its bytes."""

    path: Path
    sha256: str


@dataclass
class _Repair:
    """Files put back for a generation already here (matched by uid) whose files are missing:
    a row with ``file_path`` set but no file, or none recorded (a JSON import) while the zip
    holds the image. ``before`` is what the row recorded when it was read."""

    uid: str
    generation_id: int
    before: tuple[str | None, str | None]
    moves: list[_Placed]

    def after(self) -> tuple[str | None, str | None]:
        paths = {move.role: str(move.target) for move in self.moves}
        return paths.get("file", self.before[0]), paths.get("thumbnail", self.before[1])


@dataclass
class _Wanted:
    """A file to stage: the member, what it must be, and (for a repair) where it goes."""

    role: str
    member: zipfile.ZipInfo
    kind: str
    target: Path | None = None


class _InterruptsHeld:
    """Ctrl-C (SIGINT) held back from the commit until the staged files are in place.

    Once the rows naming the images are committed, stopping half-way through the moves would
    leave rows without their files. So from just before the commit to the end of the moves a
    SIGINT is only noted; afterwards the previous handler is put back and given it (Python's
    default raises KeyboardInterrupt there). Only the main thread can set signal handlers;
    elsewhere (a TUI worker) nothing changes, and the journal is what makes a cut repairable.
    """

    def __init__(self) -> None:
        self.previous: Any = None
        self.holding = False
        self.received = False

    def start(self) -> None:
        if self.holding or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is None:  # set outside Python: it could not be put back
            return
        try:
            signal.signal(signal.SIGINT, self._note)
        except (ValueError, OSError):  # not the main interpreter
            return
        self.previous = previous
        self.holding = True

    def _note(self, signum: int, frame: Any) -> None:
        self.received = True

    def __enter__(self) -> _InterruptsHeld:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: Any, tb: Any) -> None:
        if not self.holding:
            return
        self.holding = False
        signal.signal(signal.SIGINT, self.previous)
        if not self.received or kind is not None:
            return  # an exception on its way out stops the command anyway
        if callable(self.previous):
            self.previous(signal.SIGINT, None)  # default_int_handler: KeyboardInterrupt
        elif self.previous == signal.SIG_DFL:
            signal.raise_signal(signal.SIGINT)


class _Staging:
    """Images of an import, staged in ``<images>/.import-staging-<pid>-<token>/``.

    Names inside are not generation-like (``000001.part``, ``journal.json``), so ``dalletui
    doctor`` and the trash never mistake them for a generation's files. A staging folder left
    by an import that is no longer running is settled by the next import (``_rescue``).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created_root = False
        self.folder: Path | None = None
        self.by_uid: dict[str, dict[str, _Staged]] = {}
        self.placed: dict[str, list[_Placed]] = {}
        self.repairs: dict[str, _Repair] = {}
        self.problems: list[str] = []
        self.count = 0

    def _ensure_folder(self) -> Path:
        if self.folder is None:
            if not self.root.exists():
                self.root.mkdir(parents=True)
                self.created_root = True
            token = os.urandom(6).hex()
            folder = self.root / f"{STAGING_PREFIX}{os.getpid()}-{token}"
            with _ACTIVE_LOCK:
                folder.mkdir()
                _ACTIVE.add(folder.name)
            self.folder = folder
        return self.folder

    def _copy(
        self, source: _Source, wanted: list[_Wanted], limits: ImportLimits
    ) -> dict[str, _Staged]:
        folder = self._ensure_folder()
        files: dict[str, _Staged] = {}
        for item in wanted:
            self.count += 1
            target = folder / f"{self.count:06d}.part"
            files[item.role] = _Staged(
                target, _copy_member(source, item.member, target, item.kind, limits)
            )
        return files

    def stage(self, source: _Source, record: dict[str, Any], limits: ImportLimits) -> None:
        """Copy a new generation's image, thumbnail and sidecar (those the zip holds)."""
        image = source.member_for(record.get("file_path"))
        if image is None:
            return
        wanted = [_Wanted("file", image, IMAGE_SUFFIXES[Path(image.filename).suffix.lower()])]
        thumb = source.member_for(record.get("thumbnail_path"))
        if thumb is not None:
            wanted.append(_Wanted("thumbnail", thumb, "PNG"))
        if Path(image.filename).suffix.lower() != ".png":
            sidecar = source.member_for(_sidecar_relative(record["file_path"]))
            if sidecar is not None:
                wanted.append(_Wanted("sidecar", sidecar, "JSON"))
        self.by_uid[record["uid"]] = self._copy(source, wanted, limits)

    def plan_repair(
        self, source: _Source, record: dict[str, Any], here: dict[str, Any]
    ) -> list[_Wanted]:
        """The files of a generation already here that are missing and that the zip holds,
        each with where it goes: where the row says if that is inside the images folder, else
        where a new generation's would go (named by its id here; a file already there is
        checked by ``settle_repairs``)."""
        if here["deleted_at"] is not None:
            return []  # the trash keeps its own files
        folder = ImageStore(self.root).folder_for(local(here["created_at"]))
        wanted: list[_Wanted] = []
        image = source.member_for(record.get("file_path"))
        if image is not None and not _is_file(here["file_path"]):
            suffix = _suffix(image.filename)
            target = self._inside(here["file_path"], {suffix}) or (folder / f"{here['id']}{suffix}")
            wanted.append(_Wanted("file", image, IMAGE_SUFFIXES[suffix], target))
            sidecar = source.member_for(_sidecar_relative(record["file_path"]))
            beside = sidecar_path(target)
            if suffix != ".png" and sidecar is not None and not beside.exists():
                wanted.append(_Wanted("sidecar", sidecar, "JSON", beside))
        thumb = source.member_for(record.get("thumbnail_path"))
        if thumb is not None and not _is_file(here["thumbnail_path"]):
            target = self._inside(here["thumbnail_path"], {".png"}) or (
                folder / "thumbs" / f"{here['id']}.png"
            )
            wanted.append(_Wanted("thumbnail", thumb, "PNG", target))
        return wanted

    def _inside(self, recorded: str | None, suffixes: set[str]) -> Path | None:
        """``recorded`` when it is a path dalletui writes inside the images folder."""
        if not recorded:
            return None
        for root in _roots(self.root):
            if recorded.startswith(root):
                relative = recorded[len(root) :].replace(os.sep, "/")
                if _REL_PATH.match(relative) and _suffix(relative) in suffixes:
                    return self.root / relative
        return None

    def stage_repair(
        self, source: _Source, record: dict[str, Any], here: dict[str, Any], limits: ImportLimits
    ) -> None:
        """Copy in the missing files of a generation already here (see ``plan_repair``)."""
        wanted = self.plan_repair(source, record, here)
        if not wanted:
            return
        files = self._copy(source, wanted, limits)
        moves = []
        for item in wanted:
            assert item.target is not None
            staged = files[item.role]
            moves.append(
                _Placed(
                    record["uid"], here["id"], item.role, staged.path, item.target, staged.sha256
                )
            )
        before = (here["file_path"], here["thumbnail_path"])
        self.repairs[record["uid"]] = _Repair(record["uid"], here["id"], before, _ordered(moves))

    def settle_repairs(self) -> None:
        """Before the transaction: a repair's target taken by a file meanwhile is kept if it
        holds the same bytes; another file there is left alone and that file not put back
        (a repair never refuses the import)."""
        for uid, repair in list(self.repairs.items()):
            kept = []
            dropped: set[str] = set()
            for move in repair.moves:
                if not move.target.exists() and not move.target.is_symlink():
                    kept.append(move)
                elif move.target.is_file() and _same_bytes(move.staged, move.target):
                    move.already_there = True
                    kept.append(move)
                else:
                    dropped.add(move.role)
                    self.problems.append(
                        f"{move.target} already exists and is another file; the {move.role} "
                        f"of generation {repair.generation_id} was not restored."
                    )
            if "file" in dropped:
                kept = [m for m in kept if m.role != "sidecar"]
            repair.moves = kept
            if not kept:
                del self.repairs[uid]

    def path_repairs(self) -> dict[str, PathRepair]:
        return {
            uid: PathRepair(before=repair.before, after=repair.after())
            for uid, repair in self.repairs.items()
        }

    def place(self, record: dict[str, Any], generation_id: int) -> tuple[str | None, str | None]:
        """The paths a new generation records: named by its id in its month folder."""
        files = self.by_uid.get(record["uid"])
        if not files:
            return None, None
        uid = record["uid"]
        folder = ImageStore(self.root).folder_for(record["created_at"])
        image = folder / f"{generation_id}{_suffix(record['file_path'])}"
        moves = [
            _Placed(uid, generation_id, "file", files["file"].path, image, files["file"].sha256)
        ]
        thumbnail = None
        if "thumbnail" in files:
            thumbnail = folder / "thumbs" / f"{generation_id}.png"
            staged = files["thumbnail"]
            moves.append(
                _Placed(uid, generation_id, "thumbnail", staged.path, thumbnail, staged.sha256)
            )
        if "sidecar" in files:
            staged = files["sidecar"]
            moves.append(
                _Placed(
                    uid, generation_id, "sidecar", staged.path, sidecar_path(image), staged.sha256
                )
            )
        self.placed[uid] = _ordered(moves)
        return str(image), str(thumbnail) if thumbnail else None

    def check_targets(self, result: MergeResult) -> None:
        """Inside the transaction: no file is ever overwritten. A file already at a target
        with the same bytes is kept; another file there refuses the import."""
        for uid in list(self.placed):
            if uid not in result.new_generation_ids:
                del self.placed[uid]
        for uid in list(self.repairs):
            if uid not in result.repaired:
                del self.repairs[uid]
        for move in self._moves():
            if move.already_there or (not move.target.exists() and not move.target.is_symlink()):
                continue
            if move.target.is_file() and _same_bytes(move.staged, move.target):
                move.already_there = True
                continue
            raise ImportRefused(
                f"Refused the import: {move.target} already exists and is another file "
                "(`dalletui doctor` moves files no row knows aside); nothing was imported."
            )

    def _moves(self) -> list[_Placed]:
        """Every move, in the order they are made: generation by generation (by id)."""
        groups = [*self.placed.values(), *(r.moves for r in self.repairs.values())]
        groups.sort(key=lambda moves: moves[0].generation_id if moves else 0)
        return [move for moves in groups for move in moves]

    def write_journal(self) -> None:
        """Inside the transaction, last: the record that lets a cut-off import be finished
        (see ``JOURNAL_NAME``), flushed to disk before the rows that name the files commit."""
        if self.folder is None:
            return
        files = [
            {
                "uid": move.uid,
                "id": move.generation_id,
                "role": move.role,
                "staged": move.staged.name,
                "target": move.target.relative_to(self.root).as_posix(),
                "sha256": move.sha256,
            }
            for move in self._moves()
            if not move.already_there
        ]
        data = json.dumps({"format": JOURNAL_FORMAT, "version": 1, "files": files}).encode()
        path = self.folder / JOURNAL_NAME
        try:
            with path.open("xb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise StorageError(
                f"Cannot write {path}: {exc.strerror or exc}; nothing was imported."
            ) from exc
        fsync_folder(self.folder)

    def move_in(self) -> tuple[int, int]:
        """After the commit: move every staged file into place, in ``_moves`` order (each a
        link then an unlink, never over another file). Returns (images copied for new
        generations, generations whose files were restored); problems go to ``problems``."""
        copied = 0
        restored: set[str] = set()
        failed: set[str] = set()
        folders: set[Path] = set()
        for move in self._moves():
            try:
                if not move.already_there:
                    move.target.parent.mkdir(parents=True, exist_ok=True)
                    _move_no_overwrite(move.staged, move.target)
                    folders.add(move.target.parent)
            except OSError as exc:
                failed.add(move.uid)
                self.problems.append(
                    f"Could not move {move.staged} to {move.target}: {exc.strerror or exc}; "
                    f"it was left in {self.folder} for the next import to move in."
                )
                continue
            if move.uid in self.repairs:
                restored.add(move.uid)
            elif move.role == "file":
                copied += 1
        for folder in folders:
            with contextlib.suppress(OSError):
                fsync_folder(folder)
        for problem in self.problems:
            log.warning("import: %s", problem)
        if not failed:
            self.discard(keep_root=True)
        return copied, len(restored)

    def discard(self, *, keep_root: bool = False) -> None:
        """Remove the staging folder (and the images folder if this import made it)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.close()
        if self.created_root and not keep_root:
            with contextlib.suppress(OSError):
                self.root.rmdir()

    def close(self) -> None:
        """This import is over: a folder it leaves is settled by the next import."""
        if self.folder is not None:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self.folder.name)
            self.folder = None


def _ordered(moves: list[_Placed]) -> list[_Placed]:
    return sorted(moves, key=lambda move: _MOVE_ORDER[move.role])


def _suffix(name: str) -> str:
    """An image's suffix as dalletui names files (``.jpeg`` becomes ``.jpg``)."""
    return PurePosixPath(name).suffix.lower().replace(".jpeg", ".jpg")


def _is_file(recorded: str | None) -> bool:
    return bool(recorded) and Path(recorded).is_file()  # type: ignore[arg-type]


@dataclass
class _Rescue:
    """What settling the staging folders of imports that no longer run did."""

    restored: int = 0
    problems: list[str] = field(default_factory=list)


def _rescue(root: Path, rows_of: Callable[[list[str]], dict[str, dict[str, Any]]]) -> _Rescue:
    """Settle the staging folders of imports that are not running (their process is gone, or
    it is this one and the import ended): files that committed rows name and whose files are
    missing are moved in, after their bytes are checked against the journal's SHA-256; what
    nothing needs (no row names it, or the row has its file) is deleted; a file that is needed
    but fails the check is kept, with a problem said, and the folder with it."""
    outcome = _Rescue()
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return outcome
    own = os.getpid()
    for entry in entries:
        match = _STAGING.match(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(match.group(1))
        with _ACTIVE_LOCK:
            running = entry.name in _ACTIVE if pid == own else process_alive(pid)
        if running:
            continue
        files = _read_journal(entry)
        kept = _settle_folder(root, entry, files, rows_of, outcome) if files else 0
        if not kept:
            shutil.rmtree(entry, ignore_errors=True)
    return outcome


def _read_journal(folder: Path) -> list[dict[str, str]]:
    """The journal's entries; none if it is missing or unreadable (then the import was cut
    off before its commit, and no row names the staged files)."""
    try:
        loaded = json.loads((folder / JOURNAL_NAME).read_bytes())
    except (OSError, ValueError):
        return []
    if not isinstance(loaded, dict) or loaded.get("format") != JOURNAL_FORMAT:
        return []
    entries = loaded.get("files")
    keys = ("uid", "role", "staged", "target", "sha256")
    if not isinstance(entries, list):
        return []
    good = []
    for item in entries:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in keys):
            continue
        if (
            _UID.match(item["uid"])
            and item["role"] in _MOVE_ORDER
            and re.fullmatch(r"\d{6,}\.part", item["staged"])
            and _REL_PATH.match(item["target"])
            and _HASH.match(item["sha256"])
        ):
            good.append(item)
    return good


def _settle_folder(
    root: Path,
    folder: Path,
    files: list[dict[str, str]],
    rows_of: Callable[[list[str]], dict[str, dict[str, Any]]],
    outcome: _Rescue,
) -> int:
    """Move in what rows need from one left-over staging folder; returns how many files
    had to be kept there."""
    rows = rows_of(sorted({item["uid"] for item in files}))
    roots = _roots(root)
    kept = 0
    restored: set[str] = set()
    folders: set[Path] = set()
    for item in files:
        staged = folder / item["staged"]
        if not staged.is_file():
            continue  # moved in before the cut
        target = root / item["target"]
        row = rows.get(item["uid"])
        recorded = None
        if row is not None and row["deleted_at"] is None:
            recorded = row["thumbnail_path"] if item["role"] == "thumbnail" else row["file_path"]
        relative = _relative(recorded, roots)
        if item["role"] == "sidecar" and relative is not None:
            relative = _sidecar_relative(relative)
        if row is None or relative != item["target"]:
            continue  # no row names this file (any more): not needed
        if target.exists() or target.is_symlink():
            continue  # the row has its file (this one, moved in before the cut, or another)
        if _sha256(staged) != item["sha256"]:
            kept += 1
            outcome.problems.append(
                f"{staged} does not hold the bytes its import staged for generation "
                f"{row['id']}; it was kept there, not moved to {target}."
            )
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _move_no_overwrite(staged, target)
        except FileNotFoundError:
            continue  # another import moved it in meanwhile
        except OSError as exc:
            kept += 1
            outcome.problems.append(
                f"Could not move {staged} to {target}: {exc.strerror or exc}; it was kept there."
            )
            continue
        folders.add(target.parent)
        restored.add(item["uid"])
    for moved_to in folders:
        with contextlib.suppress(OSError):
            fsync_folder(moved_to)
    outcome.restored += len(restored)
    return kept


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _copy_member(
    source: _Source, info: zipfile.ZipInfo, target: Path, kind: str, limits: ImportLimits
) -> str:
    """Copy one member to ``target``, counting real bytes and checking what they are; returns
    the SHA-256 of what was written."""
    assert source.archive is not None
    place = f"member {_quoted(info.filename)}"
    limit = min(limits.image_bytes, info.file_size)
    total = 0
    head = b""
    digest = hashlib.sha256()
    try:
        with source.archive.open(info) as member, target.open("xb") as out:
            while chunk := member.read(1024 * 1024):
                total += len(chunk)
                if total > limit:
                    raise _refuse(source.shown, f"{place} holds more than it says")
                if len(head) < 16:
                    head += chunk[:16]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except ImportRefused:
        raise
    except OSError as exc:
        raise StorageError(
            f"Cannot stage images in {target.parent}: {exc.strerror or exc}; nothing was imported."
        ) from exc
    except _DAMAGED as exc:
        raise _refuse(source.shown, f"{place} is damaged ({exc})") from exc
    if kind == "JSON":
        try:
            loaded = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _refuse(source.shown, f"{place} is not a JSON sidecar") from exc
        if not isinstance(loaded, dict):
            raise _refuse(source.shown, f"{place} is not a JSON sidecar")
    elif _image_kind(head) != kind:
        raise _refuse(source.shown, f"{place} is not a {kind} image")
    return digest.hexdigest()


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        with a.open("rb") as fa, b.open("rb") as fb:
            while True:
                ca, cb = fa.read(1 << 20), fb.read(1 << 20)
                if ca != cb:
                    return False
                if not ca:
                    return True
    except OSError:
        return False


def _move_no_overwrite(staged: Path, target: Path) -> None:
    """Rename ``staged`` to ``target`` unless something is there (a hard link refuses
    atomically; where links are not supported, check then rename). Cut off between the link
    and the unlink, both names hold the same bytes: the rescue deletes the staged one."""
    try:
        os.link(staged, target)
    except FileExistsError:
        if not _same_bytes(staged, target):
            raise
    except FileNotFoundError:
        raise
    except OSError:
        if target.exists():
            raise FileExistsError(17, "a file is already there", str(target)) from None
        os.rename(staged, target)
        return
    staged.unlink()
