"""CLI: edit, vary and lineage, offline and through the real SDK against the fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dalletui.cli import main
from tests.fakes import FakeOpenAIServer, Fault

Capsys = pytest.CaptureFixture[str]


def run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def png(path: Path, size: tuple[int, int] = (1024, 1024), colour=(30, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def mask_png(path: Path, size: tuple[int, int]) -> Path:
    """Opaque but for a transparent hole in the top-left quarter."""
    image = Image.new("RGBA", size, (255, 255, 255, 255))
    image.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    image.save(path)
    return path


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAIServer) -> FakeOpenAIServer:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    return fake_openai


def generate(capsys: Capsys, prompt: str = "a lighthouse at dusk") -> int:
    code, out, err = run(capsys, "generate", prompt, "--quality", "low", "--json")
    assert code == 0, err
    return json.loads(out)["images"][0]["generation_id"]


def edit_json(capsys: Capsys, *argv: str) -> dict:
    code, out, err = run(capsys, "edit", *argv, "--quality", "low", "--json")
    assert code == 0, err
    return json.loads(out)


# -- offline ----------------------------------------------------------------------------------


def test_offline_edit_of_a_generation_says_offline_and_names_its_parent(
    home: Path, capsys: Capsys
) -> None:
    root = generate(capsys)
    code, out, err = run(capsys, "edit", f"gen:{root}", "the lighthouse in a storm", "-q", "low")
    assert code == 0, err
    assert "Offline" in err and "estimated" not in err
    line = out.splitlines()[0]
    path = Path(line.split()[0])
    assert path.is_file() and path.is_relative_to(home / "images")
    assert f"gen:{root + 1}" in line and line.endswith(f"edited from #{root}")
    assert out.splitlines()[1].startswith("1 of 1 images")


def test_offline_vary_defaults_to_the_parents_prompt(capsys: Capsys, tmp_path: Path) -> None:
    root = generate(capsys, "an owl on a branch")
    code, out, err = run(capsys, "vary", f"#{root}", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "variation"
    (image,) = data["images"]
    assert image["kind"] == "variation" and image["parents"] == [root]
    code, out, _ = run(capsys, "lineage", str(image["generation_id"]), "--json")
    assert json.loads(out)["prompt"] == "an owl on a branch"
    code, out, _ = run(capsys, "vary", f"gen:{root}", "at night")
    assert code == 0 and out.splitlines()[0].endswith(f"a variation of #{root}")

    outside = png(tmp_path / "holiday.png", (64, 64))
    code, out, err = run(capsys, "vary", str(outside))
    assert code == 1 and out == ""
    assert "holiday.png is not one of dalletui's images" in err and err.count("\n") == 1


def test_offline_prompt_from_stdin(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io

    source = png(tmp_path / "in.png", (256, 256))
    monkeypatch.setattr("sys.stdin", io.StringIO("  a red door\n"))
    data = edit_json(capsys, str(source), "-")
    gid = data["images"][0]["generation_id"]
    view = json.loads(run(capsys, "lineage", str(gid), "--json")[1])
    assert view["prompt"] == "a red door"
    # An outside file is an input, not a parent; auto size keeps its shape.
    assert data["images"][0]["parents"] == []
    assert (data["images"][0]["width"], data["images"][0]["height"]) == (256, 256)
    assert view["inputs"] == [
        {"role": "image", "generation_id": None, "file": str(source), "available": True}
    ]


def test_lineage_after_two_edits_and_a_branch(capsys: Capsys) -> None:
    root = generate(capsys)
    first = edit_json(capsys, f"gen:{root}", "in a storm")["images"][0]["generation_id"]
    second = edit_json(capsys, f"gen:{first}", "at night")["images"][0]["generation_id"]
    branch = edit_json(capsys, f"#{first}", "at sunrise")["images"][0]["generation_id"]

    data = json.loads(run(capsys, "lineage", f"gen:{first}", "--json")[1])
    assert data["id"] == first and data["kind"] == "edit" and data["parent"] == root
    assert [r["id"] for r in data["chain"]] == [root, first]
    assert [r["kind"] for r in data["chain"]] == ["generate", "edit"]
    assert [r["id"] for r in data["children"]] == [second, branch]
    assert [(i["role"], i["generation_id"]) for i in data["inputs"]] == [("image", root)]

    code, out, _ = run(capsys, "lineage", str(second))
    assert code == 0
    assert out.splitlines() == [
        f"#{second} edit: at night",
        "made from:",
        f"  image  #{first}",
        "chain, oldest first:",
        f"  #{root:<5} generate   a lighthouse at dusk",
        f"  #{first:<5} edit       in a storm",
        f"  #{second:<5} edit       at night  ← this",
        "children: none",
    ]
    code, out, _ = run(capsys, "lineage", str(root))
    assert "made from: nothing (a first image)" in out
    assert out.splitlines()[-2:] == ["children:", f"  #{first:<5} edit       in a storm"]
    code, _, err = run(capsys, "lineage", "gen:99")
    assert code == 1 and err.count("\n") == 1


# -- through the SDK and the fake server --------------------------------------------------------


def test_single_image_edit_of_a_generation(online: FakeOpenAIServer, capsys: Capsys) -> None:
    root = generate(capsys)
    code, out, err = run(capsys, "edit", f"gen:{root}", "the lighthouse in a storm", "-q", "low")
    assert code == 0, err
    assert "Offline" not in err
    # No past edit to go by: said before sending, with the reason.
    assert "Edit (1 image, gpt-image-1-mini): cost unknown: an edit also pays" in err
    line = out.splitlines()[0]
    assert f"gen:{root + 1}" in line and "of them input image" in line
    assert line.endswith(f"edited from #{root}") and "openai" in line
    sent = online.edit_requests[-1]
    assert [f.filename for f in sent.images] == [f"gen-{root}.png"]
    assert sent.prompt == "the lighthouse in a storm"

    # The next edit goes by the last one's cost.
    code, _, err = run(capsys, "edit", f"gen:{root}", "in fog", "-q", "low")
    assert code == 0 and "from 1 past edit." in err and "estimated $" in err


def test_three_reference_edit_with_files_json(
    online: FakeOpenAIServer, capsys: Capsys, tmp_path: Path
) -> None:
    refs = [png(tmp_path / f"ref{i}.png", colour=(60 * i, 90, 160)) for i in range(3)]
    data = edit_json(
        capsys,
        *map(str, refs),
        "put them in one room",
        "--model",
        "gpt-image-1.5",
        "--fidelity",
        "high",
    )
    assert data["kind"] == "edit" and data["provider"] == "openai"
    assert data["estimate"]["basis"] == "unknown" and data["estimate"]["reason"]
    (image,) = data["images"]
    assert image["status"] == "succeeded" and image["kind"] == "edit"
    assert image["parents"] == []
    assert [Path(i["file"]).name for i in image["inputs"]] == ["ref0.png", "ref1.png", "ref2.png"]
    assert image["input_image_tokens"] > 0 and image["tokens"] > image["input_image_tokens"]
    assert data["cost"] == image["cost"] and float(image["cost"]) > 0
    sent = online.edit_requests[-1]
    assert [f.filename for f in sent.images] == ["ref0.png", "ref1.png", "ref2.png"]
    assert sent.body["input_fidelity"] == "high"


def test_masked_edit(online: FakeOpenAIServer, capsys: Capsys, tmp_path: Path) -> None:
    root = generate(capsys)
    code, out, _ = run(capsys, "lineage", str(root), "--json")
    with Image.open(json.loads(out)["path"]) as image:
        size = image.size
    mask = mask_png(tmp_path / "hole.png", size)
    data = edit_json(capsys, f"gen:{root}", "a red door", "--mask", str(mask))
    (image,) = data["images"]
    assert [(i["role"], i["generation_id"]) for i in image["inputs"]] == [
        ("image", root),
        ("mask", None),
    ]
    sent = online.edit_requests[-1]
    assert sent.mask is not None and sent.mask_size == size
    code, out, _ = run(capsys, "edit", f"gen:{root}", "a blue door", "--mask", str(mask))
    assert code == 0 and out.splitlines()[0].endswith(f"edited from #{root}; mask hole.png")


def test_streamed_edit_shows_partials(
    online: FakeOpenAIServer, capsys: Capsys, tmp_path: Path
) -> None:
    source = png(tmp_path / "a.png")
    code, out, err = run(capsys, "edit", str(source), "glow", "--partial-images", "2", "-q", "low")
    assert code == 0, err
    assert "partial image 1 of 2" in err and "partial image 2 of 2" in err
    assert online.edit_requests[-1].body["stream"] in ("true", "True", True)
    assert "edited from a.png" in out


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("dall-e-2", "dall-e-2"),
        ("mask-size", "mask"),
        ("seventeen", "17"),
        ("missing", "No generation #99."),
        ("folder", "is a folder, not an image."),
    ],
)
def test_refused_edits_send_and_record_nothing(
    online: FakeOpenAIServer, capsys: Capsys, tmp_path: Path, case: str, fragment: str
) -> None:
    source = png(tmp_path / "a.png", (1024, 1024))
    argv = {
        "dall-e-2": [str(source), "x", "--model", "dall-e-2"],
        "mask-size": [str(source), "x", "--mask", str(mask_png(tmp_path / "m.png", (512, 512)))],
        "seventeen": [*[str(source)] * 17, "x"],
        "missing": ["gen:99", "x"],
        "folder": [str(tmp_path), "x"],
    }[case]
    code, out, err = run(capsys, "edit", *argv)
    assert code == 1 and out == ""
    assert fragment in err and err.startswith("dalletui: error: ")
    assert err.count("\n") == 1, err
    assert online.edit_count == 0
    history = json.loads(run(capsys, "history", "--json")[1])
    assert history == []  # nothing recorded: not even the prompt


def test_usage_errors_exit_2(capsys: Capsys, tmp_path: Path) -> None:
    source = str(png(tmp_path / "a.png", (64, 64)))
    for argv, fragment in (
        ([source, "x", "--mask", "m.png", "--markup", "k.png"], "not allowed with"),
        ([source, "x", "--partial-images", "4"], "at most 3"),
        ([source, "x", "--fidelity", "medium"], "invalid choice"),
    ):
        with pytest.raises(SystemExit) as info:
            main(["edit", *argv])
        err = capsys.readouterr().err
        assert info.value.code == 2 and fragment in err and err.count("\n") == 1
    code, _, err = run(capsys, "edit", "only-a-prompt")
    assert code == 1 and "Name the image to edit before the prompt" in err


def test_possibly_billed_edit_then_retry(
    online: FakeOpenAIServer, capsys: Capsys, tmp_path: Path
) -> None:
    source = png(tmp_path / "a.png")
    online.script(Fault.server_error(500))
    code, out, err = run(capsys, "edit", str(source), "a cat", "-q", "low", "--json")
    assert code == 1 and online.edit_count == 1  # never re-sent by itself
    data = json.loads(out)
    assert data["possibly_billed"] and data["cost"] is None
    (failed,) = data["images"]
    assert failed["status"] == "possibly_billed" and failed["kind"] == "edit"
    assert "dalletui retry" in err and err.count("\n") == 1

    code, out, err = run(capsys, "retry", str(failed["generation_id"]))
    assert code == 0, err
    assert "may already have been billed" in err and online.edit_count == 2
    first, second = online.edit_requests
    assert first.images[0].data == second.images[0].data
    assert out.splitlines()[0].endswith("edited from a.png")


def test_budget_needs_yes_in_a_script(
    online: FakeOpenAIServer,
    capsys: Capsys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DALLETUI_MONTHLY_BUDGET", "0.01")
    source = png(tmp_path / "a.png")
    code, out, err = run(capsys, "edit", str(source), "a cat", "-q", "low")
    assert code == 1 and out == "" and online.edit_count == 0
    assert "Add --yes to send it. Nothing was sent." in err
    code, _, err = run(capsys, "edit", str(source), "a cat", "-q", "low", "--yes")
    assert code == 0 and online.edit_count == 1, err


# -- outside text never drives the terminal ----------------------------------------------------


def test_hostile_file_names_and_prompts_print_safely(capsys: Capsys, tmp_path: Path) -> None:
    hostile = png(tmp_path / "\x1b]0;pwned\x07\x1b[2J.png", (128, 128))
    prompt = "a cat \x1b[31mred\x1b[0m \x9b2J"
    code, out, err = run(capsys, "edit", str(hostile), prompt, "-q", "low")
    assert code == 0, err
    gid = int(out.split("gen:")[1].split()[0])
    code, text, _ = run(capsys, "lineage", str(gid))
    code, raw, _ = run(capsys, "lineage", str(gid), "--json")
    missing = tmp_path / "\x1b[2Jgone.png"
    code, _, error = run(capsys, "edit", str(missing), "x")
    assert code == 1 and "gone.png" in error
    for shown in (out, err, text, raw, error):
        assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "␛]0;pwned" in out and "␛]0;pwned" in text
    assert json.loads(raw)["inputs"][0]["file"] == str(hostile)  # JSON keeps it, escaped


# -- shell completion ---------------------------------------------------------------------------


def test_bash_completes_file_names_for_images(capsys: Capsys, tmp_path: Path) -> None:
    import shutil
    import subprocess

    with pytest.raises(SystemExit):
        main(["--print-completion", "bash"])
    script = tmp_path / "dalletui.bash"
    script.write_text(capsys.readouterr().out, encoding="utf-8")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    photo = png(tmp_path / "photo.png", (8, 8))
    png(tmp_path / "mask.png", (8, 8))
    replies = {}
    for words in (
        f"dalletui edit {tmp_path}/pho",
        f"dalletui edit {photo} {tmp_path}/ma",
        f"dalletui edit --mask {tmp_path}/ma",
        f"dalletui vary {tmp_path}/pho",
    ):
        shell = (
            f"source {script}; COMP_WORDS=({words}); "
            "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _shtab_dalletui; echo ${COMPREPLY[@]}"
        )
        done = subprocess.run([bash, "-c", shell], capture_output=True, text=True, timeout=60)
        replies[words] = done.stdout.split()
    assert list(replies.values()) == [
        [str(photo)],
        [str(tmp_path / "mask.png")],
        [str(tmp_path / "mask.png")],
        [str(photo)],
    ]
