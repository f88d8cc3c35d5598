"""``dalletui history --family ID``: a prompt's versions, each with its diff against its parent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dalletui.textsafe import dump_json, printable

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.versions import FamilyView, VersionRow


def print_family(services: Services, prompt_id: int, *, as_json: bool = False) -> int:
    """Print the chain of ancestors down to ``prompt_id``, then its children."""
    family = services.history.family(prompt_id)
    if as_json:
        print(dump_json(family.to_dict(), indent=2))
        return 0
    for line in family_lines(family):
        print(line)
    return 0


def family_lines(family: FamilyView) -> list[str]:
    """``#2  a [-cat-]{+dog+} on a mat`` for each version, the prompt asked for marked ``>``."""
    lines = [f"Prompt #{family.prompt.id}: its versions, oldest first ([-removed-] {{+added+}})"]
    if family.parent_trashed:
        lines.append("  (made from a prompt in the trash)")
    for row in family.chain:
        lines.append(_line(row, mark=">" if row.id == family.prompt.id else " "))
    if family.child_count:
        lines.append(f"Made from it ({family.child_count:,}):")
        lines.extend(_line(child, mark=" ") for child in family.children)
        hidden = family.child_count - len(family.children)
        if hidden > 0:
            lines.append(f"  … and {hidden:,} more")
    elif not family.ancestors:
        lines.append("No other versions: nothing was made from it, and it from nothing.")
    return lines


def _line(row: VersionRow, *, mark: str) -> str:
    text = row.plain_diff if row.diff else row.text
    return f"{mark} #{row.id:<6} {printable(text, single_line=True)}"
