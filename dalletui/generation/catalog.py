"""The model catalogue: what each image model accepts and what it costs, read from catalog.json."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

from dalletui.errors import ConfigError

CURRENT = "current"
RETIRED = "retired"
UNKNOWN = "unknown"
TOKEN_PRICE_KEYS = ("text_in", "image_in", "image_out", "text_out")
USER_CONFIG_SOURCE = "user config"
ANY_QUALITY = "*"  # a per-image price that does not depend on quality

# Keys a model never takes from the entry it inherits from.
_NOT_INHERITED = frozenset({"name", "label", "inherits", "snapshot_of", "released_on"})
_SIZE_RE = re.compile(r"([1-9][0-9]{0,5})x([1-9][0-9]{0,5})")


def parse_size(size: str) -> tuple[int, int] | None:
    """``"1536x864"`` -> ``(1536, 864)``; anything else, ``"auto"`` included, -> None."""
    match = _SIZE_RE.fullmatch(size) if isinstance(size, str) else None
    return (int(match[1]), int(match[2])) if match else None


def or_list(items: Iterable[str], conjunction: str = "or") -> str:
    """``["a", "b", "c"]`` -> ``"a, b or c"``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _ratio(value: Fraction) -> str:
    return f"{value.numerator}:{value.denominator}"


def _approx_ratio(width: int, height: int) -> str:
    """A measured aspect ratio as people read it: ``4:1``, ``1:3.17``."""
    if width >= height:
        return f"{width / height:.3g}:1"
    return f"1:{height / width:.3g}"


@dataclass(frozen=True)
class SizeRule:
    """Which arbitrary WIDTHxHEIGHT sizes a model accepts; a limit left None is not enforced."""

    multiple_of: int = 1
    min_aspect: Fraction | None = None  # width / height
    max_aspect: Fraction | None = None
    max_size: tuple[int, int] | None = None  # (long edge, short edge), either orientation
    min_pixels: int | None = None
    max_pixels: int | None = None
    experimental_above: tuple[int, int] | None = None  # more pixels than this is experimental

    def problems(self, width: int, height: int) -> list[str]:
        """Why ``width``x``height`` breaks the rule, as clauses; empty when it fits."""
        found: list[str] = []
        off = [str(side) for side in dict.fromkeys((width, height)) if side % self.multiple_of]
        if off:
            found.append(
                f"width and height must be multiples of {self.multiple_of} "
                f"({' and '.join(off)} {'is' if len(off) == 1 else 'are'} not)"
            )
        aspect, low, high = Fraction(width, height), self.min_aspect, self.max_aspect
        if (low is not None and aspect < low) or (high is not None and aspect > high):
            if low is not None and high is not None:
                bound = f"between {_ratio(low)} and {_ratio(high)}"
            elif low is not None:
                bound = f"at least {_ratio(low)}"
            else:
                bound = f"at most {_ratio(high)}" if high is not None else ""
            actual = _approx_ratio(width, height)
            found.append(f"the aspect ratio must be {bound} (it is {actual})")
        if self.max_size is not None:
            long_edge, short_edge = self.max_size
            if max(width, height) > long_edge or min(width, height) > short_edge:
                found.append(
                    f"the largest size is {long_edge}x{short_edge} or {short_edge}x{long_edge}"
                )
        pixels = width * height
        if self.min_pixels is not None and pixels < self.min_pixels:
            found.append(f"it has {pixels:,} pixels and the minimum is {self.min_pixels:,}")
        if self.max_pixels is not None and pixels > self.max_pixels:
            found.append(f"it has {pixels:,} pixels and the maximum is {self.max_pixels:,}")
        return found

    def allows(self, width: int, height: int) -> bool:
        return not self.problems(width, height)

    def is_experimental(self, width: int, height: int) -> bool:
        """True for sizes the API accepts but labels experimental."""
        if self.experimental_above is None:
            return False
        limit_w, limit_h = self.experimental_above
        return width * height > limit_w * limit_h

    def describe(self) -> str:
        """The rule as a phrase, e.g. for an error message."""
        parts = []
        if self.multiple_of > 1:
            parts.append(f"both sides multiples of {self.multiple_of}")
        if self.min_aspect is not None and self.max_aspect is not None:
            parts.append(
                f"aspect ratio between {_ratio(self.min_aspect)} and {_ratio(self.max_aspect)}"
            )
        if self.max_size is not None:
            parts.append(f"at most {self.max_size[0]}x{self.max_size[1]} (either orientation)")
        if self.min_pixels is not None and self.max_pixels is not None:
            parts.append(f"{self.min_pixels:,} to {self.max_pixels:,} pixels")
        elif self.max_pixels is not None:
            parts.append(f"at most {self.max_pixels:,} pixels")
        elif self.min_pixels is not None:
            parts.append(f"at least {self.min_pixels:,} pixels")
        return "any WIDTHxHEIGHT" + (f" with {or_list(parts, 'and')}" if parts else "")


@dataclass(frozen=True)
class SizeSpec:
    """A model's sizes: a fixed list, ``auto`` or not, and optionally an arbitrary-size rule."""

    fixed: tuple[str, ...] = ()
    allow_auto: bool = False
    rule: SizeRule | None = None

    def describe(self) -> str:
        """Every accepted size as a phrase: ``"1024x1024, 1536x1024 or auto"``."""
        choices = [*self.fixed, *(["auto"] if self.allow_auto else [])]
        if self.rule is not None:
            choices.append(self.rule.describe())
        return or_list(choices)


@dataclass(frozen=True)
class Price:
    """One price in USD with when it was recorded and where it came from."""

    amount: Decimal
    as_of: str | None
    source: str


@dataclass(frozen=True)
class TokenPrices:
    """USD per 1M tokens; None where the price is unknown (or, for text_out, not charged)."""

    text_in: Price | None = None
    image_in: Price | None = None
    image_out: Price | None = None
    text_out: Price | None = None

    @property
    def known(self) -> bool:
        """True when the model is priced by tokens and at least one price is known."""
        return any(getattr(self, key) is not None for key in TOKEN_PRICE_KEYS)


@dataclass(frozen=True)
class PerImagePrice:
    """USD per image for one quality (or ``"*"`` for any) at one size."""

    quality: str
    size: str
    price: Price


@dataclass(frozen=True)
class EditSpec:
    """What a model's ``images.edit`` accepts (from the SDK's ``image_edit_params.py``).

    ``input_fidelity`` lists the values the model takes (empty: leave it unset); ``markup`` is a
    guiding PNG overlay (GPT Image 2.5 only, never with a mask).
    """

    supported: bool = False
    max_images: int = 16
    input_formats: tuple[str, ...] = ("png", "webp", "jpeg")
    max_image_bytes: int = 50 * 1024 * 1024
    mask: bool = False
    max_mask_bytes: int = 4 * 1024 * 1024
    markup: bool = False
    input_fidelity: tuple[str, ...] = ()


NO_EDITS = EditSpec()


@dataclass(frozen=True)
class ModelSpec:
    """Everything dalletui knows about one image model."""

    name: str
    label: str
    status: str
    retired_on: date | None
    successors: tuple[str, ...]
    snapshot_of: str | None
    released_on: date | None
    note: str
    sizes: SizeSpec
    qualities: tuple[str, ...]
    output_formats: tuple[str, ...]
    preview_formats: tuple[str, ...]  # API preview features dalletui does not support
    compression_formats: tuple[str, ...]
    compression_range: tuple[int, int]
    backgrounds: tuple[str, ...]
    transparent_formats: tuple[str, ...]
    transparent_preview: bool
    n_range: tuple[int, int]
    streaming: bool
    max_partial_images: int
    moderation: tuple[str, ...]
    #: ``complexity`` values the model takes (empty: leave it unset, the model's default).
    complexity: tuple[str, ...]
    max_prompt_chars: int
    token_prices: TokenPrices
    per_image_prices: tuple[PerImagePrice, ...]
    edits: EditSpec = NO_EDITS

    @property
    def is_retired(self) -> bool:
        return self.status == RETIRED

    @property
    def price_known(self) -> bool:
        """True when some cost can be computed for this model."""
        return self.token_prices.known or bool(self.per_image_prices)

    def per_image_price(self, quality: str, size: str) -> Price | None:
        """The per-image price at this quality and size, or None if there is none."""
        for entry in self.per_image_prices:
            if entry.size == size and entry.quality in (quality, ANY_QUALITY):
                return entry.price
        return None


class ModelCatalog:
    """The models dalletui knows, in display order."""

    def __init__(self, specs: Iterable[ModelSpec], default_model: str, picker_sizes: Iterable[str]):
        self._specs = {spec.name: spec for spec in specs}
        self._default = default_model
        self._picker_sizes = tuple(picker_sizes)
        self._check()

    @classmethod
    def from_data(
        cls, data: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]] | None = None
    ) -> ModelCatalog:
        """Build from the catalog.json structure, applying user price overrides."""
        templates = {name: _expand_prices(entry) for name, entry in data["templates"].items()}
        entries = {entry["name"]: _expand_prices(entry) for entry in data["models"]}
        clashes = templates.keys() & entries.keys()
        if clashes:
            raise ValueError(f"catalogue templates and models share names: {sorted(clashes)}")
        for name, override in (overrides or {}).items():
            if name not in entries:
                raise ConfigError(
                    f"The price override names model '{name}', which is not in the catalogue; "
                    f"use one of {or_list(entries)}."
                )
            entries[name] = _deep_merge(entries[name], {"prices": _override_prices(name, override)})
        pool = {**templates, **entries}
        specs = [_build_spec(_resolve(name, pool)) for name in entries]
        return cls(specs, data["default_model"], data.get("picker_sizes", ()))

    def _check(self) -> None:
        """Fail fast on an inconsistent catalogue (a bug in catalog.json, not user input)."""
        default = self._specs.get(self._default)
        if default is None or default.is_retired:
            raise ValueError(f"default model {self._default!r} is missing or retired")
        for spec in self._specs.values():
            for name in spec.successors:
                if name not in self._specs or self._specs[name].is_retired:
                    raise ValueError(f"{spec.name}: successor {name!r} is missing or retired")
            if spec.is_retired and (spec.retired_on is None or not spec.successors):
                raise ValueError(f"{spec.name}: a retired model needs retired_on and successors")
            for size in (*spec.sizes.fixed, *(p.size for p in spec.per_image_prices)):
                if parse_size(size) is None:
                    raise ValueError(f"{spec.name}: bad size {size!r}")
        for size in self._picker_sizes:
            if parse_size(size) is None:
                raise ValueError(f"bad picker size {size!r}")

    def get(self, name: str) -> ModelSpec | None:
        return self._specs.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def models(self, include_retired: bool = True) -> list[ModelSpec]:
        return [spec for spec in self._specs.values() if include_retired or not spec.is_retired]

    def editing(self) -> list[ModelSpec]:
        """Current models that edit images (``images.edit``), snapshots included."""
        return [spec for spec in self.current() if spec.edits.supported]

    def current(self) -> list[ModelSpec]:
        """Models a new request may use, snapshots included."""
        return self.models(include_retired=False)

    def default_model(self) -> str:
        return self._default

    def is_retired(self, name: str) -> bool:
        """True only for catalogued models that were retired; unknown names are not."""
        spec = self._specs.get(name)
        return spec is not None and spec.is_retired

    def sizes_for(self, model: str) -> list[str]:
        """Size choices for a picker: fixed sizes, common arbitrary ones the model allows, auto."""
        spec = self._specs.get(model)
        extra: list[str] = []
        if spec is None:
            spec = self.unknown_spec(model)  # its sizes are unknown: offer only the standard ones
        elif spec.sizes.rule is not None:
            rule = spec.sizes.rule
            for size in self._picker_sizes:
                pair = parse_size(size)
                if pair and size not in spec.sizes.fixed and rule.allows(*pair):
                    extra.append(size)
        return [*spec.sizes.fixed, *extra, *(["auto"] if spec.sizes.allow_auto else [])]

    def unknown_spec(self, name: str) -> ModelSpec:
        """A permissive, unpriced spec for a model the catalogue does not know.

        It accepts anything some current model accepts and any WIDTHxHEIGHT, so typos are still
        caught while new models and sizes pass through.
        """
        current = self.current()

        def union(attr: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v for spec in current for v in getattr(spec, attr)))

        return ModelSpec(
            name=name,
            label=name,
            status=UNKNOWN,
            retired_on=None,
            successors=(),
            snapshot_of=None,
            released_on=None,
            note="Not in dalletui's catalogue; sent as-is.",
            sizes=SizeSpec(
                fixed=tuple(dict.fromkeys(s for spec in current for s in spec.sizes.fixed)),
                allow_auto=True,
                rule=SizeRule(),
            ),
            qualities=union("qualities"),
            output_formats=union("output_formats"),
            preview_formats=tuple(
                f for f in union("preview_formats") if f not in union("output_formats")
            ),
            compression_formats=union("compression_formats"),
            compression_range=(
                min(spec.compression_range[0] for spec in current),
                max(spec.compression_range[1] for spec in current),
            ),
            backgrounds=union("backgrounds"),
            transparent_formats=union("transparent_formats"),
            transparent_preview=False,
            n_range=(min(s.n_range[0] for s in current), max(s.n_range[1] for s in current)),
            streaming=any(spec.streaming for spec in current),
            max_partial_images=max(spec.max_partial_images for spec in current),
            moderation=union("moderation"),
            complexity=union("complexity"),
            max_prompt_chars=max(spec.max_prompt_chars for spec in current),
            token_prices=TokenPrices(),
            per_image_prices=(),
            edits=_edit_union([spec.edits for spec in current]),
        )


def load_catalog(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> ModelCatalog:
    """The packaged catalogue, with user price overrides such as ``{"gpt-image-2": {...}}``.

    Override keys per model: ``text_in``, ``image_in``, ``image_out``, ``text_out`` (USD per 1M
    tokens), ``per_image`` (``{quality: {size: USD}}``) and optionally ``as_of``.
    """
    text = resources.files(__package__).joinpath("catalog.json").read_text(encoding="utf-8")
    return ModelCatalog.from_data(json.loads(text, parse_float=Decimal), overrides)


@cache
def catalog() -> ModelCatalog:
    """The packaged catalogue without overrides, loaded once."""
    return load_catalog()


# --- loading helpers -------------------------------------------------------------------------


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve(
    name: str, pool: Mapping[str, Mapping[str, Any]], chain: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An entry merged over everything it inherits from (``inherits`` or ``snapshot_of``)."""
    if name in chain:
        raise ValueError(f"catalogue inheritance loop: {' -> '.join((*chain, name))}")
    entry = pool.get(name)
    if entry is None:
        raise ValueError(f"catalogue entry {chain[-1]!r} inherits unknown {name!r}")
    parent = entry.get("inherits") or entry.get("snapshot_of")
    if parent is None:
        return dict(entry)
    inherited = _resolve(parent, pool, (*chain, name))
    inherited = {k: v for k, v in inherited.items() if k not in _NOT_INHERITED}
    return _deep_merge(inherited, entry)


def _expand_prices(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Give every single price its own as_of/source so that merges and overrides stay exact.

    A group given as null stays None, so it replaces (rather than merges with) an inherited one.
    """
    prices = entry.get("prices")
    if prices is None:
        return dict(entry)
    expanded: dict[str, Any] = {}
    if "tokens" in prices:
        group = prices["tokens"]
        expanded["tokens"] = (
            None
            if group is None
            else {
                key: {"amount": group[key], "as_of": group.get("as_of"), "source": group["source"]}
                for key in TOKEN_PRICE_KEYS
                if group.get(key) is not None
            }
        )
    if "per_image" in prices:
        table = prices["per_image"]
        expanded["per_image"] = (
            None
            if table is None
            else {
                quality: {
                    size: {"amount": amount, "as_of": table.get("as_of"), "source": table["source"]}
                    for size, amount in by_size.items()
                }
                for quality, by_size in table["prices"].items()
            }
        )
    return {**entry, "prices": expanded}


def _dollars(model: str, key: str, value: Any) -> Decimal:
    try:
        if isinstance(value, bool):
            raise TypeError
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise ConfigError(
            f"The price override for {model} sets {key} to {value!r}; "
            "it must be a non-negative number of US dollars."
        )
    return amount


def _override_prices(model: str, override: Mapping[str, Any]) -> dict[str, Any]:
    """A user's override as expanded prices recorded with source "user config"."""
    if not isinstance(override, Mapping):
        raise ConfigError(f"The price override for {model} must be a table of prices.")
    allowed = (*TOKEN_PRICE_KEYS, "per_image", "as_of")
    unknown = [key for key in override if key not in allowed]
    if unknown:
        raise ConfigError(
            f"The price override for {model} has unknown key(s) {or_list(unknown)}; "
            f"use {or_list(allowed)}."
        )
    as_of = override.get("as_of")
    meta = {"as_of": None if as_of is None else str(as_of), "source": USER_CONFIG_SOURCE}
    tokens = {
        key: {"amount": _dollars(model, key, override[key]), **meta}
        for key in TOKEN_PRICE_KEYS
        if key in override
    }
    per_image: dict[str, Any] = {}
    table = override.get("per_image", {})
    if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
        raise ConfigError(
            f"The price override for {model} needs per_image as {{quality: {{size: dollars}}}}."
        )
    for quality, by_size in table.items():
        per_image[quality] = {
            size: {"amount": _dollars(model, f"per_image {quality} {size}", value), **meta}
            for size, value in by_size.items()
        }
    return {"tokens": tokens, "per_image": per_image}


def _price(raw: Mapping[str, Any]) -> Price:
    return Price(amount=Decimal(str(raw["amount"])), as_of=raw.get("as_of"), source=raw["source"])


def _size_pair(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    pair = parse_size(text)
    if pair is None:
        raise ValueError(f"bad size {text!r} in catalogue")
    return max(pair), min(pair)


def _fraction(text: str | None) -> Fraction | None:
    if text is None:
        return None
    width, height = text.split(":")
    return Fraction(int(width), int(height))


def _size_rule(raw: Mapping[str, Any] | None) -> SizeRule | None:
    if raw is None:
        return None
    return SizeRule(
        multiple_of=raw.get("multiple_of", 1),
        min_aspect=_fraction(raw.get("min_aspect")),
        max_aspect=_fraction(raw.get("max_aspect")),
        max_size=_size_pair(raw.get("max_size")),
        min_pixels=raw.get("min_pixels"),
        max_pixels=raw.get("max_pixels"),
        experimental_above=_size_pair(raw.get("experimental_above")),
    )


def _edit_union(specs: list[EditSpec]) -> EditSpec:
    """An edit capability accepting what any of ``specs`` accepts (for unknown models)."""
    editing = [spec for spec in specs if spec.supported]
    if not editing:
        return NO_EDITS
    return EditSpec(
        supported=True,
        max_images=max(spec.max_images for spec in editing),
        input_formats=tuple(dict.fromkeys(f for spec in editing for f in spec.input_formats)),
        max_image_bytes=max(spec.max_image_bytes for spec in editing),
        mask=any(spec.mask for spec in editing),
        max_mask_bytes=max(spec.max_mask_bytes for spec in editing),
        markup=any(spec.markup for spec in editing),
        input_fidelity=tuple(
            dict.fromkeys(value for spec in editing for value in spec.input_fidelity)
        ),
    )


_MB = 1024 * 1024


def _edit_spec(raw: Mapping[str, Any] | None) -> EditSpec:
    if not raw or not raw.get("supported", False):
        return NO_EDITS
    return EditSpec(
        supported=True,
        max_images=raw["max_images"],
        input_formats=tuple(raw["input_formats"]),
        max_image_bytes=int(raw["max_image_mb"] * _MB),
        mask=bool(raw["mask"]),
        max_mask_bytes=int(raw["max_mask_mb"] * _MB),
        markup=bool(raw["markup"]),
        input_fidelity=tuple(raw["input_fidelity"]),
    )


def _optional_date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _build_spec(raw: Mapping[str, Any]) -> ModelSpec:
    try:
        sizes = raw["sizes"]
        prices = raw.get("prices") or {}
        tokens = prices.get("tokens") or {}
        n_min, n_max = raw["n"]
        low, high = raw["compression_range"]
        return ModelSpec(
            name=raw["name"],
            label=raw["label"],
            status=raw["status"],
            retired_on=_optional_date(raw.get("retired_on")),
            successors=tuple(raw.get("successors", ())),
            snapshot_of=raw.get("snapshot_of"),
            released_on=_optional_date(raw.get("released_on")),
            note=raw.get("note", ""),
            sizes=SizeSpec(
                fixed=tuple(sizes.get("fixed", ())),
                allow_auto=bool(sizes.get("auto", False)),
                rule=_size_rule(sizes.get("arbitrary")),
            ),
            qualities=tuple(raw["qualities"]),
            output_formats=tuple(raw["output_formats"]),
            preview_formats=tuple(raw.get("preview_formats", ())),
            compression_formats=tuple(raw["compression_formats"]),
            compression_range=(low, high),
            backgrounds=tuple(raw["backgrounds"]),
            transparent_formats=tuple(raw["transparent_formats"]),
            transparent_preview=bool(raw.get("transparent_preview", False)),
            n_range=(n_min, n_max),
            streaming=bool(raw["streaming"]),
            max_partial_images=raw["max_partial_images"],
            moderation=tuple(raw["moderation"]),
            complexity=tuple(raw["complexity"]),
            max_prompt_chars=raw["max_prompt_chars"],
            token_prices=TokenPrices(**{key: _price(value) for key, value in tokens.items()}),
            per_image_prices=tuple(
                PerImagePrice(quality, size, _price(value))
                for quality, by_size in (prices.get("per_image") or {}).items()
                for size, value in by_size.items()
            ),
            edits=_edit_spec(raw.get("edits")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"catalogue entry {raw.get('name')!r} is incomplete: {exc!r}") from exc
