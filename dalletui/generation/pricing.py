"""Cost of a generation from its usage and the catalogue's prices; unknown stays unknown."""

from __future__ import annotations

from decimal import Decimal

from dalletui.generation.catalog import ModelSpec, Price
from dalletui.generation.types import Usage

_PER_MILLION = Decimal(1_000_000)


def compute_cost(
    spec: ModelSpec | None, usage: Usage | None, *, size: str, quality: str, n: int
) -> Decimal | None:
    """USD for one request, or None when any needed price (or the usage) is unknown."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    if spec is None:
        return None
    if spec.token_prices.known:
        return None if usage is None else _token_cost(spec, usage)
    price = spec.per_image_price(quality, size)
    return None if price is None else price.amount * n


def _token_cost(spec: ModelSpec, usage: Usage) -> Decimal | None:
    prices = spec.token_prices
    parts: list[tuple[int, Price | None, bool]] = [
        (usage.input_text_tokens, prices.text_in, True),
        (usage.input_image_tokens, prices.image_in, True),
        (usage.output_image_tokens, prices.image_out, True),
        # Text output is billed only where the catalogue prices it.
        (usage.output_text_tokens, prices.text_out, False),
    ]
    total = Decimal(0)
    for tokens, price, required in parts:
        if not tokens:
            continue
        if price is None:
            if required:
                return None
            continue
        total += tokens * price.amount
    return total / _PER_MILLION


def estimate_cost(
    spec: ModelSpec | None,
    *,
    size: str,
    quality: str,
    n: int,
    typical_usage: Usage | None = None,
) -> Decimal | None:
    """A rough ESTIMATE before sending, or None when there is nothing to base it on.

    Per-image models give their exact table price. Token-priced models need ``typical_usage``,
    the usage of one image of this model, size and quality (e.g. a median from history); the
    estimate is that cost times ``n``. Show it with ``format_money(..., estimate=True)``.
    """
    if spec is None:
        return None
    if spec.token_prices.known:
        if typical_usage is None:
            return None
        one = compute_cost(spec, typical_usage, size=size, quality=quality, n=1)
        return None if one is None else one * n
    return compute_cost(spec, None, size=size, quality=quality, n=n)


def _price_dict(price: Price) -> dict[str, str | None]:
    return {"amount": str(price.amount), "as_of": price.as_of, "source": price.source}


def price_snapshot(
    spec: ModelSpec | None, *, size: str, quality: str, offline: bool = False
) -> tuple[str, dict[str, object]]:
    """The basis and the prices a cost is computed with, to keep beside it in the ledger.

    Token prices are per 1M tokens; a per-image price is per image. Each carries its as-of date
    and source from the catalogue (or "user config" for an override).
    """
    if offline:
        return "offline", {}
    if spec is None:
        return "unknown", {}
    if spec.token_prices.known:
        prices = spec.token_prices
        table: dict[str, object] = {"unit": "per 1M tokens"}
        for key in ("text_in", "image_in", "image_out", "text_out"):
            price = getattr(prices, key)
            if price is not None:
                table[key] = _price_dict(price)
        return "tokens", table
    price = spec.per_image_price(quality, size)
    if price is None:
        return "unknown", {}
    return "per_image", {"unit": "per image", "image": _price_dict(price)}


def estimate_edit_cost(
    spec: ModelSpec | None,
    *,
    size: str,
    quality: str,
    n: int,
    input_images: int,
    typical_usage: Usage | None = None,
    image_tokens_per_input: int | None = None,
) -> Decimal | None:
    """A rough ESTIMATE of an edit before sending, or None when there is nothing to base it on.

    ``typical_usage`` is the usage of one output image (as for ``estimate_cost``: prompt text and
    image out); ``image_tokens_per_input`` the input image tokens one input image is typically
    billed (e.g. a median of earlier edits' ``input_image_tokens / images``, which depends on
    ``input_fidelity``). Inputs are billed once per request at the catalogue's ``image_in``
    price, outputs ``n`` times. The real cost comes from the response's usage
    (``compute_cost``), input image tokens included.
    """
    if spec is None or not spec.token_prices.known:
        return None if spec is None else compute_cost(spec, None, size=size, quality=quality, n=n)
    if typical_usage is None or image_tokens_per_input is None:
        return None
    output = Usage(
        output_image_tokens=typical_usage.output_image_tokens,
        output_text_tokens=typical_usage.output_text_tokens,
    )
    inputs = Usage(
        input_text_tokens=typical_usage.input_text_tokens,
        input_image_tokens=image_tokens_per_input * input_images,
    )
    one_output = compute_cost(spec, output, size=size, quality=quality, n=1)
    once = compute_cost(spec, inputs, size=size, quality=quality, n=1)
    if one_output is None or once is None:
        return None
    return once + one_output * n
