"""verify_phase3 checks for the generation process (offline, and the real SDK on a fake server)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from verification.registry import check


def _services(home: Path, **settings: object):  # noqa: ANN202
    from dalletui.config import Settings
    from dalletui.services.context import open_services

    return open_services(Settings(home=home, **settings))  # type: ignore[arg-type]


@check("generation (offline): records prompt, generation, image, thumbnail and usage")
def check_offline_generation(home: Path) -> None:
    from dalletui.generation.types import GenerationRequest

    services = _services(home)
    request = GenerationRequest(prompt="verify: a red fox in snow", n=2, seed=1)
    outcome = asyncio.run(services.generation.generate(request))
    assert outcome.ok, outcome.error
    counts = services.db.counts()
    assert (counts["prompts"], counts["generations"], counts["usage_stats"]) == (1, 2, 2), counts
    for g in outcome.generations:
        assert g.status == "succeeded" and g.provider == "offline"
        assert Path(g.file_path).is_file() and Path(g.thumbnail_path).is_file()
    assert services.usage.all_time().images == 2
    services.close()


@check("generation (openai SDK vs local fake server): tokens and cost recorded, errors kept")
def check_sdk_generation(home: Path) -> None:
    from dalletui.generation.types import GenerationRequest
    from tests.fakes import FakeOpenAIServer, Fault

    async def scenario(services, server) -> None:  # noqa: ANN001 (one event loop for the client)
        request = GenerationRequest(prompt="verify lighthouse", model="gpt-image-1-mini")
        outcome = await services.generation.generate(request)
        assert outcome.ok, outcome.error
        usage = services.usage.all_time()
        assert usage.total_tokens == 2 + 272, usage
        assert usage.cost == (Decimal(2 * 2 + 272 * 8) / 1_000_000).quantize(Decimal("0.000001"))
        server.script(Fault.moderation())
        refused = await services.generation.generate(request)
        assert refused.error is not None and refused.error.kind == "content_policy"
        assert refused.generations[0].status == "failed"
        # A use is a request that brought an image: the refused one is in history, unused.
        assert services.db.get_prompt(outcome.prompt.id).use_count == 1
        await services.generation.aclose()

    with FakeOpenAIServer() as server:
        services = _services(home, api_key="sk-verify", base_url=server.base_url, provider="openai")
        try:
            asyncio.run(scenario(services, server))
        finally:
            services.close()
