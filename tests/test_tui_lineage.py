"""Lineage in the image view and the gallery, and the keys that start an edit (issue 14).

A lineage is seeded offline through the services (generate → edit → edit → a branch from the
first edit). The image view shows the chain and steps through it (``p`` parent, ``n`` child),
``e``/``a`` post ``StartEdit`` (Compose's side is patched: it is another part of the issue),
``L`` opens the gallery of the lineage, which pages like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Static

from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services
from dalletui.services.editing import build_edit, resolve_source
from dalletui.tui import graphics
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.messages import StartEdit
from dalletui.tui.screens.compose import ComposeScreen
from dalletui.tui.screens.gallery import GalleryScreen
from dalletui.tui.screens.history import HistoryScreen
from dalletui.tui.screens.image_view import ImageViewScreen
from dalletui.tui.screens.image_view import lineage_text as lineage_text_of
from dalletui.tui.widgets.results import ImageSlot
from tests.test_daily_image_view import add_image, settle, wait_until
from tests.test_daily_image_view import open_history as open_daily_history

SIZE = (120, 40)


@dataclass(frozen=True)
class Family:
    root: int
    first: int
    second: int
    branch: int

    @property
    def newest_first(self) -> list[int]:
        return [self.branch, self.second, self.first, self.root]


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> DalleTuiApp:
    """The real app, started in History."""
    graphics.configure("halfcell")
    monkeypatch.setattr(DalleTuiApp, "DEFAULT_MODE", "history")
    return make_app(services)


@pytest.fixture
def edits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str, dict[str, Any], bool]]:
    """What reached Compose's ``start_edit`` (being written elsewhere: recorded here)."""
    seen: list[tuple[int, str, dict[str, Any], bool]] = []

    def start_edit(
        self: ComposeScreen, generation_id: int, prompt: str, params: dict[str, Any], *, add=False
    ) -> None:
        seen.append((generation_id, prompt, params, add))

    monkeypatch.setattr(ComposeScreen, "start_edit", start_edit)
    return seen


async def generate(services: Services, prompt: str) -> int:
    outcome = await services.generation.generate(GenerationRequest(prompt=prompt, quality="low"))
    assert outcome.ok, outcome.error
    return outcome.succeeded[0].id


async def edit(services: Services, parent: int, prompt: str) -> int:
    plan = build_edit(prompt, [resolve_source(services.db, f"gen:{parent}")], quality="low")
    outcome = await services.generation.edit(plan)
    assert outcome.ok, outcome.error
    return outcome.succeeded[0].id


async def seed_family(services: Services, *, stranger: bool = True) -> Family:
    """An unrelated image first (when ``stranger``), then a lighthouse, two edits, a branch."""
    if stranger:
        await generate(services, "a red kite over the dunes")
    root = await generate(services, "a lighthouse at dusk")
    first = await edit(services, root, "the lighthouse in a storm")
    second = await edit(services, first, "the storm at night")
    branch = await edit(services, first, "the storm at sunrise")
    return Family(root, first, second, branch)


async def open_history(pilot: Pilot[Any]) -> HistoryScreen:
    screen = await open_daily_history(pilot)
    await pilot.pause(0.2)  # the detail pane loads once the selection settles
    await settle(pilot)
    return screen


async def open_view(pilot: Pilot[Any]) -> ImageViewScreen:
    """The image view of the newest prompt's image, from History's detail pane (``v``)."""
    await open_history(pilot)
    await pilot.press("v")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ImageViewScreen))
    view = pilot.app.screen
    assert isinstance(view, ImageViewScreen)
    await wait_for_lineage(pilot, view)
    return view


async def wait_for_lineage(pilot: Pilot[Any], view: ImageViewScreen, at: int | None = None) -> None:
    await wait_until(
        pilot,
        lambda: (
            view.lineage is not None
            and view.lineage.row.id == view.row.id
            and (at is None or view.row.id == at)
        ),
    )
    await pilot.pause()


def lineage_text(view: ImageViewScreen) -> str:
    return str(view.query_one("#image-lineage", Static).render())


async def open_gallery(pilot: Pilot[Any]) -> GalleryScreen:
    await open_history(pilot)
    await pilot.press("g")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, GalleryScreen))
    gallery = pilot.app.screen
    assert isinstance(gallery, GalleryScreen)
    await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
    return gallery


def card_ids(gallery: GalleryScreen) -> list[int]:
    return [card.generation_id for card in gallery.gallery.cards]


def title(gallery: GalleryScreen) -> str:
    return str(gallery.query_one("#gallery-title", Static).render())


def posted_edits(messages: list[Message]) -> list[StartEdit]:
    """Each ``StartEdit`` once (the hook sees a message at every node it bubbles through)."""
    found = {id(m): m for m in messages if isinstance(m, StartEdit)}
    return list(found.values())


# -- the image view --------------------------------------------------------------------------


async def test_image_view_shows_the_lineage_and_walks_it(
    app: DalleTuiApp, services: Services, edits: list[Any]
) -> None:
    family = await seed_family(services)
    f = family
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        view = await open_view(pilot)
        assert view.row.id == f.branch
        assert view.scope.prompt_id is not None  # opened from History: this prompt's images
        text = lineage_text(view)
        assert f"#{f.root} ← #{f.first} ← #{f.branch} this" in text
        assert f"edit of #{f.first}" in text
        assert view.check_action("parent", ()) is True
        assert view.check_action("child", ()) is False  # no child: n is hidden
        assert view.check_action("edit", ()) is True and view.check_action("branch", ()) is False

        # p: the parent has another prompt, so the view takes the lineage as its scope.
        await pilot.press("p")
        await wait_for_lineage(pilot, view, f.first)
        assert view.scope.lineage_of == f.first
        text = lineage_text(view)
        assert f"#{f.root} ← #{f.first} this → #{f.second}, #{f.branch}" in text
        assert "e branches (edits stay)" in text
        # e on an earlier version is "Branch" (the same key, the other binding shown).
        assert view.check_action("branch", ()) is True and view.check_action("edit", ()) is False
        assert "of this lineage" in str(view.query_one("#image-frame").border_title)

        await pilot.press("p")
        await wait_for_lineage(pilot, view, f.root)
        assert view.check_action("parent", ()) is False  # the first version: p is hidden
        assert f"#{f.root} this → #{f.first}" in lineage_text(view)

        # n: down to the only child, then on to the children of that one in turn (the branch
        # was visited last, so next comes the other one, then the branch again).
        await pilot.press("n")
        await wait_for_lineage(pilot, view, f.first)
        await pilot.press("n")
        await wait_for_lineage(pilot, view, f.second)
        await pilot.press("p", "n")
        await wait_for_lineage(pilot, view, f.branch)

        # ←/→ step through the lineage: newest first, the branch is the newest.
        await pilot.press("right")
        await wait_for_lineage(pilot, view, f.second)
        await pilot.press("right")
        await wait_for_lineage(pilot, view, f.first)

        # e on the first edit: a new branch from it, in Compose with its prompt.
        await pilot.press("e")
        await settle(pilot)
        [posted] = posted_edits(messages)
        assert (posted.generation_id, posted.prompt, posted.add) == (
            f.first,
            "the lighthouse in a storm",
            False,
        )
        assert posted.params["model"] == services.db.get_generation(f.first).model
        assert edits == [(f.first, "the lighthouse in a storm", posted.params, False)]
        assert isinstance(app.screen, ComposeScreen)


async def test_a_in_the_image_view_adds_a_reference(
    app: DalleTuiApp, services: Services, edits: list[Any]
) -> None:
    f = await seed_family(services, stranger=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_view(pilot)
        assert view.row.id == f.branch
        await pilot.press("a")
        await settle(pilot)
        assert [(e[0], e[3]) for e in edits] == [(f.branch, True)]


async def test_an_image_without_family_hides_the_lineage(
    app: DalleTuiApp, services: Services
) -> None:
    await generate(services, "a lone heron")
    async with app.run_test(size=SIZE) as pilot:
        view = await open_view(pilot)
        assert not view.query_one("#image-lineage").display
        for action in ("parent", "child", "lineage", "branch"):
            assert view.check_action(action, ()) is False
        assert view.check_action("edit", ()) is True


async def test_l_in_the_image_view_opens_the_lineage_gallery(
    app: DalleTuiApp, services: Services
) -> None:
    f = await seed_family(services)
    async with app.run_test(size=SIZE) as pilot:
        history = await open_history(pilot)
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, ImageViewScreen))
        view = app.screen
        assert isinstance(view, ImageViewScreen)
        await wait_for_lineage(pilot, view)
        await pilot.press("L")
        await wait_until(pilot, lambda: isinstance(app.screen, GalleryScreen))
        gallery = app.screen
        assert isinstance(gallery, GalleryScreen)
        await wait_until(pilot, lambda: gallery.gallery.focused_card is not None)
        # Exactly the family (not the kite), newest first, at the image the view showed.
        assert card_ids(gallery) == f.newest_first
        assert gallery.gallery.focused_card.generation_id == f.branch
        assert f"Lineage of #{f.branch}, newest first" in title(gallery)
        assert "1–4 of 4" in title(gallery)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is history


# -- the gallery -----------------------------------------------------------------------------


async def test_gallery_keys_edit_add_and_show_a_lineage(
    app: DalleTuiApp, services: Services, edits: list[Any]
) -> None:
    f = await seed_family(services)
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        gallery = await open_gallery(pilot)
        everything = card_ids(gallery)
        assert len(everything) == 5  # the kite too
        assert gallery.gallery.focused_card.generation_id == f.branch

        await pilot.press("L")
        await wait_until(pilot, lambda: card_ids(gallery) == f.newest_first)
        assert f"Lineage of #{f.branch}" in title(gallery)
        assert gallery.check_action("lineage", ()) is False  # a lineage of itself: no
        assert gallery.check_action("back_scope", ()) is True
        assert gallery.check_action("back", ()) is False

        # Move to the first edit and edit it: the gallery's e is the image view's.
        await pilot.press("right", "right")
        assert gallery.gallery.focused_card.generation_id == f.first
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ComposeScreen)
        assert [(e.generation_id, e.prompt, e.add) for e in posted_edits(messages)] == [
            (f.first, "the lighthouse in a storm", False)
        ]
        # Back in History, the gallery is as it was left; escape leaves the lineage.
        await pilot.press("f3")
        await settle(pilot)
        assert app.screen is gallery
        await pilot.press("escape")
        await wait_until(pilot, lambda: card_ids(gallery) == everything)
        assert app.screen is gallery
        assert "Lineage" not in title(gallery)
        assert gallery.gallery.focused_card.generation_id == f.branch  # where L was pressed

        await pilot.press("a")
        await settle(pilot)
        assert [(e[0], e[3]) for e in edits] == [(f.first, False), (f.branch, True)]


async def test_a_lineage_gallery_pages(app: DalleTuiApp, services: Services) -> None:
    """Two cards a page: the four images of the lineage on two pages, and back."""
    f = await seed_family(services)
    async with app.run_test(size=(60, 24)) as pilot:
        gallery = await open_gallery(pilot)
        assert gallery.gallery.page_size() == 2
        await pilot.press("L")
        await wait_until(pilot, lambda: card_ids(gallery) == [f.branch, f.second])
        assert "1–2 of 4" in title(gallery)
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: card_ids(gallery) == [f.first, f.root])
        assert "3–4 of 4" in title(gallery)
        assert not gallery.gallery.has_more
        await pilot.press("pageup")
        await wait_until(pilot, lambda: card_ids(gallery) == [f.branch, f.second])
        # From the image view of the root, L opens the page that holds it.
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: card_ids(gallery) == [f.first, f.root])
        await pilot.press("right", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ImageViewScreen))
        view = app.screen
        assert isinstance(view, ImageViewScreen) and view.row.id == f.root
        await wait_for_lineage(pilot, view)
        await pilot.press("L")
        await wait_until(pilot, lambda: app.screen is gallery)
        await wait_until(pilot, lambda: card_ids(gallery) == [f.first, f.root])
        assert gallery.gallery.focused_card.generation_id == f.root


# -- Compose's result cards ------------------------------------------------------------------


async def test_e_and_a_on_a_result_card(
    services: Services, edits: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    graphics.configure("halfcell")
    app = make_app(services)
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        editor = app.screen.query_one("#prompt")
        editor.focus()
        editor.load_text("a paper boat on a puddle")  # type: ignore[attr-defined]
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        slot = app.screen.query_one(ImageSlot)
        assert slot.generation is not None
        slot.focus()
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert [(e.generation_id, e.prompt, e.add) for e in posted_edits(messages)] == [
            (slot.generation.id, "a paper boat on a puddle", False),
            (slot.generation.id, "a paper boat on a puddle", True),
        ]
        assert [(e[0], e[3]) for e in edits] == [
            (slot.generation.id, False),
            (slot.generation.id, True),
        ]


# -- the lineage text ------------------------------------------------------------------------


def test_a_long_lineage_is_shortened_and_outside_names_made_printable(
    services: Services, tmp_path: Any
) -> None:
    """Eight generations in a row, seven children, an outside reference with an escape in its
    name: the oldest, "…", the nearest ancestors; five children and "+2 more"; no escape."""
    ids = [add_image(services, f"step {n}", tmp_path / "img").id for n in range(8)]
    for parent, child in zip(ids, ids[1:], strict=False):
        services.db.record_inputs(child, "edit", [{"role": "image", "parent_id": parent}])
    odd = tmp_path / "odd\x1b[31mname.png"
    odd.write_bytes(b"")
    last = ids[-1]
    children = [add_image(services, f"child {n}", tmp_path / "img").id for n in range(7)]
    for child in children:
        inputs = [{"role": "image", "parent_id": last}, {"role": "image", "file_path": str(odd)}]
        services.db.record_inputs(child, "edit", inputs)

    text = lineage_text_of(services.history.lineage(last)).plain
    assert f"#{ids[0]} ← … ← #{ids[3]} ← #{ids[4]} ← #{ids[5]} ← #{ids[6]} ← #{last} this" in text
    shown = ", ".join(f"#{c}" for c in children[:5])
    assert f"→ {shown} +2 more" in text
    child_text = lineage_text_of(services.history.lineage(children[0])).plain
    assert "Inputs" in child_text and "\x1b" not in child_text
    assert f"#{last} · odd" in child_text
