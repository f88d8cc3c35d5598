"""Generation benchmark: the service's own overhead around a provider, through the real SDK.

Usage: python bench/bench_generation.py [--runs N] [--latency S]
The fake OpenAI server (tests/fakes) answers on 127.0.0.1 after a fixed latency with full-size
PNGs; the table shows medians per request and the overhead dalletui adds on top of the latency
(validation, prompt/generation/usage rows, atomic file + thumbnail writes). Never run as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dalletui.config import Settings  # noqa: E402
from dalletui.generation.types import GenerationRequest  # noqa: E402
from dalletui.services.context import open_services  # noqa: E402
from tests.fakes import FakeOpenAIServer  # noqa: E402


async def timed(services, requests: list[GenerationRequest]) -> list[float]:  # noqa: ANN001
    times = []
    for request in requests:
        start = time.perf_counter()
        outcome = await services.generation.generate(request)
        assert outcome.ok, outcome.error
        times.append(time.perf_counter() - start)
    await services.generation.aclose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--latency", type=float, default=0.25)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(render_max_side=None) as server:
        server.latency = args.latency
        cases = [
            ("openai (fake), 1024x1024 png, n=1", "openai", dict(size="1024x1024")),
            ("openai (fake), 1536x1024 png, n=1", "openai", dict(size="1536x1024")),
            ("openai (fake), 1024x1024 png, n=4", "openai", dict(size="1024x1024", n=4)),
            ("offline, 1024x1024 png, n=1", "offline", dict(size="1024x1024")),
            (
                "offline, 1024x1024 jpeg, n=1",
                "offline",
                dict(size="1024x1024", output_format="jpeg"),
            ),
        ]
        for index, (label, provider, params) in enumerate(cases):
            settings = Settings(
                home=Path(tmp) / f"h{index}",
                api_key="sk-bench",
                base_url=server.base_url,
                provider=provider,
            )
            services = open_services(settings)
            requests = [
                GenerationRequest(prompt=f"bench prompt {i}", **params) for i in range(args.runs)
            ]
            times = asyncio.run(timed(services, requests))
            services.close()
            median = statistics.median(times)
            overhead = median - (args.latency if provider == "openai" else 0)
            rows.append((label, median * 1000, overhead * 1000))
    latency_ms = args.latency * 1000
    print(f"{args.runs} requests per case, fake server latency {latency_ms:.0f} ms, medians\n")
    print(f"{'case':<40} {'per request (ms)':>17} {'beyond latency (ms)':>20}")
    for label, median_ms, overhead_ms in rows:
        print(f"{label:<40} {median_ms:>17.1f} {overhead_ms:>20.1f}")


if __name__ == "__main__":
    main()
