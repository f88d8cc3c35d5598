"""Prompt templates: ``{name}`` placeholders, the variables they name, and their expansions.

A template body is text with ``{name}`` placeholders and inline alternatives ``{red|green}``;
``{{`` and ``}}`` are literal braces (as in ``str.format``). Each placeholder names a variable, a
list of values; each inline alternative is an anonymous variable of its own (``#1``, ``#2``, ...
in order of appearance). The body expands to every combination of values (the cartesian product,
in a stable order). Counting and sampling work on the sizes of the value lists alone, so a
template that expands to billions costs nothing to describe; only iterating it produces prompts,
one at a time, under a cap for batch use.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from dalletui.errors import NotFoundError, ValidationError
from dalletui.storage import DatabaseManager
from dalletui.storage.models import IDENTIFIER, Template, TemplateVariable

__all__ = [
    "MAX_EXPANSIONS",
    "Expansion",
    "Template",
    "TemplateService",
    "TemplateSummary",
    "TemplateVariable",
    "Token",
    "is_choice",
    "expand_with",
    "placeholders",
    "scan",
    "split_values",
    "values_from_text",
    "name_problems",
    "values_problems",
    "variable_problems",
]

#: The most prompts one batch may expand to; larger products need narrower variables.
MAX_EXPANSIONS = 10_000

# ``{{`` / ``}}`` escapes first, then a brace pair with no brace inside, then a lone brace.
_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

TokenKind = Literal["text", "placeholder", "choice", "error"]

#: What separates the options of an inline alternative ``{red|green|blue}``.
CHOICE_SEPARATOR = "|"


def is_choice(name: str) -> bool:
    """True for the anonymous name (``#1``, ``#2``, ...) of an inline alternative."""
    return name.startswith("#")


@dataclass(frozen=True)
class Token:
    """One piece of a body: literal text, a ``{name}`` placeholder, ``{a|b}``, or a mistake."""

    kind: TokenKind
    start: int
    end: int
    #: The literal text (escapes resolved), the placeholder name, the alternative's anonymous
    #: name (``#1``, ``#2``, ... in order of appearance), or the problem sentence.
    value: str
    #: The options of an inline alternative, trimmed, in the order written (else empty).
    options: tuple[str, ...] = ()

    @property
    def source(self) -> slice:
        """Where the token sits in the body it was scanned from."""
        return slice(self.start, self.end)


def _where(body: str, offset: int) -> str:
    line = body.count("\n", 0, offset) + 1
    column = offset - (body.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _problem(body: str, match: re.Match[str]) -> str:
    found = match.group(0)
    where = _where(body, match.start())
    if found == "{":
        return (
            f"Unclosed '{{' at {where}: close it as {{name}}, or write '{{{{' for a literal brace."
        )
    if found == "}":
        return f"Unmatched '}}' at {where}: write '}}}}' for a literal brace."
    if found == "{}":
        return f"Empty placeholder '{{}}' at {where}: put a variable name inside the braces."
    if CHOICE_SEPARATOR in found:
        options = [option.strip() for option in found[1:-1].split(CHOICE_SEPARATOR)]
        if not all(options):
            return (
                f"Empty alternative in '{found}' at {where}: write a value on each side of "
                "every '|', e.g. {red|green|blue}."
            )
        repeated = [value for value, times in Counter(options).items() if times > 1]
        listed = ", ".join(f"'{value}'" for value in repeated)
        return (
            f"The alternatives '{found}' at {where} list {listed} more than once; write each once."
        )
    return (
        f"Malformed placeholder '{found}' at {where}: a variable name uses letters, digits "
        "and _ and does not start with a digit (write '{{' and '}}' for literal braces)."
    )


def scan(body: str) -> list[Token]:
    """Split ``body`` into tokens; never raises (mistakes become ``error`` tokens)."""
    tokens: list[Token] = []
    text: list[str] = []
    text_start = 0

    def flush(end: int) -> None:
        if text:
            tokens.append(Token("text", text_start, end, "".join(text)))
            text.clear()

    position = 0
    choices = 0
    for match in _BRACES.finditer(body):
        start, end = match.span()
        if start > position:
            if not text:
                text_start = position
            text.append(body[position:start])
        found = match.group(0)
        if found in ("{{", "}}"):
            if not text:
                text_start = start
            text.append(found[0])
        else:
            flush(start)
            name = match.group(1)
            options = _options(name)
            if name is not None and IDENTIFIER.match(name):
                tokens.append(Token("placeholder", start, end, name))
            elif options:
                choices += 1
                tokens.append(Token("choice", start, end, f"#{choices}", options))
            else:
                tokens.append(Token("error", start, end, _problem(body, match)))
        position = end
    if position < len(body):
        if not text:
            text_start = position
        text.append(body[position:])
    flush(len(body))
    return tokens


def _options(inside: str | None) -> tuple[str, ...]:
    """The options of ``{a|b|c}`` (given what is inside the braces), or () if it is not one.

    Options are trimmed; an empty or repeated option makes the whole thing a mistake.
    """
    if inside is None or CHOICE_SEPARATOR not in inside:
        return ()
    options = tuple(option.strip() for option in inside.split(CHOICE_SEPARATOR))
    if not all(options) or len(set(options)) != len(options):
        return ()
    return options


def _names(tokens: Iterable[Token]) -> list[str]:
    """Distinct placeholder names, in order of first appearance."""
    return list(dict.fromkeys(t.value for t in tokens if t.kind == "placeholder"))


def _variable_names(tokens: Iterable[Token]) -> list[str]:
    """Placeholders and inline alternatives (``#1``...), in order of first appearance."""
    return list(dict.fromkeys(t.value for t in tokens if t.kind in ("placeholder", "choice")))


def _check_syntax(tokens: Sequence[Token]) -> None:
    problems = [t.value for t in tokens if t.kind == "error"]
    if problems:
        raise ValidationError(problems)


def placeholders(body: str) -> list[str]:
    """The variable names ``body`` uses, first appearance first; ValidationError if malformed.

    Inline alternatives are not variables and are not listed.
    """
    tokens = scan(body)
    _check_syntax(tokens)
    return _names(tokens)


def values_from_text(text: str) -> list[str]:
    """Values typed one a line: trimmed, blank lines dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_values(text: str) -> list[str]:
    r"""``fox,owl\,bird`` -> ``["fox", "owl,bird"]``: ``\,`` is a comma, ``\\`` a backslash.

    The command line's way of writing several values in one argument (``batch run --var``,
    ``vars set``); each value is trimmed, and empty ones are kept for the caller to refuse.
    """
    values: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            current.append(following if following in (",", "\\") else char + following)
        elif char == ",":
            values.append("".join(current).strip())
            current.clear()
        else:
            current.append(char)
    values.append("".join(current).strip())
    return values


def _value_problems(owner: str, values: object) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        return [f"{owner} must be a list of values."]
    if not values:
        return [f"{owner} needs at least one value (one a line)."]
    if not all(isinstance(v, str) and v.strip() for v in values):
        return [f"Every value of {owner} must be non-empty text."]
    repeated = [value for value, times in Counter(values).items() if times > 1]
    if repeated:
        listed = ", ".join(f"'{v}'" for v in repeated)
        return [f"{owner} lists {listed} more than once; each value should appear once."]
    return []


def name_problems(name: str) -> list[str]:
    """Why ``name`` cannot name a variable (empty if it can)."""
    if not name:
        return ["The variable needs a name (letters, digits and _)."]
    if not IDENTIFIER.match(name):
        return [
            f"Variable name '{name}' is not valid: use letters, digits and _, "
            "not starting with a digit."
        ]
    return []


def values_problems(name: str, values: Sequence[str]) -> list[str]:
    """Why ``values`` cannot be the values of variable ``name`` (empty if they can)."""
    return _value_problems(f"Variable '{name}'" if name else "The variable", values)


def variable_problems(name: str, values: Sequence[str]) -> list[str]:
    """Every reason ``name`` with ``values`` cannot be saved as a variable (empty if none)."""
    return name_problems(name) + values_problems(name, values)


@dataclass(frozen=True)
class Expansion:
    """What a body expands to, described without producing the product.

    Order: ``itertools.product`` over the placeholders and inline alternatives in order of first
    appearance, each through its values in their stored (or written) order, so the last one
    varies fastest. An inline alternative is named ``#1``, ``#2``, ... in ``names``, ``values``
    and every choice.
    """

    body: str
    tokens: tuple[Token, ...]
    #: Distinct placeholder names and alternatives' anonymous names, first appearance first.
    names: tuple[str, ...]
    #: Values of every placeholder that has a variable or override (unknown names are absent),
    #: and the options of every inline alternative.
    values: Mapping[str, tuple[str, ...]]
    #: Placeholders with neither a variable nor an override.
    unknown: tuple[str, ...]

    @property
    def count(self) -> int:
        """How many prompts: the product of value counts (0 while a placeholder is unknown)."""
        return math.prod(len(self.values.get(name, ())) for name in self.names)

    @property
    def ok(self) -> bool:
        return not self.unknown

    def label(self, name: str) -> str:
        """How to show a name: a placeholder as itself, an alternative as ``{red|green}``."""
        if not is_choice(name):
            return name
        token = next(t for t in self.tokens if t.kind == "choice" and t.value == name)
        written = "{" + CHOICE_SEPARATOR.join(token.options) + "}"
        return written if len(written) <= 40 else written[:38] + "…}"

    def factors(self) -> str:
        """The count spelled out, e.g. ``style 3 × subject 8 × {red|green} 2``."""
        return " × ".join(
            f"{self.label(name)} {len(self.values.get(name, ()))}" for name in self.names
        )

    def check(self, limit: int | None = None) -> None:
        """Raise ValidationError for unknown or empty placeholders, or a count over ``limit``."""
        if self.unknown:
            listed = ", ".join(f"{{{name}}}" for name in self.unknown)
            noun = "variable" if len(self.unknown) == 1 else "variables"
            raise ValidationError(
                f"Unknown {noun} {listed}: define each as a variable (a name and its values, "
                "in the Templates screen's Variables tab), or give its values as an override."
            )
        empty = [name for name in self.names if not self.values.get(name, ())]
        if empty:
            listed = ", ".join(f"{{{name}}}" for name in empty)
            raise ValidationError(f"No values for {listed}: give each variable at least one value.")
        if limit is not None and self.count > limit:
            raise ValidationError(
                f"This template expands to {self.count:,} prompts ({self.factors()}); one batch "
                f"may hold at most {limit:,}. Use fewer values for a variable, or override one "
                "with a shorter list."
            )

    def render(self, choice: Mapping[str, str]) -> str:
        """The body with each placeholder and alternative replaced by ``choice[name]``."""
        return "".join(
            choice[token.value] if token.kind in ("placeholder", "choice") else token.value
            for token in self.tokens
        )

    def choice_at(self, index: int) -> dict[str, str]:
        """The value of each name in the ``index``-th prompt, computed directly (no iteration)."""
        self.check()
        if not 0 <= index < self.count:
            raise IndexError(f"expansion {index} out of range 0..{self.count - 1}")
        choice: dict[str, str] = {}
        for name in reversed(self.names):
            options = self.values[name]
            index, digit = divmod(index, len(options))
            choice[name] = options[digit]
        return {name: choice[name] for name in self.names}

    def at(self, index: int) -> str:
        """The ``index``-th prompt of the stable order, computed directly (no iteration)."""
        return self.render(self.choice_at(index))

    @property
    def first(self) -> str:
        return self.at(0)

    def samples(self, k: int = 3) -> list[str]:
        """Up to ``k`` prompts spread evenly over the order (first and last included)."""
        self.check()
        count = self.count
        if k <= 0:
            return []
        if count <= k:
            return [self.at(i) for i in range(count)]
        if k == 1:
            return [self.at(0)]
        return [self.at(i * (count - 1) // (k - 1)) for i in range(k)]

    def prompts(self, limit: int | None = MAX_EXPANSIONS) -> Iterator[str]:
        """Every prompt, lazily, in the stable order; checked against ``limit`` first."""
        self.check(limit)
        return self._iterate()

    def choices(self, limit: int | None = MAX_EXPANSIONS) -> Iterator[dict[str, str]]:
        """The value of each name for every prompt, lazily, in the stable order."""
        self.check(limit)
        columns = [self.values[name] for name in self.names]
        return (dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*columns))

    def _iterate(self) -> Iterator[str]:
        for choice in self.choices(limit=None):
            yield self.render(choice)

    def __iter__(self) -> Iterator[str]:
        return self.prompts(limit=None)


def expand_with(
    body: str,
    variables: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Sequence[str]] | None = None,
) -> Expansion:
    """Describe ``body``'s expansion over ``variables`` (name -> values), ``overrides`` winning.

    Raises ValidationError for malformed placeholders or bad overrides; unknown names are
    reported in ``Expansion.unknown`` (``check()`` turns them into an error). Inline
    alternatives take their own options (an override cannot name them).
    """
    tokens = scan(body)
    _check_syntax(tokens)
    names = _names(tokens)
    problems: list[str] = []
    for name, values in (overrides or {}).items():
        if name not in names:
            problems.append(f"The override for '{name}' matches no placeholder in the template.")
        else:
            problems.extend(_value_problems(f"The override for '{name}'", values))
    if problems:
        raise ValidationError(problems)
    merged = {**variables, **(overrides or {})}
    merged.update((t.value, t.options) for t in tokens if t.kind == "choice")
    every = _variable_names(tokens)
    resolved = {name: tuple(merged[name]) for name in every if name in merged}
    unknown = tuple(name for name in names if name not in merged)
    return Expansion(body, tuple(tokens), tuple(every), resolved, unknown)


@dataclass(frozen=True)
class TemplateSummary:
    """A template with what it expands to over the stored variables, or why it cannot."""

    template: Template
    #: None when the body is malformed (a template saved by an older version, or imported).
    expansion: Expansion | None
    problems: tuple[str, ...] = ()

    @property
    def count(self) -> int | None:
        """How many prompts (0 while a placeholder is unknown; None when malformed)."""
        return None if self.expansion is None else self.expansion.count


def users_of(name: str, templates: Iterable[Template]) -> list[str]:
    """Names of the templates whose body uses ``{name}`` (a pure scan, no query)."""
    return [
        template.name
        for template in templates
        if any(t.kind == "placeholder" and t.value == name for t in scan(template.body))
    ]


class TemplateService:
    """Templates and variables: what the Templates screen, batches and the CLI use."""

    def __init__(self, db: DatabaseManager) -> None:
        self.db = db

    # -- templates -----------------------------------------------------------------------

    def list_templates(self) -> list[Template]:
        return self.db.list_templates()

    def get_template(self, template_id: int) -> Template:
        return self.db.get_template(template_id)

    def get_template_by_name(self, name: str) -> Template:
        return self.db.get_template_by_name(name)

    def create_template(self, name: str, body: str, description: str = "") -> Template:
        """Save a new template; placeholders must be well formed (unknown names are allowed)."""
        placeholders(body)
        return self.db.create_template(name.strip(), body, description.strip())

    def update_template(
        self,
        template_id: int,
        *,
        name: str | None = None,
        body: str | None = None,
        description: str | None = None,
    ) -> Template:
        changes: dict[str, str] = {}
        if name is not None:
            changes["name"] = name.strip()
        if body is not None:
            placeholders(body)
            changes["body"] = body
        if description is not None:
            changes["description"] = description.strip()
        return self.db.update_template(template_id, **changes)

    def delete_template(self, template_id: int) -> None:
        self.db.delete_template(template_id)

    def summarize(self, template: Template, values: Mapping[str, Sequence[str]]) -> TemplateSummary:
        """``template`` expanded over ``values`` (name -> values); a malformed body is reported."""
        try:
            expansion = expand_with(template.body, values)
        except ValidationError as exc:
            return TemplateSummary(template, None, tuple(exc.problems))
        return TemplateSummary(template, expansion)

    def summaries(self) -> list[TemplateSummary]:
        """Every template with its expansion count: two queries, whatever the number."""
        values = self.variable_values()
        return [self.summarize(template, values) for template in self.list_templates()]

    def describe(self, name: str) -> TemplateSummary:
        """One template, by name, with its placeholders' values and its expansion count."""
        template = self.get_template_by_name(name.strip())
        names = _names(scan(template.body))  # a malformed body: summarize() says why
        found = self.db.variables_by_name(names) if names else {}
        return self.summarize(template, {n: list(v.values) for n, v in found.items()})

    # -- variables -----------------------------------------------------------------------

    def list_variables(self) -> list[TemplateVariable]:
        return self.db.list_variables()

    def get_variable(self, variable_id: int) -> TemplateVariable:
        return self.db.get_variable(variable_id)

    def variable_values(self) -> dict[str, list[str]]:
        """Every variable's values by name: what a live editor expands against."""
        return {variable.name: list(variable.values) for variable in self.db.list_variables()}

    def create_variable(
        self, name: str, values: Sequence[str], description: str = ""
    ) -> TemplateVariable:
        """Define a new variable (an existing name is an error: edit that one instead)."""
        name = name.strip()
        cleaned = [value.strip() for value in values]
        problems = variable_problems(name, cleaned)
        if not problems and self.db.variables_by_name([name]):
            problems.append(f"A variable named '{name}' already exists; edit it instead.")
        if problems:
            raise ValidationError(problems)
        return self.db.set_variable(name, cleaned, description.strip())

    def update_variable(
        self,
        variable_id: int,
        *,
        name: str | None = None,
        values: Sequence[str] | None = None,
        description: str | None = None,
    ) -> TemplateVariable:
        current = self.db.get_variable(variable_id)
        new_name = current.name if name is None else name.strip()
        cleaned = list(current.values) if values is None else [v.strip() for v in values]
        problems = variable_problems(new_name, cleaned)
        if problems:
            raise ValidationError(problems)
        changes: dict[str, object] = {"name": new_name, "values": cleaned}
        if description is not None:
            changes["description"] = description.strip()
        return self.db.update_variable(variable_id, **changes)

    def delete_variable(self, variable_id: int) -> None:
        self.db.delete_variable(variable_id)

    def get_variable_by_name(self, name: str) -> TemplateVariable:
        found = self.db.variables_by_name([name.strip()])
        if not found:
            raise NotFoundError(f"No variable named '{name.strip()}'.")
        return found[name.strip()]

    def set_variable(
        self, name: str, values: Sequence[str], description: str | None = None
    ) -> tuple[TemplateVariable, bool]:
        """Define ``name`` or replace its values (and description, when given); True if new."""
        existing = self.db.variables_by_name([name.strip()]) if name.strip() else {}
        if not existing:
            return self.create_variable(name, values, description or ""), True
        variable = existing[name.strip()]
        return self.update_variable(variable.id, values=values, description=description), False

    def variable_users(self) -> dict[str, list[str]]:
        """For each variable name, the templates that use it (one query, a scan of the bodies)."""
        templates = self.list_templates()
        return {
            variable.name: users_of(variable.name, templates) for variable in self.list_variables()
        }

    # -- expansion -----------------------------------------------------------------------

    @staticmethod
    def placeholders(body: str) -> list[str]:
        return placeholders(body)

    def expand(self, body: str, overrides: Mapping[str, Sequence[str]] | None = None) -> Expansion:
        """Describe the expansion of ``body`` over the stored variables (one query)."""
        names = placeholders(body)
        found = self.db.variables_by_name(names) if names else {}
        return expand_with(body, {n: list(v.values) for n, v in found.items()}, overrides)

    def expand_template(
        self, template_id: int, overrides: Mapping[str, Sequence[str]] | None = None
    ) -> Expansion:
        return self.expand(self.db.get_template(template_id).body, overrides)
