"""``dalletui usage``: what it all cost, from the ledger; ``usage reprice`` prices unknown rows.

Registered into ``dalletui.cli``. Spend shown here never shrinks when prompts or images are
deleted: the ledger is append-only.
"""

from __future__ import annotations

import argparse
from typing import Any

from dalletui.cli import PARSER_EXTENSIONS, command
from dalletui.config import Settings
from dalletui.formatting import format_money
from dalletui.textsafe import dump_json, printable


def _add_parsers(sub: Any) -> None:
    usage = sub.add_parser("usage", help="images, tokens and cost: today, this month, all time")
    usage.add_argument(
        "action",
        nargs="?",
        default="show",
        choices=("show", "reprice"),
        help="show (default) or reprice: price ledger rows whose cost was unknown",
    )
    usage.add_argument("--json", action="store_true", help="print JSON")


PARSER_EXTENSIONS.append(_add_parsers)


def _totals_json(totals: Any) -> dict[str, Any]:
    return {
        "label": totals.label,
        "images": totals.images,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cost": str(totals.cost),
        "unknown_cost_images": totals.unknown_cost_count,
        "possibly_billed_requests": totals.possibly_billed,
        "cost_known": totals.cost_known,
    }


def describe(totals: Any) -> str:
    """One line: images, cost, and what is unknown (never an exact total that is not)."""
    cost = format_money(totals.cost)
    if not totals.cost_known:
        cost = f"at least {cost}"
    images = "1 image" if totals.images == 1 else f"{totals.images:,} images"
    parts = [images, cost]
    if totals.unknown_cost_count:
        parts.append(f"{totals.unknown_cost_count:,} images of unknown cost")
    if totals.possibly_billed:
        noun = "request" if totals.possibly_billed == 1 else "requests"
        parts.append(f"{totals.possibly_billed:,} {noun} possibly billed, cost unknown")
    return ", ".join(parts)


@command("usage")
def cmd_usage(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.services.context import open_services

    services = open_services(settings)
    try:
        if args.action == "reprice":
            result = services.usage.reprice(services.generation.catalog)
            if args.json:
                print(
                    dump_json(
                        {
                            "priced": [{"usage_id": i, "cost": str(c)} for i, c in result.priced],
                            "total": str(result.total),
                            "still_unknown": result.still_unknown,
                        },
                        indent=2,
                    )
                )
                return 0
            print(
                f"Priced {len(result.priced):,} ledger rows ({format_money(result.total)}); "
                f"{result.still_unknown:,} still have no known price. Known costs were not "
                "changed."
            )
            return 0
        periods = [services.usage.today(), services.usage.this_month(), services.usage.all_time()]
        models = services.usage.by_model()
    finally:
        services.close()
    if args.json:
        print(
            dump_json(
                {
                    "periods": [_totals_json(t) for t in periods],
                    "models": [_totals_json(t) for t in models],
                },
                indent=2,
            )
        )
        return 0
    for totals in periods:
        print(f"{totals.label:<11} {describe(totals)}")
    if models:
        print("\nby model (all time):")
        for totals in models:
            print(f"  {printable(totals.label, single_line=True):<24} {describe(totals)}")
    return 0
