"""SVG snapshots of the History screen: list with details, the gallery, and a narrow terminal.

The data is fixed and every time shown is relative to now ("3 days ago"), set far enough from
a boundary that the picture is the same on every machine and every day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Select

from dalletui.generation.types import GenerationRequest
from dalletui.services.context import Services
from dalletui.services.organize import ItemRef
from dalletui.tui.app import DalleTuiApp
from dalletui.tui.screens import history as history_module

OLDER_PROMPTS = [
    # (text, days ago, extra uses, favourite)
    ("a lighthouse on a cliff during a storm, oil painting, dramatic light", 3, 2, False),
    ("portrait of an old sailor with a white beard, charcoal sketch", 5, 0, True),
    ("isometric pixel art of a tiny cozy bookshop at night, warm windows", 12, 4, False),
    ("a bowl of ramen in the style of a 1950s travel poster", 20, 0, True),
]


async def seed(services: Services) -> None:
    """Fixed prompts; the newest has two offline images, one older prompt a failed request."""
    now = dt.datetime.now()
    for text, days, extra, favourite in OLDER_PROMPTS:
        when = now - dt.timedelta(days=days, hours=6)
        prompt = services.db.record_prompt_use(text, when=when)
        for _ in range(extra):
            prompt = services.db.record_prompt_use(text, when=when)
        if favourite:
            services.history.set_favorite(prompt.id, True)

    failed = services.db.record_prompt_use(
        "a purple cat wearing a spacesuit", when=now - dt.timedelta(days=1, hours=3)
    )
    [row] = services.db.create_generations(
        failed,
        1,
        provider="openai",
        model="gpt-image-1",
        size="1024x1024",
        quality="high",
        output_format="png",
    )
    services.db.fail_generations(
        [row.id], "failed", "rate_limit", "Rate limit reached; try again in 20 seconds."
    )
    services.db.update_generation(row.id, created_at=now - dt.timedelta(days=1, hours=3))

    outcome = await services.generation.generate(
        GenerationRequest(prompt="a red fox in a snowy forest, watercolour", n=2, seed=7)
    )
    when = now - dt.timedelta(hours=2, minutes=10)
    services.db.update_prompt(outcome.prompt.id, created_at=when, last_used_at=when)
    for generation in outcome.generations:
        services.db.update_generation(generation.id, created_at=when, duration_ms=2300)


async def open_history(pilot: Pilot[Any], services: Services, seeded: bool = False) -> None:
    if not seeded:
        await seed(services)
    pilot.app.refresh_status()  # today's images, now that they exist
    await pilot.press("f3")
    await settled(pilot)


async def settled(pilot: Pilot[Any]) -> None:
    """Every worker done, the detail pane's delay passed, and its workers done too."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(history_module.DETAIL_DELAY + 0.1)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_history_list_with_details(snap_compare: Any, app: DalleTuiApp, services: Services) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_history(pilot, services)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_history_gallery(snap_compare: Any, app: DalleTuiApp, services: Services) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_history(pilot, services)
        await pilot.press("g")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_history_narrow_terminal(snap_compare: Any, app: DalleTuiApp, services: Services) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_history(pilot, services)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def organize(services: Services) -> None:
    """Tags, a collection and a note on the fixed prompts, and a folded family of variants."""
    now = dt.datetime.now()
    for offset, text in enumerate(
        [
            "A lighthouse on a cliff during a storm: oil painting, dramatic light!",
            "a lighthouse on a cliff during a storm, oil painting, golden light",
        ]
    ):
        services.db.record_prompt_use(text, when=now - dt.timedelta(days=4, hours=offset))
    ids = {p.text: p.id for p in services.db.search_prompts().items}
    organize = services.organize
    lighthouse = ids["a lighthouse on a cliff during a storm, oil painting, dramatic light"]
    sailor = ids["portrait of an old sailor with a white beard, charcoal sketch"]
    organize.tag([lighthouse, sailor], ["paintings"])
    organize.tag([sailor], ["Portrait"])
    fox = ids["a red fox in a snowy forest, watercolour"]
    organize.tag([fox], ["animals", "snow"])
    organize.create_collection("Print shop")
    for prompt_id in (sailor, fox):
        organize.add_to("print shop", ItemRef.of_prompt(prompt_id))
    organize.set_note(ItemRef.of_prompt(sailor), "Sold as an A3 print; the client wants a frame.")
    services.families.fold()


async def pick(pilot: Pilot[Any], selector: str, value: str) -> None:
    pilot.app.screen.query_one(selector, Select).value = value
    await settled(pilot)


def test_history_tag_filter(snap_compare: Any, app: DalleTuiApp, services: Services) -> None:
    """The tag picker narrows the list; the detail pane shows tags, collection and note."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await seed(services)
        await organize(services)
        await open_history(pilot, services, seeded=True)
        await pick(pilot, "#filter-tag", "paintings")
        pilot.app.screen.prompt_list.move_to(1)  # the sailor: tags, collection and note
        await settled(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_history_collection_filter_narrow(
    snap_compare: Any, app: DalleTuiApp, services: Services
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await seed(services)
        await organize(services)
        await open_history(pilot, services, seeded=True)
        await pick(pilot, "#filter-collection", "Print shop")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_history_folded_and_expanded(
    snap_compare: Any, app: DalleTuiApp, services: Services
) -> None:
    """z folds the lighthouse's variants under it (+2); x shows them, indented."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await seed(services)
        await organize(services)
        await open_history(pilot, services, seeded=True)
        await pilot.press("z")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        screen = pilot.app.screen
        lighthouse = next(r for r in screen.prompt_list.rows if r.variants)
        screen.prompt_list.move_to(screen.prompt_list.index_of(lighthouse.id))
        await pilot.press("x")
        await settled(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
