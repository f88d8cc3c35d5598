"""Writing an export: records as the format stores their values, the JSON document (one
record a line), the CSV for spreadsheets, zip member headers, and the atomic write that leaves
nothing behind when an export is refused or fails."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from dalletui.errors import StorageError, ValidationError
from dalletui.generation.files import fsync_folder
from dalletui.services.exchange.schema import SCHEMAS, SECTIONS, Spec
from dalletui.textsafe import dump_json, without_controls
from dalletui.timeutil import local, utc

_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_HEADER_ORDER = ("format", "version", "app_version", "exported_at", "filters")


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
            record[name] = [_export_record(spec.of, item) for item in row.get(name) or []]
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
    "kind",
    "made_from",
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
            "kind": g.get("kind") or "generate",
            # The uids of the images it was made from ("file" for an outside file).
            "made_from": " ".join(
                i.get("parent") or "file" for i in g.get("inputs") or () if i.get("role") == "image"
            )
            or None,
        }
        writer.writerow([_csv_cell(row[column]) for column in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


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
