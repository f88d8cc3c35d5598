"""``import-images``: make a folder of images from other tools searchable history.

Each PNG, JPEG or WebP found (folders are walked recursively, symlinked folders not followed)
is read once: decoded fully (a truncated or damaged file is listed, not imported), its metadata
interpreted by ``image_sources``, then copied into the images folder as it is, with a
thumbnail, and recorded as a prompt use and a succeeded generation whose provider is the tool
that made it. No ledger row: dalletui billed nothing. A file whose content was imported before
is skipped (its SHA-256 is the generation's ``uid``). What cannot be read is listed, one line
each, with the reason.

Bounds: files over ``MAX_FILE_BYTES`` and images over Pillow's pixel limit are refused before
decoding; texts, JSON and graphs are bounded in ``metadata`` and ``image_sources``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from dalletui import timeutil
from dalletui.errors import DalleTuiError
from dalletui.generation import metadata
from dalletui.generation.files import (
    EXTENSIONS,
    ImageStore,
    SavedImage,
    sidecar_path,
    thumbnail_png,
)
from dalletui.services.image_sources import FoundPrompt, NoPrompt, find_prompt
from dalletui.storage import DatabaseManager
from dalletui.storage.models import (
    PROMPT_MAX_CHARS,
    QUALITIES,
    SIZE_PATTERN,
    normalize_prompt,
    strip_controls,
)

log = logging.getLogger(__name__)

#: The suffixes looked for inside folders (a file named on the command line is tried whatever
#: its name).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: A larger file is not read.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: A larger sidecar JSON is not read.
MAX_SIDECAR_BYTES = 1024 * 1024
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}

IMPORTED, DUPLICATE, UNREADABLE, READABLE = "imported", "duplicate", "unreadable", "readable"


@dataclass(frozen=True)
class ImportedFile:
    """What happened to one file: imported, duplicate, unreadable, or readable (dry run)."""

    path: Path
    status: str
    reason: str = ""
    source: str | None = None
    prompt: str | None = None
    model: str | None = None
    generation_id: int | None = None
    prompt_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "status": self.status,
            "reason": self.reason or None,
            "source": self.source,
            "prompt": self.prompt,
            "model": self.model,
            "generation_id": self.generation_id,
            "prompt_id": self.prompt_id,
        }


@dataclass
class ImageImportReport:
    """Every file looked at, in order."""

    files: list[ImportedFile] = field(default_factory=list)
    dry_run: bool = False

    def count(self, status: str) -> int:
        return sum(1 for item in self.files if item.status == status)

    @property
    def anything_read(self) -> bool:
        """True when at least one file's prompt could be read (imported, duplicate or dry run)."""
        return any(item.status != UNREADABLE for item in self.files)


class _Unreadable(Exception):
    """A file that is listed instead of imported; ``str()`` is the reason."""


class ImageImportService:
    """Reads images made by other tools and records them as history."""

    def __init__(self, db: DatabaseManager, images: ImageStore) -> None:
        self.db = db
        self.images = images

    def find_files(self, paths: Iterable[Path]) -> Iterator[tuple[Path, str | None]]:
        """Each file to look at, with a reason when it cannot even be looked at."""
        for path in paths:
            path = Path(path)
            try:
                is_dir = path.is_dir()
                exists = is_dir or path.exists()
            except OSError as error:
                yield path, _reason(error)
                continue
            if not exists:
                yield path, "does not exist"
            elif not is_dir:
                yield path, None
            else:
                yield from self._walk(path)

    @staticmethod
    def _walk(folder: Path) -> Iterator[tuple[Path, str | None]]:
        problems: list[OSError] = []
        for root, dirs, names in os.walk(folder, onerror=problems.append):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith("."):
                    yield Path(root) / name, None
            while problems:
                error = problems.pop()
                yield Path(error.filename or root), _reason(error)

    def import_paths(
        self,
        paths: Iterable[Path],
        *,
        dry_run: bool = False,
        on_file: Callable[[ImportedFile], None] | None = None,
    ) -> ImageImportReport:
        """Import every image under ``paths``; ``on_file`` hears of each as it is done."""
        report = ImageImportReport(dry_run=dry_run)
        for path, problem in self.find_files(paths):
            if problem is not None:
                item = ImportedFile(path, UNREADABLE, problem)
            else:
                item = self.import_file(path, dry_run=dry_run)
            report.files.append(item)
            if on_file is not None:
                on_file(item)
        return report

    def import_file(self, path: Path, *, dry_run: bool = False) -> ImportedFile:
        """Import one image file (or say why not)."""
        if self._is_ours(path):
            return ImportedFile(path, UNREADABLE, "is in dalletui's own images folder already")
        try:
            data, stat = self._read(path)
            image = _decode(data)
        except _Unreadable as why:
            return ImportedFile(path, UNREADABLE, str(why))
        with image:
            return self._import(path, image, data, stat, dry_run)

    def _is_ours(self, path: Path) -> bool:
        try:
            return path.resolve().is_relative_to(self.images.root.resolve())
        except (OSError, RuntimeError):
            return False

    def _import(
        self, path: Path, image: Image.Image, data: bytes, stat: os.stat_result, dry_run: bool
    ) -> ImportedFile:
        try:
            found = self._prompt_of(path, image, data)
        except _Unreadable as why:
            return ImportedFile(path, UNREADABLE, str(why))
        clean = normalize_prompt(found.prompt)
        prompt, truncated = clean[:PROMPT_MAX_CHARS].strip(), len(clean) > PROMPT_MAX_CHARS
        if not prompt:
            return ImportedFile(path, UNREADABLE, "its prompt is empty", source=found.source)
        digest = hashlib.sha256(data).hexdigest()
        key = digest[:32]
        shown: dict[str, Any] = {"source": found.source, "prompt": prompt, "model": found.model}
        try:
            earlier = self.db.imported_generation(key)
            if earlier is not None:
                return ImportedFile(
                    path,
                    DUPLICATE,
                    f"already imported as image #{earlier.id}",
                    generation_id=earlier.id,
                    prompt_id=earlier.prompt_id,
                    **shown,
                )
            if dry_run:
                return ImportedFile(path, READABLE, **shown)
            values = self._values(path, image, found, digest, stat, truncated)
            try:
                thumbnail = thumbnail_png(image)  # before the transaction: it takes a while
            except Exception as error:  # noqa: BLE001 - an odd mode or palette Pillow refuses
                return ImportedFile(path, UNREADABLE, f"cannot be made a thumbnail ({error})")
            written: list[Path] = []

            def place(generation_id: int) -> dict[str, Any]:
                saved = self.images.place_copy(
                    generation_id, data, image, values["created_at"], thumbnail
                )
                written.extend([saved.path, saved.thumbnail_path])
                return _paths(saved)

            try:
                row = self.db.add_imported_image(prompt, key, values, place)
            except BaseException:
                for done in written:  # the row did not land: its files go too
                    with contextlib.suppress(OSError):
                        done.unlink(missing_ok=True)
                raise
        except DalleTuiError as error:
            return ImportedFile(path, UNREADABLE, f"could not be imported: {error}", **shown)
        if row is None:
            return ImportedFile(path, DUPLICATE, "imported by another dalletui just now", **shown)
        return ImportedFile(path, IMPORTED, generation_id=row.id, prompt_id=row.prompt_id, **shown)

    # -- steps -----------------------------------------------------------------------------

    @staticmethod
    def _read(path: Path) -> tuple[bytes, os.stat_result]:
        try:
            stat = path.stat()
            if not path.is_file():
                raise _Unreadable("is not a file")
            if stat.st_size > MAX_FILE_BYTES:
                raise _Unreadable(f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
            with path.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise _Unreadable(_reason(error)) from error
        if not data:
            raise _Unreadable("is empty")
        if len(data) > MAX_FILE_BYTES:
            raise _Unreadable(f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        return data, stat

    def _prompt_of(self, path: Path, image: Image.Image, data: bytes) -> FoundPrompt:
        try:
            fields = metadata.embedded_text(image, data)
        except Exception as error:  # noqa: BLE001 - hostile metadata is "unreadable", listed
            raise _Unreadable(f"its metadata cannot be read ({type(error).__name__})") from error
        try:
            return find_prompt(fields, _sidecar(path) if image.format != "PNG" else None)
        except NoPrompt as why:
            raise _Unreadable(str(why)) from why

    @staticmethod
    def _values(
        path: Path,
        image: Image.Image,
        found: FoundPrompt,
        digest: str,
        stat: os.stat_result,
        truncated: bool,
    ) -> dict[str, Any]:
        """The generation row's fields for an imported image."""
        width, height = image.size
        size = f"{width}x{height}"
        created = _when(found.created) or dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
        params: dict[str, Any] = {
            "import_source": found.source,
            "source_file": strip_controls(path.name)[:255],
            "source_sha256": digest,
            "imported_at": timeutil.now().isoformat(),
            "settings": found.settings,
        }
        if found.negative_prompt:
            negative = strip_controls(found.negative_prompt).strip()
            params["negative_prompt"] = negative[:PROMPT_MAX_CHARS]
        if truncated:
            params["prompt_truncated"] = True
        if found.seed is None and "seed" in found.settings:
            params["seed"] = str(found.settings["seed"])
        revised = strip_controls(found.revised_prompt or "").strip()[:PROMPT_MAX_CHARS]
        model = strip_controls(found.model or "").strip() or "unknown"
        return {
            "provider": found.source[:32],
            "model": model[:64],
            "size": size if SIZE_PATTERN.match(size) else "auto",
            "quality": found.quality if found.quality in QUALITIES else "auto",
            "output_format": _FORMATS[image.format or "PNG"],
            "background": "auto",
            "status": "succeeded",
            "revised_prompt": revised or None,
            "width": width,
            "height": height,
            "seed": found.seed,
            "params": params,
            "created_at": timeutil.local(created),
            "finished_at": timeutil.now(),
        }


def _decode(data: bytes) -> Image.Image:
    """``data`` opened and fully decoded, or ``_Unreadable`` saying what is wrong with it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = metadata.open_image(data)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _Unreadable("has more pixels than an image may have") from error
    except Exception as error:  # noqa: BLE001 - Pillow raises many types: all mean "not an image"
        if _looks_like_an_image(data):
            raise _Unreadable(f"is damaged or truncated ({_detail(error)})") from error
        raise _Unreadable("is not a PNG, JPEG or WebP image") from error
    if image.format not in EXTENSIONS:
        image.close()
        raise _Unreadable(f"is a {image.format or 'unknown'} image, not PNG, JPEG or WebP")
    try:
        image.load()
    except Exception as error:  # noqa: BLE001
        image.close()
        raise _Unreadable(f"is damaged or truncated ({_detail(error)})") from error
    return image


#: Python object reprs inside Pillow's messages ("cannot identify image file <_io.BytesIO
#: object at 0x7f…>"): noise to a user, so they are left out.
_OBJECT_REPR = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")


def _detail(error: Exception) -> str:
    """What Pillow said went wrong, short and without Python object reprs."""
    detail = _OBJECT_REPR.sub("", str(error)).strip() or type(error).__name__
    return detail[:80]


def _looks_like_an_image(data: bytes) -> bool:
    """The file starts like a PNG, JPEG or WebP (so a failure to open it is damage)."""
    return data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )


def _sidecar(path: Path) -> dict[str, Any] | None:
    """An older dalletui save's sidecar JSON beside a JPEG or WebP, if there is one."""
    sidecar = sidecar_path(path)
    try:
        if not sidecar.is_file() or sidecar.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        loaded = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _when(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return timeutil.local(value)
    except (OverflowError, ValueError, OSError):
        return None


def _paths(saved: SavedImage) -> dict[str, Any]:
    return {"file_path": str(saved.path), "thumbnail_path": str(saved.thumbnail_path)}


def _reason(error: OSError) -> str:
    """An OS error as the end of a sentence: 'permission denied', 'is a folder', ..."""
    text = (error.strerror or str(error) or type(error).__name__).rstrip(".").lower()
    return f"cannot be read: {text}"
