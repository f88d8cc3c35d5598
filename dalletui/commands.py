"""Subcommands beyond history: ``generate`` and ``models`` (registered into ``dalletui.cli``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from dalletui.cli import (
    MAX_INT64,
    MIN_INT64,
    PARSER_EXTENSIONS,
    _is_tty,
    _positive_int,
    command,
    int_between,
)
from dalletui.config import Settings
from dalletui.errors import ConfigError, ValidationError
from dalletui.formatting import format_money
from dalletui.textsafe import dump_json, printable, printable_message, redact_secrets


def _add_parsers(sub: Any) -> None:
    gen = sub.add_parser("generate", help="generate images from a prompt")
    gen.add_argument("prompt", help="what the image should show ('-' reads it from stdin)")
    add_image_options(gen)
    gen.add_argument("--moderation", help="auto (default) or low (less restrictive)")
    gen.add_argument(
        "--partial-images",
        type=int_between(0, 3),
        metavar="N",
        help="stream N rough drafts (0-3, one image only); default 0",
    )
    # The seed is stored with the generation: it must fit SQLite's 64-bit INTEGER.
    gen.add_argument(
        "--seed", type=int_between(MIN_INT64, MAX_INT64), help="seed for the offline provider"
    )
    add_output_options(gen)

    retry = sub.add_parser(
        "retry", help="send a failed or possibly billed request again (see dalletui history)"
    )
    retry.add_argument("id", type=_positive_int, help="generation id (from the error message)")
    retry.add_argument("--out", type=Path, help="also copy the images into this folder")
    retry.add_argument("--json", action="store_true", help="print JSON")

    models = sub.add_parser("models", help="list the model catalogue (retired models marked)")
    models.add_argument("--json", action="store_true", help="print JSON")

    paths = sub.add_parser(
        "paths",
        help="where dalletui keeps its data, config, log, images, thumbnails, trash and state",
    )
    paths.add_argument("--json", action="store_true", help="print JSON")


PARSER_EXTENSIONS.append(_add_parsers)


def add_image_options(
    parser: argparse.ArgumentParser, *, count: bool = True, size_help: str = "WIDTHxHEIGHT or auto"
) -> None:
    """The options of the images asked for, shared by generate, edit and vary."""
    parser.add_argument("--model", "-m", help="model name (see dalletui models)")
    parser.add_argument("--size", "-s", help=size_help)
    parser.add_argument("--quality", "-q", help="low, medium, high, auto (model dependent)")
    if count:
        parser.add_argument("-n", type=int_between(1, 10), help="number of images (1-10)")
    parser.add_argument("--format", "-f", dest="output_format", help="png, jpeg or webp")
    parser.add_argument("--background", help="auto, opaque or transparent")
    parser.add_argument("--compression", type=int_between(0, 100), help="0-100, for jpeg and webp")
    parser.add_argument(
        "--complexity", help="low, medium or high planning effort; default: the model's"
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Which provider, where copies go, JSON: shared by generate, edit and vary."""
    parser.add_argument(
        "--provider", "-p", choices=("openai", "offline"), help="default: openai if a key is set"
    )
    parser.add_argument("--out", type=Path, help="also copy the images into this folder")
    parser.add_argument("--json", action="store_true", help="print JSON")


def read_prompt(text: str) -> str:
    """The prompt as given, or standard input for ``-``; surrounding space removed."""
    return (sys.stdin.read() if text == "-" else text).strip()


def request_options(
    args: argparse.Namespace, settings: Settings, *, size: str | None = None
) -> dict[str, Any]:
    """The request fields the image options name (settings fill what they leave out)."""
    return {
        "model": args.model or settings.model,
        "size": args.size or size or settings.size,
        "quality": args.quality or settings.quality,
        "n": getattr(args, "n", None) or settings.n,
        "output_format": args.output_format or settings.output_format,
        "background": args.background or "auto",
        "output_compression": args.compression,
        "complexity": getattr(args, "complexity", None),
    }


def _request(args: argparse.Namespace, settings: Settings):  # noqa: ANN202
    from dalletui.generation.types import GenerationRequest

    return GenerationRequest(
        prompt=read_prompt(args.prompt),
        **request_options(args, settings),
        moderation=args.moderation or "auto",
        partial_images=args.partial_images or 0,
        seed=args.seed,
    )


def _check_out_dir(out: Path | None) -> None:
    if out is None:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot use --out {out}: {exc.strerror or exc}.") from exc


def prepare_send(
    services: Any, request: Any, args: argparse.Namespace, offline_note: str
) -> tuple[str, list[str]]:
    """Everything checked before a request goes out, in the order a user should hear it: the
    request (``ValidationError``, every problem), the key, the --out folder; then the
    offline note. Returns the provider's name and the request's warnings."""
    warnings = services.generation.validate(request)
    services.generation.provider()  # a missing or unusable key is said before anything else
    _check_out_dir(getattr(args, "out", None))
    provider = services.generation.provider_name
    if provider == "offline" and not args.json:
        print(f"Offline: no OPENAI_API_KEY, {offline_note}.", file=sys.stderr)
    return provider, warnings


def confirm_send(question: str | None, *, yes: bool) -> bool:
    """Ask ``question`` (the monthly budget's) at a terminal; a script needs ``--yes``.

    True to send; False when the user said no. Without a terminal it refuses in one sentence
    (``ValidationError``), so a script never spends past the budget unasked.
    """
    if question is None or yes:
        return True
    if not _is_tty(sys.stdin):
        raise ValidationError(f"{question} Add --yes to send it. Nothing was sent.")
    print(f"{printable(question, single_line=True)} [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        print("Nothing was sent.", file=sys.stderr)
        return False
    return True


@command("generate")
def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.services.context import open_services

    if args.provider:
        settings = settings.with_overrides(provider=args.provider)
    request = _request(args, settings)
    services = open_services(settings)
    try:
        provider, _ = prepare_send(services, request, args, "drawing local placeholder images")
        outcome = asyncio.run(send(services, request, quiet=args.json))
    finally:
        services.close()
    return report_outcome(outcome, request.n, provider, args)


def report_outcome(
    outcome: Any,
    asked: int,
    provider: str,
    args: argparse.Namespace,
    inputs: dict[int, list[Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Print an outcome (paths, each image's own cost, the total) and return the exit code.

    ``inputs`` holds, by generation id, what each edit or variation was made from
    (``HistoryService.lineage(...).inputs``): those images also show ``gen:ID``, their input
    image tokens and their parents. ``extra`` adds keys to the JSON.
    """
    inputs = inputs or {}
    out = getattr(args, "out", None)
    copies = _copy_out(outcome.succeeded, out) if out else {}
    if args.json:
        data = {**_outcome_json(outcome, provider, copies, inputs), **(extra or {})}
        print(dump_json(data, indent=2))
    else:
        for warning in outcome.warnings:
            print(f"warning: {printable(warning)}", file=sys.stderr)
        for g in outcome.generations:
            if g.status == "succeeded":
                cost = outcome.costs.get(g.id, g.usage_row.cost if g.usage_row else None)
                line = _image_line(g, cost, copies.get(g.id, g.file_path), inputs.get(g.id))
                print(printable(line, single_line=True))
        total = format_money(outcome.cost)
        done = len(outcome.succeeded)
        if outcome.possibly_billed:
            total = "unknown (possibly billed)"
        print(f"{done} of {asked} images in {outcome.seconds:.1f}s, cost {total}")
    if outcome.error is not None:
        print(f"dalletui: error: {printable_message(outcome.error)}", file=sys.stderr)
        return 1
    return 0


def _image_line(g: Any, cost: Any, where: str, inputs: list[Any] | None) -> str:
    """``PATH  (1024x1024, model, $0.01, 1,234 tokens, openai)``; an edit also names itself
    ``gen:ID``, counts its input image tokens and says what it was made from."""
    usage = g.usage_row
    tokens = usage.total_tokens if usage else 0
    what = f"{g.width}x{g.height}, {g.model}, {format_money(cost)}"
    if inputs is None:
        counted = f", {tokens:,} tokens" if tokens else ""
        return f"{where}  ({what}{counted}, {g.provider})"
    counted = ""
    if tokens:
        counted = f", {tokens:,} tokens ({usage.input_image_tokens:,} of them input image)"
    return f"{where}  gen:{g.id}  ({what}{counted}, {g.provider})  {made_from(str(g.kind), inputs)}"


def made_from(kind: str, inputs: list[Any]) -> str:
    """``edited from #3``, ``edited from #3, a.png, b.png; mask m.png``, ``a variation of #3``."""
    images = [item.label for item in inputs if item.role == "image"] or ["(unknown)"]
    verb = "a variation of" if kind == "variation" else "edited from"
    text = f"{verb} {', '.join(images)}"
    for item in inputs:
        if item.role != "image":
            text += f"; {item.role} {item.label}"
    return text


def edit_inputs(services: Any, generations: list[Any]) -> dict[int, list[Any]]:
    """What each edit or variation among ``generations`` was made from, by id."""
    from dalletui.services.editing import EDIT_KINDS

    return {
        g.id: services.history.lineage(g.id).inputs for g in generations if g.kind in EDIT_KINDS
    }


def _print_wait(wait: Any) -> None:
    print(f"dalletui: {wait.describe()} (ctrl+c stops)", file=sys.stderr, flush=True)


def _partial_printer(total: int) -> Any:
    def show(index: int, _data: bytes) -> None:
        print(f"dalletui: partial image {index + 1} of {total}", file=sys.stderr, flush=True)

    return show


async def send(
    services: Any,
    request: Any,
    *,
    quiet: bool = False,
    retry_id: int | None = None,
    plan: Any = None,
) -> Any:
    """Send ``request`` (or the edit ``plan``, or generation ``retry_id`` again) with the
    waits before a retry and any partial images said on stderr (unless ``quiet``)."""
    on_wait = None if quiet else _print_wait
    partials = getattr(request, "partial_images", 0) or 0
    on_partial = None if quiet or not partials else _partial_printer(partials)
    try:
        if retry_id is not None:
            return await services.generation.retry(retry_id, on_partial=on_partial, on_wait=on_wait)
        if plan is not None:
            return await services.generation.edit(plan, on_partial=on_partial, on_wait=on_wait)
        return await services.generation.generate(request, on_partial=on_partial, on_wait=on_wait)
    finally:
        await services.generation.aclose()


@command("retry")
def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    """Send a failed, cancelled, interrupted or possibly billed request again."""
    from dalletui.services.context import open_services

    services = open_services(settings)
    try:
        request = services.generation.request_for(args.id)
        generation = services.db.get_generation(args.id)
        if generation.status == "possibly_billed" and not args.json:
            print(
                f"Generation #{args.id} may already have been billed; sending it again as a new "
                "request.",
                file=sys.stderr,
            )
        outcome = asyncio.run(send(services, request, quiet=args.json, retry_id=args.id))
        inputs = edit_inputs(services, outcome.generations)
    finally:
        services.close()
    return report_outcome(outcome, request.n, generation.provider, args, inputs)


def _copy_out(generations: list, out: Path) -> dict[int, str]:
    copies: dict[int, str] = {}
    for g in generations:
        target = out / Path(g.file_path).name
        try:
            shutil.copy2(g.file_path, target)
        except OSError as exc:
            raise ConfigError(
                f"Cannot copy {g.file_path} to {out}: {exc.strerror or exc}."
            ) from exc
        copies[g.id] = str(target)
    return copies


def _outcome_json(
    outcome: Any, provider: str, copies: dict[int, str], inputs: dict[int, list[Any]]
) -> dict[str, Any]:
    images = []
    for g in outcome.generations:
        usage = getattr(g, "usage_row", None)
        image = {
            "generation_id": g.id,
            "status": g.status,
            "kind": g.kind,
            "path": g.file_path,
            "copy": copies.get(g.id),
            "thumbnail": g.thumbnail_path,
            "width": g.width,
            "height": g.height,
            "model": g.model,
            "cost": None if usage is None or usage.cost is None else str(usage.cost),
            "tokens": None if usage is None else usage.total_tokens,
            "error_kind": g.error_kind,
            "error": None if g.error_message is None else redact_secrets(g.error_message),
            "request_id": g.request_id,
            "revised_prompt": g.revised_prompt,
            # What the API said it applied (quality auto -> high, ...); {} when unknown.
            "applied": g.applied,
        }
        if g.id in inputs:
            image["input_image_tokens"] = None if usage is None else usage.input_image_tokens
            image["parents"] = [i.generation_id for i in inputs[g.id] if i.generation_id]
            image["inputs"] = [
                {"role": i.role, "generation_id": i.generation_id, "file": i.path}
                for i in inputs[g.id]
            ]
        images.append(image)
    return {
        "prompt_id": outcome.prompt.id,
        "provider": provider,
        "cost": None if outcome.cost is None else str(outcome.cost),
        "possibly_billed": outcome.possibly_billed,
        "seconds": round(outcome.seconds, 3),
        "warnings": outcome.warnings,
        "error": None
        if outcome.error is None
        else {"kind": outcome.error.kind, "message": redact_secrets(str(outcome.error))},
        "images": images,
    }


@command("models")
def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.generation.catalog import load_catalog

    catalog = load_catalog(settings.price_overrides)
    rows = []
    for spec in catalog.models():
        prices = spec.token_prices
        if prices.known:
            parts = [
                f"{label} ${getattr(prices, key).amount}"
                for key, label in (
                    ("text_in", "text in"),
                    ("image_in", "image in"),
                    ("image_out", "image out"),
                )
                if getattr(prices, key) is not None
            ]
            price = " / ".join(parts) + " per 1M tokens"
        elif spec.per_image_prices:
            amounts = sorted({p.price.amount for p in spec.per_image_prices})
            price = f"${amounts[0]}–${amounts[-1]} per image"
        else:
            price = "price unknown"
        status = (
            f"retired {spec.retired_on}, use {' or '.join(spec.successors)}"
            if spec.is_retired
            else "current"
        )
        rows.append(
            {
                "name": spec.name,
                "status": status,
                "retired": spec.is_retired,
                "sizes": spec.sizes.describe(),
                "qualities": list(spec.qualities),
                "formats": list(spec.output_formats),
                "n": list(spec.n_range),
                "streaming": spec.streaming,
                "price": price,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        mark = "✗" if row["retired"] else "•"
        print(f"{mark} {row['name']:<34} {row['status']}")
        print(f"    sizes: {row['sizes']}")
        print(
            f"    quality: {', '.join(row['qualities'])} · formats: {', '.join(row['formats'])} · "
            f"n {row['n'][0]}-{row['n'][1]}{' · streams' if row['streaming'] else ''}"
        )
        print(f"    {row['price']}")
    return 0


def data_paths(settings: Settings, config_file: Path) -> list[tuple[str, Path, str]]:
    """(key, path, what it is) for everything dalletui keeps on disk, data folder first."""
    from dalletui.config import state_path

    images = settings.images_dir
    return [
        ("home", settings.home, "data folder (--home, $DALLETUI_HOME, 'home' in the config)"),
        ("config", config_file, "config file (--config, $DALLETUI_CONFIG)"),
        ("database", settings.db_path, "database (SQLite)"),
        ("images", images, "images, by month: YYYY/MM/ID.png"),
        ("thumbnails", images / "YYYY" / "MM" / "thumbs", "thumbnails, beside each month's images"),
        ("trash", settings.home / "trash", "deleted images until purged (dalletui trash)"),
        ("log", settings.home / "dalletui.log", "log file (the TUI; internal errors)"),
        ("state", state_path(settings), "what the TUI remembers between runs (the theme picked)"),
    ]


def _exists(key: str, path: Path) -> bool:
    try:
        if key == "thumbnails":
            return any(p.is_dir() for p in path.parents[2].glob("*/*/thumbs"))
        return path.exists()
    except OSError:  # unreadable, or a name too long for the file system
        return False


@command("paths")
def cmd_paths(args: argparse.Namespace, settings: Settings) -> int:
    """Print where things are; nothing is opened, created or changed."""
    from dalletui.config import default_config_path, expand_path

    config_file = expand_path(args.config, "--config") if args.config else default_config_path()
    rows = [
        (key, path, what, _exists(key, path))
        for key, path, what in data_paths(settings, config_file)
    ]
    if args.json:
        data = {
            key: {"path": str(path), "exists": exists, "what": what}
            for key, path, what, exists in rows
        }
        print(dump_json(data, indent=2))
        return 0
    for key, path, _what, exists in rows:
        state = "exists" if exists else "missing"
        print(printable(f"{key:<11} {state:<8} {path}", single_line=True))
    return 0
