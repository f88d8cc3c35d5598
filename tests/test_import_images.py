"""``dalletui import-images``: images from A1111, Forge, Fooocus, ComfyUI, InvokeAI and dalletui.

End to end through the CLI on a temporary home: the files are written in each tool's format by
``tests.fixtures_images``; history search must find the prompts afterwards.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dalletui.cli import INTERNAL_ERROR, main
from dalletui.config import Settings
from dalletui.generation.files import ImageStore
from dalletui.services.context import open_services
from dalletui.services.image_sources import find_prompt
from dalletui.storage.models import Generation
from tests import fixtures_images as fx


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def history(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict]:
    code, out, _ = run(capsys, "history", "--json", "-n", "100", *extra)
    assert code == 0
    return json.loads(out)


def generations(home: Path) -> list[Generation]:
    services = open_services(Settings(home=home))
    try:
        return list(Generation.select().order_by(Generation.id))
    finally:
        services.close()


def counts(home: Path) -> dict[str, int]:
    services = open_services(Settings(home=home))
    try:
        return services.db.counts()
    finally:
        services.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of images from every supported tool, one in a subfolder."""
    source = tmp_path / "outputs"
    fx.write(source, "txt2img/00001-1234567890.png", fx.a1111_png())
    fx.write(source, "txt2img/00002-1234567890.jpg", fx.a1111_jpeg())
    fx.write(source, "forge-00003.png", fx.forge_png())
    fx.write(source, "fooocus_2024-05-01.png", fx.fooocus_png())
    fx.write(source, "ComfyUI_00001_.png", fx.comfy_png())
    fx.write(source, "ComfyUI_00002_.webp", fx.comfy_webp())
    fx.write(source, "flux/ComfyUI_00003_.png", fx.comfy_png(fx.FLUX_GRAPH))
    fx.write(source, "invokeai/3f1b9a0e.png", fx.invokeai_png())
    fx.write(source, "invokeai/5d0e77aa.png", fx.invokeai_png(fx.INVOKE_METADATA_V5))
    fx.write(source, "notes.txt", b"not looked at: not an image suffix")
    return source


def test_every_format_is_imported_and_becomes_searchable_history(
    folder: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "import-images", str(folder))
    assert code == 0, err
    assert INTERNAL_ERROR not in err
    lines = out.splitlines()
    assert len(lines) == 10  # nine images, one summary
    assert lines[-1].startswith("Imported 9 images (")
    assert all(line.startswith("imported   #") for line in lines[:-1])

    by_prompt = {row["text"]: row for row in history(capsys)}
    assert set(by_prompt) == {
        fx.A1111_PROMPT,
        fx.FORGE_PROMPT,
        fx.FOOOCUS_PROMPT,
        fx.COMFY_PROMPT,
        fx.FLUX_PROMPT,
        fx.INVOKE_PROMPT,
        fx.INVOKE_METADATA_V5["positive_prompt"],
    }
    assert by_prompt[fx.A1111_PROMPT]["use_count"] == 2  # the PNG and the JPEG
    assert by_prompt[fx.COMFY_PROMPT]["use_count"] == 2  # the PNG and the WebP
    found = history(capsys, "--search", "terrarium")
    assert [row["text"] for row in found] == [fx.COMFY_PROMPT]
    assert [row["text"] for row in history(capsys, "--search", "lighthouse")] == [fx.A1111_PROMPT]

    rows = {Path(g.params["source_file"]).name: g for g in generations(home)}
    a1111 = rows["00001-1234567890.png"]
    assert (a1111.provider, a1111.model, a1111.seed) == ("a1111", "dreamshaper_8", 1234567890)
    assert a1111.params["negative_prompt"] == fx.A1111_NEGATIVE
    assert a1111.params["settings"]["Sampler"] == "DPM++ 2M"
    assert a1111.params["settings"]["Lora hashes"] == "tinylamp: 0b1c2d3e4f5a"
    assert rows["00002-1234567890.jpg"].provider == "a1111"
    assert rows["00002-1234567890.jpg"].output_format == "jpeg"
    forge = rows["forge-00003.png"]
    assert (forge.provider, forge.model, forge.seed) == ("forge", "flux1-dev-bnb-nf4-v2", 42)
    fooocus = rows["fooocus_2024-05-01.png"]
    assert (fooocus.provider, fooocus.model) == ("fooocus", "juggernautXL_v8Rundiffusion")
    assert fooocus.seed == 6952411511246973023
    comfy = rows["ComfyUI_00001_.png"]
    assert (comfy.provider, comfy.model) == ("comfyui", "v1-5-pruned-emaonly-fp16.safetensors")
    assert comfy.seed == 156680208700286 and comfy.params["negative_prompt"] == fx.COMFY_NEGATIVE
    assert comfy.params["settings"]["steps"] == 20
    webp = rows["ComfyUI_00002_.webp"]
    assert (webp.provider, webp.output_format) == ("comfyui", "webp")
    flux = rows["ComfyUI_00003_.png"]
    assert (flux.model, flux.seed) == ("flux1-dev.safetensors", 972054013131368)
    invoke = rows["3f1b9a0e.png"]
    assert (invoke.provider, invoke.model, invoke.seed) == ("invokeai", "juggernautXL", 3293022630)
    assert rows["5d0e77aa.png"].model == "Dreamshaper 8"

    for row in rows.values():
        assert row.status == "succeeded"
        assert (row.width, row.height) == fx.SIZE and row.size == "96x64"
        image, thumb = Path(row.file_path), Path(row.thumbnail_path)
        assert image.is_relative_to(home / "images") and thumb.is_file()
        assert image.name.split(".")[0] == str(row.id)
        source = next(folder.rglob(row.params["source_file"]))
        assert image.read_bytes() == source.read_bytes()  # copied as it is
        assert row.params["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert row.uid == row.params["source_sha256"][:32]
    assert counts(home)["usage_stats"] == 0  # nothing was billed by dalletui


def test_importing_again_changes_nothing(
    folder: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "import-images", str(folder))[0] == 0
    before = counts(home)
    uses = {row["text"]: row["use_count"] for row in history(capsys)}
    files = sorted((home / "images").rglob("*"))
    code, out, _ = run(capsys, "import-images", str(folder), str(folder / "forge-00003.png"))
    assert code == 0
    assert out.count("already    ") == 10 and "already imported as image #" in out
    assert out.splitlines()[-1] == "Imported 0 images; 10 imported before."
    assert counts(home) == before
    assert {row["text"]: row["use_count"] for row in history(capsys)} == uses
    assert sorted((home / "images").rglob("*")) == files


def test_what_cannot_be_read_is_listed_one_line_each(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    plain = fx.write(bad, "plain.png", fx.png({}))
    fx.write(bad, "notes.png", b"these are notes, not a picture\n")
    truncated = fx.a1111_png()
    fx.write(bad, "cut.png", truncated[: len(truncated) * 2 // 3])
    fx.write(bad, "empty.jpg", b"")
    fx.write(bad, "gif.png", _gif())
    fx.write(
        bad,
        "comfy-no-text.png",
        fx.comfy_png({"1": {"class_type": "Note", "inputs": {}}}, {"nodes": []}),
    )
    missing = tmp_path / "nowhere.png"
    code, out, err = run(capsys, "import-images", str(bad), str(missing))
    assert code == 1
    reasons = dict(
        (line.split()[1].rstrip(":"), line.split(": ", 1)[1]) for line in out.splitlines()[:-1]
    )
    assert reasons == {
        str(bad / "comfy-no-text.png"): "its ComfyUI workflow has no prompt text",
        str(bad / "cut.png"): reasons[str(bad / "cut.png")],
        str(bad / "empty.jpg"): "is empty",
        str(bad / "gif.png"): "is a GIF image, not PNG, JPEG or WebP",
        str(bad / "notes.png"): "is not a PNG, JPEG or WebP image",
        str(plain): "no prompt in its metadata (not from dalletui, A1111, ComfyUI or InvokeAI)",
        str(missing): "does not exist",
    }
    assert reasons[str(bad / "cut.png")].startswith("is damaged or truncated")
    assert " at 0x" not in out  # no Python object repr from Pillow's message
    assert out.splitlines()[-1] == "Imported 0 images; 7 could not be read."
    assert err.startswith("dalletui: error: none of the files") and err.count("\n") == 1
    assert counts(home)["generations"] == 0 and not list((home / "images").rglob("*.png"))


def test_some_unreadable_files_do_not_fail_the_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = tmp_path / "mixed"
    fx.write(mixed, "good.png", fx.a1111_png())
    fx.write(mixed, "plain.png", fx.png({}))
    code, out, err = run(capsys, "import-images", str(mixed))
    assert code == 0 and err == ""
    assert out.splitlines()[-1] == "Imported 1 image (1 from a1111); 1 could not be read."


def test_an_empty_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "import-images", str(tmp_path / "empty"))
    assert code == 1 and "no PNG, JPEG or WebP files in" in err


def test_dry_run_reads_everything_and_writes_nothing(
    folder: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "history")  # create the database first
    before = counts(home)
    code, out, _ = run(capsys, "import-images", str(folder), "--dry-run", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["dry_run"] is True and report["imported"] == 9 and report["unreadable"] == 0
    assert {item["status"] for item in report["files"]} == {"readable"}
    assert {item["source"] for item in report["files"]} == {
        "a1111",
        "forge",
        "fooocus",
        "comfyui",
        "invokeai",
    }
    assert counts(home) == before
    assert not (home / "images").exists() or not list((home / "images").rglob("*.*"))


def test_json_lists_each_file(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "import-images", str(folder / "forge-00003.png"), "--json")
    assert code == 0
    (item,) = json.loads(out)["files"]
    assert item["status"] == "imported" and item["source"] == "forge"
    assert item["prompt"] == fx.FORGE_PROMPT and isinstance(item["generation_id"], int)


def test_a_dalletui_image_comes_back_as_dalletui(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = ImageStore(tmp_path / "other-home" / "images")
    fields = {"prompt": "owl at dusk", "model": "gpt-image-1", "quality": "high"}
    created = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
    png = other.save(7, _png_bytes(), "png", {**fields, "provider": "openai"}, created)
    jpg = other.save(8, fx.jpeg(), "jpeg", {**fields, "provider": "offline"}, created)
    code, out, _ = run(capsys, "import-images", str(png.path), str(jpg.path))
    assert code == 0 and out.count("(dalletui)") == 2
    for row in generations(home):
        assert (row.provider, row.model, row.quality) == ("dalletui", "gpt-image-1", "high")
        assert row.created_at == created  # when it was made, not when it was imported
        assert Path(row.file_path).parent == home / "images" / "2025" / "03"
    assert [row["text"] for row in history(capsys)] == ["owl at dusk"]


def test_images_already_in_our_folder_are_not_imported_again(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = fx.write(tmp_path / "in", "a.png", fx.a1111_png())
    run(capsys, "import-images", str(source))
    code, out, _ = run(capsys, "import-images", str(home / "images"))
    assert code == 1
    assert "is in dalletui's own images folder already" in out


def test_outside_text_is_data(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "a \x1b]52;c;cHduZWQ=\x07fox \x1b[2J\x9b31m in snow\nSteps: 5, Sampler: x, Seed: 1"
    name = "evil\x1b[31m.png" if _can_name("\x1b") else "evil.png"
    fx.write(tmp_path / "in", name, fx.png({"parameters": evil}))
    code, out, err = run(capsys, "import-images", str(tmp_path / "in"))
    assert code == 0
    assert "\x1b" not in out + err and "\x9b" not in out + err and "\x07" not in out + err
    (row,) = history(capsys)
    assert row["text"] == "a fox  in snow"  # whole escape sequences removed


def test_hostile_metadata_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    graph = copy.deepcopy(fx.COMFY_GRAPH)
    graph["3"]["inputs"]["seed"] = 2**64 - 1  # ComfyUI allows seeds past SQLite's INTEGER
    cycle = {  # text inputs linked in a loop: the walk must end
        "1": {"class_type": "KSampler", "inputs": {"positive": ["2", 0], "steps": 1}},
        "2": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["3", 0]}},
        "3": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["2", 0]}},
    }
    source = tmp_path / "in"
    fx.write(source, "deep.png", fx.png({"prompt": deep, "workflow": deep}))
    fx.write(source, "huge-seed.png", fx.comfy_png(graph))
    fx.write(source, "cycle.png", fx.comfy_png(cycle, workflow={"nodes": "not a list"}))
    fx.write(source, "long.png", fx.png({"parameters": "x" * 300_000}))
    code, out, err = run(capsys, "import-images", str(source))
    assert code == 0 and INTERNAL_ERROR not in err
    assert "cycle.png: its ComfyUI workflow has no prompt text" in out
    assert "deep.png: no prompt in its metadata" in out
    assert "long.png: its parameters text is over 200,000 characters" in out
    (row,) = [g for g in generations(tmp_path / "home") if g.provider == "comfyui"]
    assert row.seed is None and row.params["settings"]["seed"] == str(2**64 - 1)


def test_the_comfyui_reader_follows_links_and_falls_back() -> None:
    graph = copy.deepcopy(fx.COMFY_GRAPH)
    graph["20"] = {  # a ControlNet between the encoders and the sampler
        "class_type": "ControlNetApplyAdvanced",
        "inputs": {"positive": ["6", 0], "negative": ["7", 0], "strength": 0.6},
    }
    graph["3"]["inputs"]["positive"] = ["20", 0]
    graph["3"]["inputs"]["negative"] = ["20", 1]
    found = find_prompt({"prompt": json.dumps(graph), "workflow": "{}"})
    assert (found.prompt, found.negative_prompt) == (fx.COMFY_PROMPT, fx.COMFY_NEGATIVE)
    only_workflow = find_prompt({"workflow": json.dumps(fx.COMFY_WORKFLOW)})
    assert only_workflow.source == "comfyui" and only_workflow.prompt == fx.COMFY_PROMPT


def _gif() -> bytes:
    import io

    buffer = io.BytesIO()
    fx.pixels().save(buffer, "GIF")
    return buffer.getvalue()


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    fx.pixels().save(buffer, "PNG")
    return buffer.getvalue()


def _can_name(char: str) -> bool:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        try:
            Path(folder, f"x{char}").write_bytes(b"")
        except OSError:
            return False
        return os.path.exists(Path(folder, f"x{char}"))


def test_a_prompt_over_the_limit_is_cut_and_marked(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_prompt = "a very long prompt " * 2500  # 47,500 characters
    text = f"{long_prompt}\nSteps: 20, Sampler: Euler, Seed: 5"
    source = fx.write(tmp_path / "in", "long.png", fx.png({"parameters": text}))
    assert run(capsys, "import-images", str(source))[0] == 0
    (row,) = generations(home)
    assert row.params["prompt_truncated"] is True
    (prompt,) = history(capsys)
    assert len(prompt["text"]) <= 32_000 and long_prompt.startswith(prompt["text"])


def test_history_says_an_imported_image_came_from_its_tool_not_that_its_cost_is_unknown(
    folder: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dalletui.tui.widgets.history_detail import cost_text

    assert run(capsys, "import-images", str(folder))[0] == 0
    rows = generations(home)
    assert rows and all(row.imported for row in rows)
    shown = {str(cost_text(row)) for row in rows}
    assert "cost unknown" not in shown
    assert "imported from comfyui" in shown and "imported from a1111" in shown
