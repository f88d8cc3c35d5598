"""Read back a kitty graphics stream: images (joined chunks → PNG), placements, placeholders."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field

from PIL import Image

_APC = re.compile(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")
_TMUX = re.compile(r"\x1bPtmux;((?:[^\x1b]|\x1b\x1b)*)\x1b\\")
_SGR_FG = re.compile(r"\x1b\[([0-9;]*)m")
PLACEHOLDER = "\U0010eeee"


@dataclass
class KittyStream:
    images: dict[int, Image.Image] = field(default_factory=dict)
    placements: dict[int, dict[str, str]] = field(default_factory=dict)
    deletes: list[dict[str, str]] = field(default_factory=list)
    commands: int = 0
    wrapped: int = 0


def unwrap_tmux(stream: str) -> tuple[str, int]:
    """Undo tmux passthrough wrapping; returns the inner stream and how many were wrapped."""
    count = 0

    def inner(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return match.group(1).replace("\x1b\x1b", "\x1b")

    return _TMUX.sub(inner, stream), count


def decode(stream: str) -> KittyStream:
    stream, wrapped = unwrap_tmux(stream)
    result = KittyStream(wrapped=wrapped)
    pending: dict[str, str] | None = None
    data = ""
    for match in _APC.finditer(stream):
        result.commands += 1
        keys = dict(part.split("=", 1) for part in match.group(1).split(",") if "=" in part)
        payload = match.group(2) or ""
        action = keys.get("a", "t") if pending is None else pending.get("a", "t")
        if pending is not None or action in ("t", "T"):
            if pending is None:
                pending = keys
                data = ""
            data += payload
            if keys.get("m", "0") == "0":
                image_id = int(pending["i"])
                png = base64.standard_b64decode(data)
                result.images[image_id] = Image.open(io.BytesIO(png)).convert("RGB")
                pending = None
            continue
        if action == "p":
            result.placements[int(keys["i"])] = keys
        elif action == "d":
            result.deletes.append(keys)
    return result


def placeholder_ids(stream: str) -> list[int]:
    """The image id each run of placeholder cells names through its 24-bit foreground colour.

    Raises AssertionError when a placeholder is drawn with anything but a ``38;2;r;g;b`` colour
    (a 256-colour ``38;5;n`` would destroy the id).
    """
    ids: list[int] = []
    fg: str | None = None
    position = 0
    for match in _SGR_FG.finditer(stream):
        text = stream[position : match.start()]
        if PLACEHOLDER in text:
            assert fg is not None and fg.startswith("38;2;"), f"placeholder drawn with {fg!r}"
            r, g, b = (int(v) for v in fg.split(";")[2:5])
            ids.append((r << 16) | (g << 8) | b)
        params = match.group(1)
        if params in ("", "0"):
            fg = None
        else:
            parts = params.split(";")
            for index, value in enumerate(parts):
                if value == "38" and index + 1 < len(parts):
                    fg = ";".join(parts[index : index + (5 if parts[index + 1] == "2" else 3)])
                    break
        position = match.end()
    if PLACEHOLDER in stream[position:]:
        assert fg is not None and fg.startswith("38;2;"), f"placeholder drawn with {fg!r}"
    return ids
