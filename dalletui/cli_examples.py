"""Examples for ``dalletui COMMAND --help``: one mapping, shown as each parser's epilog.

Kept apart from the commands so that every command, including ones an extension adds later,
is held to the same rule (tests/test_cli_complete.py): each has at least one example, and each
example parses. A command whose key is here but which is not registered (a module not
installed yet) is simply not shown. A parent of sub-actions (``batch``, ``trash``) shows the
first example of each action unless it has its own.

An example is one shell command line; anything after a ``>`` or ``|`` is shell, not dalletui
(the test parses only what comes before).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

#: Command path ("" for ``dalletui`` itself, "trash list" for a sub-action) -> example lines.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "dalletui                                   # open the TUI",
        'dalletui generate "a red fox in snow, watercolour"',
        "dalletui history --search fox",
        "dalletui --print-completion bash > ~/.local/share/bash-completion/completions/dalletui",
    ),
    # -- prompts and images
    "generate": (
        'dalletui generate "a lighthouse at dusk, oil painting"',
        'dalletui generate "isometric city" --model gpt-image-1-mini --size 1536x1024 -n 2',
        "dalletui generate - --quality high --out ./renders < prompt.txt",
        'dalletui generate "a logo" --background transparent --complexity high --partial-images 2',
        'dalletui generate "a cat" --provider offline --json',
    ),
    "retry": ("dalletui retry 42", "dalletui retry 42 --out ./renders --json"),
    "edit": (
        'dalletui edit gen:42 "the same lighthouse in a storm"',
        'dalletui edit photo.png gen:42 logo.png "the logo on the mug, on a desk" --fidelity high',
        'dalletui edit gen:42 "a red door" --mask door-mask.png --quality high --out ./renders',
        "dalletui edit gen:42 - --partial-images 2 --json < prompt.txt",
    ),
    "vary": ("dalletui vary gen:42", 'dalletui vary sketch.png "a finished watercolour" --json'),
    "lineage": ("dalletui lineage 42", "dalletui lineage gen:42 --json"),
    "models": ("dalletui models", "dalletui models --json"),
    "history": (
        "dalletui history --search 'red fox' -n 5",
        "dalletui history --favorites --order uses",
        "dalletui history --since 7d --model gpt-image-1-mini --json",
        "dalletui history --since 2026-01-01 --until 2026-01-31",
        "dalletui history --family 12",
    ),
    "favorite": ("dalletui favorite 12", "dalletui favorite 12 --off"),
    "import-prompts": ("dalletui import-prompts prompts.txt", "dalletui import-prompts old.txt.gz"),
    "delete": ("dalletui delete prompt 12", "dalletui delete generation 34"),
    # -- tags, collections, notes
    "tag": ('dalletui tag 12 portrait "night sky"', "dalletui tag 12 portrait --rm"),
    "tags": ("dalletui tags", "dalletui tags --json"),
    "collection list": ("dalletui collection list", "dalletui collection list --json"),
    "collection show": ('dalletui collection show "best foxes" --json',),
    "collection add": (
        'dalletui collection add "best foxes" 12 gen:34',
        'dalletui collection add "best foxes" gen:35 --at 0',
    ),
    "collection rm": ('dalletui collection rm "best foxes" gen:34',),
    "collection move": ('dalletui collection move "best foxes" 12 0',),
    "collection create": (
        'dalletui collection create "best foxes" --description "for the calendar"',
    ),
    "collection rename": ('dalletui collection rename "best foxes" "foxes 2027"',),
    "collection delete": ('dalletui collection delete "best foxes" --yes',),
    "note": (
        'dalletui note 12 "try it at dawn too"',
        'dalletui note gen:34 "the print for the hall"',
        "dalletui note gen:34 - < note.txt",
        "dalletui note 12 ''",
    ),
    # -- the trash
    "trash list": ("dalletui trash list", "dalletui trash list --json"),
    "trash restore": ("dalletui trash restore prompt:12 generation:34",),
    "trash purge": ("dalletui trash purge prompt:12 --yes",),
    "trash empty": ("dalletui trash empty --older-than 30 --yes",),
    # -- templates and variables
    "templates list": ("dalletui templates list", "dalletui templates list --json"),
    "templates show": (
        "dalletui templates show portrait",
        "dalletui templates show portrait --json",
    ),
    "templates add": (
        'dalletui templates add portrait "a {style} portrait of {subject}, {warm|cold} light"',
        'dalletui templates add poster - --description "film posters" < body.txt',
    ),
    "templates edit": (
        'dalletui templates edit portrait --body "a {style} bust of {subject}"',
        "dalletui templates edit portrait --name bust --description 'head and shoulders'",
    ),
    "templates rm": ("dalletui templates rm portrait --yes",),
    "vars list": ("dalletui vars list", "dalletui vars list --json"),
    "vars set": (
        'dalletui vars set style watercolour "oil painting" "pixel art"',
        r"dalletui vars set subject 'a fox,an owl,salt\, pepper and a mill'",
        'dalletui vars set light warm cold --description "colour of the light"',
    ),
    "vars rm": ("dalletui vars rm style --yes",),
    # -- batches
    "batch run": (
        "dalletui batch run portrait --dry-run",
        "dalletui batch run portrait --var style=watercolour,ink --yes",
        "dalletui batch run 'a {red|green|blue} apple' --mode sample:2 --seed 7",
        "dalletui batch run --file prompts.txt --repeat 2 --concurrency 2 --json",
    ),
    "batch list": ("dalletui batch list", "dalletui batch list --json"),
    "batch show": ("dalletui batch show 3", "dalletui batch show 3 --json"),
    "batch resume": ("dalletui batch resume 3", "dalletui batch resume 3 --rerun-interrupted"),
    "batch retry": ("dalletui batch retry 3 --concurrency 1",),
    "batch cancel": ("dalletui batch cancel 3", "dalletui batch cancel 3 --cancel-in-flight"),
    # -- spend
    "usage": (
        "dalletui usage",
        "dalletui usage --by week",
        "dalletui usage --by model --since 2026-01-01 --until 2026-03-31",
        "dalletui usage --by day --since 30d --csv > spend.csv",
        "dalletui usage --by month --json",
    ),
    # -- moving data in and out
    "export": (
        "dalletui export > dalletui.json",
        "dalletui export --format csv > generations.csv",
        "dalletui export --format jsonl --favorites --since 2026-01-01",
        "dalletui export --search cyberpunk --zip cyberpunk.zip",
    ),
    "import": ("dalletui import dalletui.json", "dalletui import backup.zip"),
    "import-images": (
        "dalletui import-images ~/stable-diffusion-webui/outputs",
        "dalletui import-images ComfyUI_00001_.png invokeai-0042.png",
    ),
    # -- the machine
    "paths": ("dalletui paths", "dalletui paths --json"),
    "doctor": (
        "dalletui doctor",
        "dalletui doctor --fix",
        "dalletui doctor --json",
        "dalletui doctor graphics",
    ),
}

#: Global options that take a value (an example may start with them, before the command).
GLOBAL_OPTIONS_WITH_VALUE = ("--home", "--config", "--graphics")
#: Where an example stops being dalletui's arguments and becomes shell.
SHELL_TOKENS = (">", ">>", "<", "|", "&&", ";", "2>")


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every sub-parser under ``parser``, depth first, with its command path (aliases once)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:
                    continue
                seen.add(id(sub))
                yield (*path, name), sub
                yield from walk(sub, (*path, name))


def has_actions(parser: argparse.ArgumentParser) -> bool:
    """True when ``parser`` has sub-actions of its own (``batch``, ``trash``)."""
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def examples_for(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The examples ``dalletui PATH --help`` shows: its own, else the first of each action's."""
    own = EXAMPLES.get(" ".join(path))
    if own:
        return list(own)
    if has_actions(parser):
        firsts = (examples_for(sub_path, sub)[:1] for sub_path, sub in walk(parser, path))
        return [line for lines in firsts for line in lines]
    return []


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Put each parser's examples in its epilog (kept as written: one command a line)."""
    for path, sub in [((), parser), *walk(parser)]:
        lines = examples_for(path, sub)
        if lines:
            sub.epilog = "examples:\n" + "\n".join(f"  {line}" for line in lines)
            sub.formatter_class = argparse.RawDescriptionHelpFormatter


def example_argv(example: str) -> list[str]:
    """The arguments an example gives dalletui: split as a shell would, stopping at a
    redirection or pipe, the leading ``dalletui`` and any ``# comment`` dropped."""
    import shlex

    words = shlex.split(example, comments=True)
    if not words or words[0] != "dalletui":
        raise ValueError(f"example does not start with 'dalletui': {example}")
    argv: list[str] = []
    for word in words[1:]:
        if word in SHELL_TOKENS:
            break
        argv.append(word)
    return argv


def command_path(argv: list[str]) -> list[str]:
    """The words of ``argv`` that name the command (global options and their values skipped)."""
    words: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word in GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
            continue
        if word.startswith("-"):
            if words:
                break
            continue
        words.append(word)
    return words
