"""Pytest fixtures for the fake OpenAI server.

Enable them with ``pytest_plugins = ["tests.fakes.fixtures"]`` in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fake_openai import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started ``FakeOpenAIServer`` (64px images, no latency), stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server
    assert not server.errors, "fake OpenAI server raised:\n" + "\n".join(server.errors)
