"""``dalletui generate --moderation --partial-images N --complexity`` (issue 14): checked against
the catalogue before anything is sent, stored with the generation, sent through the real SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dalletui.cli import main
from dalletui.storage import DatabaseManager
from tests.fakes import FakeOpenAIServer

OPTIONS = ("--moderation", "low", "--partial-images", "2", "--complexity", "high")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stored_params(home: Path, generation_id: int) -> dict[str, object]:
    db = DatabaseManager(home / "dalletui.db").open()
    try:
        return dict(db.get_generation(generation_id).params or {})
    finally:
        db.close()


def test_offline_generate_stores_the_options(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "generate", "a red fox", *OPTIONS, "--json")
    assert code == 0, err
    [image] = json.loads(out)["images"]
    params = stored_params(home, image["generation_id"])
    assert (params["moderation"], params["partial_images"], params["complexity"]) == (
        "low",
        2,
        "high",
    )


def test_defaults_leave_the_options_neutral(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "generate", "a red fox", "--json")
    assert code == 0, err
    [image] = json.loads(out)["images"]
    params = stored_params(home, image["generation_id"])
    assert (params["moderation"], params["partial_images"], params["complexity"]) == (
        "auto",
        0,
        None,
    )


def test_options_reach_the_api_and_drafts_are_reported(
    monkeypatch: pytest.MonkeyPatch,
    fake_openai: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-options")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("DALLETUI_SAFETY_IDENTIFIER", "user-hash-1")
    code, _, err = run(capsys, "generate", "a red fox", *OPTIONS)
    assert code == 0, err
    body = fake_openai.last_request.body
    assert body["moderation"] == "low" and body["complexity"] == "high"
    assert body["stream"] is True and body["partial_images"] == 2
    assert body["safety_identifier"] == "user-hash-1"
    assert "partial image 1 of 2" in err and "partial image 2 of 2" in err


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (
            ["--complexity", "extreme"],
            "Complexity 'extreme' is not available for gpt-image-1-mini; choose low, medium or "
            "high.",
        ),
        (
            ["--moderation", "high"],
            "Moderation 'high' is not available for gpt-image-1-mini; choose auto or low.",
        ),
        (
            ["--partial-images", "2", "-n", "2"],
            "Partial previews stream one image at a time; set n to 1 or partial images to 0.",
        ),
        (
            ["--format", "png", "--compression", "50"],
            "Output compression applies only to webp or jpeg output; leave it unset for png.",
        ),
    ],
)
def test_bad_options_are_one_sentence_before_anything_is_sent(
    argv: list[str],
    sentence: str,
    monkeypatch: pytest.MonkeyPatch,
    fake_openai: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-options")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    code, _, err = run(capsys, "generate", "a red fox", *argv)
    assert code == 1 and sentence in err
    assert err.count("\n") == 1, err
    assert fake_openai.generation_count == 0


@pytest.mark.parametrize("value", ["4", "-1", "two"])
def test_partial_images_out_of_range_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["generate", "a red fox", "--partial-images", value])
    assert caught.value.code == 2
    assert "--partial-images" in capsys.readouterr().err
