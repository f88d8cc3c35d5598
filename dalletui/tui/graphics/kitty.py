"""Kitty graphics with Unicode placeholders: send each image once, then draw it as text.

An image is transmitted (PNG, base64, 4096-byte chunks, ``q=2`` so kitty never answers) with a
virtual placement (``U=1``) of ``c`` × ``r`` cells. After that the image is just text: each cell
is U+10EEEE followed by the row and column diacritics, coloured with the image id as a 24-bit
foreground colour. Redraws, scrolling and selection moves send only those cells, never pixels.

Unlike textual-image's TGP renderable (which re-sends the image on every render and writes to
``sys.__stdout__`` from the UI thread while Textual writes frames from its own thread), the
transmission goes through Textual's driver, in order with the frames. Inside tmux every escape
is wrapped for ``allow-passthrough`` (ESC doubled inside ``ESC P tmux; … ESC \\``).
"""

from __future__ import annotations

import base64
import io
import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER = "\U0010eeee"
CHUNK = 4096
APC_START = "\x1b_G"
ST = "\x1b\\"

_diacritics: list[str] | None = None


def diacritics() -> list[str]:
    """Row/column number diacritics from kitty's rowcolumn-diacritics.txt (via textual-image)."""
    global _diacritics
    if _diacritics is None:
        from importlib import import_module

        tgp = import_module("textual_image.renderable.tgp")  # probes nothing at import
        _diacritics = [chr(code) for code in tgp._NUMBER_TO_DIACRITIC]
    return _diacritics


def wrap_tmux(sequence: str) -> str:
    """Wrap an escape sequence for tmux's passthrough (needs ``allow-passthrough on``)."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + ST


def png_bytes(image) -> bytes:  # noqa: ANN001 (a PIL image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def transmit_sequences(png: bytes, image_id: int, cols: int, rows: int) -> list[str]:
    """APC commands that store ``png`` as ``image_id`` and place it virtually (``U=1``)."""
    data = base64.standard_b64encode(png).decode("ascii")
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [""]
    out = []
    for index, chunk in enumerate(chunks):
        more = 1 if index < len(chunks) - 1 else 0
        first = f"a=t,f=100,t=d,i={image_id},q=2,"
        keys = f"{first if index == 0 else ''}m={more}" + ("" if index == 0 else ",q=2")
        out.append(f"{APC_START}{keys};{chunk}{ST}")
    out.append(f"{APC_START}a=p,U=1,i={image_id},c={cols},r={rows},q=2{ST}")
    return out


def delete_sequence(image_id: int) -> str:
    """Delete the image *and free its data* (capital ``I``; textual-image omits ``d=``)."""
    return f"{APC_START}a=d,d=I,i={image_id},q=2{ST}"


def id_color(image_id: int) -> str:
    """The 24-bit foreground colour that names ``image_id`` (ids stay below 2**24)."""
    return f"rgb({(image_id >> 16) & 255},{(image_id >> 8) & 255},{image_id & 255})"


def placeholder_cells(row: int, first_col: int, count: int) -> str:
    """``count`` placeholder cells of image row ``row``, starting at image column ``first_col``."""
    marks = diacritics()
    row_mark = marks[row]
    return "".join(
        f"{PLACEHOLDER}{row_mark}{marks[col]}" for col in range(first_col, first_col + count)
    )


@dataclass
class Sent:
    image_id: int
    bytes: int


class Registry:
    """Which images this process has transmitted; ids are 24-bit and start at random."""

    def __init__(self, budget: int = 128 * 1024 * 1024) -> None:
        start = random.randint(1, 0xFFFFFF - 0x100000)
        self._ids = itertools.count(start)
        self._sent: dict[object, Sent] = {}
        self._order: list[object] = []
        self._budget = budget
        self._total = 0
        self._lock = threading.Lock()
        self.wrap = False

    def ensure(
        self, key: object, cols: int, rows: int, make_png: Callable[[], bytes], write
    ) -> int:  # noqa: ANN001
        """The id for ``key``; transmits it first (through ``write``) if not sent yet."""
        with self._lock:
            sent = self._sent.get(key)
            if sent is not None:
                return sent.image_id
            image_id = next(self._ids) & 0xFFFFFF or next(self._ids)
        png = make_png()
        payload = "".join(self._wrap(s) for s in transmit_sequences(png, image_id, cols, rows))
        if write is not None:
            write(payload)
        with self._lock:
            self._sent[key] = Sent(image_id, len(png))
            self._order.append(key)
            self._total += len(png)
            evict = []
            while self._total > self._budget and len(self._order) > 1:
                old = self._order.pop(0)
                gone = self._sent.pop(old)
                self._total -= gone.bytes
                evict.append(gone.image_id)
        if write is not None and evict:
            write("".join(self._wrap(delete_sequence(i)) for i in evict))
        return image_id

    def sent(self, key: object) -> bool:
        """True when ``key`` has been transmitted (and not evicted since)."""
        with self._lock:
            return key in self._sent

    def free_all(self) -> str:
        """Delete sequences for everything we sent (written after the app exits)."""
        with self._lock:
            ids = [sent.image_id for sent in self._sent.values()]
            self._sent.clear()
            self._order.clear()
            self._total = 0
        return "".join(self._wrap(delete_sequence(i)) for i in ids)

    def _wrap(self, sequence: str) -> str:
        return wrap_tmux(sequence) if self.wrap else sequence

    def __len__(self) -> int:
        return len(self._sent)


registry = Registry()
