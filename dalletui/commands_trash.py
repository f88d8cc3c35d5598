"""``delete`` and ``trash`` subcommands (registered into ``dalletui.cli``).

Trash entries are named ``prompt:ID`` or ``generation:ID`` (``image:ID``, ``p:ID``, ``g:ID`` too),
as ``dalletui trash list`` prints them. Every id is checked before anything changes.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from dalletui.cli import PARSER_EXTENSIONS, _positive_int, command
from dalletui.config import Settings
from dalletui.errors import ValidationError
from dalletui.textsafe import dump_json, printable

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.trash import PurgeOutcome, TrashItem, TrashOutcome, TrashRef


def _add_parsers(sub: Any) -> None:
    delete = sub.add_parser(
        "delete", help="move a prompt (with its images) or one image to the trash"
    )
    delete.add_argument("kind", choices=("prompt", "generation"), help="what to delete")
    delete.add_argument("id", type=_positive_int, help="its id (see dalletui history)")

    trash = sub.add_parser("trash", help="list, restore or purge what was deleted")
    actions = trash.add_subparsers(dest="trash_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="what is in the trash, newest first")
    listing.add_argument("--json", action="store_true", help="print JSON")
    restore = actions.add_parser("restore", help="put entries back (prompt:ID, generation:ID)")
    restore.add_argument("refs", nargs="+", metavar="ID", help="prompt:ID or generation:ID")
    purge = actions.add_parser("purge", help="delete entries for good (prompt:ID, generation:ID)")
    purge.add_argument("refs", nargs="+", metavar="ID", help="prompt:ID or generation:ID")
    purge.add_argument("--yes", "-y", action="store_true", help="do not ask")
    empty = actions.add_parser("empty", help="delete everything in the trash for good")
    empty.add_argument(
        "--older-than", type=_days, metavar="DAYS", help="only what is older than DAYS"
    )
    empty.add_argument("--yes", "-y", action="store_true", help="do not ask")


PARSER_EXTENSIONS.append(_add_parsers)

#: A hundred years: beyond that "older than" means nothing.
MAX_DAYS = 36_500


def _days(text: str) -> int:
    days = _positive_int(text)
    if days > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{days} days is more than {MAX_DAYS:,}")
    return days


def _services(settings: Settings) -> Services:
    from dalletui.services.context import open_services

    return open_services(settings)


def format_size(size: int | None) -> str:
    from dalletui.services.trash import format_size as size_text  # lazy: start-up time

    return size_text(size)


def _count(number: int, noun: str) -> str:
    """'1 image', '3 images', '1 entry', '2 entries'."""
    if number == 1:
        return f"1 {noun}"
    return f"{number} {noun[:-1]}ies" if noun.endswith("y") else f"{number} {noun}s"


def _excerpt(text: str, width: int = 60) -> str:
    from dalletui.formatting import shorten

    return shorten(printable(text, single_line=True), width)


def _warn(problems: tuple[str, ...]) -> None:
    for problem in problems:
        print(f"warning: {printable(problem, single_line=True)}", file=sys.stderr)


def describe(item: TrashItem) -> str:
    """'prompt #12 and its 2 images' / 'image #34 of prompt #12'."""
    if item.kind == "prompt":
        count = item.image_count
        return f"prompt #{item.prompt_id}" + (
            f" and its {_count(count, 'image')}" if count > 1 else " and its image" if count else ""
        )
    return f"image #{item.ref.id} of prompt #{item.prompt_id}"


@command("delete")
def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        if args.kind == "prompt":
            outcome: TrashOutcome = services.trash.trash_prompt(args.id)
        else:
            outcome = services.trash.trash_generation(args.id)
    finally:
        services.close()
    _warn(outcome.problems)
    print(
        f"Moved {describe(outcome.item)} to the trash. "
        f"Undo: dalletui trash restore {outcome.item.ref}"
    )
    return 0


@command("trash")
def cmd_trash(args: argparse.Namespace, settings: Settings) -> int:
    handler = {
        "list": _trash_list,
        "restore": _trash_restore,
        "purge": _trash_purge,
        "empty": _trash_empty,
    }[args.trash_command]
    services = _services(settings)
    try:
        return handler(args, services)
    finally:
        services.close()


def _trash_list(args: argparse.Namespace, services: Services) -> int:
    items = services.trash.entries()
    if args.json:
        print(dump_json([_item_json(item) for item in items], indent=2))
        return 0
    if not items:
        print("The trash is empty.", file=sys.stderr)
        return 0
    print(f"{'ID':<18} {'TRASHED':<16} {'IMAGES':>6} {'SIZE':>8}  PROMPT")
    for item in items:
        when = item.deleted_at.strftime("%Y-%m-%d %H:%M")
        note = " (prompt in the trash too)" if item.prompt_trashed else ""
        print(
            f"{str(item.ref):<18} {when:<16} {item.image_count:>6} "
            f"{format_size(item.size_bytes):>8}  {_excerpt(item.text)}{note}"
        )
    total = sum(item.size_bytes or 0 for item in items)
    days = services.settings.trash_days
    kept = f"entries older than {days} days are purged at start" if days else "kept until emptied"
    print(f"{_count(len(items), 'entry')}, {format_size(total)}; {kept}.", file=sys.stderr)
    return 0


def _item_json(item: TrashItem) -> dict[str, Any]:
    return {
        "id": str(item.ref),
        "kind": item.kind,
        "prompt_id": item.prompt_id,
        "text": item.text,
        "deleted_at": item.deleted_at.isoformat(),
        "images": item.image_count,
        "generation_ids": [g.id for g in item.generations],
        "size_bytes": item.size_bytes,
        "prompt_in_trash": item.kind == "prompt" or item.prompt_trashed,
    }


def _checked(services: Services, texts: list[str]) -> list[TrashItem]:
    """Every entry named, or an error before anything changes."""
    from dalletui.services.trash import TrashRef

    refs: list[TrashRef] = list(dict.fromkeys(TrashRef.parse(text) for text in texts))
    return [services.trash.entry(ref) for ref in refs]


def _trash_restore(args: argparse.Namespace, services: Services) -> int:
    for item in _checked(services, args.refs):
        outcome = services.trash.restore(item.ref)
        _warn(outcome.problems)
        also = (
            f" (its prompt #{item.prompt_id} came back too)"
            if item.kind == "generation" and item.prompt_trashed
            else ""
        )
        print(f"Restored {describe(item)}{also}.")
    return 0


def _trash_purge(args: argparse.Namespace, services: Services) -> int:
    items = _checked(services, args.refs)
    if not _confirmed(args.yes, items, "these entries"):
        return 1
    return _report_purge(services.trash.purge([item.ref for item in items]))


def _trash_empty(args: argparse.Namespace, services: Services) -> int:
    older = args.older_than
    items = services.trash.entries(older_than_days=older)
    which = f" older than {older} days" if older else ""
    if not items:
        print(f"Nothing in the trash{which}.", file=sys.stderr)
        return 0
    if not _confirmed(args.yes, items, f"everything in the trash{which}"):
        return 1
    return _report_purge(services.trash.purge([item.ref for item in items], sweep=True))


def _confirmed(yes: bool, items: list[TrashItem], what: str) -> bool:
    """``--yes``, or a yes typed at a terminal; a script without ``--yes`` is refused."""
    if yes:
        return True
    images = sum(item.image_count for item in items)
    size = format_size(sum(item.size_bytes or 0 for item in items))
    summary = f"{_count(len(items), 'entry')}, {_count(images, 'image')}, {size}"
    if not sys.stdin.isatty():
        raise ValidationError(
            f"This deletes {what} for good ({summary}); add --yes to confirm. Nothing was deleted."
        )
    answer = input(f"Delete {what} for good ({summary})? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print("Nothing was deleted.", file=sys.stderr)
        return False
    return True


def _report_purge(outcome: PurgeOutcome) -> int:
    _warn(outcome.problems)
    print(
        f"Purged {_count(outcome.entries, 'entry')} ({_count(outcome.generations, 'generation')}, "
        f"{_count(outcome.files, 'file')}, {format_size(outcome.bytes_freed)} freed). "
        "Usage totals are unchanged."
    )
    return 0
