"""A template body with its placeholders highlighted, its expansion count and a few samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.content import Content
from textual.widgets import Static

from dalletui.errors import ValidationError
from dalletui.formatting import shorten
from dalletui.services.templates import MAX_EXPANSIONS, Expansion, expand_with, scan
from dalletui.textsafe import printable

KNOWN_STYLE = "bold $accent"
UNKNOWN_STYLE = "bold underline $error"
MISTAKE_STYLE = "reverse $error"
PROBLEM_STYLE = "$error"
MUTED_STYLE = "$foreground-muted"


def highlight(body: str, known: Mapping[str, Sequence[str]]) -> Content:
    """The body as typed: known names and {a|b} in one style, unknowns and mistakes in others."""
    parts: list[str | tuple[str, str]] = []
    for token in scan(body):
        source = printable(body[token.source])
        if token.kind == "placeholder":
            parts.append((source, KNOWN_STYLE if token.value in known else UNKNOWN_STYLE))
        elif token.kind == "choice":
            parts.append((source, KNOWN_STYLE))
        elif token.kind == "error":
            parts.append((source, MISTAKE_STYLE))
        else:
            parts.append(source)
    return Content.assemble(*parts)


def summary(body: str, known: Mapping[str, Sequence[str]], samples: int = 3) -> Content:
    """What the body expands to, or why it cannot: one block of lines under the body."""
    if not body.strip():
        return Content.styled(
            "Write the prompt; {name} is a placeholder for a variable's values, "
            "{{ and }} are literal braces.",
            MUTED_STYLE,
        )
    try:
        expansion = expand_with(body, known)
    except ValidationError as error:
        return Content("\n").join(
            Content.styled(printable(f"✗ {p}"), PROBLEM_STYLE) for p in error.problems
        )
    return describe(expansion, samples)


def describe(expansion: Expansion, samples: int = 3) -> Content:
    """Count, factors and samples of a well-formed expansion (or its unknown names)."""
    if expansion.unknown:
        names = printable(", ".join(f"{{{name}}}" for name in expansion.unknown), single_line=True)
        noun = "variable" if len(expansion.unknown) == 1 else "variables"
        return Content.styled(
            f"✗ Unknown {noun} {names}: define {'it' if noun == 'variable' else 'them'} "
            "on the Variables tab (v, then n).",
            PROBLEM_STYLE,
        )
    count = expansion.count
    noun = "prompt" if count == 1 else "prompts"
    lines = [
        Content.assemble(
            "Expands to ",
            (f"{count:,}", "bold"),
            f" {noun}",
            (f"  ({expansion.factors()})", MUTED_STYLE) if expansion.names else "",
        )
    ]
    if count > MAX_EXPANSIONS:
        lines.append(
            Content.styled(f"⚠ more than a batch may hold ({MAX_EXPANSIONS:,})", "$warning")
        )
    for number, text in enumerate(expansion.samples(samples), start=1):
        sample = shorten(printable(text, single_line=True), 300)
        lines.append(Content.assemble((f"{number}. ", MUTED_STYLE), sample))
    return Content("\n").join(lines)


class TemplatePreview(Static):
    """Highlighted body, then count and samples; ``show`` recomputes it (pure, no query)."""

    def show(
        self,
        body: str,
        known: Mapping[str, Sequence[str]],
        *,
        samples: int = 3,
        with_body: bool = True,
    ) -> None:
        below = summary(body, known, samples)
        if with_body and body.strip():
            self.update(Content("\n").join([highlight(body, known), Content(""), below]))
        else:
            self.update(below)
