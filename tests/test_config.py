"""Settings: precedence, TOML file, key handling, price overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dalletui.config import Settings, load_settings
from dalletui.errors import ConfigError
from dalletui.generation.catalog import load_catalog


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_defaults_without_file_or_key(home: Path) -> None:
    settings = load_settings()
    assert settings.home == home
    assert settings.db_path == home / "dalletui.db" and settings.images_dir == home / "images"
    assert settings.effective_provider == "offline"
    assert settings.config_path is None


def test_file_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "c.toml",
        '[defaults]\nmodel = "gpt-image-1.5"\nsize = "1536x1024"\nquality = "low"\nn = 2\n'
        'home = "/nonexistent/from-file"\n',
    )
    monkeypatch.delenv("DALLETUI_HOME")
    settings = load_settings(config_path=config)
    assert (settings.model, settings.size, settings.quality, settings.n) == (
        "gpt-image-1.5",
        "1536x1024",
        "low",
        2,
    )
    assert settings.home == Path("/nonexistent/from-file")
    monkeypatch.setenv("DALLETUI_MODEL", "gpt-image-2")
    monkeypatch.setenv("DALLETUI_HOME", str(tmp_path / "env-home"))
    settings = load_settings(config_path=config)
    assert settings.model == "gpt-image-2" and settings.home == tmp_path / "env-home"
    assert load_settings(home=tmp_path / "arg", config_path=config).home == tmp_path / "arg"
    assert settings.with_overrides(model="x", size=None).size == "1536x1024"


def test_config_env_var_points_at_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "other.toml", 'provider = "offline"\n')
    monkeypatch.setenv("DALLETUI_CONFIG", str(config))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    settings = load_settings()
    assert settings.config_path == config and settings.effective_provider == "offline"


def test_api_key_from_env_selects_openai_and_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-hidden-123")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = load_settings()
    assert settings.effective_provider == "openai" and settings.base_url == "http://127.0.0.1:9/v1"
    assert "sk-hidden-123" not in repr(settings)


def test_key_in_world_readable_file_warns(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", 'api_key = "sk-file"\n', mode=0o644)
    settings = load_settings(config_path=config)
    assert settings.api_key == "sk-file"
    assert any("chmod 600" in w for w in settings.warnings)
    os.chmod(config, 0o600)
    assert not load_settings(config_path=config).warnings


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("model = ", "not valid TOML"),
        ("n = 'two'", "'n' must be a int"),
        ('provider = "cloud"', "Provider 'cloud' is unknown"),
        ("defaults = 3", "[defaults] must be a table"),
        ("[prices]\ngpt-image-2 = 5", "[prices.MODEL]"),
    ],
)
def test_bad_config_files_give_clear_errors(tmp_path: Path, text: str, fragment: str) -> None:
    config = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=config)
    assert fragment in str(info.value)


def test_unknown_keys_warn_but_load(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", 'colour = "blue"\n')
    assert any("colour" in w for w in load_settings(config_path=config).warnings)


def test_price_overrides_reach_the_catalogue(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "[prices.gpt-image-2]\nimage_out = 28.0\n")
    settings = load_settings(config_path=config)
    spec = load_catalog(settings.price_overrides).get("gpt-image-2")
    assert spec is not None and str(spec.token_prices.image_out.amount) == "28.0"
    assert spec.token_prices.image_out.source == "user config"


def test_settings_is_frozen() -> None:
    settings = Settings(home=Path("/x"))
    with pytest.raises(AttributeError):
        settings.model = "y"  # type: ignore[misc]


# -- batch settings ---------------------------------------------------------------------------


def test_batch_settings_defaults() -> None:
    settings = load_settings()
    assert (
        settings.batch_concurrency,
        settings.batch_confirm_images,
        settings.batch_confirm_cost,
        settings.monthly_budget,
    ) == (4, 20, 1.0, None)


def test_batch_settings_from_the_file_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "c.toml",
        "[defaults]\nbatch_concurrency = 8\nbatch_confirm_images = 50\n"
        "batch_confirm_cost = 2\nmonthly_budget = 12.5\n",
    )
    settings = load_settings(config_path=config)
    assert (
        settings.batch_concurrency,
        settings.batch_confirm_images,
        settings.batch_confirm_cost,
        settings.monthly_budget,
    ) == (8, 50, 2.0, 12.5)
    monkeypatch.setenv("DALLETUI_BATCH_CONCURRENCY", " 16 ")
    monkeypatch.setenv("DALLETUI_MONTHLY_BUDGET", "$30")
    settings = load_settings(config_path=config)
    assert (settings.batch_concurrency, settings.monthly_budget) == (16, 30.0)
    free = load_settings(config_path=write(tmp_path / "z.toml", "batch_confirm_cost = 0\n"))
    assert free.batch_confirm_cost == 0.0  # 0: every batch that may cost anything asks


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("batch_concurrency = 0", "'batch_concurrency' in"),
        ("batch_concurrency = 33", "from 1 to 32"),
        ("batch_concurrency = 2.5", "from 1 to 32"),
        ("batch_concurrency = true", "from 1 to 32"),
        ('batch_concurrency = "4"', "from 1 to 32"),
        ("batch_confirm_images = 0", "at least 1"),
        ("batch_confirm_cost = -0.5", "0 or more"),
        ("batch_confirm_cost = inf", "0 or more"),
        ("monthly_budget = 0", "a positive number of US dollars"),
        ("monthly_budget = nan", "a positive number of US dollars"),
        ('monthly_budget = "ten"', "a positive number of US dollars"),
    ],
)
def test_bad_batch_settings_in_the_file_are_sentences(
    tmp_path: Path, text: str, fragment: str
) -> None:
    config = write(tmp_path / "bad.toml", text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_path=config)
    message = str(info.value)
    assert fragment in message and "got " in message and str(config) in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DALLETUI_BATCH_CONCURRENCY", "0"),
        ("DALLETUI_BATCH_CONCURRENCY", "33"),
        ("DALLETUI_BATCH_CONCURRENCY", "four"),
        ("DALLETUI_MONTHLY_BUDGET", "0"),
        ("DALLETUI_MONTHLY_BUDGET", "-5"),
        ("DALLETUI_MONTHLY_BUDGET", "inf"),
        ("DALLETUI_MONTHLY_BUDGET", "lots"),
    ],
)
def test_bad_batch_settings_in_the_environment_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(f"{name} must be ") and repr(value) in str(info.value)


# -- issue 12: theme and [keys] ------------------------------------------------------------------


def test_theme_is_a_config_key_not_an_unknown_one(tmp_path: Path) -> None:
    top = load_settings(config_path=write(tmp_path / "a.toml", 'theme = "nord"\n'))
    inside = load_settings(config_path=write(tmp_path / "b.toml", '[defaults]\ntheme = "nord"\n'))
    assert top.theme == inside.theme == "nord"
    assert top.warnings == inside.warnings == ()
    assert load_settings(config_path=tmp_path / "none.toml").theme is None


def test_keys_are_read_quoted_or_dotted_and_bad_values_are_one_warning(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.toml",
        "[keys]\n"
        '"history.favorite" = "s"\n'
        'compose.generate = ["ctrl+g", "f9"]\n'
        "history.delete = 3\n",
    )
    settings = load_settings(config_path=config)
    assert settings.keys == {"history.favorite": "s", "compose.generate": "ctrl+g,f9"}
    [warning] = settings.warnings
    assert warning == (
        f"In {config}, [keys] 'history.delete' must be a key in quotes, like \"s\" or "
        '"s,ctrl+s"; got 3, so it is ignored.'
    )


def test_keys_that_are_not_a_table_warn_and_load(tmp_path: Path) -> None:
    settings = load_settings(config_path=write(tmp_path / "c.toml", 'keys = "s"\n'))
    assert settings.keys == {}
    assert len(settings.warnings) == 1 and "keys must be a table" in settings.warnings[0]


def test_a_saved_theme_is_kept_in_the_data_folder_atomically(tmp_path: Path) -> None:
    from dalletui.config import save_theme, saved_theme, state_path

    settings = Settings(home=tmp_path / "home")
    assert saved_theme(settings) is None
    save_theme(settings, "dracula")
    save_theme(settings, "gruvbox")
    assert saved_theme(settings) == "gruvbox"
    assert sorted(p.name for p in settings.home.iterdir()) == ["state.json"]  # no temp left
    # A theme set in the config after the pick is the newer choice.
    assert saved_theme(Settings(home=settings.home, theme="nord")) is None
    state_path(settings).write_text("{not json", encoding="utf-8")
    assert saved_theme(settings) is None  # unreadable state: nothing remembered, no error
