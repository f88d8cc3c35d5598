"""Batch benchmark: a 40-image batch at concurrency 8 against the fake server at 500 ms, and the
TUI's typing echo while it runs.

Usage: .venv/bin/python -m bench.bench_batch [--runs N] [--images 40] [--concurrency 8]
       [--latency 0.5] [--keys 60] [--payload both|standard|api] [--in-process]

Throughput: the wall time of ``BatchService.run`` against the ideal (images / concurrency x
latency), as a ratio (goal >= 0.9), and the overhead per image (the slot time each image costs
beyond the latency: (wall - ideal) x concurrency / images). The fake server runs in a separate
process, as the API is remote (``--in-process`` shares this process's GIL with it instead).
Two payloads: the fake's standard 64 px drawings, and random-noise images as large as the
API's (about 3 MB of PNG at 1024x1024), where decoding, thumbnails and writes cost real CPU.
Each run opens fresh services on a new home; the first, which imports the SDK, is reported
apart and left out of the medians.

Typing echo: the real app (``make_app``) under ``run_test``; keys go to the Compose prompt
editor the way ``Pilot.press`` sends them, and the echo is the time from sending a key to the
first frame the screen renders with it in the editor (``App._display`` is timed). Measured with
no batch (the floor), then while the batch runs in the app (``BatchRuns`` when the app has it,
else ``BatchService.run`` in a task on the app's loop). Goal: p95 <= 33 ms (two frames).
Never run as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dalletui.config import Settings  # noqa: E402
from dalletui.generation.types import GenerationRequest  # noqa: E402
from dalletui.services.context import Services, open_services  # noqa: E402
from tests.fakes import FakeOpenAIServer  # noqa: E402

REQUEST = GenerationRequest(prompt="", model="gpt-image-1-mini", size="1024x1024", quality="low")
ECHO_GOAL_MS = 33.0
RATIO_GOAL = 0.9


# -- the fake server, in its own process ------------------------------------------------------


def _fake(latency: float, noise: bool) -> FakeOpenAIServer:
    """Noise images at full size (as large as the API's), or the fake's 64 px drawings."""
    return FakeOpenAIServer(
        latency=latency, render_max_side=None if noise else 64, noise_images=noise
    )


def _serve(conn: Any, latency: float, noise: bool) -> None:
    with _fake(latency, noise) as server:
        conn.send(server.base_url)
        conn.recv()  # until the parent is done


class Server:
    """The fake OpenAI server in a child process (or in this one with ``in_process``)."""

    def __init__(self, latency: float, noise: bool, in_process: bool) -> None:
        self.latency, self.noise, self.in_process = latency, noise, in_process
        self._local: FakeOpenAIServer | None = None
        self._proc: Any = None
        self._conn: Any = None

    def __enter__(self) -> str:
        if self.in_process:
            self._local = _fake(self.latency, self.noise).start()
            return self._local.base_url
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._proc = context.Process(
            target=_serve, args=(child, self.latency, self.noise), daemon=True
        )
        self._proc.start()
        return str(self._conn.recv())

    def __exit__(self, *exc: object) -> None:
        if self._local is not None:
            self._local.stop()
        if self._proc is not None:
            self._conn.send("stop")
            self._proc.join(timeout=10)


def services_for(home: Path, base_url: str) -> Services:
    settings = Settings(home=home, api_key="sk-bench", base_url=base_url, provider="openai")
    return open_services(settings)


def create_batch(services: Services, images: int, concurrency: int) -> Any:
    plan = services.batches.planner().plan(
        "a lighthouse at dusk, study {n}",
        variables={"n": [str(index) for index in range(images)]},
        request=REQUEST,
    )
    assert plan.count == images
    return services.batches.create(plan, concurrency=concurrency)


# -- throughput ---------------------------------------------------------------------------------


async def batch_once(base_url: str, images: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        services = services_for(Path(tmp), base_url)
        try:
            batch = create_batch(services, images, concurrency)
            started = time.perf_counter()
            progress = await services.batches.run(batch.id, on_event=lambda event: None)
            wall = time.perf_counter() - started
            assert progress.done == images, progress.describe()
        finally:
            await services.aclose()
    return wall


def throughput(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    walls = [
        asyncio.run(batch_once(base_url, args.images, args.concurrency))
        for _ in range(args.runs + 1)
    ]
    cold, warm = walls[0], walls[1:]
    ideal = args.images / args.concurrency * args.latency

    def overhead_ms(wall: float) -> float:
        return (wall - ideal) * args.concurrency / args.images * 1000

    return {
        "ideal": ideal,
        "cold": cold,
        "walls": warm,
        "wall": statistics.median(warm),
        "ratio": ideal / statistics.median(warm),
        "ratios": [ideal / wall for wall in warm],
        "overhead": overhead_ms(statistics.median(warm)),
        "overheads": [overhead_ms(wall) for wall in warm],
    }


# -- typing echo --------------------------------------------------------------------------------


class EchoMeter:
    """Times key -> first rendered frame holding the key's character in the editor."""

    def __init__(self, app: Any, editor: Any) -> None:
        self.app, self.editor = app, editor
        self._want: int | None = None
        self._done = asyncio.Event()
        self._at = 0.0
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            want = self._want
            if want is not None and renderable is not None and len(editor.text) >= want:
                self._at = time.perf_counter()
                self._want = None
                self._done.set()
            original(screen, renderable)

        app._display = display

    async def key(self, char: str) -> float:
        from textual import events

        self._done.clear()
        self._want = len(self.editor.text) + 1
        event = events.Key(char, char)
        event.set_sender(self.app)
        sent = time.perf_counter()
        self.app._driver.send_message(event)
        await asyncio.wait_for(self._done.wait(), 10)
        return (self._at - sent) * 1000


async def type_keys(meter: EchoMeter, count: int, interval: float, until: Any = None) -> list:
    echoes: list[float] = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    while len(echoes) < count and (until is None or not until()):
        echoes.append(await meter.key(letters[len(echoes) % len(letters)]))
        await asyncio.sleep(interval)
    return echoes


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def echo(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    from textual.widgets import TextArea

    from dalletui.tui import graphics
    from dalletui.tui.app import make_app

    graphics.configure("halfcell")
    with tempfile.TemporaryDirectory() as tmp:
        services = services_for(Path(tmp), base_url)
        app = make_app(services)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause()
                editor = app.screen.query_one("#prompt", TextArea)
                editor.focus()
                await pilot.pause()
                meter = EchoMeter(app, editor)
                floor = await type_keys(meter, args.keys, args.interval)
                editor.load_text("")
                await pilot.pause()

                batch = create_batch(services, args.images, args.concurrency)
                started = time.perf_counter()
                runs = getattr(app, "batch_runs", None)
                if runs is not None and hasattr(runs, "start"):
                    how = "the app's BatchRuns"
                    runs.start(batch.id, batch.name)

                    def running() -> bool:
                        return bool(runs.is_running(batch.id))
                else:
                    how = "BatchService.run in a task"
                    task = asyncio.create_task(services.batches.run(batch.id))

                    def running() -> bool:
                        return not task.done()

                await asyncio.sleep(0)
                during = await type_keys(
                    meter, 10 * args.keys, args.interval, until=lambda: not running()
                )
                while running():
                    await asyncio.sleep(0.05)
                wall = time.perf_counter() - started
                progress = services.batches.progress(batch.id)
        finally:
            await services.aclose()
    return {"floor": floor, "during": during, "how": how, "wall": wall, "done": progress.done}


# -- the table ----------------------------------------------------------------------------------


def report(args: argparse.Namespace, noise: bool, result: dict, typed: dict) -> list[str]:
    images = "1024x1024 noise PNGs, about 3 MB each (API-sized)" if noise else "64 px drawings"
    where = "in this process" if args.in_process else "in its own process"
    lines = [
        f"== {images}: fake server {where}, {args.latency * 1000:.0f} ms latency",
        f"Throughput of {args.images} images at concurrency {args.concurrency}: median of "
        f"{args.runs} runs (after a first, cold run)",
        f"{'':<36}{'median':>10}{'min':>10}{'max':>10}",
    ]
    walls, ratios, overheads = result["walls"], result["ratios"], result["overheads"]
    lines.append(
        f"{'wall time (s)':<36}{result['wall']:>10.3f}{min(walls):>10.3f}{max(walls):>10.3f}"
    )
    lines.append(f"{'ideal (s)':<36}{result['ideal']:>10.3f}")
    lines.append(
        f"{'throughput ratio (goal >= 0.90)':<36}{result['ratio']:>10.3f}"
        f"{min(ratios):>10.3f}{max(ratios):>10.3f}"
    )
    lines.append(
        f"{'overhead per image (ms)':<36}{result['overhead']:>10.1f}"
        f"{min(overheads):>10.1f}{max(overheads):>10.1f}"
    )
    cold = result["cold"]
    lines.append(
        f"{'cold first run: wall (s), ratio':<36}{cold:>10.3f}{result['ideal'] / cold:>10.3f}"
    )
    floor, during = typed["floor"], typed["during"]
    lines.append(
        f"Typing echo in Compose (key -> frame), a key every {args.interval * 1000:.0f} ms"
    )
    lines.append(f"{'':<36}{'keys':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for label, values in (("no batch (floor)", floor), ("batch running", during)):
        lines.append(
            f"{label:<36}{len(values):>6}{percentile(values, 0.5):>9.1f}"
            f"{percentile(values, 0.95):>9.1f}{max(values):>9.1f}"
        )
    echo_ok = "met" if percentile(during, 0.95) <= ECHO_GOAL_MS else "MISSED"
    ratio_ok = "met" if result["ratio"] >= RATIO_GOAL else "MISSED"
    lines.append(
        f"goals: ratio >= {RATIO_GOAL:.2f} {ratio_ok}; echo p95 <= {ECHO_GOAL_MS:.0f} ms "
        f"{echo_ok} (batch run by {typed['how']}: {typed['done']} images in "
        f"{typed['wall']:.2f} s while typing)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--keys", type=int, default=60, help="keys typed for the floor")
    parser.add_argument("--interval", type=float, default=0.04, help="seconds between keys")
    parser.add_argument(
        "--payload",
        choices=("both", "standard", "api"),
        default="both",
        help="the fake's 64 px drawings (standard), API-sized 3 MB images (api), or both",
    )
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    kinds = {"both": (False, True), "standard": (False,), "api": (True,)}[args.payload]
    out: list[str] = []
    for noise in kinds:
        with Server(args.latency, noise, args.in_process) as base_url:
            result = throughput(args, base_url)
            typed = asyncio.run(echo(args, base_url))
        out += [*report(args, noise, result, typed), ""]
    print("\n".join(out).rstrip())


if __name__ == "__main__":
    main()
