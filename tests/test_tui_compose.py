"""The Compose screen, driven through Pilot against real services on a temporary home."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Select, TextArea

from dalletui.config import Settings
from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.providers.offline import OfflineProvider
from dalletui.generation.retry import RATE_LIMITED, RetryWait, WaitCallback, wait_before_retry
from dalletui.generation.types import GenerationRequest, PartialCallback, ProviderResult
from dalletui.services.context import Services, open_services
from dalletui.services.history import PromptQuery
from dalletui.tui import commands as palette
from dalletui.tui import graphics
from dalletui.tui import viewer as viewer_module
from dalletui.tui.app import DalleTuiApp, make_app
from dalletui.tui.messages import ReusePrompt
from dalletui.tui.screens import compose as compose_module
from dalletui.tui.screens.compose import ComposeScreen
from dalletui.tui.widgets.compose_params import ParamPickers
from dalletui.tui.widgets.results import (
    ImageSlot,
    LiveSlot,
    PossiblyBilledSlot,
    ProblemSlot,
    ResultSlot,
    wait_text,
)
from tests.fakes import FakeOpenAIServer, Fault, Ok

SIZE = (120, 40)


class SlowProvider:
    """Never finishes on its own: only cancellation ends it."""

    name = "offline"
    offline = True

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: object = None,
    ) -> ProviderResult:
        self.started.set()
        await asyncio.sleep(60)
        raise AssertionError("the slow provider was not cancelled")

    async def aclose(self) -> None:
        """Nothing to release."""


class RateLimitedProvider:
    """Fails every request the way the OpenAI provider reports a 429."""

    name = "offline"
    offline = True

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: object = None,
    ) -> ProviderResult:
        raise GenerationError(ErrorKind.RATE_LIMIT, "Rate limit reached; try again in 20 seconds.")

    async def aclose(self) -> None:
        """Nothing to release."""


class WaitingProvider:
    """Announces a rate-limit wait the way the OpenAI provider does, then answers offline.

    ``hold`` (when given) stands in for the wait itself: the test decides when it ends.
    """

    name = "offline"
    offline = True

    def __init__(self, seconds: float, hold: asyncio.Event | None = None) -> None:
        self.wait = RetryWait(RATE_LIMITED, seconds, 1, 3)
        self.hold = hold
        self.attempts = 0
        self.waiting = asyncio.Event()

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        self.attempts += 1  # the refused first attempt
        self.waiting.set()
        if self.hold is None:
            await wait_before_retry(self.wait, on_wait)  # the provider's own announce + sleep
        else:
            assert on_wait is not None
            on_wait(self.wait)
            await self.hold.wait()
        self.attempts += 1  # the retry: only reached when the wait was not cancelled
        return await OfflineProvider().generate(request, on_partial)

    async def aclose(self) -> None:
        """Nothing to release."""


class UnknownOutcomeProvider:
    """First call: a timeout that may have been billed. Later calls: images (after ``gate``)."""

    name = "offline"
    offline = True

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def generate(
        self,
        request: GenerationRequest,
        on_partial: PartialCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> ProviderResult:
        self.calls += 1
        if self.calls == 1:
            raise GenerationError(
                ErrorKind.TIMEOUT,
                "No answer within 300 s; the request may have been billed.",
                possibly_billed=True,
                request_id="req_fox123",
            )
        await self.gate.wait()
        return await OfflineProvider().generate(request, on_partial)

    async def aclose(self) -> None:
        """Nothing to release."""


def compose_screen(app: DalleTuiApp) -> ComposeScreen:
    screen = app.screen
    assert isinstance(screen, ComposeScreen)
    return screen


async def wait_until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


async def write_prompt(pilot: Pilot[Any], text: str) -> None:
    editor = pilot.app.screen.query_one("#prompt", TextArea)
    editor.focus()
    editor.load_text(text)
    await pilot.pause()


def record_notifications(
    app: DalleTuiApp, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str, str]]:
    """(title, message, severity) of every notification, still shown as usual."""
    seen: list[tuple[str, str, str]] = []
    original = app.notify

    def notify(message: str, *, title: str = "", severity: str = "information", **kw: Any) -> None:
        seen.append((title, message, severity))
        original(message, title=title, severity=severity, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "notify", notify)
    return seen


def all_prompts(services: Services) -> list[Any]:
    return services.history.search(PromptQuery(limit=100)).items


async def test_typing_and_ctrl_g_generates_offline(app: DalleTuiApp, services: Services) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"a red fox")
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()

        prompts = all_prompts(services)
        assert [p.text for p in prompts] == ["a red fox"]
        [generation] = services.history.generations(prompts[0].id)
        assert generation.status == "succeeded"
        assert generation.provider == "offline"
        assert generation.thumbnail_path and Path(generation.thumbnail_path).is_file()

        [slot] = app.screen.query(ImageSlot)
        assert slot.generation is not None and slot.generation.id == generation.id
        assert slot.query(".preview"), "the result shows an image preview"
        assert "$0.00" in slot.details()
        assert slot.query_one(".slot-offline").render()  # offline says so plainly
        assert app.focused is slot  # the new result takes focus: o/y/r/f work at once
        assert app.screen.query_one("#prompt", TextArea).text == "a red fox"
        assert "today 1 image," in app.status  # DataChanged refreshed the status line


async def test_changing_the_model_changes_the_choices(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        pickers = app.screen.query_one(ParamPickers)
        model = app.screen.query_one("#pick-model", Select)
        size = app.screen.query_one("#pick-size", Select)
        assert pickers.choices("size") == ["1024x1024", "1536x1024", "1024x1536", "auto"]

        size.value = "1536x1024"
        model.value = "gpt-image-2"
        await pilot.pause()
        assert "2048x2048" in pickers.choices("size")
        assert len(pickers.choices("size")) > 4
        assert size.value == "1536x1024"  # still allowed, so kept

        size.value = "2048x2048"
        model.value = "gpt-image-1-mini"
        await pilot.pause()
        assert pickers.choices("size") == ["1024x1024", "1536x1024", "1024x1536", "auto"]
        assert size.value == "1024x1024"  # not allowed any more: back to the default

        model.value = "gpt-image-2.5-flare"
        await pilot.pause()
        assert "xhigh" in pickers.choices("quality")


async def test_partial_previews_only_where_the_model_streams_one_image(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        pickers = app.screen.query_one(ParamPickers)
        assert pickers.choices("partial_images") == [0, 1, 2, 3]
        box = app.screen.query_one("#pick-partials", Select)
        box.value = 2
        await pilot.pause()
        assert pickers.values()["partial_images"] == 2
        app.screen.query_one("#pick-n", Select).value = 3
        await pilot.pause()
        assert box.disabled
        assert pickers.values()["partial_images"] == 0


async def test_empty_prompt_is_refused_with_the_message(
    app: DalleTuiApp, services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await pilot.pause()
        messages = app.screen.query_one("#compose-messages")
        texts = [str(w.render()) for w in messages.query(".problem")]
        assert any("The prompt is empty" in t for t in texts)
        assert not app.screen.query(LiveSlot)
        await app.workers.wait_for_complete()
        assert all_prompts(services) == []
        assert services.history.gallery() == []


async def test_validation_runs_while_typing(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "x" * 40)
        app.screen.query_one("#pick-model", Select).value = "gpt-image-2"
        await pilot.pause()
        app.screen.query_one("#pick-size", Select).value = "3840x2160"
        await pilot.pause(compose_module.VALIDATE_DELAY + 0.2)
        warnings = app.screen.query("#compose-messages .warning")
        assert any("experimental" in str(w.render()) for w in warnings)
        assert app.screen.query_one("#prompt").border_subtitle == "40 / 32,000"


async def test_f_on_a_result_toggles_the_favourite(app: DalleTuiApp, services: Services) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a lighthouse at night")
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        slot = app.screen.query_one(ImageSlot)
        slot.focus()
        await pilot.press("f")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert slot.prompt_id is not None
        assert services.history.get(slot.prompt_id).is_favorite
        assert slot.favorite and "★" in str(slot.border_title)

        await pilot.press("f")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not services.history.get(slot.prompt_id).is_favorite
        assert not slot.favorite


async def test_r_regenerates_the_same_request(app: DalleTuiApp, services: Services) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a paper boat")
        app.screen.query_one("#pick-quality", Select).value = "low"
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await write_prompt(pilot, "something else entirely")
        app.screen.query_one(ImageSlot).focus()
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        [prompt] = [p for p in all_prompts(services) if p.text == "a paper boat"]
        generations = services.history.generations(prompt.id)
        assert len(generations) == 2
        assert {g.quality for g in generations} == {"low"}
        assert len(app.screen.query(ImageSlot)) == 2


async def test_o_and_y_open_and_copy_the_image(
    app: DalleTuiApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[list[str]] = []
    copied: list[str] = []
    monkeypatch.setattr(viewer_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(
        viewer_module.subprocess, "Popen", lambda args, **kwargs: launched.append(args)
    )
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a teapot")
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        slot = app.screen.query_one(ImageSlot)
        slot.focus()
        await pilot.press("o", "y")
        await pilot.pause()
        assert launched and launched[0][-1] == slot.file_path
        assert copied == [slot.file_path]

        monkeypatch.setattr(viewer_module.shutil, "which", lambda name: None)
        assert viewer_module.open_in_viewer("/tmp/x.png") is not None
        await pilot.press("o")
        await pilot.pause()
        assert len(launched) == 1  # nothing launched without a viewer, and no crash
        assert notes[-1][0] == "Cannot open the image"
        assert "xdg-open" in notes[-1][1] or "open" in notes[-1][1]


async def test_escape_cancels_a_running_generation(app: DalleTuiApp, services: Services) -> None:
    slow = SlowProvider()
    services.generation._providers["offline"] = slow
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a very slow painting")
        await pilot.press("ctrl+g")
        await asyncio.wait_for(slow.started.wait(), 5)
        await pilot.pause()
        screen = compose_screen(app)
        assert screen.generating
        assert screen.query(LiveSlot)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()

        [prompt] = all_prompts(services)
        [generation] = services.history.generations(prompt.id)
        assert generation.status == "cancelled"
        assert not screen.generating
        assert "Cancelled" in str(screen.query_one("#compose-outcome").render())
        assert screen.query_one(ProblemSlot).has_class("-cancelled")
        assert screen.query_one("#prompt", TextArea).text == "a very slow painting"


async def test_a_failing_provider_shows_the_error_and_keeps_the_prompt(
    app: DalleTuiApp, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.generation._providers["offline"] = RateLimitedProvider()
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a busy street")
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()

        [prompt] = all_prompts(services)
        [generation] = services.history.generations(prompt.id)
        assert generation.status == "failed"
        assert generation.error_kind == "rate_limit"

        problem = app.screen.query_one(ProblemSlot)
        assert "Rate limit" in problem.heading
        assert "try again in 20 seconds" in problem.message
        assert (
            "Generation failed",
            "Rate limit reached; try again in 20 seconds.",
            "error",
        ) in notes
        assert app.screen.query_one("#prompt", TextArea).text == "a busy street"


async def test_partial_images_appear_before_the_final_image(
    app: DalleTuiApp, services: Services
) -> None:
    services.generation._providers["offline"] = OfflineProvider(partial_delay=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a hot air balloon")
        app.screen.query_one("#pick-partials", Select).value = 2
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: bool(app.screen.query("#live-slot .partial-preview")))
        assert not app.screen.query(ImageSlot)  # a draft, before the final image
        live = app.screen.query_one(LiveSlot)
        assert live.request.partial_images == 2
        await wait_until(pilot, lambda: live.partials == 2 or not live.is_attached)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query(ImageSlot)
        assert not app.screen.query(LiveSlot)
        partials = services.settings.home / "cache" / "partials"
        assert not list(partials.glob("*")), "drafts are removed once the image is final"


async def test_load_prompt_fills_the_editor_and_pickers(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = compose_screen(app)
        screen.load_prompt(
            "a castle in the clouds",
            {
                "model": "gpt-image-2",
                "size": "2048x2048",
                "quality": "high",
                "n": 2,
                "output_format": "webp",
            },
        )
        await pilot.pause()
        request = screen.build_request()
        assert request.prompt == "a castle in the clouds"
        assert (request.model, request.size, request.quality, request.n) == (
            "gpt-image-2",
            "2048x2048",
            "high",
            2,
        )
        assert request.output_format == "webp"

        # A size outside the picker list (e.g. from the CLI) is offered for its model and kept.
        screen.load_prompt("a wide banner", {"model": "gpt-image-2", "size": "1200x800"})
        await pilot.pause()
        assert screen.build_request().size == "1200x800"
        assert not app.screen.query("#compose-messages .problem")


async def test_load_prompt_with_a_retired_model_explains_why_it_cannot_run(
    app: DalleTuiApp,
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        compose_screen(app).load_prompt(
            "an old favourite", {"model": "dall-e-3", "size": "1024x1792"}
        )
        await pilot.pause()
        problems = [str(w.render()) for w in app.screen.query("#compose-messages .problem")]
        assert any("retired" in p for p in problems)
        assert app.screen.query_one("#pick-size", Select).value == "1024x1792"


async def test_the_command_palette_lists_and_runs_app_actions(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        provider = palette.DalleTuiCommands(app.screen)
        names = [command.name for command in provider.commands()]
        for expected in ("Mode: History", "Help: keys", "Generate images", "Cancel generation"):
            assert expected in names
        hits = [hit async for hit in provider.search("usage")]
        assert hits and "Usage" in str(hits[0].text)
        found = [hit async for hit in provider.discover()]
        assert len(found) == len(names)

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"mode history")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.current_mode == "history"

        dark = app.current_theme.dark
        provider._toggle_dark()
        assert app.current_theme.dark is not dark


async def test_generate_from_the_palette_uses_the_compose_screen(
    app: DalleTuiApp, services: Services
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a snowy owl")
        await app.switch_mode("usage")
        await pilot.pause()
        provider = palette.DalleTuiCommands(app.screen)
        await provider._generate()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.current_mode == "compose"
        assert [p.text for p in all_prompts(services)] == ["a snowy owl"]
        assert isinstance(app.focused, ResultSlot)


async def test_reuse_prompt_from_another_mode_lands_in_compose(app: DalleTuiApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("history")
        await pilot.pause()
        app.post_message(ReusePrompt("a quiet harbour", {"model": "gpt-image-1.5", "n": 3}))
        await pilot.pause(0.2)
        assert app.current_mode == "compose"
        request = compose_screen(app).build_request()
        assert (request.prompt, request.model, request.n) == ("a quiet harbour", "gpt-image-1.5", 3)
        assert app.focused is app.screen.query_one("#prompt")


def outcome_text(app: DalleTuiApp) -> str:
    return str(app.screen.query_one("#compose-outcome").render())


def test_wait_text_counts_down_in_whole_seconds_then_says_the_retry_went() -> None:
    wait = RetryWait(RATE_LIMITED, 12, 2, 3)
    assert wait_text(wait, 12) == wait.describe() == "rate limited, retrying in 12 s, 2 of 3"
    assert wait_text(wait, 11.2) == "rate limited, retrying in 12 s, 2 of 3"
    assert wait_text(wait, 10.9) == "rate limited, retrying in 11 s, 2 of 3"
    assert wait_text(wait, 0) == "rate limited, retry 2 of 3 sent"
    short = RetryWait(RATE_LIMITED, 0.5, 1, 3)
    assert wait_text(short, 0.5) == "rate limited, retrying in 0.5 s, 1 of 3"


async def test_a_retry_wait_is_shown_as_it_happens(app: DalleTuiApp, services: Services) -> None:
    hold = asyncio.Event()
    provider = WaitingProvider(30, hold)
    services.generation._providers["offline"] = provider
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a patient fox")
        await pilot.press("ctrl+g")
        # The countdown may already have ticked when a loaded machine first draws it.
        shown = re.compile(r"rate limited, retrying in (\d+) s, 1 of 3")

        def seconds_shown(text: str) -> int | None:
            match = shown.fullmatch(text)
            return int(match.group(1)) if match else None

        await wait_until(pilot, lambda: seconds_shown(outcome_text(app)) is not None)
        first = seconds_shown(outcome_text(app))
        assert first is not None and 25 <= first <= 30
        live = app.screen.query_one(LiveSlot)
        assert seconds_shown(live.waiting) is not None
        label = live.query_one("#live-wait")
        # One line: there is room here.
        await wait_until(pilot, lambda: seconds_shown(str(label.render())) is not None)
        assert label.display
        await wait_until(
            pilot, lambda: (seconds_shown(outcome_text(app)) or first) < first, timeout=3
        )

        hold.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert provider.attempts == 2
        assert app.screen.query(ImageSlot) and not app.screen.query(LiveSlot)
        assert outcome_text(app).startswith("✓ 1 image")  # the wait is gone with the run


async def test_escape_during_a_wait_stops_it_at_once_and_sends_nothing_more(
    app: DalleTuiApp, services: Services
) -> None:
    provider = WaitingProvider(30)  # a real asyncio.sleep, as in the OpenAI provider
    services.generation._providers["offline"] = provider
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "an impatient fox")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: "retrying in" in outcome_text(app))
        started = time.monotonic()
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert time.monotonic() - started < 2, "the cancel did not wait out the 30 s"
        await pilot.pause(0.2)
        assert provider.attempts == 1, "nothing is sent after a cancelled wait"

        screen = compose_screen(app)
        assert not screen.generating
        assert outcome_text(app) == "Cancelled"
        card = screen.query_one(ProblemSlot)
        assert card.has_class("-cancelled")
        assert "waiting to retry (rate limited); nothing more was sent" in card.message
        [prompt] = all_prompts(services)
        [generation] = services.history.generations(prompt.id)
        assert generation.status == "cancelled"


async def test_a_possibly_billed_request_gets_its_own_card_and_r_sends_it_once(
    app: DalleTuiApp, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = UnknownOutcomeProvider()
    services.generation._providers["offline"] = provider
    notes = record_notifications(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await write_prompt(pilot, "a fox in the fog")
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()

        [prompt] = all_prompts(services)
        [first] = services.history.generations(prompt.id)
        assert first.status == "possibly_billed"
        card = app.screen.query_one(PossiblyBilledSlot)
        assert card.retry_id == first.id
        assert card.heading == "! Possibly billed"
        assert "may have been billed" in card.message
        assert f"dalletui retry {first.id}" in card.message
        assert card.request_id == "req_fox123"
        shown = [str(w.render()) for w in card.query(".slot-request")]
        assert shown == ["request id req_fox123"]
        assert card.border_subtitle == f"#{first.id}"
        assert not app.screen.query(ProblemSlot)  # not lumped in with plain failures
        assert "Possibly billed" in outcome_text(app)
        assert any(title == "Possibly billed" for title, _, _ in notes)
        assert app.focused is not card  # never focused for you: a stray r would send it again
        # On this card r sends again (retry); "generate again" is not offered beside it.
        assert card.check_action("act", ("retry",))
        assert not card.check_action("act", ("regenerate",))

        await write_prompt(pilot, "something else entirely")
        provider.gate.clear()  # hold the retry so that a second r finds it running
        card.focus()
        await pilot.press("r")
        await wait_until(pilot, lambda: provider.calls == 2)
        await pilot.press("r")
        await pilot.pause()
        assert provider.calls == 2, "one press sends one request"
        assert any(title == "Busy" for title, _, _ in notes)
        provider.gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()

        assert provider.calls == 2
        generations = services.history.generations(prompt.id)
        assert sorted(g.status for g in generations) == ["possibly_billed", "succeeded"]
        [image] = app.screen.query(ImageSlot)
        assert image.generation is not None
        hint = str(card.query_one(".slot-hint").render())
        assert hint.startswith(f"Sent again as #{image.generation.id}")
        assert image.generation is not None and image.generation.status == "succeeded"
        assert image.prompt_text == "a fox in the fog"
        assert outcome_text(app).startswith("✓ 1 image")
        assert app.screen.query_one("#prompt", TextArea).text == "something else entirely"


def sdk_app(home: Path, server: FakeOpenAIServer) -> tuple[DalleTuiApp, Services]:
    settings = Settings(
        home=home, api_key="sk-test-compose", base_url=server.base_url, provider="openai"
    )
    services = open_services(settings)
    graphics.configure("halfcell")
    return make_app(services), services


async def test_through_the_sdk_a_rate_limit_waits_visibly_and_a_cut_answer_is_retried_on_r(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after=1), Fault.cut_after_headers(), Ok())
    app, services = sdk_app(tmp_path / "sdk-home", fake_openai)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await write_prompt(pilot, "a fox on the wire")
            await pilot.press("ctrl+g")
            await wait_until(
                pilot, lambda: outcome_text(app) == "rate limited, retrying in 1 s, 1 of 3"
            )
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert fake_openai.generation_count == 2  # the 429, then the cut-off answer

            card = app.screen.query_one(PossiblyBilledSlot)
            assert card.request_id  # the cut answer's headers carried one
            card.focus()
            await pilot.press("r")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert fake_openai.generation_count == 3
            [image] = app.screen.query(ImageSlot)
            assert image.generation is not None and image.generation.provider == "openai"
            usage = services.usage.today()
            assert (usage.images, usage.possibly_billed) == (1, 1)
            assert image.cost is not None and image.cost == usage.cost  # its own recorded cost
    finally:
        await services.generation.aclose()
        services.close()
