"""A word-level diff of two prompts: segments for the UI, ``[-old-]{+new+}`` for the CLI.

Words are compared with their following whitespace kept as separate tokens, so joining the
segments of one side gives back that side's text exactly. A changed word is a ``delete`` then
an ``insert``; whitespace between two changes is folded into them (one run, easier to read).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

SegmentKind = Literal["equal", "insert", "delete"]
_TOKEN = re.compile(r"\s+|\S+")


@dataclass(frozen=True)
class DiffSegment:
    """A run of text that is in both prompts (``equal``), only the new one or only the old."""

    kind: SegmentKind
    text: str


def tokens(text: str) -> list[str]:
    """Words and the whitespace runs between them, in order (joined: ``text`` again)."""
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[DiffSegment]:
    """The segments that turn ``old`` into ``new``: equal, delete and insert runs, in order.

    Joining the ``equal`` and ``delete`` texts gives ``old``; ``equal`` and ``insert``, ``new``.
    """
    a, b = tokens(old), tokens(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    raw: list[DiffSegment] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            raw.append(DiffSegment("equal", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            raw.append(DiffSegment("delete", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            raw.append(DiffSegment("insert", "".join(b[j1:j2])))
    return _merge(_absorb_spaces(raw))


def _absorb_spaces(segments: list[DiffSegment]) -> list[DiffSegment]:
    """Whitespace alone between two changes joins them: ``[-a b-]{+c d+}``, not four runs."""
    out: list[DiffSegment] = []
    for index, segment in enumerate(segments):
        between = 0 < index < len(segments) - 1
        if (
            between
            and segment.kind == "equal"
            and not segment.text.strip()
            and segments[index - 1].kind != "equal"
            and segments[index + 1].kind != "equal"
        ):
            out.append(DiffSegment("delete", segment.text))
            out.append(DiffSegment("insert", segment.text))
        else:
            out.append(segment)
    return out


def _merge(segments: list[DiffSegment]) -> list[DiffSegment]:
    """Adjacent runs of a kind as one, each change's deletions before its insertions."""
    out: list[DiffSegment] = []
    pending: dict[str, list[str]] = {"delete": [], "insert": []}

    def flush() -> None:
        for kind in ("delete", "insert"):
            if pending[kind]:
                out.append(DiffSegment(kind, "".join(pending[kind])))  # type: ignore[arg-type]
                pending[kind] = []

    for segment in segments:
        if not segment.text:
            continue
        if segment.kind == "equal":
            flush()
            out.append(segment)
        else:
            pending[segment.kind].append(segment.text)
    flush()
    return out


def render_plain(segments: list[DiffSegment]) -> str:
    """The diff as one line of text: ``[-removed-]`` and ``{+added+}`` (wdiff's marks)."""
    parts: list[str] = []
    for segment in segments:
        if segment.kind == "equal":
            parts.append(segment.text)
        elif segment.kind == "delete":
            parts.append(f"[-{segment.text}-]")
        else:
            parts.append(f"{{+{segment.text}+}}")
    return "".join(parts)


def plain_diff(old: str, new: str) -> str:
    """``word_diff`` rendered as text, for the CLI."""
    return render_plain(word_diff(old, new))


def changed(segments: list[DiffSegment]) -> bool:
    return any(segment.kind != "equal" for segment in segments)
