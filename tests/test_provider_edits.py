"""Edits (issue 14) in the generation layer: ``EditRequest``, its catalogue validation, the
OpenAI provider's ``images.edit`` through the real SDK against the fake server, the cost from
usage (input image tokens priced) and the offline provider's masked edit.

A refused edit must not reach the fake at all: ``edit_count`` stays 0.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from dalletui.errors import ValidationError
from dalletui.generation.catalog import ModelCatalog, catalog
from dalletui.generation.pricing import compute_cost, estimate_edit_cost
from dalletui.generation.providers.offline import OfflineProvider, label_rect
from dalletui.generation.providers.openai_provider import OpenAIProvider
from dalletui.generation.request import validate_edit_request
from dalletui.generation.retry import RetryPolicy, RetryWait
from dalletui.generation.types import EditImage, EditRequest, Usage
from tests.fakes import FakeOpenAIServer, Fault, Ok

FAST = RetryPolicy(max_retries=3, max_total_wait=5.0, base_delay=0.01, max_delay=0.04, jitter=0)
BOUND_S = 10.0


def picture(
    size: tuple[int, int], fmt: str = "PNG", *, name: str = "in", colour=(40, 90, 160)
) -> EditImage:
    buf = io.BytesIO()
    img = Image.new("RGB", size, colour)
    # Some structure, so an altered copy differs visibly and an unchanged pixel means something.
    for x in range(0, size[0], 7):
        for y in range(size[1]):
            img.putpixel((x, y), (200, 180, 20))
    img.save(buf, format=fmt)
    return EditImage(f"{name}.{fmt.lower()}", buf.getvalue())


def mask(size: tuple[int, int], hole: tuple[int, int, int, int]) -> EditImage:
    """Opaque, with the fully transparent rectangle ``hole`` (the area to edit)."""
    img = Image.new("RGBA", size, (255, 255, 255, 255))
    img.paste((0, 0, 0, 0), hole)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return EditImage("mask.png", buf.getvalue())


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.fixture
async def provider(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    made = OpenAIProvider("sk-test", base_url=fake_openai.base_url, timeout=5.0, retry_policy=FAST)
    yield made
    await made.aclose()


async def bounded(awaitable):
    return await asyncio.wait_for(awaitable, BOUND_S)


# --------------------------------------------------------------------------- the request type


def test_edit_request_takes_paths_pairs_and_images(tmp_path: Path) -> None:
    source = picture((32, 32))
    path = tmp_path / "photo.png"
    path.write_bytes(source.data)
    request = EditRequest(
        prompt="x", images=[path, ("b.png", source.data), source], mask=("m.png", b"")
    )
    assert [i.name for i in request.images] == ["photo.png", "b.png", "in.png"]
    assert all(i.data == source.data for i in request.images)
    assert request.mask == EditImage("m.png", b"")
    assert EditRequest(prompt="x", images=path).images[0].name == "photo.png"  # one, alone
    assert source.upload() == ("in.png", source.data, "image/png")
    params = request.params()
    json.dumps(params)  # storable: inputs are described, never embedded
    assert params["images"][0]["bytes"] == len(source.data)
    assert request.options().params().keys() < params.keys()
    with pytest.raises(ValidationError, match=r"^Cannot read the image .*missing\.png"):
        EditRequest(prompt="x", images=[tmp_path / "missing.png"])


def test_catalogue_edit_capabilities() -> None:
    cat = catalog()
    fidelity = {s.name: s.edits.input_fidelity for s in cat.current()}
    assert fidelity["gpt-image-1.5"] == ("low", "high")
    assert fidelity["gpt-image-1-mini"] == ("low",)
    assert fidelity["gpt-image-2"] == () == fidelity["gpt-image-2-2026-04-21"]
    markup = [s.name for s in cat.current() if s.edits.markup]
    assert markup == [
        "gpt-image-2.5-sunburst",
        "gpt-image-2.5-sunburst-2026-09-08",
        "gpt-image-2.5-flare",
        "gpt-image-2.5-flare-2026-09-08",
    ]
    assert all(s.edits.supported and s.edits.max_images == 16 for s in cat.current())
    assert not cat.get("dall-e-2").edits.supported  # type: ignore[union-attr]


# --------------------------------------------------------------------------- through the SDK


async def test_single_image_edit(fake_openai: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    source = picture((96, 64))
    request = EditRequest(
        prompt="paint the sky red",
        model="gpt-image-1.5",
        images=(source,),
        input_fidelity="high",
        size="1536x1024",
        quality="high",
        output_format="webp",
        output_compression=80,
    )
    result = await bounded(provider.edit(request))
    assert len(result.images) == 1 and decode(result.images[0].data).format == "WEBP"
    assert result.request_id == fake_openai.last_request.request_id
    assert fake_openai.edit_count == 1 and fake_openai.generation_count == 0
    rec = fake_openai.last_request
    assert rec.body == {
        "prompt": "paint the sky red",
        "model": "gpt-image-1.5",
        "n": "1",
        "size": "1536x1024",
        "quality": "high",
        "output_format": "webp",
        "output_compression": "80",
        "background": "auto",
        "input_fidelity": "high",
    }
    (upload,) = rec.images
    assert [f.field for f in rec.files] == ["image"]
    assert (upload.filename, upload.content_type, upload.data) == (
        "in.png",
        "image/png",
        source.data,
    )
    assert result.usage == Usage(
        input_text_tokens=4, input_image_tokens=2 * 323, output_image_tokens=272
    )


async def test_three_references_keep_names_and_content_types(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    refs = (
        picture((64, 64), "PNG", name="a"),
        picture((80, 40), "WEBP", name="b"),
        picture((40, 80), "JPEG", name="c"),
    )
    request = EditRequest(prompt="combine these three", model="gpt-image-2", images=refs, n=2)
    result = await bounded(provider.edit(request))
    assert len(result.images) == 2
    rec = fake_openai.last_request
    assert [f.field for f in rec.files] == ["image[]"] * 3
    assert [(i.filename, i.content_type) for i in rec.images] == [
        ("a.png", "image/png"),
        ("b.webp", "image/webp"),
        ("c.jpeg", "image/jpeg"),
    ]
    assert [i.data for i in rec.images] == [r.data for r in refs]
    assert "input_fidelity" not in rec.body  # omitted for gpt-image-2
    assert result.usage is not None and result.usage.input_image_tokens == 3 * 323


async def test_masked_edit_sends_the_mask(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    request = EditRequest(
        prompt="a pool in the corner",
        model="gpt-image-1-mini",
        images=(picture((96, 64)), picture((30, 30), name="ref")),
        mask=mask((96, 64), (0, 0, 48, 32)),
        input_fidelity="low",
    )
    await bounded(provider.edit(request))
    rec = fake_openai.last_request
    assert [f.field for f in rec.files] == ["image[]", "image[]", "mask"]
    assert rec.mask is not None and rec.mask.content_type == "image/png"
    assert rec.mask_size == (96, 64) and rec.status == 200


async def test_streamed_edit_reports_partials(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    partials: list[tuple[int, tuple[int, int]]] = []

    async def on_partial(index: int, data: bytes) -> None:
        partials.append((index, decode(data).size))

    request = EditRequest(
        prompt="a streamed edit",
        model="gpt-image-1.5",
        images=(picture((64, 64)),),
        mask=mask((64, 64), (8, 8, 40, 40)),
        partial_images=2,
    )
    result = await bounded(provider.edit(request, on_partial=on_partial))
    assert [index for index, _ in partials] == [0, 1]
    assert len(result.images) == 1 and decode(result.images[0].data).size == (64, 64)
    assert result.usage is not None and result.usage.input_image_tokens == 323
    rec = fake_openai.last_request
    assert rec.body["stream"] == "true" and rec.body["partial_images"] == "2"
    assert fake_openai.edit_count == 1


async def test_generate_given_an_edit_request_edits(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    request = EditRequest(prompt="x", model="gpt-image-1.5", images=(picture((16, 16)),))
    await bounded(provider.generate(request))
    assert fake_openai.edit_count == 1 and fake_openai.generation_count == 0


# --------------------------------------------------------------------------- retries


async def test_rate_limited_edit_is_resent_whole(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after_ms=10), Ok())
    waits: list[RetryWait] = []
    refs = (picture((16, 16)), picture((24, 24), name="b"))
    request = EditRequest(prompt="retried", model="gpt-image-1.5", images=refs)
    result = await bounded(provider.edit(request, on_wait=waits.append))
    assert len(result.images) == 1 and len(waits) == 1
    first, second = fake_openai.edit_requests
    assert [first.status, second.status] == [429, 200]
    assert [i.data for i in first.images] == [i.data for i in second.images]


async def test_cut_stream_of_an_edit_is_one_post_possibly_billed(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    from dalletui.errors import GenerationError

    fake_openai.script(Fault.truncated_stream(partials=1, abort=True))
    request = EditRequest(
        prompt="x", model="gpt-image-1.5", images=(picture((16, 16)),), partial_images=2
    )
    with pytest.raises(GenerationError) as info:
        await bounded(provider.edit(request))
    assert info.value.possibly_billed and fake_openai.edit_count == 1
    assert "stream broke off" in str(info.value)


async def test_server_error_on_an_edit_is_not_resent(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    from dalletui.errors import GenerationError

    fake_openai.script(Fault.server_error(500))
    request = EditRequest(prompt="x", model="gpt-image-1.5", images=(picture((16, 16)),))
    with pytest.raises(GenerationError) as info:
        await bounded(provider.edit(request))
    assert info.value.possibly_billed and fake_openai.edit_count == 1


# --------------------------------------------------------------------------- refused, unsent


def _no_edits_for(model: str) -> ModelCatalog:
    """The packaged catalogue with ``model`` unable to edit."""
    text = resources.files("dalletui.generation").joinpath("catalog.json").read_text("utf-8")
    data = json.loads(text, parse_float=Decimal)
    for entry in data["models"]:
        if entry["name"] == model:
            entry["edits"] = {"supported": False}
    return ModelCatalog.from_data(data)


async def refused(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider, request: EditRequest
) -> list[str]:
    with pytest.raises(ValidationError) as info:
        await bounded(provider.edit(request))
    assert fake_openai.edit_count == 0 and fake_openai.requests == []
    assert all(p.endswith(".") and p.count(". ") == 0 for p in info.value.problems)
    return info.value.problems


async def test_refused_model_that_cannot_edit(fake_openai: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(
        "sk-test",
        base_url=fake_openai.base_url,
        retry_policy=FAST,
        model_catalog=_no_edits_for("gpt-image-2.6-flare"),
    )
    request = EditRequest(prompt="x", model="gpt-image-2.6-flare", images=(picture((8, 8)),))
    problems = await refused(fake_openai, provider, request)
    assert problems[0].startswith("gpt-image-2.6-flare cannot edit images; choose gpt-image-1-mini")
    await provider.aclose()


async def test_refused_retired_model(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    request = EditRequest(prompt="x", model="dall-e-2", images=(picture((8, 8)),))
    assert await refused(fake_openai, provider, request) == [
        "dall-e-2 was retired on 2026-05-12; use gpt-image-1-mini."
    ]


async def test_refused_fidelity_on_a_model_without_it(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    images = (picture((8, 8)),)
    request = EditRequest(prompt="x", model="gpt-image-2", images=images, input_fidelity="low")
    assert await refused(fake_openai, provider, request) == [
        "gpt-image-2 does not take input fidelity; leave it unset."
    ]
    request = EditRequest(
        prompt="x", model="gpt-image-1-mini", images=images, input_fidelity="high"
    )
    assert await refused(fake_openai, provider, request) == [
        "Input fidelity 'high' is not available for gpt-image-1-mini; choose low or leave it unset."
    ]


async def test_refused_mask_size_mismatch(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    request = EditRequest(
        prompt="x",
        model="gpt-image-1.5",
        images=(picture((96, 64)),),
        mask=mask((64, 64), (0, 0, 8, 8)),
    )
    assert await refused(fake_openai, provider, request) == [
        "The mask ('mask.png') is 64x64 but the first image is 96x64; they must be the same size."
    ]


async def test_refused_seventeen_images(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    refs = tuple(picture((8, 8), name=f"r{i}") for i in range(17))
    request = EditRequest(prompt="x", model="gpt-image-1.5", images=refs)
    assert await refused(fake_openai, provider, request) == [
        "The edit has 17 input images; gpt-image-1.5 takes at most 16."
    ]


async def test_every_problem_is_reported_at_once(
    fake_openai: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    opaque = io.BytesIO()
    Image.new("RGB", (8, 8)).save(opaque, format="PNG")
    request = EditRequest(
        prompt="",
        model="gpt-image-1.5",
        images=(picture((8, 8)), ("anim.gif", gif.getvalue()), ("notes.txt", b"hello")),
        mask=("m.png", opaque.getvalue()),
        markup=("k.png", opaque.getvalue()),
        quality="ultra",
    )
    assert await refused(fake_openai, provider, request) == [
        "The prompt is empty; describe the image you want.",
        "Quality 'ultra' is not available for gpt-image-1.5; choose low, medium, high or auto.",
        "Input image 2 ('anim.gif') is a GIF file; input images must be PNG, WebP or JPEG.",
        "Input image 3 ('notes.txt') is not an image; input images must be PNG, WebP or JPEG.",
        "A mask and markup cannot be combined; send one of them.",
        "The mask ('m.png') has no alpha channel; it must be transparent where the image is to "
        "change.",
        "gpt-image-1.5 does not take markup (markup needs gpt-image-2.5-sunburst or "
        "gpt-image-2.5-flare); leave it out.",
    ]


def test_no_images_and_markup_checks() -> None:
    cat = catalog()
    with pytest.raises(ValidationError) as info:
        validate_edit_request(EditRequest(prompt="x", model="gpt-image-1.5"), cat)
    assert info.value.problems == ["An edit needs at least one input image."]
    overlay = io.BytesIO()
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(overlay, format="PNG")
    ok = EditRequest(
        prompt="x",
        model="gpt-image-2.5-flare",
        images=(picture((8, 8)),),
        markup=("k.png", overlay.getvalue()),
    )
    assert validate_edit_request(ok, cat) == []


# --------------------------------------------------------------------------- cost


async def test_cost_from_usage_prices_input_image_tokens(provider: OpenAIProvider) -> None:
    spec = catalog().get("gpt-image-1.5")
    refs = tuple(picture((16, 16), name=f"r{i}") for i in range(3))
    request = EditRequest(prompt="three into one", model="gpt-image-1.5", images=refs)
    result = await bounded(provider.edit(request))
    assert result.usage == Usage(
        input_text_tokens=3, input_image_tokens=3 * 323, output_image_tokens=272
    )
    cost = compute_cost(spec, result.usage, size="1024x1024", quality="auto", n=1)
    # text in 5, image in 8, image out 32 USD per 1M tokens
    expected = (Decimal(3) * 5 + Decimal(969) * 8 + Decimal(272) * 32) / 1_000_000
    assert cost == expected

    estimate = estimate_edit_cost(
        spec,
        size="1024x1024",
        quality="auto",
        n=2,
        input_images=3,
        typical_usage=Usage(input_text_tokens=3, output_image_tokens=272),
        image_tokens_per_input=323,
    )
    # inputs billed once, outputs twice
    assert estimate == expected + Decimal(272) * 32 / 1_000_000
    no_history = estimate_edit_cost(spec, size="1024x1024", quality="auto", n=1, input_images=3)
    assert no_history is None  # unknown stays unknown, never zero
    unpriced = catalog().get("gpt-image-2.6-flare")
    assert compute_cost(unpriced, result.usage, size="1024x1024", quality="auto", n=1) is None


# --------------------------------------------------------------------------- offline


async def test_offline_edit_changes_only_the_masked_region() -> None:
    size, hole = (160, 120), (40, 20, 120, 80)
    source = picture(size)
    request = EditRequest(
        prompt="a red balloon",
        images=(source,),
        mask=mask(size, hole),
        size="auto",
        partial_images=1,
    )
    partials: list[int] = []
    result = await OfflineProvider().edit(request, on_partial=lambda i, _d: partials.append(i))
    assert partials == [0] and result.extra["offline"] is True and result.usage is None
    (image,) = result.images
    assert image.applied["size"] == "160x120"
    edited = decode(image.data).convert("RGB")
    original = decode(source.data).convert("RGB")
    assert edited.size == original.size
    diff = ImageChops.difference(edited, original).convert("L").point(lambda v: 255 if v else 0)

    outside = Image.new("L", size, 255)
    outside.paste(0, hole)
    outside.paste(0, label_rect(size, request.prompt))  # the OFFLINE badge is always drawn
    assert ImageChops.multiply(diff, outside).getbbox() is None  # nothing changed outside
    inside = diff.crop(hole)
    changed = inside.histogram()[255]
    assert changed > 0.8 * inside.width * inside.height  # visibly altered inside
    assert diff.crop(label_rect(size, request.prompt)).getbbox() is not None  # labelled
    assert b"OFFLINE" in image.data  # the PNG comment chunk


async def test_offline_edit_without_a_mask_alters_everything_and_refuses_like_openai() -> None:
    source = picture((64, 64))
    provider = OfflineProvider()
    result = await provider.edit(EditRequest(prompt="night", images=(source,), size="1024x1024"))
    assert decode(result.images[0].data).size == (1024, 1024)
    same = await provider.edit(EditRequest(prompt="night", images=(source,), size="1024x1024"))
    assert same.images[0].data == result.images[0].data  # deterministic
    bad = EditRequest(prompt="x", images=(source,), mask=mask((32, 32), (0, 0, 8, 8)))
    with pytest.raises(ValidationError, match="must be the same size"):
        await provider.edit(bad)
