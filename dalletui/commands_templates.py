"""``dalletui templates`` and ``dalletui vars``: the Templates screen's jobs, for scripts.

Everything goes through ``TemplateService``, so a name, a body or a list of values is refused
with the same sentence as in the TUI. Templates and variables are named, not numbered, on the
command line (their names are unique). Values are given as separate arguments, and each
argument may also hold several, separated by commas (``\\,`` is a comma inside a value), as in
``batch run --var``. Deleting asks first: ``--yes``, or a yes typed at a terminal.
Registered into ``dalletui.cli``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from dalletui.cli import PARSER_EXTENSIONS, command
from dalletui.config import Settings
from dalletui.errors import NotFoundError, ValidationError
from dalletui.formatting import shorten
from dalletui.textsafe import dump_json, printable

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.templates import Expansion, TemplateSummary, TemplateVariable

#: How many of a template's prompts ``templates show`` prints.
SAMPLES = 3
#: Between values when they are listed (a value may hold a comma).
VALUE_SEPARATOR = " · "


def _add_parsers(sub: Any) -> None:
    templates = sub.add_parser(
        "templates", help="list, show, add, edit or remove prompt templates ({name} placeholders)"
    )
    actions = templates.add_subparsers(dest="templates_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every template with how many prompts it makes")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = actions.add_parser(
        "show", help="a template's body, its placeholders and values, and its expansion count"
    )
    show.add_argument("name", help="template name (see dalletui templates list)")
    show.add_argument("--json", action="store_true", help="print JSON")
    add = actions.add_parser("add", help="save a new template")
    add.add_argument("name", help="a unique name")
    add.add_argument(
        "body", help="text with {name} placeholders and {a|b} alternatives ('-' reads stdin)"
    )
    add.add_argument("--description", "-d", default="", help="what the template is for")
    edit = actions.add_parser("edit", help="change a template's body, name or description")
    edit.add_argument("name", help="template name (see dalletui templates list)")
    edit.add_argument("--body", "-b", help="the new body ('-' reads stdin)")
    edit.add_argument("--name", "-n", dest="new_name", metavar="NEW_NAME", help="a new name")
    edit.add_argument("--description", "-d", help="a new description ('' clears it)")
    remove = actions.add_parser("rm", help="delete a template (its batches keep their prompts)")
    remove.add_argument("name", help="template name (see dalletui templates list)")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask")

    variables = sub.add_parser(
        "vars", help="list, set or remove template variables (a name and its values)"
    )
    actions = variables.add_subparsers(dest="vars_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every variable, its values and who uses it")
    listing.add_argument("--json", action="store_true", help="print JSON")
    put = actions.add_parser("set", help="define a variable, or replace its values")
    put.add_argument("name", help="letters, digits and _, not starting with a digit")
    put.add_argument(
        "values",
        nargs="+",
        metavar="VALUE",
        help="its values: separate arguments, or separated by commas (\\, is a comma)",
    )
    put.add_argument("--description", "-d", help="what the values are")
    remove = actions.add_parser("rm", help="delete a variable (templates using it lose it)")
    remove.add_argument("name", help="variable name (see dalletui vars list)")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask")


PARSER_EXTENSIONS.append(_add_parsers)


def _services(settings: Settings) -> Services:
    from dalletui.services.context import open_services

    return open_services(settings)


def _line(text: str, width: int | None = None) -> str:
    """Outside text (names, bodies, values) on one line, safe for the terminal."""
    flat = printable(text, single_line=True)
    return flat if width is None else shorten(flat, width)


def _plural(number: int | None, noun: str) -> str:
    if number is None:
        return f"? {noun}s"
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def _read_body(body: str) -> str:
    return sys.stdin.read().strip() if body == "-" else body


# -- templates --------------------------------------------------------------------------------


@command("templates")
def cmd_templates(args: argparse.Namespace, settings: Settings) -> int:
    handler = {
        "list": _templates_list,
        "show": _templates_show,
        "add": _templates_add,
        "edit": _templates_edit,
        "rm": _templates_rm,
    }[args.templates_command]
    services = _services(settings)
    try:
        return handler(args, services)
    finally:
        services.close()


def _placeholder_json(expansion: Expansion, name: str) -> dict[str, Any]:
    values = expansion.values.get(name)
    return {
        "name": name,
        "kind": "alternative" if name.startswith("#") else "variable",
        "label": expansion.label(name),
        "values": None if values is None else list(values),
        "known": values is not None,
    }


def _summary_json(summary: TemplateSummary, *, samples: bool = False) -> dict[str, Any]:
    template, expansion = summary.template, summary.expansion
    data: dict[str, Any] = {
        "name": template.name,
        "description": template.description,
        "body": template.body,
        "created_at": template.created_at.isoformat(),
        "updated_at": template.updated_at.isoformat(),
        "placeholders": []
        if expansion is None
        else [_placeholder_json(expansion, n) for n in expansion.names],
        "unknown": [] if expansion is None else list(expansion.unknown),
        "prompts": summary.count,
        "factors": None if expansion is None else expansion.factors(),
        "problems": list(summary.problems),
    }
    if samples:
        data["samples"] = _samples(expansion)
    return data


def _samples(expansion: Expansion | None) -> list[str]:
    if expansion is None or not expansion.ok or not expansion.count:
        return []
    return expansion.samples(SAMPLES)


def _count_text(summary: TemplateSummary) -> str:
    """'6 prompts (style 3 × {warm|cold} 2)', or why there are none yet."""
    expansion = summary.expansion
    if expansion is None:
        return "malformed: " + " ".join(summary.problems)
    if expansion.unknown:
        listed = ", ".join(f"{{{name}}}" for name in expansion.unknown)
        return (
            f"no prompts until {listed} {'has' if len(expansion.unknown) == 1 else 'have'} values"
        )
    if not expansion.names:
        return "1 prompt (no placeholders)"
    return f"{_plural(expansion.count, 'prompt')} ({expansion.factors()})"


def _placeholder_label(expansion: Expansion, name: str) -> str:
    """``{style}``, ``{red|green}``, or ``{subject} (unknown)``."""
    label = expansion.label(name)
    shown = label if name.startswith("#") else f"{{{label}}}"
    return f"{shown} (unknown)" if name in expansion.unknown else shown


def _templates_list(args: argparse.Namespace, services: Services) -> int:
    summaries = services.templates.summaries()
    if args.json:
        print(dump_json([_summary_json(s) for s in summaries], indent=2))
        return 0
    if not summaries:
        print(
            'No templates yet; add one: dalletui templates add NAME "a {style} portrait"',
            file=sys.stderr,
        )
        return 0
    print(f"{'NAME':<24} {'PROMPTS':>9}  PLACEHOLDERS")
    for summary in summaries:
        expansion = summary.expansion
        if expansion is None:
            count, names = "malformed", _line(" ".join(summary.problems), 60)
        else:
            count = "?" if expansion.unknown else f"{expansion.count:,}"
            names = " ".join(_placeholder_label(expansion, name) for name in expansion.names)
            names = _line(names or "-", 70)
        about = summary.template.description
        tail = f"  · {_line(about, 40)}" if about else ""
        print(f"{_line(summary.template.name, 24):<24} {count:>9}  {names}{tail}")
    print(f"{_plural(len(summaries), 'template')}.", file=sys.stderr)
    return 0


def _templates_show(args: argparse.Namespace, services: Services) -> int:
    summary = services.templates.describe(args.name)
    if args.json:
        print(dump_json(_summary_json(summary, samples=True), indent=2))
        return 0
    template, expansion = summary.template, summary.expansion
    about = f" · {_line(template.description)}" if template.description else ""
    print(f"{_line(template.name)}{about}")
    print("body:")
    for line in printable(template.body).splitlines() or [""]:
        print(f"  {line}")
    if expansion is None:
        print("problems:")
        for problem in summary.problems:
            print(f"  {_line(problem)}")
        return 0
    if expansion.names:
        print("placeholders:")
        for name in expansion.names:
            shown = _line(_placeholder_label(expansion, name).removesuffix(" (unknown)"), 30)
            values = expansion.values.get(name)
            if values is None:
                what = f"unknown: define it with dalletui vars set {_line(name, 30)} VALUE..."
            else:
                noun = "alternative" if name.startswith("#") else "value"
                what = f"{_plural(len(values), noun)}: {_line(VALUE_SEPARATOR.join(values), 60)}"
            print(f"  {shown:<24} {what}")
    else:
        print("placeholders: none")
    print(f"expands to: {_line(_count_text(summary))}")
    samples = _samples(expansion)
    if samples:
        print("first, middle and last prompts:" if len(samples) == SAMPLES else "prompts:")
        for sample in samples:
            print(f"  {_line(sample, 160)}")
    return 0


def _templates_add(args: argparse.Namespace, services: Services) -> int:
    body = _read_body(args.body)
    template = services.templates.create_template(args.name, body, args.description)
    summary = services.templates.describe(template.name)
    print(f"Saved the template '{_line(template.name)}': {_line(_count_text(summary))}.")
    return 0


def _templates_edit(args: argparse.Namespace, services: Services) -> int:
    if args.body is None and args.new_name is None and args.description is None:
        raise ValidationError(
            "Nothing to change: give --body, --name or --description. Nothing was changed."
        )
    current = services.templates.get_template_by_name(args.name.strip())
    body = None if args.body is None else _read_body(args.body)
    template = services.templates.update_template(
        current.id, name=args.new_name, body=body, description=args.description
    )
    summary = services.templates.describe(template.name)
    renamed = f" (was '{_line(current.name)}')" if template.name != current.name else ""
    print(f"Saved the template '{_line(template.name)}'{renamed}: {_line(_count_text(summary))}.")
    return 0


def _templates_rm(args: argparse.Namespace, services: Services) -> int:
    template = services.templates.get_template_by_name(args.name.strip())
    if not _confirmed(args.yes, f"the template '{_line(template.name, 60)}'"):
        return 1
    services.templates.delete_template(template.id)
    print(f"Deleted the template '{_line(template.name)}'.")
    return 0


# -- variables --------------------------------------------------------------------------------


@command("vars")
def cmd_vars(args: argparse.Namespace, settings: Settings) -> int:
    handler = {"list": _vars_list, "set": _vars_set, "rm": _vars_rm}[args.vars_command]
    services = _services(settings)
    try:
        return handler(args, services)
    finally:
        services.close()


def _variable_json(variable: TemplateVariable, used_by: list[str]) -> dict[str, Any]:
    return {
        "name": variable.name,
        "values": list(variable.values),
        "description": variable.description,
        "used_by": used_by,
        "created_at": variable.created_at.isoformat(),
        "updated_at": variable.updated_at.isoformat(),
    }


def _vars_list(args: argparse.Namespace, services: Services) -> int:
    variables = services.templates.list_variables()
    users = services.templates.variable_users()
    if args.json:
        rows = [_variable_json(v, users.get(v.name, [])) for v in variables]
        print(dump_json(rows, indent=2))
        return 0
    if not variables:
        print(
            "No variables yet; define one: dalletui vars set style watercolour ink", file=sys.stderr
        )
        return 0
    print(f"{'NAME':<20} {'COUNT':>6}  {'USED BY':<24}  VALUES")
    for variable in variables:
        used = ", ".join(users.get(variable.name, [])) or "-"
        values = VALUE_SEPARATOR.join(variable.values)
        print(
            f"{_line(variable.name, 20):<20} {len(variable.values):>6}  {_line(used, 24):<24}  "
            f"{_line(values, 70)}"
        )
    print(f"{_plural(len(variables), 'variable')}.", file=sys.stderr)
    return 0


def parse_values(arguments: list[str]) -> list[str]:
    r"""The values ``vars set`` was given: each argument split at commas (``\,`` stays one).

    A comma that leaves an empty value is refused here, where the comma can be named; every
    other rule (blank or repeated values) is the service's, in the TUI's words.
    """
    from dalletui.services.templates import split_values

    values: list[str] = []
    for argument in arguments:
        parts = split_values(argument)
        if len(parts) > 1 and not all(parts):
            raise ValidationError(
                f"'{_line(argument, 60)}' has an empty value; remove the extra comma "
                "(write \\, for a comma inside a value). Nothing was changed."
            )
        values.extend(parts)
    return values


def _vars_set(args: argparse.Namespace, services: Services) -> int:
    values = parse_values(args.values)
    try:
        before: int | None = len(services.templates.get_variable_by_name(args.name).values)
    except NotFoundError:
        before = None
    variable, created = services.templates.set_variable(args.name, values, args.description)
    count = _plural(len(variable.values), "value")
    if created:
        print(f"Defined {{{_line(variable.name)}}}: {count}.")
    else:
        print(f"Replaced the values of {{{_line(variable.name)}}}: {count} (was {before}).")
    return 0


def _vars_rm(args: argparse.Namespace, services: Services) -> int:
    variable = services.templates.get_variable_by_name(args.name)
    users = services.templates.variable_users().get(variable.name, [])
    name = _line(variable.name, 40)
    what = f"the variable {{{name}}} and its {_plural(len(variable.values), 'value')}"
    if users:
        what += f" ({{{name}}} becomes unknown in: {_line(', '.join(users), 80)})"
    if not _confirmed(args.yes, what):
        return 1
    services.templates.delete_variable(variable.id)
    print(f"Deleted the variable {{{_line(variable.name)}}}.")
    return 0


# -- confirmation -----------------------------------------------------------------------------


def _confirmed(yes: bool, what: str) -> bool:
    """``--yes``, or a yes typed at a terminal; a script without ``--yes`` is refused."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ValidationError(f"This deletes {what}; add --yes to confirm. Nothing was deleted.")
    answer = input(f"Delete {what}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        print("Nothing was deleted.", file=sys.stderr)
        return False
    return True
