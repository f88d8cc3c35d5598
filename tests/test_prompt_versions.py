"""Prompt versions (issue 15): parents from a reuse and an edit, the word diff, the family,
``dalletui history --family`` and the export's ``parent``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static, TextArea

from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services
from dalletui.services.editing import build_edit, resolve_source
from dalletui.services.prompt_diff import DiffSegment, plain_diff, word_diff
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Prompt
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.screens.compose import ComposeScreen
from dalletui.tui.screens.history import HistoryScreen
from tests.test_daily_image_view import open_history as open_daily_history
from tests.test_daily_image_view import settle, wait_until

# -- the diff ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "plain"),
    [
        ("a cat on a mat", "a dog on a mat", "a [-cat-]{+dog+} on a mat"),
        ("a red cat", "a cat", "a [-red -]cat"),
        ("a cat", "a big fluffy cat", "a {+big fluffy +}cat"),
        ("one two three four", "one 2 3 four", "one [-two three-]{+2 3+} four"),
        ("red fox in snow", "blue whale at sea", "[-red fox in snow-]{+blue whale at sea+}"),
        ("same words", "same words", "same words"),
        ("", "new", "{+new+}"),
    ],
)
def test_plain_diff(old: str, new: str, plain: str) -> None:
    assert plain_diff(old, new) == plain


def test_word_diff_segments_rebuild_both_sides() -> None:
    segments = word_diff("a cat on a mat, oil", "a dog on a mat, watercolour")
    assert segments == [
        DiffSegment("equal", "a "),
        DiffSegment("delete", "cat"),
        DiffSegment("insert", "dog"),
        DiffSegment("equal", " on a mat, "),
        DiffSegment("delete", "oil"),
        DiffSegment("insert", "watercolour"),
    ]
    old = "".join(s.text for s in segments if s.kind != "insert")
    new = "".join(s.text for s in segments if s.kind != "delete")
    assert (old, new) == ("a cat on a mat, oil", "a dog on a mat, watercolour")


# -- storage ----------------------------------------------------------------------------------


def test_parent_set_once_never_itself_never_a_cycle(db: DatabaseManager) -> None:
    a = db.record_prompt_use("a cat on a mat")
    b = db.record_prompt_use("a dog on a mat", parent_id=a.id)
    c = db.record_prompt_use("a dog on a red mat", parent_id=b.id)
    assert (b.parent_prompt_id, c.parent_prompt_id) == (a.id, b.id)
    # a has no parent yet, but c descends from it: a cycle, refused
    assert db.set_prompt_parent(a.id, c.id) is False
    assert db.set_prompt_parent(a.id, a.id) is False
    again = db.record_prompt_use("a cat on a mat", parent_id=c.id)
    assert again.id == a.id and Prompt.get_by_id(a.id).parent_prompt_id is None
    # b has a parent already: a later use from elsewhere does not move it
    other = db.record_prompt_use("an owl")
    db.record_prompt_use("a dog on a mat", parent_id=other.id)
    assert Prompt.get_by_id(b.id).parent_prompt_id == a.id
    # an existing prompt with no parent takes one
    assert db.set_prompt_parent(other.id, a.id) is True
    assert db.record_prompt_use("x", parent_id=999_999).parent_prompt_id is None


def test_family_chain_children_and_trash(services: Services) -> None:
    db = services.db
    a = db.record_prompt_use("a cat on a mat")
    b = db.record_prompt_use("a dog on a mat", parent_id=a.id)
    c = db.record_prompt_use("a dog on a red mat", parent_id=b.id)
    d = db.record_prompt_use("a dog on a blue mat", parent_id=b.id)
    family = services.history.family(b.id)
    assert [r.id for r in family.ancestors] == [a.id]
    assert [r.id for r in family.children] == [c.id, d.id] and family.child_count == 2
    assert family.prompt.plain_diff == "a [-cat-]{+dog+} on a mat"
    assert [r.plain_diff for r in family.children] == [
        "a dog on a {+red +}mat",
        "a dog on a {+blue +}mat",
    ]
    chain = services.history.family(c.id).chain
    assert [r.id for r in chain] == [a.id, b.id, c.id]
    assert [r.plain_diff for r in chain] == [
        "",
        "a [-cat-]{+dog+} on a mat",
        "a dog on a {+red +}mat",
    ]
    services.history.delete(d.id)
    assert [r.id for r in services.history.family(b.id).children] == [c.id]
    services.history.delete(a.id)
    family = services.history.family(c.id)
    assert [r.id for r in family.ancestors] == [b.id]  # walked through, left out
    trashed = services.history.family(b.id)
    assert trashed.parent is None and trashed.parent_trashed and trashed.has_family


# -- services ---------------------------------------------------------------------------------


async def test_generate_with_parent_and_an_edit(services: Services) -> None:
    first = await services.generation.generate(GenerationRequest(prompt="a red fox", quality="low"))
    assert first.ok
    second = await services.generation.generate(
        GenerationRequest(prompt="a red fox at night", quality="low"),
        parent_prompt_id=first.prompt.id,
    )
    assert second.prompt.parent_prompt_id == first.prompt.id
    source = resolve_source(services.db, f"gen:{first.succeeded[0].id}")
    plan = build_edit("a red fox, snowing", [source], quality="low")
    edited = await services.generation.edit(plan)
    assert edited.ok and edited.prompt.parent_prompt_id == first.prompt.id
    # the same text as its image's prompt: the same prompt, no parent
    same = await services.generation.edit(build_edit("a red fox", [source], quality="low"))
    assert same.prompt.id == first.prompt.id and same.prompt.parent_prompt_id is None


# -- the TUI ----------------------------------------------------------------------------------


@pytest.fixture
def history_app(services: Services, monkeypatch: pytest.MonkeyPatch) -> DalleTuiApp:
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


async def _reuse_and_send(pilot: Pilot[Any], change: str | None) -> ComposeScreen:
    await open_daily_history(pilot)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ComposeScreen))
    compose = pilot.app.screen
    assert isinstance(compose, ComposeScreen)
    editor = compose.query_one("#prompt", TextArea)
    await wait_until(pilot, lambda: editor.text == "a lighthouse in a storm")
    if change is not None:
        editor.load_text(change)
    await pilot.press("ctrl+g")
    await settle(pilot)
    await wait_until(pilot, lambda: not compose.generating)
    await settle(pilot)
    return compose


async def test_reuse_changed_remembers_its_parent(
    services: Services, history_app: DalleTuiApp
) -> None:
    old = services.db.record_prompt_use("a lighthouse in a storm")
    async with history_app.run_test(size=(120, 40)) as pilot:
        await _reuse_and_send(pilot, "a lighthouse in a calm sea")
    new = Prompt.get(Prompt.text == "a lighthouse in a calm sea")
    assert new.parent_prompt_id == old.id


async def test_reuse_unchanged_makes_no_new_prompt(
    services: Services, history_app: DalleTuiApp
) -> None:
    old = services.db.record_prompt_use("a lighthouse in a storm")
    async with history_app.run_test(size=(120, 40)) as pilot:
        await _reuse_and_send(pilot, None)
    assert Prompt.select().count() == 1
    assert Prompt.get_by_id(old.id).parent_prompt_id is None


async def test_history_detail_shows_family_and_walks(
    services: Services, history_app: DalleTuiApp
) -> None:
    db = services.db
    a = db.record_prompt_use("a cat on a mat")
    b = db.record_prompt_use("a dog on a mat", parent_id=a.id)
    async with history_app.run_test(size=(120, 40)) as pilot:
        screen = await open_daily_history(pilot)
        assert isinstance(screen, HistoryScreen)
        await wait_until(pilot, lambda: screen.detail.family is not None)
        assert screen.prompt_list.highlighted.id == b.id
        family = str(screen.query_one("#detail-family", Static).render())
        assert "Version of #1" in family and "cat" in family and "dog" in family
        await pilot.press("p")
        await wait_until(pilot, lambda: screen.prompt_list.highlighted.id == a.id)
        await wait_until(
            pilot, lambda: screen.detail.family is not None and screen.detail.prompt_id == a.id
        )
        await pilot.press("n")
        await wait_until(pilot, lambda: screen.prompt_list.highlighted.id == b.id)


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_history_family(capsys: pytest.CaptureFixture[str], settings: Any) -> None:
    from dalletui.cli import main

    db = DatabaseManager(settings.home / "dalletui.db").open()
    a = db.record_prompt_use("a cat on a mat")
    b = db.record_prompt_use("a dog on a mat", parent_id=a.id)
    c = db.record_prompt_use("a dog on a red mat", parent_id=b.id)
    db.record_prompt_use("a \x1b[31mdog\x1b[0m on a mat, night", parent_id=b.id)
    db.close()
    assert main(["history", "--family", str(b.id)]) == 0
    out = capsys.readouterr().out
    assert f"  #{a.id:<6} a cat on a mat\n" in out
    assert f"> #{b.id:<6} a [-cat-]{{+dog+}} on a mat\n" in out
    assert f"  #{c.id:<6} a dog on a {{+red +}}mat\n" in out
    assert "Made from it (2):" in out and "\x1b" not in out
    assert main(["history", "--family", str(c.id), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in data["ancestors"]] == [a.id, b.id]
    assert data["prompt"]["plain_diff"] == "a dog on a {+red +}mat"
    assert data["prompt"]["parent_id"] == b.id and data["children"] == []
    assert main(["history", "--family", "999"]) != 0


# -- export and import ------------------------------------------------------------------------


def test_exchange_carries_parents(tmp_path: Any) -> None:
    from tests.test_exchange import export_document, import_file, opened

    source, target = tmp_path / "a", tmp_path / "b"
    with opened(source) as services:
        a = services.db.record_prompt_use("a cat on a mat")
        b = services.db.record_prompt_use("a dog on a mat", parent_id=a.id)
        services.db.record_prompt_use("a dog on a red mat", parent_id=b.id)
    document = export_document(source)
    by_text = {p["text"]: p for p in document["prompts"]}
    assert by_text["a cat on a mat"]["parent"] is None
    assert by_text["a dog on a mat"]["parent"] == by_text["a cat on a mat"]["text_hash"]
    path = tmp_path / "out.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    import_file(target, path)
    with opened(target) as services:
        c = Prompt.get(Prompt.text == "a dog on a red mat")
        family = services.history.family(c.id)
        assert [r.text for r in family.ancestors] == ["a cat on a mat", "a dog on a mat"]
    # a file without parents (older dalletui) imports as before
    for record in document["prompts"]:
        del record["parent"]
    path.write_text(json.dumps(document), encoding="utf-8")
    other = tmp_path / "c"
    import_file(other, path)
    with opened(other) as services:
        assert Prompt.select().where(Prompt.parent_prompt.is_null(False)).count() == 0
        assert Prompt.select().count() == 3
