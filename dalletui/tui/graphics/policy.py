"""Decide which image protocol to use from the evidence in ``detect.Facts``.

Pure functions, no I/O: every branch is tested with hand-made facts. The rules, in order:

- a forced mode (``DALLETUI_GRAPHICS``, ``--graphics``, config ``graphics``) wins;
- a browser (textual-serve) gets half-cell, no tty gets unicode;
- mosh and GNU screen get half-cell (neither carries any image protocol);
- inside tmux: sixel only when tmux itself was built with sixel (its DA1 has 4) *and* the outer
  terminal supports sixel; kitty only when the outer terminal has kitty placeholders *and*
  ``allow-passthrough`` is already on (we never switch it on) *and* tmux passes 24-bit colour;
  anything else gets half-cell;
- kitty graphics where the terminal really has Unicode placeholders (kitty ≥ 0.28, Ghostty),
  with Textual forced to truecolour (the placeholders carry the image id in the colour);
- sixel where the terminal's DA1 says so (WezTerm and Konsole answer the kitty query but lack
  placeholders, so they get sixel too);
- everything else gets half-cell.

Colour depth is decided next to the mode: Textual (through Rich) reads only ``COLORTERM`` and
``TERM``, so inside tmux (``TERM=tmux-256color``, no ``COLORTERM``) or in xterm (``TERM=xterm``)
it would draw half-cell images in 256 or 16 colours. When the terminal says it draws 24-bit
colour (its XTVERSION or environment names a terminal that does, ``TERM=*-direct``) or tmux says
its client's terminal does (``RGB``/``Tc`` in ``client_termfeatures``), Textual is set to
truecolour, as it is for kitty graphics. ``Decision.colors`` is the depth actually used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

from dalletui.tui.graphics.detect import EnvHints, Facts, ProbeResult, TmuxInfo

MODES = ("auto", "kitty", "sixel", "halfcell", "unicode", "off")
DEFAULT_CELL = (10, 20)
KITTY_PLACEHOLDERS_SINCE = (0, 28)
THUMBNAIL_COLORS_REMOTE = 64
THUMBNAIL_COLORS_LOCAL = 256
#: Terminals that draw 24-bit colour (SGR 38;2 / 48;2) as they are, whatever TERM says.
TRUECOLOR_TERMINALS = frozenset(
    {
        "alacritty",
        "contour",
        "foot",
        "ghostty",
        "iterm2",
        "kitty",
        "konsole",
        "mintty",
        "mlterm",
        "rio",
        "vscode",
        "wezterm",
        "windows-terminal",
        "xterm.js",
    }
)
#: xterm draws direct colour since patch 331 (Debian's 379 does: measured under Xvfb).
XTERM_DIRECT_COLOR_SINCE = (331,)
#: Outer terminals that can draw sixel, for the "tmux 3.4 with sixel" advice.
SIXEL_TERMINALS = frozenset(
    {"xterm", "wezterm", "foot", "konsole", "mlterm", "contour", "iterm2", "windows-terminal"}
)
COLORS_24 = "24-bit"
FORCE_HINT = "if your terminal can show sixel or kitty images, force it: DALLETUI_GRAPHICS=sixel"


@dataclass(frozen=True)
class Terminal:
    """Who we think we are talking to."""

    name: str = "unknown"
    version: str = ""
    source: str = ""

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", self.version)[:3])


@dataclass(frozen=True)
class Decision:
    """The graphics mode in effect, and everything ``dalletui doctor graphics`` explains."""

    mode: str
    requested: str = "auto"
    request_source: str = "default"
    auto_mode: str = ""
    terminal: str = "unknown"
    reasons: tuple[str, ...] = ()
    advice: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    cell_size: tuple[int, int] = DEFAULT_CELL
    cell_source: str = "default 10×20"
    remote: bool = False
    tmux_wrap: bool = False
    #: dalletui sets Textual to truecolour (TEXTUAL_COLOR_SYSTEM) before it starts.
    truecolor: bool = False
    #: The colour depth Textual will draw with: "24-bit", "256", "16" or "none".
    colors: str = ""
    colors_source: str = ""
    animations_off: bool = False
    thumbnail_colors: int = THUMBNAIL_COLORS_LOCAL
    probe_seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def forced(cls, mode: str, cell_size: tuple[int, int] | None = None) -> Decision:
        """A decision without any detection (tests, or a mode set before start-up)."""
        mode = mode if mode in MODES and mode != "auto" else "halfcell"
        return cls(
            mode=mode,
            requested=mode,
            request_source="configure()",
            auto_mode=mode,
            reasons=("set directly, nothing was detected",),
            cell_size=cell_size or DEFAULT_CELL,
            truecolor=mode == "kitty",
            colors=COLORS_24 if mode == "kitty" else "",
        )


# --------------------------------------------------------------------------- identification

_XTVERSION = re.compile(r"^\s*([A-Za-z][A-Za-z0-9._+-]*?)\s*(?:\(\s*v?([^)]*)\)|\s+v?(\S+)|$)")
_NAMES = {
    "xterm": "xterm",
    "kitty": "kitty",
    "wezterm": "wezterm",
    "ghostty": "ghostty",
    "foot": "foot",
    "tmux": "tmux",
    "konsole": "konsole",
    "iterm2": "iterm2",
    "xterm.js": "xterm.js",
    "mlterm": "mlterm",
    "contour": "contour",
    "mintty": "mintty",
    "alacritty": "alacritty",
    "rio": "rio",
    "warp": "warp",
}


def parse_xtversion(text: str | None) -> Terminal | None:
    if not text:
        return None
    match = _XTVERSION.match(text)
    if not match:
        return Terminal(name=text.strip().lower(), source=f"XTVERSION '{text}'")
    raw = match.group(1).lower()
    version = (match.group(2) or match.group(3) or "").strip()
    return Terminal(name=_NAMES.get(raw, raw), version=version, source=f"XTVERSION '{text}'")


def identify(env: EnvHints, probe: ProbeResult) -> Terminal:
    """The terminal outside any multiplexer, from XTVERSION first and env hints second."""
    from_reply = parse_xtversion(probe.xtversion)
    if from_reply is not None and from_reply.name != "tmux":
        return from_reply
    version = env.term_program_version
    if env.kitty_window or env.term == "xterm-kitty":
        return Terminal("kitty", source="KITTY_WINDOW_ID" if env.kitty_window else "TERM")
    if env.ghostty:
        return Terminal("ghostty", version, source="GHOSTTY_* / TERM")
    if env.wezterm:
        return Terminal("wezterm", version, source="WEZTERM_* / TERM_PROGRAM")
    if env.iterm:
        return Terminal("iterm2", version, source="ITERM_SESSION_ID / TERM_PROGRAM")
    if env.vscode:
        return Terminal("vscode", version, source="VSCODE_* / TERM_PROGRAM")
    if env.konsole:
        return Terminal("konsole", source="KONSOLE_VERSION")
    if env.windows_terminal:
        return Terminal("windows-terminal", source="WT_SESSION")
    if env.term.startswith("foot"):
        return Terminal("foot", source="TERM")
    if env.term_program == "WarpTerminal":
        return Terminal("warp", version, source="TERM_PROGRAM")
    if env.term_program == "Apple_Terminal":
        return Terminal("apple-terminal", version, source="TERM_PROGRAM")
    return Terminal("unknown", source=f"TERM={env.term}" if env.term else "no hints")


def identify_outer(env: EnvHints, tmux: TmuxInfo | None) -> Terminal:
    """The terminal tmux's client runs in: what tmux learnt from it, else inherited env hints."""
    if tmux is not None:
        if tmux.client_termtype:
            found = parse_xtversion(tmux.client_termtype)
            if found is not None and found.name not in ("unknown", "tmux"):
                return replace(found, source=f"tmux client_termtype '{tmux.client_termtype}'")
        name = tmux.client_termname
        if name in ("xterm-kitty",):
            return Terminal("kitty", source=f"tmux client_termname {name}")
        if name in ("xterm-ghostty",):
            return Terminal("ghostty", source=f"tmux client_termname {name}")
        if name.startswith("foot"):
            return Terminal("foot", source=f"tmux client_termname {name}")
    inherited = identify(replace(env, tmux=False), ProbeResult())
    if inherited.name != "unknown":
        return replace(inherited, source=f"{inherited.source} (inherited into tmux)")
    return inherited


def has_kitty_placeholders(terminal: Terminal) -> bool:
    if terminal.name == "ghostty":
        return True
    if terminal.name == "kitty":
        version = terminal.version_tuple
        return bool(version) and version >= KITTY_PLACEHOLDERS_SINCE
    return False


# --------------------------------------------------------------------------- the decision


@dataclass
class _Verdict:
    mode: str
    terminal: str
    reasons: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    tmux_wrap: bool = False


def _auto(facts: Facts) -> _Verdict:
    env, probe = facts.env, facts.probe
    if env.browser:
        return _Verdict(
            "halfcell",
            "browser (textual-serve / textual-web)",
            ["the web terminal (xterm.js) has no image support; half-cell blocks work everywhere"],
        )
    if not facts.is_tty:
        return _Verdict("unicode", "none", [f"{probe.why_not or 'no terminal'}: unicode blocks"])
    if env.mosh:
        return _Verdict(
            "halfcell",
            "mosh",
            ["mosh carries no image protocol (mobile-shell/mosh#1081)"],
            ["use plain ssh instead of mosh to get sixel or kitty images"],
        )
    if env.tmux:
        return _auto_tmux(facts)
    if env.screen:
        return _Verdict(
            "halfcell",
            "GNU screen",
            ["GNU screen has no sixel or kitty graphics and no 24-bit colour"],
            ["run dalletui outside screen, or in tmux ≥ 3.4 built with sixel"],
        )
    if env.term == "dumb":
        return _Verdict("halfcell", "dumb", ["TERM=dumb: nothing was asked, half-cell blocks"])
    terminal = identify(env, probe)
    verdict = _auto_direct(terminal, probe, env)
    return verdict


def _auto_direct(terminal: Terminal, probe: ProbeResult, env: EnvHints) -> _Verdict:
    label = str(terminal) if terminal.name != "unknown" else "unknown terminal"
    if probe.asked and probe.timed_out and probe.da1 is None:
        return _Verdict(
            "halfcell",
            label,
            [f"the terminal did not answer within {probe.seconds:.1f} s: half-cell blocks"],
            [FORCE_HINT],
        )
    if has_kitty_placeholders(terminal):
        if probe.asked_kitty and not probe.kitty_ok:
            return _Verdict(
                "sixel" if probe.sixel else "halfcell",
                label,
                [f"{terminal} should have kitty graphics but did not answer the kitty query"],
            )
        return _Verdict(
            "kitty",
            label,
            [
                f"{terminal} supports kitty graphics with Unicode placeholders "
                f"({terminal.source}); Textual is forced to 24-bit colour for the image ids"
            ],
        )
    if probe.sixel:
        reasons = [f"the terminal reports sixel graphics (DA1 {_da1(probe)})"]
        if probe.kitty_ok:
            reasons.append(
                f"it answers the kitty query too, but {label} has no Unicode placeholders"
            )
        advice = []
        if terminal.name == "windows-terminal":
            advice.append("Windows Terminal draws sixel on a virtual 10×20 cell")
        return _Verdict("sixel", label, reasons, advice)
    reasons = [f"no sixel in DA1 ({_da1(probe)}) and no kitty placeholders"]
    advice = _advice_for(terminal)
    if probe.kitty_ok:
        reasons.append(f"{label} answers the kitty query but lacks Unicode placeholders")
    return _Verdict("halfcell", label, reasons, advice)


def _advice_for(terminal: Terminal) -> list[str]:
    name = terminal.name
    if name == "xterm":
        return ["start xterm with -ti vt340 (and XTerm*numColorRegisters: 256) for sixel images"]
    if name == "vscode" or name == "xterm.js":
        return ['VS Code: enable "terminal.integrated.enableImages" for sixel images']
    if name == "kitty":
        return [f"kitty {terminal.version or '(old)'} lacks Unicode placeholders; 0.28+ has them"]
    if name == "windows-terminal":
        return ["Windows Terminal 1.22 or newer draws sixel images"]
    if name == "konsole":
        return ["Konsole 22.04 or newer draws sixel images"]
    if name == "unknown":
        return [FORCE_HINT]
    return []


def _auto_tmux(facts: Facts) -> _Verdict:
    env, probe, tmux = facts.env, facts.probe, facts.tmux
    inner = parse_xtversion(probe.xtversion)
    version = (inner.version if inner and inner.name == "tmux" else "") or (
        tmux.version if tmux else ""
    )
    outer = identify_outer(env, tmux)
    outer_label = str(outer) if outer.name != "unknown" else "an unknown terminal"
    label = f"tmux {version}".strip() + f" in {outer_label}"
    tmux_sixel = probe.sixel  # tmux answers DA1 itself: 4 means it was built with sixel
    reasons: list[str] = []
    advice: list[str] = []
    if tmux is None or tmux.error:
        reasons.append(f"cannot ask tmux about the outer terminal ({tmux.error if tmux else '?'})")
    if tmux_sixel and tmux is not None and tmux.outer_sixel:
        return _Verdict(
            "sixel",
            label,
            [f"tmux {version} draws sixel and {outer_label} supports it (client features: sixel)"],
        )
    if has_kitty_placeholders(outer) and tmux is not None and not tmux.error:
        if not tmux.passthrough_on:
            reasons.append(
                f"{outer_label} has kitty graphics, but tmux allow-passthrough is "
                f"'{tmux.passthrough or 'off'}'"
            )
            advice.append(
                "for real images in tmux: tmux set -g allow-passthrough on "
                "(dalletui never changes tmux settings)"
            )
        elif not tmux.outer_rgb:
            reasons.append(
                "tmux does not pass 24-bit colour to the terminal, which the kitty image ids need"
            )
            advice.append(f"tmux set -as terminal-features ',{tmux.client_termname or '*'}:RGB'")
        else:
            return _Verdict(
                "kitty",
                label,
                [
                    f"{outer_label} has kitty placeholders and tmux allow-passthrough is "
                    f"'{tmux.passthrough}': kitty graphics wrapped for passthrough"
                ],
                ["images do not survive detaching and re-attaching from another terminal"],
                tmux_wrap=True,
            )
    if tmux_sixel and (tmux is None or not tmux.outer_sixel):
        reasons.append(
            f"tmux {version} can draw sixel, but {outer_label} does not say it supports sixel"
        )
        if outer.name in ("xterm", "wezterm", "foot", "konsole", "mlterm", "contour", "iterm2"):
            advice.append(
                "if the outer terminal draws sixel: tmux set -as terminal-features "
                f"',{(tmux.client_termname if tmux else '') or 'xterm*'}:sixel' and re-attach"
            )
    elif not tmux_sixel:
        reasons.append(f"tmux {version} was built without sixel (DA1 {_da1(probe)})")
        if tmux is not None and (tmux.outer_sixel or outer.name in SIXEL_TERMINALS):
            numbers = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
            older = bool(numbers) and numbers < (3, 4)
            build = (
                "tmux 3.4 or newer built with --enable-sixel"
                if older
                else ("a tmux built with --enable-sixel")
            )
            needs = "" if tmux.outer_sixel else f" (if {outer_label} draws sixel"
            if needs and outer.name == "xterm":
                needs += ": start it with -ti vt340"
            advice.append(
                f"for sixel images in tmux: {build}{needs + ')' if needs else ''}; "
                f"this is tmux {version}"
            )
    reasons.append("half-cell blocks inside tmux")
    return _Verdict("halfcell", label, reasons, advice)


def _da1(probe: ProbeResult) -> str:
    if probe.da1 is None:
        return "no reply" if probe.asked else "not asked"
    return "?" + ";".join(str(p) for p in probe.da1) + "c"


# --------------------------------------------------------------------------- colour depth

_DEPTHS = {"truecolor": COLORS_24, "256": "256", "standard": "16", "windows": "16"}


def env_colors(env: EnvHints) -> tuple[str, str]:
    """The depth Textual picks from the environment alone, and why (Rich's own rules)."""
    system = env.textual_color_system
    if system and system != "auto":
        return _DEPTHS.get(system, system), f"TEXTUAL_COLOR_SYSTEM={system}"
    if env.colorterm.strip().lower() in ("truecolor", "24bit"):
        return COLORS_24, f"COLORTERM={env.colorterm}"
    term = env.term.strip().lower()
    if term in ("dumb", "unknown"):
        return "none", f"TERM={term}"
    suffix = term.rpartition("-")[2]
    if suffix in ("256color", "kitty"):
        return "256", f"TERM={term} and no COLORTERM"
    return "16", f"TERM={term or '(unset)'} and no COLORTERM"


def truecolor_evidence(facts: Facts, mode: str) -> str:
    """Why the terminal can take 24-bit colour although COLORTERM does not say so ('' if not)."""
    env, tmux = facts.env, facts.tmux
    if mode == "kitty":
        return "kitty graphics: the image ids travel in 24-bit colour"
    if not facts.is_tty or env.browser or env.screen or env.mosh or env.term == "dumb":
        return ""
    if env.tmux:
        if tmux is not None and not tmux.error and tmux.outer_rgb:
            features = sorted(f for f in tmux.client_features if f in ("RGB", "Tc"))
            return f"tmux reports {'/'.join(features)} for its client's terminal"
        return ""
    if env.term.strip().lower().endswith("-direct"):
        return f"TERM={env.term}"
    terminal = identify(env, facts.probe)
    if terminal.name in TRUECOLOR_TERMINALS:
        return f"{terminal} draws 24-bit colour ({terminal.source})"
    if terminal.name == "xterm" and terminal.version_tuple >= XTERM_DIRECT_COLOR_SINCE:
        return f"{terminal} draws 24-bit colour ({terminal.source})"
    return ""


def _colors(facts: Facts, mode: str) -> tuple[bool, str, str, list[str]]:
    """(force truecolour, depth used, why, advice for more colours)."""
    env, tmux = facts.env, facts.tmux
    depth, source = env_colors(env)
    evidence = truecolor_evidence(facts, mode)
    explicit = env.textual_color_system not in ("", "auto")
    if mode == "kitty":
        return True, COLORS_24, evidence + "; dalletui sets TEXTUAL_COLOR_SYSTEM=truecolor", []
    if depth == COLORS_24:
        return False, depth, source, []
    if evidence and not explicit:
        return True, COLORS_24, f"{evidence}; dalletui sets TEXTUAL_COLOR_SYSTEM=truecolor", []
    advice: list[str] = []
    if explicit:
        if evidence:
            advice.append(f"{evidence}: unset TEXTUAL_COLOR_SYSTEM for 24-bit colour")
        return False, depth, source, advice
    if not facts.is_tty or env.browser or env.term == "dumb" or mode == "off":
        return False, depth, source, advice
    if env.tmux:
        pattern = (tmux.client_termname if tmux else "") or "*"
        outer = identify_outer(env, tmux)
        known = outer.name in TRUECOLOR_TERMINALS or (
            outer.name == "xterm" and outer.version_tuple >= XTERM_DIRECT_COLOR_SINCE
        )
        who = f"{outer} draws 24-bit colour" if known else "if your terminal draws 24-bit colour"
        advice.append(
            f"{who}: tmux set -as terminal-features ',{pattern}:RGB' and re-attach, "
            "so tmux passes it on (or start the tmux server with COLORTERM=truecolor)"
        )
    elif env.screen:
        pass  # GNU screen has no 24-bit colour; the mode advice already says to leave it
    else:
        hint = "if your terminal shows 24-bit colour: export COLORTERM=truecolor"
        if env.remote:
            hint += " (over ssh: 'SendEnv COLORTERM' in ssh_config, 'AcceptEnv COLORTERM' in sshd)"
        advice.append(hint)
    return False, depth, source, advice


def resolve_cell_size(facts: Facts, override: str | None) -> tuple[tuple[int, int], str]:
    """Cell size in pixels and where it came from. ``override`` is ``WxH``."""
    if override:
        parsed = parse_cell_size(override)
        if parsed:
            return parsed, f"DALLETUI_CELL_SIZE={override}"
    if facts.env.windows_terminal:
        return (10, 20), "Windows Terminal's virtual sixel cell (10×20)"
    if facts.winsize:
        rows, cols, xpix, ypix = facts.winsize
        if rows and cols and xpix and ypix:
            size = (xpix // cols, ypix // rows)
            if _plausible(size):
                return size, f"TIOCGWINSZ {xpix}×{ypix} px for {cols}×{rows} cells"
    if facts.probe.cell_pixels and _plausible(facts.probe.cell_pixels):
        return facts.probe.cell_pixels, "the terminal's CSI 16 t reply"
    width, height = (
        os.environ.get("TEXTUAL_CELL_WIDTH", ""),
        os.environ.get("TEXTUAL_CELL_HEIGHT", ""),
    )
    if width.isdigit() and height.isdigit() and _plausible((int(width), int(height))):
        return (int(width), int(height)), "TEXTUAL_CELL_WIDTH/HEIGHT"
    return DEFAULT_CELL, "default: the terminal reported no pixel size"


def parse_cell_size(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×,]\s*(\d+)\s*", text or "")
    if not match:
        return None
    size = (int(match.group(1)), int(match.group(2)))
    return size if _plausible(size) else None


def _plausible(size: tuple[int, int]) -> bool:
    width, height = size
    return 4 <= width <= 100 and 8 <= height <= 200


def decide(
    facts: Facts,
    requested: str = "auto",
    *,
    request_source: str = "default",
    cell_override: str | None = None,
) -> Decision:
    """The mode to use, with reasons and advice for ``dalletui doctor graphics``."""
    requested = requested if requested in MODES else "auto"
    verdict = _auto(facts)
    reasons = list(verdict.reasons)
    advice = list(verdict.advice)
    mode = verdict.mode
    tmux_wrap = verdict.tmux_wrap
    if requested != "auto":
        if requested != verdict.mode:
            reasons.insert(
                0, f"forced to {requested} by {request_source} (auto would pick {verdict.mode})"
            )
            if requested in ("kitty", "sixel"):
                advice.insert(0, f"if you see garbage or blank boxes, unset {request_source}")
        else:
            reasons.insert(0, f"{request_source} asks for {requested}, which auto picks too")
        mode = requested
        tmux_wrap = mode == "kitty" and facts.env.tmux
        if tmux_wrap and facts.tmux is not None and not facts.tmux.passthrough_on:
            advice.insert(0, "tmux drops kitty graphics unless: tmux set -g allow-passthrough on")
    cell_size, cell_source = resolve_cell_size(facts, cell_override)
    if mode in ("sixel", "kitty") and cell_source.startswith("default"):
        advice.append("if images look stretched, set DALLETUI_CELL_SIZE=WxH (cell size in pixels)")
    truecolor, colors, colors_source, color_advice = _colors(facts, mode)
    advice.extend(color_advice)
    remote = facts.env.remote
    if remote:
        reasons.append("remote session (SSH): animations off, 64-colour sixel thumbnails")
        if mode == "kitty" and not facts.env.truecolor:
            advice.append(
                "ssh: add 'SendEnv COLORTERM' (client) and 'AcceptEnv COLORTERM' (sshd) so every "
                "program gets 24-bit colour; dalletui forces it for kitty images anyway"
            )
    evidence = list(facts.env.seen)
    probe = facts.probe
    if probe.asked:
        evidence.append(
            f"query answered in {probe.seconds * 1000:.0f} ms"
            + (" (cap reached)" if probe.timed_out else "")
            + f": XTVERSION {probe.xtversion or '-'}, DA1 {_da1(probe)}, kitty "
            + ("not asked" if not probe.asked_kitty else (probe.kitty_reply or "no reply"))
        )
        if probe.flushed_bytes:
            evidence.append(f"{probe.flushed_bytes} late bytes flushed from the input")
    else:
        evidence.append(f"no query: {probe.why_not}")
    if facts.tmux is not None:
        t = facts.tmux
        evidence.append(
            f"tmux: version {t.version or '?'}, allow-passthrough {t.passthrough or '?'}, client "
            f"{t.client_termname or '?'} / {t.client_termtype or '?'}, features "
            f"{','.join(sorted(t.client_features)) or '-'}" + (f" ({t.error})" if t.error else "")
        )
    return Decision(
        mode=mode,
        requested=requested,
        request_source=request_source,
        auto_mode=verdict.mode,
        terminal=verdict.terminal,
        reasons=tuple(reasons),
        advice=tuple(dict.fromkeys(advice)),
        evidence=tuple(evidence),
        cell_size=cell_size,
        cell_source=cell_source,
        remote=remote,
        tmux_wrap=tmux_wrap,
        truecolor=truecolor,
        colors=colors,
        colors_source=colors_source,
        animations_off=remote,
        thumbnail_colors=THUMBNAIL_COLORS_REMOTE if remote else THUMBNAIL_COLORS_LOCAL,
        probe_seconds=probe.seconds,
    )
