"""The search box's operators: ``tag:`` ``in:`` ``is:fav`` ``model:`` ``before:`` ``after:``.

``parse`` splits what the user typed into filters and the free text left for full-text search.
It is pure (no database): the text that is not an operator stays where it was, character for
character, and the operators are blanked out with spaces, so ``fts.match_expression`` sees the
same words, phrases and trailing prefix it always did (``fox tag:x`` ends with an operator: the
user is no longer typing ``fox``, so it is a whole word).

- ``tag:NAME`` (all must match), ``-tag:NAME`` (none may), ``in:NAME`` / ``-in:NAME`` (a
  collection: the prompt itself or one of its images is in it); a value may be quoted
  (``in:"my collection"``) and ends in ``*`` for a prefix, which the value being typed last is,
  as the last word is.
- ``is:fav`` (also ``favorite``, ``favourite``, ``starred``, ``star``): favourites only.
- ``model:NAME``: prompts with an image from that model.
- ``after:DATE`` / ``since:DATE`` from the start of that day (as ``--since``); ``until:DATE``
  to its end (as ``--until``); ``before:DATE`` up to its start, excluded. A DATE is what
  ``--since`` reads: ``YYYY-MM-DD``, a date and time (quoted), ``today``, ``7d``, local time.

A word with an unknown ``name:`` is a plain word. A known operator that cannot be used (a date
that is none, ``is:`` something else, ``-model:``) is left out and described in ``problems``:
the CLI refuses the search with it, History shows it and searches without that filter.
Nothing here raises on any input.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dalletui import timeutil

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # as fts: control characters are spaces
#: An operator (``-``? name ``:`` quoted or bare value), else a phrase or a word (as fts reads).
_TOKEN = re.compile(
    r'(?P<neg>-?)(?P<key>[A-Za-z]+):(?:"(?P<quoted>[^"]*)(?P<closed>"?)|(?P<bare>[^\s"]*))'
    r'|"[^"]*"?|\S+'
)
NAMED = {"tag", "in"}
DATES = {"before", "after", "since", "until"}
OPERATORS = NAMED | DATES | {"is", "model"}
FAVORITE_WORDS = {
    "fav",
    "favs",
    "favorite",
    "favorites",
    "favourite",
    "favourites",
    "star",
    "starred",
}
#: How much of a shown value a problem quotes.
SHOWN = 40


def name_key(name: str) -> str:
    """The key a tag or collection name is found by: spaces collapsed, case-folded."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class ParsedSearch:
    """What a search text asks for: free text (for FTS) and the operators' filters."""

    text: str = ""
    tags: tuple[str, ...] = ()
    without_tags: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    without_collections: tuple[str, ...] = ()
    favorites: bool = False
    model: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    problems: tuple[str, ...] = ()


def _shown(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= SHOWN else value[: SHOWN - 1] + "…"


def parse(text: str, *, prefix_last: bool = True, today: dt.date | None = None) -> ParsedSearch:
    """Split ``text`` into free text and filters (see the module's docstring); never raises."""
    clean = _CONTROL.sub(" ", text)
    free = list(clean)
    named: dict[tuple[str, bool], list[str]] = {(k, n): [] for k in NAMED for n in (False, True)}
    favorites = False
    models: list[str] = []
    since: list[dt.datetime] = []
    until: list[dt.datetime] = []
    problems: list[str] = []
    typing = prefix_last and bool(clean) and not clean[-1].isspace()
    for match in _TOKEN.finditer(clean):
        key = (match.group("key") or "").lower()
        if key not in OPERATORS:
            continue  # a phrase, a word, or ``name:`` unknown: plain text, left where it is
        free[match.start() : match.end()] = " " * (match.end() - match.start())
        negated = match.group("neg") == "-"
        quoted = match.group("quoted")
        value = " ".join((quoted if quoted is not None else match.group("bare") or "").split())
        last = match.end() == len(clean)
        if not value:
            continue  # ``tag:`` as it is being typed
        written = f"{'-' if negated else ''}{key}:"
        if negated and key not in NAMED:
            problems.append(f"'{written}' cannot be negated: only -tag: and -in: can.")
            continue
        if key in NAMED:
            wanted = name_key(value)
            still_open = quoted is None or not match.group("closed")
            prefix = wanted.endswith("*") or (last and typing and still_open)
            wanted = wanted.rstrip("*")
            if wanted:  # the value being typed is a prefix, as the last word is
                named[(key, negated)].append(wanted + "*" if prefix else wanted)
        elif key == "is":
            if value.casefold() in FAVORITE_WORDS:
                favorites = True
            else:
                problems.append(f"'is:{_shown(value)}' is unknown: is:fav is the one there is.")
        elif key == "model":
            models.append(value)
        else:
            try:
                moment = timeutil.parse_when(value, end=key == "until", today=today)
                timeutil.utc(moment)  # as stored: year 1 in local time may not exist in UTC
            except (ValueError, OverflowError) as exc:
                problems.append(f"{written} {_sentence(value, exc)}")
                continue
            (until if key in ("before", "until") else since).append(moment)
    if len(set(models)) > 1:
        problems.append(f"One model at a time: model:{_shown(models[-1])} is the one used.")
    return ParsedSearch(
        text="".join(free),
        tags=tuple(named[("tag", False)]),
        without_tags=tuple(named[("tag", True)]),
        collections=tuple(named[("in", False)]),
        without_collections=tuple(named[("in", True)]),
        favorites=favorites,
        model=models[-1] if models else None,
        since=max(since) if since else None,
        until=min(until) if until else None,
        problems=tuple(problems),
    )


def _sentence(value: str, exc: Exception) -> str:
    message = str(exc).strip()
    if not message.startswith("'"):  # the calendar's own words ("year 0 is out of range")
        message = f"'{_shown(value)}' is out of the calendar's range"
    return message if message.endswith(".") else message + "."
