"""Image providers: the OpenAI API and the offline drawer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dalletui.errors import ConfigError

if TYPE_CHECKING:
    from dalletui.config import Settings
    from dalletui.generation.types import ImageProvider

PROVIDER_NAMES = ("openai", "offline")


def make_provider(settings: Settings, name: str) -> ImageProvider:
    """Build the provider called ``name`` from settings (the OpenAI SDK loads only here)."""
    if name == "offline":
        from dalletui.generation.providers.offline import OfflineProvider

        return OfflineProvider()
    if name == "openai":
        from dalletui.generation.providers.openai_provider import OpenAIProvider

        return OpenAIProvider(
            settings.api_key,
            base_url=settings.base_url,
            organization=settings.organization,
            project=settings.project,
            timeout=settings.request_timeout,
            safety_identifier=settings.safety_identifier,
        )
    raise ConfigError(f"Provider '{name}' is unknown; choose one of {', '.join(PROVIDER_NAMES)}.")
