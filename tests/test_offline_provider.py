"""The offline provider: deterministic, sized, labelled, streamable, cancellable."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from dalletui.errors import ErrorKind, GenerationError
from dalletui.generation.files import ImageStore
from dalletui.generation.providers.offline import (
    PNG_COMMENT,
    OfflineProvider,
    add_label,
    default_seed,
    draw_artwork,
    label_box,
    label_text,
)
from dalletui.generation.types import GenerationRequest, ImageProvider

PROMPT = "a red fox in a snowy forest at dawn"


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def _one(request: GenerationRequest) -> bytes:
    result = await OfflineProvider().generate(request)
    assert len(result.images) == 1
    return result.images[0].data


def test_satisfies_the_provider_protocol() -> None:
    provider: ImageProvider = OfflineProvider()
    assert provider.name == "offline"
    assert provider.offline is True


async def test_same_request_gives_identical_bytes() -> None:
    request = GenerationRequest(prompt=PROMPT, size="1024x1024")
    assert await _one(request) == await _one(request)


async def test_explicit_seed_matches_the_default_derived_from_the_prompt() -> None:
    implicit = GenerationRequest(prompt=PROMPT, size="256x256")
    explicit = GenerationRequest(prompt=PROMPT, size="256x256", seed=default_seed(PROMPT))
    other = GenerationRequest(prompt=PROMPT, size="256x256", seed=7)
    assert await _one(implicit) == await _one(explicit)
    assert await _one(implicit) != await _one(other)


def test_default_seed_is_stable_across_processes() -> None:
    # A fixed value: Python's salted hash() would change every run.
    assert default_seed("hello") == 0x2CF24DBA5FB0A30E


async def test_different_prompts_give_different_images() -> None:
    first = _open(await _one(GenerationRequest(prompt=PROMPT, size="256x256")))
    second = _open(await _one(GenerationRequest(prompt="ocean waves at night", size="256x256")))
    assert first.tobytes() != second.tobytes()


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1024x1024", (1024, 1024)),
        ("1536x1024", (1536, 1024)),
        ("1536x864", (1536, 864)),
        ("auto", (1024, 1024)),
    ],
)
async def test_requested_size_is_honoured(size: str, expected: tuple[int, int]) -> None:
    assert _open(await _one(GenerationRequest(prompt=PROMPT, size=size))).size == expected


@pytest.mark.parametrize("size", ["0x10", "big", "10x99999"])
async def test_invalid_size_is_a_validation_error(size: str) -> None:
    with pytest.raises(GenerationError) as caught:
        await OfflineProvider().generate(GenerationRequest(prompt=PROMPT, size=size))
    assert caught.value.kind is ErrorKind.VALIDATION


async def test_n_images_all_differ() -> None:
    request = GenerationRequest(prompt=PROMPT, size="256x256", n=3)
    result = await OfflineProvider().generate(request)
    pixels = [_open(image.data).tobytes() for image in result.images]
    assert len(pixels) == 3
    assert len(set(pixels)) == 3
    assert result.usage is None


async def test_partial_images_arrive_in_order_before_the_result() -> None:
    seen: list[tuple[int, Image.Image]] = []

    def on_partial(index: int, data: bytes) -> None:
        seen.append((index, _open(data)))

    request = GenerationRequest(prompt=PROMPT, size="512x512", partial_images=3)
    result = await OfflineProvider().generate(request, on_partial=on_partial)
    assert [index for index, _ in seen] == [0, 1, 2]
    final = _open(result.images[0].data).convert("RGB")
    # Each partial is the same size as the final image and closer to it than the one before.
    distances = []
    for _, partial in seen:
        assert partial.size == final.size
        partial = partial.convert("RGB")
        distances.append(sum(ImageStat.Stat(ImageChops.difference(partial, final)).mean))
    assert distances[0] > distances[1] > distances[2] > 0


async def test_async_partial_callback_is_awaited() -> None:
    calls: list[int] = []

    async def on_partial(index: int, data: bytes) -> None:
        await asyncio.sleep(0)
        calls.append(index)

    request = GenerationRequest(prompt=PROMPT, size="128x128", partial_images=2)
    await OfflineProvider().generate(request, on_partial=on_partial)
    assert calls == [0, 1]


@pytest.mark.parametrize(
    ("fmt", "pil_format"), [("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")]
)
async def test_output_formats_decode(fmt: str, pil_format: str) -> None:
    request = GenerationRequest(prompt=PROMPT, size="640x480", output_format=fmt)
    result = await OfflineProvider().generate(request)
    image = _open(result.images[0].data)
    assert image.format == pil_format
    assert image.size == (640, 480)
    assert result.images[0].output_format == fmt


@pytest.mark.parametrize("fmt", ["png", "webp"])
async def test_transparent_background_has_alpha(fmt: str) -> None:
    request = GenerationRequest(
        prompt=PROMPT, size="256x256", output_format=fmt, background="transparent"
    )
    image = _open(await _one(request))
    assert image.mode == "RGBA"
    low, high = image.getchannel("A").getextrema()
    assert low == 0  # some pixels fully transparent
    assert high > 200  # the label and the shapes are (nearly) opaque


async def test_opaque_png_has_no_alpha() -> None:
    assert _open(await _one(GenerationRequest(prompt=PROMPT, size="128x128"))).mode == "RGB"


async def test_png_says_offline_in_a_text_chunk() -> None:
    image = _open(await _one(GenerationRequest(prompt=PROMPT, size="128x128")))
    assert image.text["Comment"] == PNG_COMMENT
    assert "OFFLINE" in image.text["Comment"]


def test_label_is_drawn_in_the_lower_left_corner() -> None:
    request = GenerationRequest(prompt=PROMPT, size="1024x1024")
    art = draw_artwork(request)
    labelled = add_label(art, PROMPT)
    margin, font_size, pad = label_box(*art.size)
    corner = (
        margin,
        art.height - margin - font_size - 2 * pad,
        art.width // 2,
        art.height - margin,
    )
    before, after = art.crop(corner), labelled.crop(corner)
    assert before.tobytes() != after.tobytes()
    # White text on a dark badge: both extremes are present in the corner.
    grey = after.convert("L")
    histogram = grey.histogram()
    assert sum(histogram[235:]) > 50
    assert sum(histogram[:60]) > 500
    # Nothing is drawn elsewhere, e.g. the top-right quarter.
    top_right = (art.width // 2, 0, art.width, art.height // 2)
    assert art.crop(top_right).tobytes() == labelled.crop(top_right).tobytes()


def test_label_text_names_offline_and_the_first_words() -> None:
    assert label_text(PROMPT) == "OFFLINE · a red fox in…"
    assert label_text("cat") == "OFFLINE · cat"
    assert label_text("") == "OFFLINE"
    assert label_text("🌸 東京") == "OFFLINE"  # the built-in font cannot draw these


async def test_generation_is_fast_enough() -> None:
    provider = OfflineProvider()
    request = GenerationRequest(prompt=PROMPT, size="1024x1024")
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        await provider.generate(request)
        timings.append(time.perf_counter() - started)
    # The target is well under 0.5 s; the bound is loose so a busy CI machine does not flake.
    assert sorted(timings)[1] < 1.0


async def test_event_loop_stays_responsive_while_drawing() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await OfflineProvider().generate(GenerationRequest(prompt=PROMPT, size="1536x1024", n=2))
    finally:
        task.cancel()
    assert ticks >= 3


async def test_cancellation_propagates() -> None:
    request = GenerationRequest(prompt=PROMPT, size="1024x1024", n=4)
    task = asyncio.create_task(OfflineProvider().generate(request))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_aclose_is_harmless() -> None:
    provider = OfflineProvider()
    await provider.aclose()
    await provider.aclose()


async def test_unknown_output_format_is_a_validation_error() -> None:
    with pytest.raises(GenerationError) as caught:
        await OfflineProvider().generate(GenerationRequest(prompt=PROMPT, output_format="gif"))
    assert caught.value.kind is ErrorKind.VALIDATION


async def test_offline_image_saves_through_the_store(tmp_path: Path) -> None:
    data = await _one(GenerationRequest(prompt=PROMPT, size="1536x1024"))
    store = ImageStore(tmp_path / "images")
    saved = store.save(1, data, "png", {"prompt": PROMPT}, datetime(2026, 1, 2))
    metadata = store.read_metadata(saved.path)
    assert metadata["prompt"] == PROMPT
    assert metadata["Comment"] == PNG_COMMENT  # the OFFLINE marker survives saving
