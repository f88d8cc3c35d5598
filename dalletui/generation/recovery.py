"""Recovery records: what the API returned (and billed) when we could not record it normally.

Two cases, both ending in ``<home>/recovery/``:

- The image was saved under ``images/`` but its row could not be written (database locked too
  long, disk full for the WAL...): ``<generation id>.json`` holds the row changes and the ledger
  values, and the next start (``dalletui doctor``) attaches it with ``finish_generation``.
- The image could not be saved under ``images/`` at all (folder became read-only, disk full):
  the raw bytes go to ``<generation id>.<ext>`` beside the record, or, if the data folder itself
  is not writable, to the system temp folder, and the row says where they are.

Record format (version 1)::

    {"version": 1, "generation_id": 12, "request_key": "…", "prompt": "…",
     "changes": {"status": "succeeded", "file_path": …, "thumbnail_path": …, "width": …,
                 "height": …, "output_format": …, "revised_prompt": …, "request_id": …,
                 "finished_at": "ISO", "duration_ms": …},
     "usage": {"input_text_tokens": …, …, "cost": "0.0123" | null, "price_basis": …,
               "prices": {…}}}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VERSION = 1


def recovery_dir(home: Path) -> Path:
    return Path(home) / "recovery"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(temp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def write_record(
    home: Path,
    *,
    generation_id: int,
    request_key: str,
    prompt: str,
    changes: dict[str, Any],
    usage: dict[str, Any] | None,
) -> Path:
    """Write the record that lets the next start attach a saved image to its row."""
    record = {
        "version": VERSION,
        "generation_id": generation_id,
        "request_key": request_key,
        "prompt": prompt,
        "changes": changes,
        "usage": usage,
    }
    path = recovery_dir(home) / f"{generation_id}.json"
    payload = json.dumps(record, default=_json_default, ensure_ascii=False, indent=1).encode()
    _write(path, payload)
    log.warning("generation %s: row not written; recovery record %s", generation_id, path)
    return path


def keep_bytes(home: Path, generation_id: int, data: bytes, extension: str) -> Path:
    """Keep image bytes that could not be saved under images/; returns where they went."""
    name = f"{generation_id}.{extension}"
    for folder in (recovery_dir(home), Path(tempfile.gettempdir()) / "dalletui-recovery"):
        target = folder / name
        with contextlib.suppress(OSError):
            _write(target, data)
            log.warning("generation %s: image kept at %s", generation_id, target)
            return target
    raise OSError(f"nowhere to keep image {generation_id}")


def read_records(home: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every readable version-1 record under ``<home>/recovery`` (unreadable ones are skipped)."""
    folder = recovery_dir(home)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("unreadable recovery record %s", path)
            continue
        if isinstance(record, dict) and record.get("version") == VERSION:
            found.append((path, record))
    return found


def record_values(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The ``finish_generation`` changes and usage of a record, with types restored."""
    changes = dict(record.get("changes") or {})
    if isinstance(changes.get("finished_at"), str):
        changes["finished_at"] = dt.datetime.fromisoformat(changes["finished_at"])
    usage = record.get("usage")
    if isinstance(usage, dict):
        usage = dict(usage)
        if usage.get("cost") is not None:
            usage["cost"] = Decimal(str(usage["cost"]))
    return changes, usage
