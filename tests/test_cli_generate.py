"""CLI: generate (offline and through the real SDK against the fake server) and models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dalletui.cli import main
from tests.fakes import FakeOpenAIServer, Fault


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_offline_generate_makes_a_real_png_and_records_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "generate", "a red fox in snow")
    assert code == 0, err
    assert "Offline" in err
    path = Path(out.split()[0])
    assert path.is_file() and path.is_relative_to(home / "images")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1024, 1024)
    history = json.loads(run(capsys, "history", "--json")[1])
    assert history[0]["text"] == "a red fox in snow" and history[0]["generation_count"] == 1


def test_generate_json_and_out_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "exported"
    code, out, _ = run(
        capsys,
        "generate",
        "two owls",
        "-n",
        "2",
        "--json",
        "--out",
        str(out_dir),
        "--format",
        "jpeg",
        "--size",
        "1536x1024",
    )
    assert code == 0
    data = json.loads(out)
    assert data["provider"] == "offline" and data["cost"] == "0"
    assert [i["status"] for i in data["images"]] == ["succeeded"] * 2
    for image in data["images"]:
        assert Path(image["copy"]).parent == out_dir and Path(image["copy"]).is_file()
        assert (image["width"], image["height"]) == (1536, 1024)
        assert image["path"].endswith(".jpg")


def test_generate_through_openai_sdk(
    monkeypatch: pytest.MonkeyPatch,
    fake_openai: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    code, out, err = run(capsys, "generate", "a lighthouse at dusk", "--model", "gpt-image-1-mini")
    assert code == 0, err
    assert "Offline" not in err
    assert "openai" in out and "tokens" in out and "cost $0.0022" in out  # 2,184 tokens of mini
    assert fake_openai.last_request.authorization == "Bearer sk-cli-test"


def test_generate_api_error_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch,
    fake_openai: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    fake_openai.script(Fault.moderation())
    code, out, err = run(capsys, "generate", "something refused")
    assert code == 1 and "content policy" in err and "Traceback" not in err
    history = json.loads(run(capsys, "history", "--json")[1])
    assert history[0]["text"] == "something refused"  # the prompt is kept even when refused


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["generate", ""], "prompt is empty"),
        (["generate", "x", "--model", "dall-e-3"], "retired on 2026-05-12"),
        (["generate", "x", "--model", "gpt-image-1-mini", "--size", "1000x1000"], "1024x1024"),
        (["generate", "x", "--format", "jpeg", "--background", "transparent"], "png"),
        (["generate", "x", "--provider", "openai"], "OPENAI_API_KEY"),
    ],
)
def test_generate_bad_input(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1 and fragment in err
    assert err.count("\n") == 1, err


def test_models_lists_catalogue_with_retired_marked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0
    assert rows["dall-e-3"]["retired"] and "use" in rows["dall-e-3"]["status"]
    assert not rows["gpt-image-2"]["retired"]
    assert rows["chatgpt-image-latest"]["price"] == "price unknown"
    code, out, _ = run(capsys, "models")
    assert "✗ gpt-image-1 " in out and "• gpt-image-2.6-sunburst" in out
