"""Where a search's terms occur in a prompt, read as the full-text index reads them: to highlight.

The search text is split by the same parser that builds the FTS5 query (``storage.fts``), so a
highlight never claims a match the index did not make, nor misses one it did. Words compare the
way SQLite's ``unicode61 remove_diacritics 2`` tokenizer compares them: letters, digits and
private-use characters make tokens, anything else separates them; case and diacritics are
ignored. A phrase matches consecutive tokens; a prefix term matches the start of its last token.
A search with nothing the index can see (emoji, symbols) falls back to a substring, as the
query does (``LIKE``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from dalletui.storage.fts import parse_terms

#: A hit: ``(start, end)`` character offsets into the searched text.
Span = tuple[int, int]


#: A token: letters and digits (Python's alphanumerics, as unicode61's L* and N*), private-use
#: characters, and combining marks (the tokenizer keeps them in the word, then drops them).
_TOKEN = re.compile(r"(?:[^\W_]|[\u0300-\u036f\ue000-\uf8ff])+")


@lru_cache(maxsize=8192)
def _fold(text: str) -> str:
    """Text as the tokenizer compares it: lower case, without diacritics."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    folded: str
    text: str

    def prefix_end(self, length: int) -> int:
        """Where the first ``length`` folded characters end, in the original text."""
        folded = 0
        for offset, ch in enumerate(self.text):
            folded += len(_fold(ch))
            if folded >= length:
                end = offset + 1
                # A combining mark belongs to the letter before it.
                while end < len(self.text) and unicodedata.combining(self.text[end]):
                    end += 1
                return self.start + end
        return self.end


def _tokens(text: str) -> Iterator[_Token]:
    for match in _TOKEN.finditer(text):
        word = match.group()
        yield _Token(match.start(), match.end(), _fold(word), word)


@dataclass(frozen=True)
class _Term:
    words: tuple[str, ...]
    prefix: bool


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class SearchMatcher:
    """The hits of one search text in any prompt text; false when the search is empty."""

    terms: tuple[_Term, ...] = ()
    #: The substring a search without indexable words looks for (case-insensitive).
    substring: str = ""

    @classmethod
    def for_search(cls, query: str, *, prefix_last: bool = True) -> SearchMatcher:
        """The matcher for ``query`` as History searches it (the last word typed is a prefix)."""
        terms = []
        for term in parse_terms(query, prefix_last=prefix_last):
            words = tuple(token.folded for token in _tokens(term.text))
            if words:
                terms.append(_Term(words, term.prefix))
        if terms:
            return cls(terms=tuple(terms))
        return cls(substring=query.strip())

    def __bool__(self) -> bool:
        return bool(self.terms or self.substring)

    def spans(self, text: str) -> list[Span]:
        """Every hit in ``text``, sorted, overlaps merged."""
        if self.terms:
            return _merge(list(self._term_spans(text)))
        if self.substring:
            pattern = re.compile(re.escape(self.substring), re.IGNORECASE)
            return [match.span() for match in pattern.finditer(text)]
        return []

    def matches(self, text: str) -> bool:
        """Whether the search finds ``text`` at all: every term hits (the query ANDs them)."""
        if self.terms:
            tokens = list(_tokens(text))
            return all(next(self._hits(term, tokens), None) for term in self.terms)
        return bool(self.spans(text))

    def _term_spans(self, text: str) -> Iterator[Span]:
        tokens = list(_tokens(text))
        for term in self.terms:
            yield from self._hits(term, tokens)

    @staticmethod
    def _hits(term: _Term, tokens: list[_Token]) -> Iterator[Span]:
        """Where one term matches: its words on consecutive tokens, the last maybe a prefix."""
        count = len(term.words)
        *whole, last = term.words
        for index in range(len(tokens) - count + 1):
            window = tokens[index : index + count]
            if any(token.folded != word for token, word in zip(window, whole, strict=False)):
                continue
            final = window[-1]
            if term.prefix:
                if final.folded.startswith(last):
                    yield (window[0].start, final.prefix_end(len(last)))
            elif final.folded == last:
                yield (window[0].start, final.end)
