"""Rows 2, 3, 4 (headless), 5 and 8: the app driven headless by Textual's Pilot.

Keys are sent the way Pilot sends them (``driver.send_message(events.Key)``) but without
Pilot's wait for idle after each one, so the time until the screen shows the answer is the
app's own: the loop is polled every ~0.5 ms. Every function here runs in a fresh process
(bench/child.py), so one row's caches, threads and memory never reach another's.
"""

from __future__ import annotations

import asyncio
import gc
import time
import unicodedata
from pathlib import Path
from typing import Any

from stats import rss_mb, summary

SIZE = (120, 40)
POLL_S = 0.0005
TIMEOUT_S = 10.0


def _open_app(home: Path) -> Any:
    from dalletui.config import Settings
    from dalletui.services.context import open_services
    from dalletui.tui import graphics
    from dalletui.tui.app import make_app

    graphics.configure("halfcell")
    services = open_services(Settings(home=home))
    return make_app(services), services


def send_key(app: Any, key: str) -> None:
    """One key as a terminal would send it, without waiting for the app to handle it."""
    from textual import events

    name = "space" if key == " " else key
    char = key if len(key) == 1 else None
    if char is None:
        try:
            char = unicodedata.lookup(name.upper())
        except KeyError:
            char = None
    event = events.Key(name, char)
    event.set_sender(app)
    app._driver.send_message(event)


async def until(check: Any, timeout: float = TIMEOUT_S) -> bool:
    """Poll ``check()`` on the event loop until true (False on timeout)."""
    end = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > end:
            return False
        await asyncio.sleep(POLL_S)
    return True


def _history_ready(app: Any) -> bool:
    screen = app.screen
    if type(screen).__name__ != "HistoryScreen":
        return False
    try:
        rows = screen.prompt_list.rows
    except Exception:
        return False
    return bool(rows) and getattr(screen, "total", None) is not None


async def _enter_history(app: Any, pilot: Any) -> Any:
    await pilot.press("f3")
    if not await until(lambda: _history_ready(app)):
        raise RuntimeError("History did not show its prompts within 10 s")
    await pilot.pause()
    return app.screen


def _shows(screen: Any, text: str, first_id: int | None) -> bool:
    """The screen shows the answer to ``text``: its filters, first row and a count."""
    if screen.filters.text != text or getattr(screen, "total", None) is None:
        return False
    rows = screen.prompt_list.rows
    return (rows[0].id if rows else None) == first_id


def typing_words(words: list[str], keys: int) -> list[str]:
    """Words to type, about ``keys`` keystrokes in all."""
    chosen: list[str] = []
    total = 0
    for word in words:
        if total >= keys:
            break
        chosen.append(word)
        total += len(word)
    return chosen


async def keystroke_to_results(home: Path, words: list[str], keys: int) -> dict[str, Any]:
    """Row 2: key pressed in the search box -> the list shows that text's first row and count."""
    from dalletui.storage import PromptQuery

    app, services = _open_app(home)
    timings: list[float] = []
    timeouts = 0
    async with app.run_test(size=SIZE) as pilot:
        screen = await _enter_history(app, pilot)
        await pilot.press("slash")
        search = screen.query_one("#search")
        for word in typing_words(words, keys):
            for char in word:
                text = search.value + char
                page = services.db.search_prompts(PromptQuery(text=text, limit=1))
                first = page.items[0].id if page.items else None
                start = time.perf_counter()
                send_key(app, char)
                if await until(lambda t=text, f=first: _shows(screen, t, f)):
                    timings.append((time.perf_counter() - start) * 1000)
                else:
                    timeouts += 1
            search.value = ""
            await until(lambda: screen.filters.text == "" and screen.total is not None)
            await pilot.pause(0.3)
    services.close()
    return {"keystrokes": summary(timings), "timeouts": timeouts}


async def _echo(app: Any, pilot: Any, search: Any, text: str, gap_s: float) -> list[float]:
    timings: list[float] = []
    for char in text:
        expected = search.value + char
        start = time.perf_counter()
        send_key(app, char)
        if await until(lambda e=expected: search.value == e, 5.0):
            timings.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(max(0.0, gap_s - (time.perf_counter() - start)))
    await pilot.pause()
    return timings


async def typing_echo(home: Path, text: str, gap_s: float) -> dict[str, Any]:
    """Row 3: key -> the search box holds it, typing at 1/gap_s keys a second while the
    list searches and repaints; the floor is a bare App with one Input, typed the same way."""
    from textual.app import App, ComposeResult
    from textual.widgets import Input

    app, services = _open_app(home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _enter_history(app, pilot)
        await pilot.press("slash")
        product = await _echo(app, pilot, screen.query_one("#search"), text, gap_s)
    services.close()

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Input(id="search")

        def on_mount(self) -> None:
            self.query_one(Input).focus()

    bare = Bare()
    async with bare.run_test(size=SIZE) as pilot:
        await pilot.pause()
        floor = await _echo(bare, pilot, bare.query_one(Input), text, gap_s)
    return {"product": summary(product), "floor": summary(floor)}


async def first_frame(kind: str, home: Path | None, spawned: float) -> dict[str, float]:
    """Row 4 (headless): ms to Pilot's first screen ready, from the process's start
    (``spawned``, the parent's wall clock just before it started this process: interpreter,
    imports and all, as a user waits) and from building the app (imports done)."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    services = None
    if kind == "app":
        from dalletui.config import Settings
        from dalletui.services.context import open_services
        from dalletui.tui import graphics
        from dalletui.tui.app import make_app

        assert home is not None
        graphics.configure("halfcell")
        services = open_services(Settings(home=home))
        start = time.perf_counter()
        app: Any = make_app(services)
    else:

        class Hello(App[None]):
            def compose(self) -> ComposeResult:
                yield Static("Hello, world")

        start = time.perf_counter()
        app = Hello()
    async with app.run_test(size=SIZE):
        spent = (time.perf_counter() - start) * 1000
        ready = time.time()
    if services is not None:
        services.close()
    return {"from_start_ms": (ready - spawned) * 1000, "after_imports_ms": spent}


async def memory(home: Path, pages: int) -> dict[str, Any]:
    """Row 5: RSS after History searched 'c' and paged down ``pages`` times."""
    before = rss_mb()
    app, services = _open_app(home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _enter_history(app, pilot)
        await pilot.press("slash", "c")
        await until(lambda: screen.filters.text == "c" and screen.total is not None)
        await pilot.press("enter")
        for _ in range(pages):
            await pilot.press("pagedown")
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        loaded = len(screen.prompt_list.rows)
        gc.collect()
        after = rss_mb()
    services.close()
    return {"rss_mb": after, "rss_before_app_mb": before, "rows_loaded": loaded}


async def preview_paint(image: Path, mode: str) -> dict[str, Any]:
    """Row 8: UI-thread time of the first paint of a big preview (cold caches).

    Two views of it: the longest single ``ImageView.render_lines`` call (where today's code
    scales and encodes), and the longest stall of the event loop (a 1 ms heartbeat's largest
    lateness) while the preview mounts and paints, whatever the design.
    """
    from textual.app import App, ComposeResult

    from dalletui.tui import graphics
    from dalletui.tui.graphics import widgets

    try:
        from dalletui.tui.graphics.policy import Decision

        graphics.configure(mode, decision=Decision.forced(mode, (10, 20)))
    except (ImportError, AttributeError, TypeError):
        graphics.configure(mode)
    if hasattr(widgets, "clear_caches"):
        widgets.clear_caches()
    spent: list[float] = []
    original = widgets.ImageView.render_lines

    def timed(self: Any, crop: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, crop)
        finally:
            spent.append((time.perf_counter() - start) * 1000)

    widgets.ImageView.render_lines = timed  # type: ignore[method-assign]
    stalls: list[float] = []

    async def heartbeat() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            stalls.append((time.perf_counter() - start) * 1000 - 1.0)

    class Preview(App[None]):
        CSS = "ImageView { width: 100%; height: 100%; }"

        def compose(self) -> ComposeResult:
            yield graphics.preview(image)

    beat = asyncio.get_running_loop().create_task(heartbeat())  # from before the first paint
    try:
        async with Preview().run_test(size=(120, 50)) as pilot:
            await pilot.pause()
            for _ in range(5):
                await pilot.pause(0.05)
            beat.cancel()
    finally:
        widgets.ImageView.render_lines = original  # type: ignore[method-assign]
    return {
        "render_lines_max_ms": max(spent) if spent else 0.0,
        "render_lines_total_ms": sum(spent),
        "loop_stall_max_ms": max(stalls) if stalls else 0.0,
    }
