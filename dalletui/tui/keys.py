"""Key names as people read them, and the ``[keys]`` section of the config as a Textual keymap.

Textual names keys for programs (``question_mark``, ``ctrl+r``, ``d,delete``); Help shows them
as a person reads them (``?``, ``Ctrl+R``, ``d / Delete``) and the footer in short (``^r``).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import KEY_NAME_REPLACEMENTS, Keys, key_to_character

MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
_MODIFIER_NAMES = {"ctrl": "Ctrl", "shift": "Shift", "alt": "Alt", "meta": "Meta"}
_MODIFIER_NAMES |= {"super": "Super", "hyper": "Hyper"}

#: Long (Help) and short (footer) names of the keys whose Textual name is not what a user reads.
_NAMES: dict[str, tuple[str, str]] = {
    "escape": ("Esc", "esc"),
    "enter": ("Enter", "⏎"),
    "return": ("Enter", "⏎"),
    "space": ("Space", "space"),
    "tab": ("Tab", "tab"),
    "backspace": ("Backspace", "⌫"),
    "delete": ("Delete", "del"),
    "insert": ("Insert", "ins"),
    "home": ("Home", "home"),
    "end": ("End", "end"),
    "pageup": ("PgUp", "pgup"),
    "pagedown": ("PgDn", "pgdn"),
    "up": ("↑", "↑"),
    "down": ("↓", "↓"),
    "left": ("←", "←"),
    "right": ("→", "→"),
}

#: Key names Textual knows that carry no modifier (``escape``, ``f1``, ``pagedown`` ...).
_NAMED_KEYS = frozenset(
    key.value for key in Keys if "+" not in key.value and not key.value.startswith("<")
) | frozenset(KEY_NAME_REPLACEMENTS.values())


#: ``slash`` -> ``solidus``: the Unicode names Textual shortened, to find their characters.
_UNREPLACED = {short: name for name, short in KEY_NAME_REPLACEMENTS.items()}


def _split(key: str) -> tuple[list[str], str]:
    """``ctrl+shift+r`` -> (["ctrl", "shift"], "r"); a lone ``+`` is the key itself."""
    key = key.strip()
    if key in ("+", "plus"):
        return [], "plus"
    *modifiers, base = key.split("+")
    return [m.lower() for m in modifiers], base


def _base_name(base: str, short: bool) -> str:
    if base in _NAMES:
        return _NAMES[base][1 if short else 0]
    if len(base) >= 2 and base[0] in "fF" and base[1:].isdigit():
        return f"F{base[1:]}"
    if len(base) == 1:
        return base
    character = key_to_character(_UNREPLACED.get(base, base))
    if character is not None and character.isprintable() and not character.isspace():
        return character
    return base


def readable_key(key: str, *, short: bool = False) -> str:
    """One Textual key as a person reads it: ``ctrl+r`` -> ``Ctrl+R`` (short: ``^r``),
    ``question_mark`` -> ``?``, ``f1`` -> ``F1``, ``R`` -> ``Shift+R`` (short: ``R``)."""
    modifiers, base = _split(key)
    name = _base_name(base, short)
    if short:
        if modifiers == ["ctrl"] and len(name) == 1:
            return f"^{name.lower()}"
        return "+".join([*modifiers, name])
    if len(name) == 1 and name.isalpha() and name.isupper() and "shift" not in modifiers:
        modifiers = [*modifiers, "shift"]
    if modifiers and len(name) == 1 and name.isalpha():
        name = name.upper()
    return "+".join([*(_MODIFIER_NAMES.get(m, m.title()) for m in modifiers), name])


def readable_keys(keys: Iterable[str] | str, *, short: bool = False) -> str:
    """Several keys (or a comma-separated key string) as ``F1 / ?``."""
    if isinstance(keys, str):
        keys = keys.split(",")
    seen: list[str] = []
    for key in keys:
        shown = readable_key(key, short=short)
        if key.strip() and shown not in seen:
            seen.append(shown)
    return " / ".join(seen)


def normalize_key(key: str) -> str:
    """A key as Textual names it: ``?`` -> ``question_mark``, ``Ctrl+S`` -> ``ctrl+s``."""
    modifiers, base = _split(key)
    if len(base) == 1 and not base.isalnum():
        try:
            name = unicodedata.name(base).lower().replace("-", "_").replace(" ", "_")
        except ValueError:
            name = base
        base = KEY_NAME_REPLACEMENTS.get(name, name)
    elif len(base) > 1:
        base = base.lower()
        if base == "esc":
            base = "escape"
    if modifiers and len(base) == 1:
        base = base.lower()  # ctrl+R is ctrl+r: a terminal sends no shift with ctrl+letter
    return "+".join([*modifiers, base])


def key_problem(key: str) -> str | None:
    """Why ``key`` (one key, Textual's or a user's spelling) cannot be bound, or None."""
    text = key.strip()
    if not text:
        return "an empty key"
    modifiers, base = _split(text)
    unknown = [m for m in modifiers if m not in MODIFIERS]
    if unknown:
        return f"'{unknown[0]}' is not a modifier (use ctrl, shift, alt or meta)"
    if not base:
        return f"'{text}' names no key after its modifiers"
    if len(base) == 1:
        return None if base.isprintable() else f"'{text}' is not a printable character"
    name = normalize_key(base)
    if name in _NAMED_KEYS or key_to_character(_UNREPLACED.get(name, name)) is not None:
        return None
    return f"'{base}' is not a key name"


# -- the bindings of the app ------------------------------------------------------------------


@dataclass(frozen=True)
class KnownBinding:
    """A binding with an id, and the class whose BINDINGS hold it."""

    id: str
    binding: Binding
    owner: type[DOMNode]


def _import_tui_modules() -> None:
    """Import every screen and widget module so that every binding class is known."""
    from dalletui.tui import screens, widgets

    for package in (screens, widgets):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")


def _subclasses(cls: type[DOMNode]) -> Iterator[type[DOMNode]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@functools.cache
def known_bindings(app_class: type[DOMNode] | None = None) -> dict[str, KnownBinding]:
    """Every dalletui binding that has an id, by id (the app's first, then screens, widgets)."""
    _import_tui_modules()
    classes = [app_class] if app_class is not None else []
    classes += [c for c in _subclasses(DOMNode) if c.__module__.startswith("dalletui.")]
    found: dict[str, KnownBinding] = {}
    for cls in classes:
        for binding in cls.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id and binding.id not in found:
                found[binding.id] = KnownBinding(binding.id, binding, cls)
    return found


@dataclass
class Keymap:
    """The ``[keys]`` section as Textual's keymap, and a sentence for each entry refused."""

    keymap: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def build_keymap(
    keys: Mapping[str, str], known: Mapping[str, KnownBinding], source: Path | str | None
) -> Keymap:
    """Check ``keys`` (binding id -> "key" or "key1,key2") against the app's bindings.

    An unknown id, a key Textual cannot name, or a key already used by another binding of the
    same place gives one sentence and is left out; the rest is the keymap to pass to
    ``App.set_keymap``. Siblings that share a key with a remapped binding (``escape`` cancels
    or goes back to the prompt) are added with their own keys: Textual's ``apply_keymap`` drops
    every binding of a key it rebinds, and they would be lost otherwise.
    """
    where = f"[keys] in {source}" if source else "[keys]"
    result = Keymap()
    for binding_id, value in keys.items():
        entry = f"{where}: '{binding_id}'"
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, list(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            result.warnings.append(
                f"{entry} is not a dalletui key binding, so it is ignored; {hint}"
                "Help (F1) shows every binding's id."
            )
            continue
        binding = known[binding_id].binding
        parts = str(value).split(",")
        problems = [problem for part in parts if (problem := key_problem(part))]
        if problems:
            result.warnings.append(
                f"{entry} = {value!r} is not a key ({problems[0]}), so "
                f"{binding.description or binding.action} keeps "
                f'{readable_keys(binding.key)}; write keys like "s", "ctrl+s", "f8" or '
                '"s,ctrl+s".'
            )
            continue
        result.keymap[binding_id] = ",".join(normalize_key(part) for part in parts)
    result.warnings += _clashes(result, known, where)
    for binding_id in list(result.keymap):
        owner = known[binding_id].owner
        own_keys = set(_keys_of(known[binding_id].binding))
        for other in known.values():
            shares = own_keys & set(_keys_of(other.binding))
            if other.owner is owner and other.id not in result.keymap and shares:
                result.keymap[other.id] = ",".join(_keys_of(other.binding))
    return result


def _keys_of(binding: Binding) -> list[str]:
    return [normalize_key(key) for key in binding.key.split(",") if key.strip()]


def _clashes(result: Keymap, known: Mapping[str, KnownBinding], where: str) -> list[str]:
    """A sentence for each remapped key that another binding of the same place (or of the app,
    whose keys work everywhere) already has; that entry is dropped, so the key keeps doing what
    it did. Repeated until nothing changes: a dropped entry gives its old key back."""
    sentences: list[str] = []
    while True:
        found = _one_clash(result, known, where)
        if found is None:
            return sentences
        sentences.append(found)


def _one_clash(result: Keymap, known: Mapping[str, KnownBinding], where: str) -> str | None:
    from textual.app import App

    for binding_id, keys in result.keymap.items():
        item = known[binding_id]
        for key in keys.split(","):
            for other in known.values():
                if other.id == binding_id or other.binding.action == item.binding.action:
                    continue
                # The app's keys work everywhere (F1..F7 are priority bindings): a screen's
                # key on one of them would shadow it, or be shadowed.
                everywhere = issubclass(other.owner, App) or issubclass(item.owner, App)
                if other.owner is not item.owner and not everywhere:
                    continue
                other_keys = result.keymap.get(other.id, ",".join(_keys_of(other.binding)))
                if key not in other_keys.split(","):
                    continue
                if key in _keys_of(item.binding) and key in _keys_of(other.binding):
                    continue  # they shared the key before: Textual picks the one that applies
                del result.keymap[binding_id]
                return (
                    f"{where}: '{binding_id}' = {readable_key(key)!r} is already "
                    f"{other.binding.description or other.binding.action} ({other.id}) "
                    f"{_place(other.owner)}, so it is ignored; pick another key, or remap "
                    f"'{other.id}' too."
                )
    return None


def _place(owner: type[DOMNode]) -> str:
    """``everywhere``, ``on History``, ``on the result card``: where a binding class applies."""
    from textual.app import App
    from textual.screen import Screen

    if issubclass(owner, App):
        return "everywhere"
    if issubclass(owner, Screen):
        return f"on {owner.SUB_TITLE or owner.__name__.removesuffix('Screen')}"
    title = getattr(owner, "HELP_TITLE", None) or _TITLES.get(owner.__name__)
    if not title:
        words = "".join(f" {c.lower()}" if c.isupper() else c for c in owner.__name__).strip()
        title = words
    return f"on the {title[:1].lower()}{title[1:]}"


# -- the bindings that work right now ---------------------------------------------------------

#: Widget classes whose name in words would not say what they are.
_TITLES = {
    "ResultSlot": "Result card",
    "ImageSlot": "Result card",
    "ProblemSlot": "Result card",
    "PossiblyBilledSlot": "Possibly billed card",
    "TextArea": "Text editing",
    "Input": "Text editing",
    "DataTable": "Table",
    "ScrollableContainer": "Scrolling",
}


@dataclass
class LiveBinding:
    """One action that a key press would run now, with every key that runs it."""

    node: DOMNode
    binding: Binding
    keys: list[str]
    enabled: bool
    #: The ids of the bindings merged here (F1 and ? are two bindings of one action).
    ids: list[str] = field(default_factory=list)

    @property
    def keys_text(self) -> str:
        """``F1 / ?``: the keys as a person reads them."""
        return readable_keys(self.keys)

    @property
    def help_text(self) -> str:
        return self.binding.tooltip or self.binding.description


@dataclass
class LiveGroup:
    """The live bindings of one place: a widget, the screen, or the app (everywhere)."""

    title: str
    node: DOMNode
    bindings: list[LiveBinding]

    @property
    def ours(self) -> bool:
        """dalletui's own bindings (they have ids), not only Textual's (scrolling, editing)."""
        return type(self.node).__module__.startswith("dalletui.") and any(
            live.binding.id for live in self.bindings
        )


def place_title(node: DOMNode) -> str:
    """How Help and the palette name where a binding applies."""
    from textual.app import App
    from textual.screen import Screen

    if isinstance(node, App):
        return "Everywhere"
    if isinstance(node, Screen):
        title = node.sub_title or type(node).__name__.removesuffix("Screen")
        return str(title)
    named = getattr(node, "HELP_TITLE", None)
    if isinstance(named, str) and named:
        return named
    if type(node).__name__ in _TITLES:
        return _TITLES[type(node).__name__]
    ours = type(node).__module__.startswith("dalletui.")
    for cls in type(node).__mro__:
        if ours and not cls.__module__.startswith("dalletui."):
            break  # a PromptList is not named after the ScrollView it is built on
        if cls.__name__ in _TITLES:
            return _TITLES[cls.__name__]
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in type(node).__name__).strip()
    return words[:1].upper() + words[1:]


def _declared_order(node: DOMNode) -> Callable[[LiveBinding], int]:
    """Sort key: where the binding's action stands in the BINDINGS of the node's classes."""
    actions: list[str] = []
    for cls in type(node).__mro__:
        for binding in cls.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.action not in actions:
                actions.append(binding.action)

    def position(live: LiveBinding) -> int:
        action = live.binding.action
        return actions.index(action) if action in actions else len(actions)

    return position


def live_groups(screen: object) -> list[LiveGroup]:
    """The bindings that work on ``screen`` now (its focused widget, that widget's ancestors,
    the screen, the app), with the keymap applied and the keys a text field takes left out,
    grouped by where they apply: dalletui's widgets (focused first), the screen, everywhere,
    then Textual's own widgets (text editing, scrolling)."""
    from textual.screen import Screen

    assert isinstance(screen, Screen)
    groups: dict[int, LiveGroup] = {}
    merged: dict[tuple[int, str, str], LiveBinding] = {}
    for key, active in screen.active_bindings.items():
        node, binding = active.node, active.binding
        if not binding.description:
            continue
        group = groups.get(id(node))
        if group is None:
            group = groups[id(node)] = LiveGroup(place_title(node), node, [])
        same = (id(node), binding.action, binding.description)
        if same in merged:
            merged[same].keys.append(key)
            if binding.id and binding.id not in merged[same].ids:
                merged[same].ids.append(binding.id)
            continue
        live = LiveBinding(node, binding, [key], active.enabled, [binding.id] if binding.id else [])
        merged[same] = live
        group.bindings.append(live)
    ordered = list(groups.values())
    for group in ordered:
        group.bindings.sort(key=_declared_order(group.node))
    app = screen.app

    def rank(group: LiveGroup) -> int:
        if group.node is app:
            return 2
        if group.node is screen:
            return 1
        return 0 if group.ours else 3

    return sorted(ordered, key=rank)  # stable: focused-first within each rank
