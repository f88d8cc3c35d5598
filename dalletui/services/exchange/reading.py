"""Opening an import file: a zip or a JSON (Lines) document, told apart by its bytes.

A zip's members are checked from its directory before any is read (names, sizes, ratios,
links, encryption); the document is parsed strictly (no repeated keys, no NaN, UTF-8 only)
into one dict, whichever of the two formats it came in.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dalletui.services.exchange.schema import (
    _BOM,
    _REL_PATH,
    IMAGES_PREFIX,
    LINE_TYPES,
    SECTIONS,
    ZIP_DOCUMENTS,
    ImportLimits,
    ImportRefused,
    _quoted,
    _refuse,
)


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
