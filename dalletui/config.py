"""Settings and paths: environment variables, an optional TOML file, platformdirs.

Precedence: explicit arguments (CLI flags) > environment > config file > defaults.
The API key is read here and nowhere else; it is never written, logged or exported.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from dalletui.errors import ConfigError

log = logging.getLogger(__name__)

APP_NAME = "dalletui"
PROVIDERS = ("auto", "openai", "offline")
GRAPHICS_MODES = ("auto", "kitty", "sixel", "halfcell", "unicode", "off")


def expand_path(value: str | Path, setting: str) -> Path:
    """``value`` as a path with a leading ``~`` or ``~user`` expanded.

    Raises ``ConfigError`` naming ``setting`` (``DALLETUI_HOME``, ``--home``, ...) and the value
    when the home folder cannot be found (``~nosuchuser/x``, or ``~`` without ``$HOME``), where
    ``Path.expanduser`` raises ``RuntimeError``.
    """
    path = Path(value)
    try:
        return path.expanduser()
    except RuntimeError as exc:
        head = str(value).replace("\\", "/").split("/", 1)[0]
        whose = f"user '{head[1:]}'" if len(head) > 1 else "the current user"
        raise ConfigError(
            f"{setting} is '{value}', but the home folder of {whose} cannot be found to "
            "expand it; write the path out in full."
        ) from exc


def default_home() -> Path:
    """The data folder: ``DALLETUI_HOME`` or the platform's user data dir."""
    env = os.environ.get("DALLETUI_HOME")
    if env:
        return expand_path(env, "DALLETUI_HOME")
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_config_path() -> Path:
    """The config file: ``DALLETUI_CONFIG`` or ``<user config dir>/config.toml``."""
    env = os.environ.get("DALLETUI_CONFIG")
    if env:
        return expand_path(env, "DALLETUI_CONFIG")
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about where it lives and what it defaults to."""

    home: Path
    config_path: Path | None = None
    model: str = "gpt-image-1-mini"
    size: str = "1024x1024"
    quality: str = "auto"
    n: int = 1
    output_format: str = "png"
    provider: str = "auto"
    base_url: str | None = None
    organization: str | None = None
    project: str | None = None
    graphics: str = "auto"
    #: The Textual theme the app starts with (None: Textual's default); checked by the app,
    #: which knows the themes. One picked at run time is saved apart (see ``saved_theme``).
    theme: str | None = None
    #: ``[keys]``: binding id -> keys ("s" or "s,ctrl+s"); checked by the app, which knows the ids.
    keys: dict[str, str] = field(default_factory=dict)
    #: Terminal cell size in pixels as ``WxH`` for terminals that report a wrong one.
    cell_size: str | None = None
    #: Seconds to wait for the API's answer to one image request. The facts file gives no
    #: latencies, so this is not measured: the slow end is high/xhigh/max quality at the
    #: largest sizes (up to 3840x2160). Too short costs more than too long: a timed-out request
    #: may have been billed and is not re-sent, while a long wait is visible and cancellable
    #: (escape). 300 s is generous for that and still unblocks a batch on a hung server in five
    #: minutes (the SDK's own default is 600 s). For streams it bounds the silence between
    #: events, not the whole stream.
    request_timeout: float = 300.0
    #: Days an entry stays in the trash before it is purged when dalletui starts (0: never).
    trash_days: int = 30
    #: Requests a batch keeps in flight at once.
    batch_concurrency: int = 4
    #: A batch of more images than this asks first (the TUI asks, the CLI needs --yes).
    batch_confirm_images: int = 20
    #: A batch that may cost more than this many US dollars asks first (unknown cost: asks).
    batch_confirm_cost: float = 1.0
    #: US dollars a month; a batch that would pass it says so when it asks (None: no budget).
    monthly_budget: float | None = None
    price_overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    #: A stable id of the person using dalletui (best a hash of a user name or e-mail), sent
    #: with every OpenAI request as ``safety_identifier`` for abuse monitoring; None: not sent.
    #: Never the API key (refused when it is).
    safety_identifier: str | None = field(default=None, repr=False)
    # repr=False keeps the key out of logs, tracebacks and debug dumps.
    api_key: str | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def db_path(self) -> Path:
        return self.home / "dalletui.db"

    @property
    def images_dir(self) -> Path:
        return self.home / "images"

    @property
    def effective_provider(self) -> str:
        """``openai`` when a key is set (or forced), else ``offline``."""
        if self.provider == "auto":
            return "openai" if self.api_key else "offline"
        return self.provider

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given non-None fields replaced (used by CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_FILE_KEYS = {
    "model": str,
    "size": str,
    "quality": str,
    "n": int,
    "output_format": str,
    "provider": str,
    "base_url": str,
    "organization": str,
    "project": str,
    "graphics": str,
    "theme": str,
    "cell_size": str,
    "request_timeout": object,  # int or float: checked with the environment value below
    "trash_days": int,
    # Numbers are checked (with any environment value) by _check_number below.
    "batch_concurrency": object,
    "batch_confirm_images": object,
    "batch_confirm_cost": object,
    "monthly_budget": object,
    "safety_identifier": str,
    "api_key": str,
    "home": str,
}


def _read_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    warnings: list[str] = []
    if not path.is_file():
        return {}, warnings
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {path}: {exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML: {exc}.") from exc
    section = data.get("defaults", {})
    if not isinstance(section, dict):
        raise ConfigError(f"In {path}, [defaults] must be a table.")
    values: dict[str, Any] = {}
    for key, value in {**data, **section}.items():
        if key in ("defaults", "prices", "keys"):
            continue
        if key not in _FILE_KEYS:
            warnings.append(f"Unknown key '{key}' in {path} is ignored.")
            continue
        if not isinstance(value, _FILE_KEYS[key]):
            raise ConfigError(f"In {path}, '{key}' must be a {_FILE_KEYS[key].__name__}.")
        values[key] = value
    prices = data.get("prices", {})
    if not isinstance(prices, dict) or not all(isinstance(v, dict) for v in prices.values()):
        raise ConfigError(f"In {path}, [prices.MODEL] tables must map price names to numbers.")
    values["price_overrides"] = prices
    values["keys"] = _read_keys(data.get("keys", {}), path, warnings)
    if "api_key" in values and _readable_by_others(path):
        warnings.append(
            f"{path} holds an API key and is readable by other users; run: chmod 600 {path}"
        )
    return values, warnings


def _read_keys(section: object, path: Path, warnings: list[str]) -> dict[str, str]:
    """``[keys]``: binding id -> a key string; anything else is one warning and left out (a
    wrong key costs a default binding, not the start of the app)."""
    if not isinstance(section, dict):
        warnings.append(
            f'In {path}, keys must be a table ([keys] with lines like "history.favorite" = "s");'
            " it is ignored."
        )
        return {}
    keys: dict[str, str] = {}
    for binding_id, value in _flatten(section):
        if isinstance(value, str):
            keys[binding_id] = value
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            keys[binding_id] = ",".join(value)  # ["s", "ctrl+s"] reads like "s,ctrl+s"
        else:
            warnings.append(
                f"In {path}, [keys] '{binding_id}' must be a key in quotes, like \"s\" or "
                f'"s,ctrl+s"; got {value!r}, so it is ignored.'
            )
    return keys


def _flatten(table: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """TOML reads ``history.favorite = "s"`` (unquoted) as a table ``history`` holding
    ``favorite``: both spellings name the binding ``history.favorite``."""
    items: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _readable_by_others(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def _text_setting(value: str, name: str) -> str:
    """An environment value as text; bytes that are not UTF-8 are refused, naming the variable."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{name} is not valid UTF-8 text; set it again.") from None
    return value


@dataclass(frozen=True)
class _NumberRule:
    """How one numeric setting is read: whole or not, its bounds, and what to say when wrong."""

    key: str
    env: str | None
    whole: bool
    low: float
    high: float = math.inf
    low_open: bool = False  # True: the value must be above ``low``, not equal to it
    expected: str = ""


_NUMBER_RULES = (
    _NumberRule(
        "batch_concurrency",
        "DALLETUI_BATCH_CONCURRENCY",
        whole=True,
        low=1,
        high=32,
        expected="a whole number of requests in flight from 1 to 32, e.g. 4",
    ),
    _NumberRule(
        "batch_confirm_images",
        None,
        whole=True,
        low=1,
        expected="a whole number of images of at least 1, e.g. 20",
    ),
    _NumberRule(
        "batch_confirm_cost",
        None,
        whole=False,
        low=0,
        expected="a number of US dollars of 0 or more, e.g. 1.0",
    ),
    _NumberRule(
        "monthly_budget",
        "DALLETUI_MONTHLY_BUDGET",
        whole=False,
        low=0,
        low_open=True,
        expected="a positive number of US dollars, e.g. 10 (leave it out for no budget)",
    ),
)


def _check_number(rule: _NumberRule, values: dict[str, Any], path: Path) -> None:
    """Read ``rule.key`` from the environment or ``values`` (the file) into a checked number."""
    env = os.environ.get(rule.env) if rule.env else None
    if env:
        raw: Any = env
        source = rule.env
        text = env.strip()
        if not rule.whole:
            text = text.removeprefix("$").strip()
    elif rule.key in values:
        raw = values[rule.key]
        source = f"'{rule.key}' in {path}"
        # The file must give a number (not a string or a bool); whole settings an integer.
        wanted = int if rule.whole else int | float
        text = str(raw) if isinstance(raw, wanted) and not isinstance(raw, bool) else ""
    else:
        return
    number: float | None
    try:
        number = int(text) if rule.whole else float(text)
    except (ValueError, OverflowError):
        number = None
    above_low = number is not None and (number > rule.low if rule.low_open else number >= rule.low)
    if number is None or not above_low or number > rule.high or not math.isfinite(number):
        raise ConfigError(f"{source} must be {rule.expected}; got {raw!r}.")
    values[rule.key] = number


SAFETY_ID_IS_KEY = (
    "safety_identifier is the API key, which must never be sent as one; set it to a hash of "
    "the user's name or leave it out."
)


def _check_safety_identifier(values: dict[str, Any]) -> None:
    """Blank means unset; the API key (from the environment or the file) is refused."""
    identifier = str(values.get("safety_identifier") or "").strip()
    if not identifier:
        values.pop("safety_identifier", None)
        return
    key = str(values.get("api_key") or "").strip()
    if key and identifier == key:
        raise ConfigError(SAFETY_ID_IS_KEY)
    values["safety_identifier"] = identifier


def load_settings(
    home: Path | str | None = None, config_path: Path | str | None = None
) -> Settings:
    """Build settings from defaults, the config file, the environment and arguments."""
    path = expand_path(config_path, "--config") if config_path else default_config_path()
    values, warnings = _read_file(path)
    env = os.environ
    if env.get("OPENAI_API_KEY"):
        values["api_key"] = env["OPENAI_API_KEY"]
    for env_name, key in (
        ("OPENAI_BASE_URL", "base_url"),
        ("OPENAI_ORG_ID", "organization"),
        ("OPENAI_PROJECT_ID", "project"),
        ("DALLETUI_PROVIDER", "provider"),
        ("DALLETUI_MODEL", "model"),
        ("DALLETUI_GRAPHICS", "graphics"),
        ("DALLETUI_CELL_SIZE", "cell_size"),
        ("DALLETUI_SAFETY_IDENTIFIER", "safety_identifier"),
    ):
        if env.get(env_name):
            values[key] = _text_setting(env[env_name], env_name)
    if home is not None:
        resolved_home = expand_path(home, "--home")
    elif env.get("DALLETUI_HOME"):
        resolved_home = default_home()
    elif "home" in values:
        resolved_home = expand_path(values["home"], f"'home' in {path}")
    else:
        resolved_home = default_home()
    values.pop("home", None)
    provider = values.get("provider", "auto")
    if provider not in PROVIDERS:
        raise ConfigError(
            f"Provider '{provider}' is unknown; choose one of {', '.join(PROVIDERS)}."
        )
    graphics = values.get("graphics", "auto")
    if graphics not in GRAPHICS_MODES:
        raise ConfigError(
            f"Graphics mode '{graphics}' is unknown; choose one of {', '.join(GRAPHICS_MODES)}."
        )
    cell_size = values.get("cell_size")
    if cell_size is not None and not re.fullmatch(r"\s*\d+\s*[xX]\s*\d+\s*", cell_size):
        raise ConfigError(f"Cell size '{cell_size}' must be WIDTHxHEIGHT in pixels, e.g. 10x20.")
    if env.get("DALLETUI_REQUEST_TIMEOUT"):
        values["request_timeout"] = env["DALLETUI_REQUEST_TIMEOUT"]
        timeout_source = "DALLETUI_REQUEST_TIMEOUT"
    else:
        timeout_source = f"'request_timeout' in {path}"
    if "request_timeout" in values:
        raw_timeout = values["request_timeout"]
        # The environment gives text; the TOML file must give a number (not a string or bool).
        if timeout_source == "DALLETUI_REQUEST_TIMEOUT":
            readable = isinstance(raw_timeout, str)
        else:
            readable = isinstance(raw_timeout, int | float) and not isinstance(raw_timeout, bool)
        try:
            seconds = float(raw_timeout) if readable else -1.0
        except (ValueError, OverflowError):
            seconds = -1.0
        if not 0 < seconds < float("inf"):  # also false for NaN
            raise ConfigError(
                f"{timeout_source} must be a positive number of seconds, e.g. 300; "
                f"got {raw_timeout!r}."
            )
        values["request_timeout"] = seconds
    if env.get("DALLETUI_TRASH_DAYS"):
        values["trash_days"], days_source = env["DALLETUI_TRASH_DAYS"], "DALLETUI_TRASH_DAYS"
    else:
        days_source = f"'trash_days' in {path}"
    if "trash_days" in values:
        raw_days = values["trash_days"]
        try:
            days = -1 if isinstance(raw_days, bool) else int(str(raw_days).strip())
        except ValueError:
            days = -1
        if not 0 <= days <= 36_500:
            raise ConfigError(
                f"{days_source} must be a whole number of days from 0 (keep the trash until "
                f"it is emptied) to 36500; got {raw_days!r}."
            )
        values["trash_days"] = days
    for rule in _NUMBER_RULES:
        _check_number(rule, values, path)
    _check_safety_identifier(values)
    for warning in warnings:
        log.warning("%s", warning)
    return Settings(
        home=resolved_home,
        config_path=path if path.is_file() else None,
        warnings=tuple(warnings),
        **values,
    )


# -- what the app remembers between runs (not the user's config) -----------------------------
#
# A theme picked at run time is kept in ``<home>/state.json``, not written into config.toml:
# that file is the user's (often a read-only symlink from a dotfiles repo or home-manager,
# with comments and an API key in it, and Python has no TOML writer that keeps them), and the
# data folder is ours already. The saved pick records which config theme it overrode, so a
# theme changed in the config file afterwards wins again: the newest choice is the one used.

STATE_FILE = "state.json"


def state_path(settings: Settings) -> Path:
    return settings.home / STATE_FILE


def _read_state(settings: Settings) -> dict[str, Any]:
    import json

    try:
        data = json.loads(state_path(settings).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}  # none yet, or unreadable: nothing remembered (it is rewritten on the next pick)
    return data if isinstance(data, dict) else {}


def saved_theme(settings: Settings) -> str | None:
    """The theme picked at run time, unless the config's ``theme`` changed since it was."""
    entry = _read_state(settings).get("theme")
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return None
    if entry.get("config") != settings.theme:
        return None  # the config file names another theme now: that newer choice wins
    return str(entry["name"])


def save_theme(settings: Settings, name: str) -> None:
    """Remember ``name`` for the next start; written atomically (temp file, then rename).

    Raises ``OSError`` when the data folder cannot be written."""
    import json
    import tempfile

    state = _read_state(settings)
    state["theme"] = {"name": name, "config": settings.theme}
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
