"""Checking a parsed document before anything is written: the header, every record against
``SCHEMAS`` and its model's ``problems()`` (converted to the models' types on the way), and
every reference resolved within the file. The result is the ``ImportBundle`` storage merges."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dalletui.errors import ValidationError
from dalletui.services.exchange.reading import _escapes
from dalletui.services.exchange.schema import (
    _HASH,
    _REFERENCES,
    _REL_PATH,
    _UID,
    COST_MAX,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER_KEYS,
    IMAGE_SUFFIXES,
    INT64,
    MODELS,
    NESTED,
    OBJECT_MAX_BYTES,
    OBJECT_MAX_DEPTH,
    SCHEMAS,
    SECTION_TYPES,
    SECTIONS,
    VALUE_MAX_CHARS,
    VALUES_MAX,
    ImportLimits,
    Spec,
    _quoted,
    _refuse,
)
from dalletui.storage.exchange import ImportBundle
from dalletui.storage.models import (
    normalize_prompt,
    prompt_hash,
)
from dalletui.storage.organize import clean_collection_name, clean_note, clean_tag
from dalletui.timeutil import local


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
        nested = NESTED.get(section)
        if nested is not None:
            for record in records:
                items = record.get(nested) if isinstance(record, dict) else None
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
                raise _refuse(where, f"{spot}: must be a list of {spec.of}")
            value = [
                _check_record(spec.of, item, where, f"{spot}[{i}]") for i, item in enumerate(value)
            ]
            positions = [item["position"] for item in value]
            if len(set(positions)) != len(positions):
                raise _refuse(where, f"{spot}: two {spec.of} have the same position")
        else:
            value = _convert(spec, raw[name], where, spot)
        record[name] = value
    if section == "prompts":
        text = normalize_prompt(record["text"])
        if prompt_hash(text) != record["text_hash"]:
            raise _refuse(where, f"{at}.text_hash: does not match the prompt's text")
        record["text"] = text
        record["tags"] = _checked_tags(record["tags"], where, f"{at}.tags")
    if section == "generations":
        record["note"] = clean_note(record["note"])
    if section == "collections":
        try:
            record["name"] = clean_collection_name(record["name"])[0]
        except ValidationError as exc:
            raise _refuse(where, f"{at}.name: {str(exc).rstrip('.')}") from None
        record["description"] = clean_note(record["description"])
    if section == "collection_items" and (record["prompt"] is None) == (
        record["generation"] is None
    ):
        raise _refuse(where, f"{at}: an item names one prompt or one generation")
    model = MODELS[section]
    values = {k: v for k, v in record.items() if k not in _REFERENCES and k in model._meta.fields}
    problems = model(**values).problems()
    if problems:
        raise _refuse(where, f"{at}: {problems[0].rstrip('.')}")
    if section == "generations":
        _check_image_path(record, where, at)
    if section == "inputs" and all(record[k] is None for k in ("parent", "file_path", "sha256")):
        raise _refuse(where, f"{at}: an input needs a parent, a file_path or a sha256")
    return record


def _checked_tags(names: list[str], where: str, spot: str) -> list[str]:
    """Tag names as the store keeps them, each once (any case); a bad one refuses the file."""
    found: dict[str, str] = {}
    for index, name in enumerate(names):
        try:
            shown, key = clean_tag(name)
        except ValidationError as exc:
            raise _refuse(where, f"{spot}[{index}]: {str(exc).rstrip('.')}") from None
        found.setdefault(key, shown)
    return list(found.values())


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
    unique("collections", "uid")
    names: set[str] = set()
    for index, record in enumerate(bundle.collections):
        key = record["name"].casefold()
        if key in names:
            at = places[("collections", index)]
            raise _refuse(where, f"{at}.name: {_quoted(record['name'])} appears twice")
        names.add(key)
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
        for number, given in enumerate(record["inputs"]):
            if given["parent"] is not None and given["parent"] == record["uid"]:
                raise _refuse(where, f"{at}.inputs[{number}].parent: names the generation itself")
