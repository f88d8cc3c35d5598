"""``tag``, ``tags``, ``collection`` and ``note`` subcommands (registered into ``dalletui.cli``).

An item is a prompt id (``12``) or an image (``gen:34``), as ``dalletui history`` and
``dalletui edit`` name them. Every item is checked before anything changes.
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
    from dalletui.services.organize import CollectionEntry, CollectionSummary, ItemRef


def _add_parsers(sub: Any) -> None:
    tag = sub.add_parser("tag", help="tag a prompt (or take tags off it with --rm)")
    tag.add_argument("id", type=_positive_int, metavar="ID", help="a prompt id")
    tag.add_argument("tags", nargs="+", metavar="TAG", help="tags (any case; quote spaces)")
    tag.add_argument("--rm", action="store_true", help="take these tags off instead")
    tag.add_argument("--json", action="store_true", help="print JSON")

    tags = sub.add_parser("tags", help="every tag in use, with how many prompts carry it")
    tags.add_argument("--json", action="store_true", help="print JSON")

    collection = sub.add_parser("collection", help="named, ordered lists of prompts and images")
    actions = collection.add_subparsers(dest="collection_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every collection, with its item counts")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = actions.add_parser("show", help="the items of a collection, in order")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print JSON")
    add = actions.add_parser("add", help="add prompts (ID) or images (gen:ID), in order")
    add.add_argument("name", metavar="NAME")
    add.add_argument("refs", nargs="+", metavar="ID", help="a prompt id or gen:ID")
    add.add_argument(
        "--at", type=int, metavar="POSITION", help="insert from this position (0 is first)"
    )
    rm = actions.add_parser("rm", help="take prompts or images out of a collection")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("refs", nargs="+", metavar="ID", help="a prompt id or gen:ID")
    move = actions.add_parser("move", help="move an item to another position (0 is first)")
    move.add_argument("name", metavar="NAME")
    move.add_argument("ref", metavar="ID", help="a prompt id or gen:ID")
    move.add_argument("position", type=int, metavar="POSITION")
    create = actions.add_parser("create", help="a new, empty collection")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--description", default="", help="what it gathers")
    rename = actions.add_parser("rename", help="rename a collection")
    rename.add_argument("name", metavar="NAME")
    rename.add_argument("new_name", metavar="NEW_NAME")
    delete = actions.add_parser("delete", help="delete a collection (not what is in it)")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask")

    note = sub.add_parser("note", help="set the note of a prompt (ID) or an image (gen:ID)")
    note.add_argument("ref", metavar="ID", help="a prompt id or gen:ID")
    note.add_argument("text", metavar="TEXT", help="the note ('-' reads stdin; '' clears it)")


PARSER_EXTENSIONS.append(_add_parsers)


def _services(settings: Settings) -> Services:
    from dalletui.services.context import open_services

    return open_services(settings)


def _refs(texts: list[str]) -> list[ItemRef]:
    from dalletui.services.organize import ItemRef

    return list(dict.fromkeys(ItemRef.parse(text) for text in texts))


def _one_line(text: str, width: int | None = None) -> str:
    from dalletui.formatting import shorten

    line = printable(text, single_line=True)
    return shorten(line, width) if width else line


def _count(number: int, noun: str) -> str:
    return f"1 {noun}" if number == 1 else f"{number} {noun}s"


# -- tags ------------------------------------------------------------------------------------


@command("tag")
def cmd_tag(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        organize = services.organize
        done = (organize.untag if args.rm else organize.tag)([args.id], args.tags)
    finally:
        services.close()
    now_tagged = done.tags.get(args.id, [])
    if args.json:
        print(dump_json({"id": args.id, "changed": done.changed, "tags": now_tagged}))
        return 0
    verb = "Removed" if args.rm else "Added"
    shown = ", ".join(_one_line(t) for t in now_tagged) or "none"
    print(f"{verb} {_count(done.changed, 'tag')} on prompt #{args.id}; its tags: {shown}.")
    return 0


@command("tags")
def cmd_tags(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    try:
        tags = services.organize.tags()
    finally:
        services.close()
    if args.json:
        print(dump_json([{"name": t.name, "prompts": t.count} for t in tags], indent=2))
        return 0
    if not tags:
        print("No tags yet: dalletui tag ID TAG adds one.", file=sys.stderr)
        return 0
    print(f"{'PROMPTS':>7}  TAG")
    for tag in tags:
        print(f"{tag.count:>7}  {_one_line(tag.name)}")
    return 0


# -- collections -----------------------------------------------------------------------------


@command("collection")
def cmd_collection(args: argparse.Namespace, settings: Settings) -> int:
    handler = {
        "list": _list,
        "show": _show,
        "add": _add,
        "rm": _rm,
        "move": _move,
        "create": _create,
        "rename": _rename,
        "delete": _delete,
    }[args.collection_command]
    services = _services(settings)
    try:
        return handler(args, services)
    finally:
        services.close()


def _summary_json(summary: CollectionSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "uid": summary.uid,
        "name": summary.name,
        "description": summary.description,
        "items": summary.count,
        "created_at": summary.created_at.isoformat(),
        "updated_at": summary.updated_at.isoformat(),
    }


def _entry_json(entry: CollectionEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "id": entry.ref,
        "kind": "prompt" if entry.kind == "prompt" else "image",
        "prompt_id": entry.prompt_id,
        "generation_id": entry.generation_id,
        "text": entry.text,
        "model": entry.model,
        "file_path": entry.file_path,
        "added_at": entry.added_at.isoformat(),
    }


def _list(args: argparse.Namespace, services: Services) -> int:
    found = services.organize.collections()
    if args.json:
        print(dump_json([_summary_json(s) for s in found], indent=2))
        return 0
    if not found:
        print("No collections yet: dalletui collection create NAME makes one.", file=sys.stderr)
        return 0
    print(f"{'ITEMS':>5}  {'NAME':<30}  DESCRIPTION")
    for summary in found:
        name = _one_line(summary.name)
        print(f"{summary.count:>5}  {name:<30}  {_one_line(summary.description, 60)}".rstrip())
    return 0


def _show(args: argparse.Namespace, services: Services) -> int:
    view = services.organize.collection(args.name)
    if args.json:
        print(
            dump_json(
                {**_summary_json(view.summary), "entries": [_entry_json(e) for e in view.items]},
                indent=2,
            )
        )
        return 0
    print(f"{_one_line(view.summary.name)} ({_count(view.summary.count, 'item')})")
    if view.summary.description:
        print(printable(view.summary.description))
    for entry in view.items:
        print(f"{entry.position:>4}  {entry.ref:<12}  {_one_line(entry.text, 70)}")
    return 0


def _add(args: argparse.Namespace, services: Services) -> int:
    if args.at is not None and args.at < 0:
        raise ValidationError("--at is a position, 0 or more.")
    refs = _refs(args.refs)
    places = services.organize.add(args.name, refs, position=args.at)
    where = f" at position {places[0]}" if args.at is not None else ""
    print(f"Added {_count(len(refs), 'item')} to {_one_line(args.name)}{where}.")
    return 0


def _rm(args: argparse.Namespace, services: Services) -> int:
    removed = services.organize.remove(args.name, _refs(args.refs))
    print(f"Took {_count(removed, 'item')} out of {_one_line(args.name)}.")
    return 0


def _move(args: argparse.Namespace, services: Services) -> int:
    if args.position < 0:
        raise ValidationError("A position is 0 or more.")
    (ref,) = _refs([args.ref])
    at = services.organize.move(args.name, ref, args.position)
    print(f"Moved {ref.label} to position {at} of {_one_line(args.name)}.")
    return 0


def _create(args: argparse.Namespace, services: Services) -> int:
    made = services.organize.create_collection(args.name, args.description)
    print(f"Created collection {_one_line(made.name)}.")
    return 0


def _rename(args: argparse.Namespace, services: Services) -> int:
    renamed = services.organize.rename_collection(args.name, args.new_name)
    print(f"Renamed {_one_line(args.name)} to {_one_line(renamed.name)}.")
    return 0


def _delete(args: argparse.Namespace, services: Services) -> int:
    view = services.organize.collection(args.name)  # refused before asking when it is not there
    name = _one_line(view.summary.name)
    if not args.yes:
        what = f"collection {name} ({_count(view.summary.count, 'item')})"
        if not sys.stdin.isatty():
            raise ValidationError(
                f"This deletes the {what}; add --yes to confirm. Nothing was deleted."
            )
        answer = input(f"Delete the {what}? Its prompts and images stay. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing was deleted.", file=sys.stderr)
            return 1
    services.organize.delete_collection(view.summary.id)
    print(f"Deleted collection {name}; its prompts and images are still in your history.")
    return 0


# -- notes -----------------------------------------------------------------------------------


@command("note")
def cmd_note(args: argparse.Namespace, settings: Settings) -> int:
    (ref,) = _refs([args.ref])
    text = sys.stdin.read() if args.text == "-" else args.text
    services = _services(settings)
    try:
        stored = services.organize.set_note(ref, text)
    finally:
        services.close()
    if stored:
        print(f"Noted on {ref.label}: {_one_line(stored, 70)}")
    else:
        print(f"Cleared the note of {ref.label}.")
    return 0
