"""The image file store: atomic writes under ``<home>/images/YYYY/MM/<id>.<ext>`` plus thumbnails.

Layout: ``root/2026/11/42.png`` with ``root/2026/11/thumbs/42.png`` (256 px on the long edge,
RGB or RGBA PNG). Files are named by generation id, never by prompt text.

Metadata. PNG images carry it as text chunks (``tEXt`` for plain ASCII values, ``iTXt`` for
anything else, e.g. a prompt with emoji), plus ``Software`` and an AUTOMATIC1111-style
``parameters`` chunk that PNG Info, Civitai and sd-parsers read (``metadata.parameters_text``).
The chunks are spliced into the PNG byte stream just before the first ``IDAT``: the pixel data
stays byte-for-byte what the provider sent, and there is no re-compression (Pillow re-encoding a
1536x1024 PNG takes about a second). JPEG and WebP images get EXIF and XMP inserted without
re-encoding (``metadata.embed_jpeg`` / ``embed_webp``): the image data bytes stay what the
provider sent. A sidecar ``<id>.json`` beside the image is written only where that could not be
done whole (a file whose structure is not understood, or text too long for a JPEG segment).

Every file is written to a temporary file in its final folder, flushed, fsynced and renamed into
place; the folder is fsynced where the platform allows. If any file of a save fails, the files
already written for it are removed, so a failed save leaves nothing behind. ``save`` is blocking:
call it from a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import secrets
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageOps

from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation import metadata as embedded

THUMBNAIL_EDGE = 256
#: Pillow format name -> file extension.
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
_REQUESTED = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


def extension_for(output_format: str) -> str:
    """The file extension for a requested format (``png`` for one it does not know)."""
    return EXTENSIONS[_REQUESTED.get(output_format.lower(), "PNG")]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = {b"tEXt", b"iTXt", b"zTXt"}
_COMPRESS_OVER = 1024  # bytes of UTF-8 text above which an iTXt chunk is zlib-compressed
#: PNG chunks written for other tools, not part of dalletui's own fields (``read_metadata``).
_FOR_OTHER_TOOLS = ("parameters", "Software")
_HOME_HINT = "DALLETUI_HOME"


@dataclass(frozen=True)
class SavedImage:
    """Where a saved image and its thumbnail live, and what was written."""

    path: Path
    thumbnail_path: Path
    width: int
    height: int
    bytes_written: int


class ImageStore:
    """Saves, reads and deletes generated images under ``root`` (``<home>/images``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder_for(self, created_at: datetime) -> Path:
        """The month folder an image created at ``created_at`` goes into."""
        return self.root / f"{created_at.year:04d}" / f"{created_at.month:02d}"

    def save(
        self,
        generation_id: int,
        data: bytes,
        output_format: str,
        metadata: dict[str, str],
        created_at: datetime,
    ) -> SavedImage:
        """Write the image, its metadata and its thumbnail atomically; all or nothing."""
        folder = self.folder_for(created_at)
        if output_format.lower() not in _REQUESTED:
            raise GenerationError(
                ErrorKind.FILESYSTEM,
                f"Cannot save image {generation_id} in {folder}: the format {output_format!r} "
                "is not one of png, jpeg or webp.",
            )
        image, pil_format = _decode(data, generation_id, folder)
        # Trust the bytes over the label: a file's extension must match its contents.
        ext = EXTENSIONS[pil_format]
        fields = {
            **metadata,
            "generation_id": str(generation_id),
            "created": created_at.isoformat(),
        }
        path = folder / f"{generation_id}.{ext}"
        thumbs = folder / "thumbs"
        thumbnail_path = thumbs / f"{generation_id}.png"

        for key in fields:
            _png_keyword(key)  # same rules for every format, so metadata moves between them
        try:
            image_bytes, needs_sidecar = _with_metadata(data, pil_format, fields, image)
        except ValueError as error:
            raise _undecodable(generation_id, folder, str(error)) from error
        files = [(path, image_bytes)]
        if needs_sidecar:
            files.append((sidecar_path(path), _sidecar_bytes(fields)))
        files.append((thumbnail_path, thumbnail_png(image)))
        self._write_all(files, folder, thumbs)
        return SavedImage(
            path=path,
            thumbnail_path=thumbnail_path,
            width=image.width,
            height=image.height,
            bytes_written=len(image_bytes),
        )

    def place_copy(
        self,
        generation_id: int,
        data: bytes,
        image: Image.Image,
        created_at: datetime,
        thumbnail: bytes | None = None,
    ) -> SavedImage:
        """Copy an image in exactly as it is (``import-images``), with a thumbnail.

        ``image`` is ``data`` opened and loaded; ``thumbnail`` its ``thumbnail_png`` if made
        already (outside a transaction, say). The name is ``<id>.<ext>``, or ``<id>-2.<ext>``
        and so on when a file of that name is already there: an existing file is never
        replaced. All or nothing, like ``save``.
        """
        folder = self.folder_for(created_at)
        pil_format = image.format or ""
        if pil_format not in EXTENSIONS:
            raise _undecodable(generation_id, folder, f"it is {pil_format or 'unknown'}")
        thumbs = folder / "thumbs"
        _make_folder(thumbs, folder)
        ext = EXTENSIONS[pil_format]
        stem = str(generation_id)
        for number in range(2, 1000):
            path, thumbnail_path = folder / f"{stem}.{ext}", thumbs / f"{stem}.png"
            if not (path.exists() or sidecar_path(path).exists() or thumbnail_path.exists()):
                break
            stem = f"{generation_id}-{number}"
        else:
            raise GenerationError(
                ErrorKind.FILESYSTEM,
                f"Cannot copy image {generation_id} into {folder}: every name for it is taken.",
            )
        thumb = thumbnail if thumbnail is not None else thumbnail_png(image)
        self._write_all([(path, data), (thumbnail_path, thumb)], folder, thumbs)
        return SavedImage(
            path=path,
            thumbnail_path=thumbnail_path,
            width=image.width,
            height=image.height,
            bytes_written=len(data),
        )

    @staticmethod
    def _write_all(files: list[tuple[Path, bytes]], folder: Path, thumbs: Path) -> None:
        """Write every file atomically; if one fails, remove those already written."""
        _make_folder(thumbs, folder)
        written: list[Path] = []
        try:
            for target, payload in files:
                _write_atomic(target, payload)
                written.append(target)
        except BaseException as error:
            for done in written:
                with contextlib.suppress(OSError):
                    done.unlink(missing_ok=True)
            if isinstance(error, OSError):
                raise _filesystem_error(folder, error) from error
            raise
        fsync_folder(folder)
        fsync_folder(thumbs)

    def delete(self, path: Path, thumbnail_path: Path | None = None) -> None:
        """Remove an image, its sidecar and its thumbnail; missing files are fine."""
        for target in (Path(path), sidecar_path(Path(path)), thumbnail_path):
            if target is None:
                continue
            try:
                target.unlink(missing_ok=True)
            except OSError as error:
                raise _filesystem_error(
                    target.parent, error, action="Cannot delete images in"
                ) from error

    def check_writable(self, when: datetime | None = None) -> None:
        """Create the root (and the month folder for ``when``) and prove a file can be written.

        Called before a request is sent, so that images the API returns (and bills) can be kept.
        """
        folder = self.root
        _make_folder(self.root, self.root)
        if when is not None:
            folder = self.folder_for(when) / "thumbs"
            _make_folder(folder, self.folder_for(when))
        probe = folder / f".write-probe-{secrets.token_hex(6)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
        except OSError as error:
            raise _filesystem_error(folder, error) from error
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)

    def read_metadata(self, path: Path) -> dict[str, str]:
        """The metadata saved with an image: PNG text chunks, the sidecar, or the XMP fields.

        A sidecar wins over the XMP copy: it is only written when the embedded copy was cut.
        """
        path = Path(path)
        action = "Cannot read image metadata in"
        try:
            if path.suffix.lower() == ".png":
                with Image.open(path) as image:
                    return {
                        str(key): str(value)
                        for key, value in getattr(image, "text", {}).items()
                        if key not in _FOR_OTHER_TOOLS
                    }
            if not path.exists():
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
            sidecar = sidecar_path(path)
            if not sidecar.exists():
                return self._embedded_fields(path)
            loaded = json.loads(sidecar.read_text(encoding="utf-8"))
        except OSError as error:
            raise _filesystem_error(path.parent, error, action=action) from error
        except (SyntaxError, ValueError) as error:  # broken PNG chunks or JSON
            raise GenerationError(
                ErrorKind.FILESYSTEM,
                f"{action} {path.parent}: the metadata of {path.name} is damaged ({error}).",
            ) from error
        if not isinstance(loaded, dict):
            raise GenerationError(
                ErrorKind.FILESYSTEM,
                f"{action} {path.parent}: the sidecar of {path.name} is not a JSON object.",
            )
        return {str(key): str(value) for key, value in loaded.items()}

    @staticmethod
    def _embedded_fields(path: Path) -> dict[str, str]:
        """dalletui's fields from a JPEG's or WebP's XMP ({} when it has none)."""
        data = path.read_bytes()
        kind = "JPEG" if data[:2] == b"\xff\xd8" else "WEBP" if data[8:12] == b"WEBP" else ""
        xmp = embedded.embedded_xmp(data, kind)
        return (embedded.dalletui_fields(xmp) if xmp else None) or {}

    def needs_sidecar(self, path: Path) -> bool:
        """True for a JPEG or WebP that carries no dalletui metadata inside (an older save)."""
        path = Path(path)
        if path.suffix.lower() == ".png" or sidecar_path(path).exists():
            return False
        try:
            return not self._embedded_fields(path)
        except OSError:
            return True


def sidecar_path(path: Path) -> Path:
    """Where the metadata of a JPEG or WebP image lives."""
    return path.with_suffix(".json")


# -- decoding and encoding ---------------------------------------------------------------------


def _decode(data: bytes, generation_id: int, folder: Path) -> tuple[Image.Image, str]:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        pil_format = image.format or ""
    except Exception as error:  # Pillow raises many types for bad data; all mean "unreadable"
        raise _undecodable(generation_id, folder, str(error) or type(error).__name__) from error
    if pil_format not in EXTENSIONS:
        raise _undecodable(generation_id, folder, f"it is {pil_format or 'an unknown format'}")
    return image, pil_format


def _undecodable(generation_id: int, folder: Path, detail: str) -> GenerationError:
    return GenerationError(
        ErrorKind.FILESYSTEM,
        f"Cannot save image {generation_id} in {folder}: the data received is not a readable "
        f"PNG, JPEG or WebP image ({detail}). Nothing was written.",
    )


#: zlib level of thumbnails: 3 is about as fast as 1 and a little smaller.
THUMBNAIL_PNG_LEVEL = 3
#: Pillow's ``reducing_gap``: a 1024 px image is first halved (a box filter), then resampled
#: with Lanczos, which Pillow documents as indistinguishable from one Lanczos pass; 3.0 (one
#: pass from 1024 px) took 18-19 ms a thumbnail against 8-11 ms (thumbnails made before keep
#: their pixels: nothing rewrites them).
THUMBNAIL_REDUCING_GAP = 2.0


def thumbnail_png(image: Image.Image) -> bytes:
    """The PNG thumbnail of ``image``: 256 px on the long edge, upright, RGB or RGBA."""
    has_alpha = image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info
    thumb = ImageOps.exif_transpose(image).convert("RGBA" if has_alpha else "RGB")
    thumb.thumbnail(
        (THUMBNAIL_EDGE, THUMBNAIL_EDGE),
        Image.Resampling.LANCZOS,
        reducing_gap=THUMBNAIL_REDUCING_GAP,
    )
    buffer = io.BytesIO()
    # A fast zlib level, not ``optimize`` (lossless either way: the same pixels), on the
    # path of every saved image, for a file about 10% larger.
    thumb.save(buffer, "PNG", compress_level=THUMBNAIL_PNG_LEVEL)
    return buffer.getvalue()


_thumbnail_png = thumbnail_png  # the name ``services.doctor`` imports


def _sidecar_bytes(fields: dict[str, str]) -> bytes:
    return (json.dumps(fields, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _png_keyword(key: str) -> bytes:
    """PNG keywords: 1-79 Latin-1 characters, printable, no leading/trailing spaces."""
    try:
        raw = key.encode("latin-1")
    except UnicodeEncodeError:
        raw = b""
    if not (0 < len(raw) < 80) or raw != raw.strip() or any(b < 32 or b > 126 for b in raw):
        raise ValueError(f"{key!r} cannot be a PNG text keyword: use 1-79 printable ASCII.")
    return raw


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _text_chunk(key: str, value: str, *, compress: bool = True) -> bytes:
    """``tEXt`` when the value is plain ASCII, else ``iTXt`` (UTF-8, compressed if long).

    ``compress=False`` for chunks other tools read (A1111 never compresses ``parameters``, and
    not every reader inflates iTXt).
    """
    keyword = _png_keyword(key)
    value = value.replace("\x00", "")
    if value.isascii():
        return _png_chunk(b"tEXt", keyword + b"\x00" + value.encode("ascii"))
    text = value.encode("utf-8")
    compressed = compress and len(text) > _COMPRESS_OVER
    if compressed:
        text = zlib.compress(text)
    # keyword, NUL, compression flag, method, language tag, NUL, translated keyword, NUL, text
    header = keyword + b"\x00" + bytes([1 if compressed else 0, 0]) + b"\x00\x00"
    return _png_chunk(b"iTXt", header + text)


def _with_metadata(
    data: bytes, pil_format: str, fields: dict[str, str], image: Image.Image
) -> tuple[bytes, bool]:
    """The image bytes with ``fields`` inside, and whether a sidecar must keep them too.

    Raises ``ValueError`` for a PNG whose chunks are not understood; a JPEG or WebP that cannot
    take the metadata is kept as it came, with the sidecar.
    """
    if pil_format == "PNG":
        fields = {key: embedded.clean(value) for key, value in fields.items()}  # outside text
        for_tools = {
            "Software": embedded.GENERATOR,
            "parameters": embedded.parameters_text(fields, image.width, image.height),
        }
        return _with_png_text(data, {**fields, **for_tools}, uncompressed=("parameters",)), False
    embed = embedded.embed_jpeg if pil_format == "JPEG" else embedded.embed_webp
    try:
        result = embed(data, fields, image.width, image.height)
        with Image.open(io.BytesIO(result.data)) as check:  # never keep a file Pillow cannot open
            if check.size != image.size:
                raise ValueError("the image size changed")
    except Exception:  # noqa: BLE001 - any surprise: keep the provider's bytes and the sidecar
        return data, True
    return result.data, not result.complete


def _with_png_text(
    data: bytes, fields: dict[str, str], uncompressed: tuple[str, ...] = ()
) -> bytes:
    """``data`` with ``fields`` as text chunks before the first IDAT; other chunks untouched.

    Existing text chunks with the same keywords are dropped so a key never appears twice.
    """
    new_chunks = b"".join(
        _text_chunk(key, value, compress=key not in uncompressed) for key, value in fields.items()
    )
    replaced = {_png_keyword(key) for key in fields}
    out = [data[:8]]
    pos, inserted = 8, False
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            break
        if kind in {b"IDAT", b"IEND"} and not inserted:
            out.append(new_chunks)
            inserted = True
        keyword = data[pos + 8 : pos + 8 + length].split(b"\x00", 1)[0]
        if not (kind in _TEXT_CHUNKS and keyword in replaced):
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    # Pillow has already decoded this image, so the chunk walk always finds IDAT.
    if not inserted or not data.startswith(_PNG_SIGNATURE):
        raise ValueError("PNG chunk structure not understood")
    return b"".join(out)


# -- the file system ---------------------------------------------------------------------------

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, flush + fsync, rename over ``path``; no temp left on error."""
    # The writer's pid in the name lets ``dalletui doctor`` tell a crash's leftover from a file
    # another running dalletui is writing right now.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 honours the umask, unlike mkstemp's fixed 0o600.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise


def fsync_folder(folder: Path) -> None:
    """Make the renames durable; not every platform can open a folder, so failures are fine."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _make_folder(folder: Path, named: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _filesystem_error(named, error) from error


def _blocking_file(folder: Path) -> Path | None:
    """The first path from ``folder`` upwards that exists but is not a folder."""
    for candidate in (folder, *folder.parents):
        try:
            if candidate.exists():
                return None if candidate.is_dir() else candidate
        except OSError:
            return None
    return None


def _filesystem_error(
    folder: Path, error: OSError, action: str = "Cannot write images to"
) -> GenerationError:
    """One clear sentence naming the folder, the cause and what to do."""
    code = error.errno
    if code == errno.ENOSPC:
        cause, advice = (
            "the disk is full",
            f"Free some space or choose another folder with {_HOME_HINT}.",
        )
    elif code == getattr(errno, "EDQUOT", -1):
        cause, advice = (
            "the disk quota is used up",
            f"Free some space or choose another folder with {_HOME_HINT}.",
        )
    elif code in {errno.EACCES, errno.EPERM}:
        cause, advice = (
            "permission denied",
            f"Choose another folder with {_HOME_HINT} or fix its permissions.",
        )
    elif code == errno.EROFS:
        cause, advice = (
            "the file system is read-only",
            f"Choose a writable folder with {_HOME_HINT}.",
        )
    elif code in {errno.ENOTDIR, errno.EEXIST} and (blocker := _blocking_file(folder)):
        cause, advice = (
            f"{blocker} is a file, not a folder",
            f"Move that file away or choose another folder with {_HOME_HINT}.",
        )
    elif code == errno.ENOENT:
        cause, advice = "the file or folder does not exist", ""
    else:
        cause = (error.strerror or str(error) or type(error).__name__).rstrip(".").lower()
        advice = f"Check the folder or choose another one with {_HOME_HINT}."
    message = f"{action} {folder}: {cause}." + (f" {advice}" if advice else "")
    return GenerationError(ErrorKind.FILESYSTEM, message)
