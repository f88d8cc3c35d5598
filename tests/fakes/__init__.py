"""Test doubles: a fake OpenAI Images HTTP server (see ``fake_openai``)."""

from tests.fakes.fake_openai import (
    DEFAULT_MODELS,
    MODERATION_MESSAGE,
    Behaviour,
    FakeOpenAIServer,
    Fault,
    Ok,
    RecordedRequest,
    UploadedFile,
    render_image,
)

__all__ = [
    "DEFAULT_MODELS",
    "MODERATION_MESSAGE",
    "Behaviour",
    "FakeOpenAIServer",
    "Fault",
    "Ok",
    "RecordedRequest",
    "UploadedFile",
    "render_image",
]
