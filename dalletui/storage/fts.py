"""Full-text search over prompts with SQLite FTS5: the only SQLite-specific SQL outside migrations.

User text is never passed to FTS5 as syntax. It is split into words and ``"quoted phrases"``;
each becomes an FTS5 string literal (quotes doubled), optionally with ``*`` for a prefix, and the
terms are ANDed. Operators typed by the user (AND, NEAR, -, parentheses, column filters) are
therefore just words, and no input can raise a syntax error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from peewee import SQL, Expression

_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # FTS5 strings cannot hold NUL; none mean anything


@dataclass(frozen=True)
class Term:
    """One search term: a word or a phrase, maybe a prefix."""

    text: str
    prefix: bool = False

    def to_fts(self) -> str:
        literal = '"' + self.text.replace('"', '""') + '"'
        return literal + "*" if self.prefix else literal


def _searchable(text: str) -> bool:
    # unicode61 indexes letters and digits; a term without any matches nothing in FTS5.
    return any(ch.isalnum() for ch in text)


def parse_terms(query: str, *, prefix_last: bool = True) -> list[Term]:
    """Split user input into terms; the last bare word is a prefix while the user is typing."""
    query = _CONTROL.sub(" ", query)
    terms: list[Term] = []
    matches = list(_TOKEN.finditer(query))
    typing_last = prefix_last and bool(query) and not query[-1].isspace()
    for position, match in enumerate(matches):
        phrase, word = match.group(1), match.group(2)
        if phrase is not None:
            if _searchable(phrase):
                terms.append(Term(" ".join(phrase.split())))
            continue
        prefix = word.endswith("*")
        core = word.rstrip("*")
        if not _searchable(core):
            continue
        is_last = position == len(matches) - 1
        terms.append(Term(core, prefix=prefix or (is_last and typing_last)))
    return terms


def match_expression(query: str, *, prefix_last: bool = True) -> str | None:
    """The FTS5 MATCH string for ``query``, or None when nothing in it is searchable."""
    terms = parse_terms(query, prefix_last=prefix_last)
    return " ".join(term.to_fts() for term in terms) or None


def like_pattern(query: str) -> str:
    """A LIKE pattern matching ``query`` as a substring (for emoji and symbols FTS cannot see)."""
    escaped = query.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matching_ids(expression: str) -> Expression:
    """A subquery of prompt ids whose text matches an FTS5 expression."""
    return SQL("(SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?)", (expression,))
