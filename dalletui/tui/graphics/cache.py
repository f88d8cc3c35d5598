"""Images opened, fitted to their cell box and encoded once, then reused.

Keys hold the file's path, size and modification time, so a rewritten file is read again; the
pixel box is part of every derived key, so a new cell size or box size encodes again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LRU(Generic[T]):
    """A small thread-safe LRU cache bounded by a cost (entries or bytes)."""

    def __init__(self, max_cost: int, cost: Callable[[T], int] = lambda _: 1) -> None:
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._cost = cost
        self._max_cost = max_cost
        self._total = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.on_evict: Callable[[Hashable, T], None] | None = None

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = make()
        evicted: list[tuple[Hashable, T]] = []
        with self._lock:
            self.misses += 1
            if key not in self._items:
                self._items[key] = value
                self._total += self._cost(value)
            while self._total > self._max_cost and len(self._items) > 1:
                old_key, old = self._items.popitem(last=False)
                self._total -= self._cost(old)
                evicted.append((old_key, old))
        if self.on_evict is not None:
            for old_key, old in evicted:
                self.on_evict(old_key, old)
        return value

    def peek(self, key: Hashable) -> T | None:
        with self._lock:
            return self._items.get(key)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            value = self._items.pop(key, None)
            if value is not None:
                self._total -= self._cost(value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._total = 0

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class SourceKey:
    """A file as it is now: same path, size and mtime means same pixels."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | Path) -> SourceKey | None:
        try:
            stat = Path(path).stat()
        except OSError:
            return None
        return cls(str(Path(path)), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Fit:
    """Where an image goes inside a box of cells."""

    cols: int
    rows: int
    pixel_width: int
    pixel_height: int
    offset_x: int
    offset_y: int


def fit(
    image_size: tuple[int, int], box: tuple[int, int], cell: tuple[int, int], center: bool = True
) -> Fit:
    """Where ``image_size`` (pixels) goes in ``box`` (cells of ``cell`` pixels).

    The image covers a whole number of cells, as close to its own shape as cells allow; the
    few pixels that do not fit are cropped evenly from its edges (at most half a cell on each
    side). Whole cells matter: the image is drawn once and then left alone, so a partly covered
    cell would keep a stale background when, say, a highlight behind it changes.
    """
    width, height = max(1, image_size[0]), max(1, image_size[1])
    box_cols, box_rows = max(1, box[0]), max(1, box[1])
    cell_w, cell_h = cell
    scale = min(box_cols * cell_w / width, box_rows * cell_h / height)
    cols = min(box_cols, max(1, round(width * scale / cell_w)))
    rows = min(box_rows, max(1, round(height * scale / cell_h)))
    offset_x = (box_cols - cols) // 2 if center else 0
    offset_y = (box_rows - rows) // 2 if center else 0
    return Fit(cols, rows, cols * cell_w, rows * cell_h, offset_x, offset_y)


_sizes: LRU[tuple[int, int]] = LRU(4096)
_fitted: LRU[Any] = LRU(96 * 1024 * 1024, cost=lambda im: im.width * im.height * 4)


def image_size(key: SourceKey) -> tuple[int, int]:
    """The pixel size of an image file (reads only its header)."""

    def read() -> tuple[int, int]:
        from PIL import Image

        with Image.open(key.path) as opened:
            return opened.size

    return _sizes.get(key, read)


def fitted_image(key: SourceKey, pixel_size: tuple[int, int]) -> Any:
    """The image scaled once to cover ``pixel_size`` and cropped to it (RGB, or RGBA)."""

    def make() -> Any:
        from PIL import Image, ImageOps

        with Image.open(key.path) as opened:
            image = ImageOps.exif_transpose(opened)
            mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
            image = image.convert(mode)
            return ImageOps.fit(image, pixel_size, Image.Resampling.LANCZOS)

    return _fitted.get((key, pixel_size), make)


def forget(key: SourceKey, pixel_size: tuple[int, int]) -> None:
    """Drop one fitted image (its file changed while it was read)."""
    _fitted.discard((key, pixel_size))
    _sizes.discard(key)


def clear() -> None:
    _sizes.clear()
    _fitted.clear()
