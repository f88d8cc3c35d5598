"""``dalletui edit``, ``vary`` and ``lineage``: images made from images, and where they came from.

Registered into ``dalletui.cli``. ``edit`` and ``vary`` run as ``generate`` does, with its helpers:
every problem is said (one sentence each) before anything is recorded or sent; the estimate, or
why the cost is unknown, before sending (a request that may pass the monthly budget asks, or
needs ``--yes`` in a script); after, each image's path, ``gen:ID``, cost from the real tokens
and what it was made from. ``dalletui retry ID`` sends a failed or possibly billed edit again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from dalletui.cli import MAX_INT64, PARSER_EXTENSIONS, command, completes_paths, int_between
from dalletui.commands import (
    add_image_options,
    add_output_options,
    confirm_send,
    edit_inputs,
    prepare_send,
    read_prompt,
    report_outcome,
    request_options,
    send,
)
from dalletui.config import Settings
from dalletui.errors import ValidationError
from dalletui.formatting import shorten
from dalletui.textsafe import dump_json, printable

#: The most input images an edit takes (the catalogue says so per model; this is for --help).
MAX_IMAGES = 16
#: Shown beside --size: an edit keeps the first image's shape unless told otherwise.
EDIT_SIZE_HELP = "WIDTHxHEIGHT or auto (default: auto, the shape of the first image)"
_IMAGE_HELP = "a file or gen:ID"


def _generation_id(text: str) -> int:
    """``12``, ``gen:12`` or ``#12`` as a generation id (argparse ``type``)."""
    from dalletui.services.editing import generation_ref

    number = generation_ref(text)
    return int_between(1, MAX_INT64)(text if number is None else str(number))


_generation_id.__name__ = "generation id"  # what argparse calls the type in its messages


def _add_send_options(parser: argparse.ArgumentParser, *, count: bool) -> None:
    parser.add_argument(
        "--fidelity",
        dest="input_fidelity",
        choices=("high", "low"),
        help="how closely the input's details are kept (model dependent; none for gpt-image-2)",
    )
    add_image_options(parser, count=count, size_help=EDIT_SIZE_HELP)
    parser.add_argument(
        "--partial-images",
        type=int_between(0, 3),
        default=0,
        metavar="N",
        help="stream the edit, showing N partial images on the way (0-3)",
    )
    add_output_options(parser)
    parser.add_argument(
        "--yes", "-y", action="store_true", help="send without asking, even past the monthly budget"
    )


def _add_parsers(sub: Any) -> None:
    edit = sub.add_parser(
        "edit",
        help="edit images (files or gen:ID) with a prompt, with a mask or markup",
        usage="%(prog)s [options] IMAGE… PROMPT",
        description=(
            f"Edit one image, or combine up to {MAX_IMAGES} reference images, as the prompt says.\n"
            "Each IMAGE is a file or gen:ID (one of dalletui's images, which becomes the parent\n"
            "of what the edit makes); the last argument is the prompt. Options go before or\n"
            "after IMAGE… PROMPT, not between them."
        ),
    )
    completes_paths(
        edit.add_argument(
            "inputs",
            nargs="+",
            metavar="IMAGE… PROMPT",
            help=f"1 to {MAX_IMAGES} images ({_IMAGE_HELP}), then the prompt "
            "('-' reads it from stdin)",
        )
    )
    overlay = edit.add_mutually_exclusive_group()
    overlay.add_argument(
        "--mask",
        type=Path,
        metavar="M",
        help="PNG the size of the first image, transparent where the edit may change it",
    )
    overlay.add_argument(
        "--markup",
        type=Path,
        metavar="K",
        help="transparent PNG drawn over the image to guide the edit (models that take it)",
    )
    _add_send_options(edit, count=True)

    vary = sub.add_parser(
        "vary",
        help="one variation of an image (the prompt defaults to the image's own)",
        description=(
            "Make one variation of IMAGE. For gen:ID (or a file from dalletui's images folder)\n"
            "the prompt defaults to the one that made it; any other file needs a PROMPT."
        ),
    )
    completes_paths(vary.add_argument("image", metavar="IMAGE", help=_IMAGE_HELP))
    vary.add_argument(
        "prompt",
        nargs="?",
        metavar="PROMPT",
        help="what to change ('-' reads it from stdin; default: the image's)",
    )
    _add_send_options(vary, count=False)

    lineage = sub.add_parser(
        "lineage", help="what an image was made from, and what was made from it"
    )
    lineage.add_argument(
        "id", type=_generation_id, metavar="ID", help="generation id: 12, gen:12 or #12"
    )
    lineage.add_argument("--json", action="store_true", help="print JSON")


PARSER_EXTENSIONS.append(_add_parsers)


@command("edit")
def cmd_edit(args: argparse.Namespace, settings: Settings) -> int:
    *images, prompt = args.inputs
    if not images:
        raise ValidationError(
            "Name the image to edit before the prompt: dalletui edit IMAGE… PROMPT."
        )
    return _send_edit(args, settings, images, prompt, kind="edit")


@command("vary")
def cmd_vary(args: argparse.Namespace, settings: Settings) -> int:
    return _send_edit(args, settings, [args.image], args.prompt, kind="variation")


def _send_edit(
    args: argparse.Namespace,
    settings: Settings,
    images: list[str],
    prompt: str | None,
    *,
    kind: str,
) -> int:
    from dalletui.services.context import open_services
    from dalletui.services.editing import build_edit, resolve_source

    if args.provider:
        settings = settings.with_overrides(provider=args.provider)
    text = None if prompt is None else read_prompt(prompt)
    options = request_options(args, settings, size="auto")
    if kind == "variation":
        options["n"] = 1
    services = open_services(settings)
    try:
        sources = [resolve_source(services.db, spec) for spec in images]
        if text is None:
            text = _own_prompt(services, sources[0])
        mask, markup = getattr(args, "mask", None), getattr(args, "markup", None)
        plan = build_edit(
            text,
            sources,
            mask=resolve_source(services.db, mask, "mask") if mask else None,
            markup=resolve_source(services.db, markup, "markup") if markup else None,
            input_fidelity=args.input_fidelity,
            kind=kind,
            partial_images=args.partial_images,
            **options,
        )
        request = plan.request
        note = "drawing local placeholder edits"
        provider, _ = prepare_send(services, request, args, note)
        offline = provider == "offline"
        estimate = services.usage.estimate(request, offline)
        if not offline and not args.json:
            print(_estimate_line(kind, request, estimate), file=sys.stderr)
        if not confirm_send(services.usage.budget_question(request, offline), yes=args.yes):
            return 1
        outcome = asyncio.run(send(services, request, quiet=args.json, plan=plan))
        inputs = edit_inputs(services, outcome.generations)
    finally:
        services.close()
    extra = {"kind": kind, "estimate": estimate.to_dict()}
    return report_outcome(outcome, request.n, provider, args, inputs, extra)


def _own_prompt(services: Any, source: Any) -> str:
    """The prompt that made ``source`` (a variation's default); an outside file has none."""
    if source.generation_id is None:
        raise ValidationError(
            f"{source.path.name} is not one of dalletui's images, so it has no prompt to vary; "
            'give one: dalletui vary IMAGE "PROMPT".'
        )
    return str(services.db.get_generation(source.generation_id).prompt.text)


def _estimate_line(kind: str, request: Any, cost: Any) -> str:
    """``Edit (1 image, gpt-image-1.5): estimated $0.05 from 3 past edits.`` or why unknown."""
    from dalletui.services.usage import cost_phrase

    phrase = cost_phrase(cost).replace(", from ", " from ")
    images = f"{request.n} image" + ("" if request.n == 1 else "s")
    what = "Variation" if kind == "variation" else "Edit"
    return printable(f"{what} ({images}, {request.model}): {phrase}.", single_line=True)


# -- lineage ----------------------------------------------------------------------------------


@command("lineage")
def cmd_lineage(args: argparse.Namespace, settings: Settings) -> int:
    from dalletui.services.context import open_services

    services = open_services(settings)
    try:
        view = services.history.lineage(args.id)
    finally:
        services.close()
    if args.json:
        print(dump_json(_lineage_json(view), indent=2))
        return 0
    this = view.row
    print(_safe(f"#{this.id} {view.kind}: {shorten(this.prompt_text, 80)}"))
    print("made from:" if view.inputs else "made from: nothing (a first image)")
    for item in view.inputs:
        missing = "" if item.available else " (missing)"
        print(_safe(f"  {item.role:<6} {item.label}{missing}"))
    print("chain, oldest first:")
    for row in view.chain:
        print(_row_line(row, mark="  ← this" if row.id == this.id else ""))
    print("children:" if view.children else "children: none")
    for row in view.children:
        print(_row_line(row))
    return 0


def _safe(text: str) -> str:
    return printable(text, single_line=True)


def _row_line(row: Any, mark: str = "") -> str:
    status = "" if row.status == "succeeded" else f" ({row.status.replace('_', ' ')})"
    kind = str(row.generation.kind or "generate")
    return _safe(f"  #{row.id:<5} {kind:<10} {shorten(row.prompt_text, 70)}{status}{mark}")


def _row_json(row: Any) -> dict[str, Any]:
    g = row.generation
    return {
        "id": row.id,
        "kind": g.kind or "generate",
        "status": row.status,
        "prompt": row.prompt_text,
        "path": g.file_path,
        "model": g.model,
    }


def _lineage_json(view: Any) -> dict[str, Any]:
    return {
        **_row_json(view.row),
        "kind": view.kind,
        "parent": None if view.parent is None else view.parent.id,
        "chain": [_row_json(row) for row in view.chain],
        "inputs": [
            {
                "role": item.role,
                "generation_id": item.generation_id,
                "file": item.path,
                "available": item.available,
            }
            for item in view.inputs
        ],
        "children": [_row_json(row) for row in view.children],
    }
