"""Text from outside (prompts, server messages, file names) made safe to show and to keep.

Two concerns, both pure functions over ``str`` (standard library only, importable from every
layer):

- ``printable``: nothing in a string may drive the terminal. C0 and C1 control characters and DEL
  become visible placeholders (``␛`` for ESC, U+FFFD for C1 such as the one-byte CSI ``\\x9b``),
  so no escape sequence (OSC 52 clipboard writes, ``CSI 2 J`` screen clears, title changes) ever
  reaches the terminal. Bidirectional embedding, override and isolate controls (U+202A-U+202E,
  U+2066-U+2069) become U+FFFD too: they reorder what the user sees ("Trojan Source"), and a
  prompt has no need of them. Lone surrogates (undecodable file-name bytes) become U+FFFD, since
  printing one raises ``UnicodeEncodeError``. Line and paragraph separators are line breaks.
  Left alone: LRM/RLM/ALM marks and zero-width joiners (harmless, needed by some scripts and
  emoji), and everything printable.
- ``redact_secrets``: API keys (``sk-…``, ``sk-proj-…``, ``sk-svcacct-…``, ``sess-…``), Bearer
  tokens and any key passed in become ``sk-…REDACTED``-style text before a message is stored,
  logged or printed. ``SecretFilter`` does the same to log records.

Markup is a separate matter: these functions return plain text, and widgets must still show it as
literal text (``Content(text)``, ``Text(text)``, ``markup=False``), never as markup.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "REDACTED",
    "SecretFilter",
    "dump_json",
    "is_printable",
    "printable",
    "printable_message",
    "redact_secrets",
    "without_controls",
]

#: Shown in place of a C1 control, a bidi control or a lone surrogate.
REPLACEMENT = "\ufffd"
#: What a redacted secret ends with: ``sk-proj-…REDACTED``.
REDACTED = "…REDACTED"

_LINE_BREAKS = "\n\r\x85\u2028\u2029"
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]


def _table(*, single_line: bool, tabs: bool) -> dict[int, str]:
    table: dict[int, str] = {code: chr(0x2400 + code) for code in range(0x20)}  # ␀ … ␟
    table[0x7F] = "\u2421"  # ␡
    table.update({code: REPLACEMENT for code in range(0x80, 0xA0)})
    table.update({code: REPLACEMENT for code in _BIDI})
    table.update({code: REPLACEMENT for code in range(0xD800, 0xE000)})
    for char in _LINE_BREAKS:
        table[ord(char)] = " " if single_line else "\n"
    table[ord("\t")] = "\t" if tabs and not single_line else " "
    return table


_TABLES = {
    (single_line, tabs): _table(single_line=single_line, tabs=tabs)
    for single_line in (False, True)
    for tabs in (False, True)
}
#: Everything ``printable`` changes except tab and newline (its fast path).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: Everything ``without_controls`` drops.
_DROP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str | None, *, single_line: bool = False, tabs: bool = True) -> str:
    """``text`` safe to write to a terminal, every character still accounted for visibly.

    Controls become control pictures (``␛``, ``␇``, ``␡``) or U+FFFD (C1, bidi controls, lone
    surrogates); CR LF, CR, NEL and U+2028/U+2029 become ``\\n``. With ``single_line`` every line
    break (and tab) becomes one space; with ``tabs=False`` a tab becomes a space. ``None`` is "".
    """
    if not text:
        return ""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    keeps_layout = not single_line and tabs
    if _UNSAFE.search(text) is None and (keeps_layout or not re.search("[\t\n]", text)):
        return text
    return text.translate(_TABLES[(single_line, tabs)])


def is_printable(text: str, *, single_line: bool = False) -> bool:
    """True when ``printable`` would leave ``text`` as it is."""
    return printable(text, single_line=single_line) == text


def without_controls(text: str | None) -> str:
    """``text`` with control and bidi-control characters removed (tab and newline kept).

    For text that goes back into an editor and may be sent again: placeholders would become
    part of the prompt, so the dangerous characters are dropped instead. Lone surrogates become
    U+FFFD; CR LF and CR become LF.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _DROP.sub("", text)
    return re.sub("[\ud800-\udfff]", REPLACEMENT, text)


def printable_message(text: object, secrets: Iterable[str | None] = ()) -> str:
    """A message from outside (an error, a server's answer) as it may be shown: secrets
    redacted, then made printable (line breaks kept)."""
    return printable(redact_secrets(str(text) if text is not None else "", secrets))


# -- JSON ---------------------------------------------------------------------------------------

#: Characters ``json.dumps(..., ensure_ascii=False)`` leaves raw although a terminal may act on
#: them: DEL and C1 (``\x9b`` is a one-byte CSI), line separators, bidi controls, lone surrogates.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def dump_json(data: Any, **kwargs: Any) -> str:
    """``json.dumps(data, ensure_ascii=False, **kwargs)`` that is also safe on a terminal.

    The standard encoder escapes only U+0000-U+001F; this one also writes DEL, C1 controls, line
    separators, bidi controls and lone surrogates as ``\\uXXXX``. Those characters can only occur
    inside JSON strings, where the escape means the same character: ``json.loads`` returns the
    exact same data.
    """
    kwargs.setdefault("ensure_ascii", False)
    text = json.dumps(data, **kwargs)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# -- secrets ------------------------------------------------------------------------------------

#: Key-shaped words: OpenAI user, project, service-account and admin keys, session keys, and
#: Bearer tokens. Bodies are long (16+) so words like "sk-8" or "task-force" are left alone and
#: redacted text is never redacted again.
_SECRET = re.compile(
    r"(?P<bearer>\bBearer\s+)(?P<token>(?>[A-Za-z0-9._~+/-]{8,}=*))(?!…)"
    r"|(?<![A-Za-z0-9_-])(?P<sk>sk-)(?P<kind>(?:proj|svcacct|admin|None)-)?"
    r"(?>[A-Za-z0-9_-]{16,})(?!…)"
    r"|(?<![A-Za-z0-9_-])(?P<sess>sess-)(?>[A-Za-z0-9_-]{16,})(?!…)",
    re.IGNORECASE,
)
#: A configured key shorter than this is not searched for (it would match ordinary words).
MIN_SECRET_LENGTH = 8


def _replace(match: re.Match[str]) -> str:
    if match.group("bearer"):
        token = match.group("token")
        inner = _SECRET.fullmatch(token)
        kind = inner.group("kind") if inner is not None and inner.group("sk") else None
        prefix = ("sk-" + (kind or "")) if inner is not None and inner.group("sk") else ""
        return f"{match.group('bearer')}{prefix}{REDACTED}"
    if match.group("sk"):
        return f"{match.group('sk')}{match.group('kind') or ''}{REDACTED}"
    return f"{match.group('sess')}{REDACTED}"


def redact_secrets(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with API keys, session keys and Bearer tokens replaced by ``…REDACTED`` text.

    ``secrets`` are exact strings to hide as well (the configured key, whatever its shape); those
    shorter than ``MIN_SECRET_LENGTH`` are ignored. Redacting twice changes nothing more.
    """
    if not text:
        return ""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH and secret in text:
            shaped = _SECRET.sub(_replace, secret)
            text = text.replace(secret, shaped if shaped != secret else REDACTED)
    return _SECRET.sub(_replace, text)


class SecretFilter(logging.Filter):
    """Redacts secrets from every record that passes: message, arguments, traceback, stack.

    Install it on a handler (``handler.addFilter(SecretFilter())``): handler filters see records
    from every logger, logger filters only those logged on that very logger. The record's
    message is formatted once (``getMessage``) and redacted; its ``args`` are cleared so the
    formatter does not apply them again.
    """

    def __init__(self, secrets: Iterable[str | None] = (), name: str = "") -> None:
        super().__init__(name)
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not hide the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact_secrets(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact_secrets(record.stack_info, self.secrets)
        return True
