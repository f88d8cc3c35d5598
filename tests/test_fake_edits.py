"""``POST /v1/images/edits`` on the fake OpenAI server, through the real ``openai`` SDK.

The SDK builds the multipart body (``image`` / ``image[]`` / ``mask`` parts and text fields);
the fake parses it with the stdlib and checks it as the API does.
"""

from __future__ import annotations

import base64
import io
import threading

import openai
import pytest
from PIL import Image

from tests import test_fake_openai as generations
from tests.fakes import FakeOpenAIServer, Fault, Ok, fixtures
from tests.fakes import fake_openai as fake_module

# Explicit so this file also runs without tests/conftest.py registering the plugin.
fake_openai = fixtures.fake_openai
client = generations.client  # a sync SDK client without retries
_client = generations._client

MODEL = "gpt-image-1.5"
_MIMETYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def _picture(
    size: tuple[int, int], fmt: str = "PNG", *, mode: str = "RGB", name: str = "in"
) -> tuple[str, bytes, str]:
    """An upload as the SDK takes it: ``(filename, bytes, content type)``."""
    fill: tuple[int, ...] = (40, 90, 160, 0) if mode == "RGBA" else (40, 90, 160)
    buf = io.BytesIO()
    Image.new(mode, size, fill).save(buf, format=fmt)
    return f"{name}.{fmt.lower()}", buf.getvalue(), _MIMETYPES[fmt]


def _mask(size: tuple[int, int], *, mode: str = "RGBA") -> tuple[str, bytes, str]:
    """A mask: opaque, with a fully transparent square (the area to edit) when it has alpha."""
    img = Image.new(mode, size, (255, 255, 255, 255) if mode == "RGBA" else (255, 255, 255))
    if mode == "RGBA":
        img.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "mask.png", buf.getvalue(), "image/png"


def _decode(b64: str | None) -> Image.Image:
    assert b64
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


# --------------------------------------------------------------------------- success


def test_single_image_edit_records_fields_and_answers_images(
    fake_openai: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    source = _picture((300, 200))
    result = client.images.edit(
        image=source,
        prompt="paint the sky red",
        model=MODEL,
        n=2,
        size="1536x1024",
        quality="high",
        background="opaque",
        output_format="webp",
        output_compression=80,
        input_fidelity="high",
        user="user-123",
    )
    assert result.data is not None and len(result.data) == 2
    images = [_decode(d.b64_json) for d in result.data]
    assert all(img.format == "WEBP" and img.size == (64, 43) for img in images)
    assert (result.size, result.quality, result.output_format) == ("1536x1024", "high", "webp")
    assert result.usage is not None
    # input_fidelity=high doubles the per-image input tokens
    assert result.usage.input_tokens_details.image_tokens == 2 * 323
    assert result.usage.input_tokens_details.text_tokens == 4
    assert result.usage.input_tokens == 4 + 2 * 323
    assert result.safety_identifier == "user-123"

    rec = fake_openai.last_request
    assert rec.path == "/v1/images/edits" and rec.status == 200
    assert rec.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert fake_openai.edit_count == 1 and fake_openai.generation_count == 0
    # Text fields arrive as the strings the SDK sent; omitted ones are absent.
    assert rec.body == {
        "prompt": "paint the sky red",
        "model": MODEL,
        "n": "2",
        "size": "1536x1024",
        "quality": "high",
        "background": "opaque",
        "output_format": "webp",
        "output_compression": "80",
        "input_fidelity": "high",
        "user": "user-123",
    }
    assert rec.prompt == "paint the sky red"
    assert [f.field for f in rec.files] == ["image"]
    (upload,) = rec.images
    assert (upload.filename, upload.content_type, upload.format) == ("in.png", "image/png", "png")
    assert upload.data == source[1] and upload.nbytes == len(source[1])
    assert rec.image_sizes == [(300, 200)] and rec.mask is None and rec.mask_size is None


def test_edit_pictures_depend_on_the_inputs(client: openai.OpenAI) -> None:
    def edited(source: tuple[str, bytes, str]) -> bytes:
        result = client.images.edit(image=source, prompt="same prompt", model=MODEL)
        assert result.data is not None
        return base64.b64decode(result.data[0].b64_json or "")

    first = edited(_picture((32, 32)))
    assert edited(_picture((32, 32))) == first  # deterministic
    assert edited(_picture((48, 32))) != first
    generated = client.images.generate(prompt="same prompt", model=MODEL)
    assert generated.data is not None
    assert base64.b64decode(generated.data[0].b64_json or "") != first


def test_three_reference_images(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    refs = [
        _picture((64, 64), "PNG", name="a"),
        _picture((80, 40), "WEBP", name="b"),
        _picture((40, 80), "JPEG", name="c"),
    ]
    result = client.images.edit(image=refs, prompt="combine these three", model=MODEL)
    assert result.usage is not None
    assert result.usage.input_tokens_details.image_tokens == 3 * 323

    rec = fake_openai.last_request
    assert [f.field for f in rec.files] == ["image[]"] * 3
    assert [i.format for i in rec.images] == ["png", "webp", "jpeg"]
    assert [i.filename for i in rec.images] == ["a.png", "b.webp", "c.jpeg"]
    assert rec.image_sizes == [(64, 64), (80, 40), (40, 80)]
    assert [i.data for i in rec.images] == [r[1] for r in refs]


def test_sixteen_images_are_accepted(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    refs = [_picture((8, 8), name=f"r{i}") for i in range(16)]
    client.images.edit(image=refs, prompt="a collage", model=MODEL)
    assert len(fake_openai.last_request.images) == 16


def test_masked_edit_checks_size_and_alpha(
    fake_openai: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    result = client.images.edit(
        image=[_picture((96, 64)), _picture((30, 30))],
        mask=_mask((96, 64)),
        prompt="a pool in the transparent corner",
        model=MODEL,
    )
    assert result.data is not None and len(result.data) == 1
    rec = fake_openai.last_request
    assert [f.field for f in rec.files] == ["image[]", "image[]", "mask"]
    assert rec.mask is not None
    assert (rec.mask.format, rec.mask.mode, rec.mask.has_alpha) == ("png", "RGBA", True)
    assert rec.mask_size == (96, 64) == rec.image_sizes[0]


def test_mask_of_another_size_is_a_bad_request(
    fake_openai: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(image=_picture((96, 64)), mask=_mask((64, 64)), prompt="x", model=MODEL)
    assert info.value.status_code == 400
    assert info.value.param == "mask"
    assert info.value.code == "invalid_mask_size"
    assert info.value.type == "invalid_request_error"
    assert "mask size (64x64) does not match image size (96x64)" in info.value.message
    rec = fake_openai.last_request
    assert rec.status == 400 and rec.mask_size == (64, 64)


def test_mask_must_be_png_with_alpha(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(
            image=_picture((32, 32)), mask=_mask((32, 32), mode="RGB"), prompt="x", model=MODEL
        )
    assert info.value.param == "mask"
    assert "alpha channel" in info.value.message

    webp_mask = _picture((32, 32), "WEBP", mode="RGBA", name="mask")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(image=_picture((32, 32)), mask=webp_mask, prompt="x", model=MODEL)
    assert info.value.param == "mask"
    assert "must be a valid PNG" in info.value.message


# --------------------------------------------------------------------------- rejections


def test_seventeen_images_are_a_bad_request(
    fake_openai: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    refs = [_picture((8, 8), name=f"r{i}") for i in range(17)]
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(image=refs, prompt="too many", model=MODEL)
    assert info.value.param == "image"
    assert info.value.code == "array_above_max_length"
    assert "maximum length 16, but got an array with length 17" in info.value.message
    assert len(fake_openai.last_request.images) == 17


def test_image_content_is_checked_by_magic_bytes(client: openai.OpenAI) -> None:
    fake_png = ("in.png", b"GIF89a not really a png", "image/png")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(image=[_picture((8, 8)), fake_png], prompt="x", model=MODEL)
    assert info.value.param == "image" and info.value.code == "invalid_image_format"
    assert "image 2" in info.value.message


def test_bare_bytes_are_refused_for_their_mimetype(client: openai.OpenAI) -> None:
    """The SDK labels bytes without a filename ``application/octet-stream``; so does the
    API's refusal (seen in the wild), so an app must send ``(name, bytes, type)``."""
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(image=_picture((8, 8))[1], prompt="x", model=MODEL)
    assert info.value.param == "image"
    assert "unsupported mimetype ('application/octet-stream')" in info.value.message


def test_images_of_50_mb_are_refused(
    monkeypatch: pytest.MonkeyPatch, client: openai.OpenAI
) -> None:
    source = _picture((64, 64))
    monkeypatch.setattr(fake_module, "MAX_IMAGE_BYTES", len(source[1]))  # not 50 MB of upload
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(image=source, prompt="x", model=MODEL)
    assert info.value.code == "image_too_large" and "less than 50 MB" in info.value.message


def test_prompt_and_image_are_required(fake_openai: FakeOpenAIServer) -> None:
    with _client(fake_openai) as c, pytest.raises(openai.BadRequestError) as info:
        c.images.edit(image=_picture((8, 8)), prompt="", model=MODEL)
    assert info.value.param == "prompt" and info.value.code == "missing_required"

    with _client(fake_openai) as c, pytest.raises(openai.BadRequestError) as info:
        c.post(
            "/images/edits",
            body={"prompt": "no image"},
            cast_to=object,
            options={"headers": {"Content-Type": "multipart/form-data"}},
        )
    assert info.value.param == "image" and info.value.code == "missing_required"


def test_json_body_is_refused(fake_openai: FakeOpenAIServer) -> None:
    with _client(fake_openai) as c, pytest.raises(openai.BadRequestError) as info:
        c.post("/images/edits", body={"prompt": "x", "image": "abc"}, cast_to=object)
    assert "expected multipart/form-data" in info.value.message


# --------------------------------------------------------------------------- streaming


def test_streamed_edit_partials_then_completed(
    fake_openai: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    stream = client.images.edit(
        image=[_picture((64, 64)), _picture((32, 32))],
        mask=_mask((64, 64)),
        prompt="a streamed edit",
        model=MODEL,
        stream=True,
        partial_images=2,
    )
    events = list(stream)
    assert [e.type for e in events] == [
        "image_edit.partial_image",
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    partials, completed = events[:2], events[2]
    assert [p.partial_image_index for p in partials if p.type == "image_edit.partial_image"] == [
        0,
        1,
    ]
    assert completed.type == "image_edit.completed"
    assert _decode(completed.b64_json).size == (64, 64)
    assert completed.usage.input_tokens_details.image_tokens == 2 * 323
    assert completed.usage.output_tokens == 272 + 2 * 100
    rec = fake_openai.last_request
    assert rec.body is not None and rec.body["stream"] == "true"
    assert rec.body["partial_images"] == "2"


def test_stream_with_n_above_one_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(
            image=_picture((8, 8)), prompt="x", model=MODEL, n=2, stream=True, partial_images=1
        )
    assert info.value.param == "n"


# --------------------------------------------------------------------------- faults


def test_rate_limit_then_success_with_retries(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(Fault.rate_limit(retry_after_ms=10), Ok())
    refs = [_picture((16, 16)), _picture((24, 24))]
    with _client(fake_openai, max_retries=1) as c:
        result = c.images.edit(image=refs, prompt="retried edit", model=MODEL)
    assert result.data is not None and len(result.data) == 1
    first, second = fake_openai.edit_requests
    assert [first.status, second.status] == [429, 200]
    assert second.headers.get("x-stainless-retry-count") == "1"
    # The retry carries the whole multipart body again.
    assert first.image_sizes == second.image_sizes == [(16, 16), (24, 24)]
    assert fake_openai.pending == 0


def test_rate_limit_without_retries_raises(
    fake_openai: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    fake_openai.script(Fault.rate_limit(retry_after_ms=10))
    with pytest.raises(openai.RateLimitError) as info:
        client.images.edit(image=_picture((8, 8)), prompt="x", model=MODEL)
    assert info.value.code == "rate_limit_exceeded"
    assert fake_openai.edit_count == 1


def test_script_is_shared_with_generations_in_arrival_order(
    fake_openai: FakeOpenAIServer, client: openai.OpenAI
) -> None:
    fake_openai.script(Ok(), Fault.server_error(503))
    client.images.generate(prompt="first", model=MODEL)
    with pytest.raises(openai.InternalServerError):
        client.images.edit(image=_picture((8, 8)), prompt="second", model=MODEL)
    assert [r.status for r in fake_openai.requests] == [200, 503]


def test_cut_stream_of_an_edit(fake_openai: FakeOpenAIServer, client: openai.OpenAI) -> None:
    fake_openai.script(Fault.truncated_stream(partials=1, abort=True))
    stream = client.images.edit(
        image=_picture((8, 8)), prompt="x", model=MODEL, stream=True, partial_images=2
    )
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for event in stream:
            seen.append(event.type)
    assert seen == ["image_edit.partial_image"]


def test_edits_count_in_flight_and_can_be_held(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.hold_answers()
    done = threading.Event()

    def send() -> None:
        with _client(fake_openai) as c:
            c.images.edit(image=_picture((8, 8)), prompt="held", model=MODEL)
        done.set()

    worker = threading.Thread(target=send)
    worker.start()
    try:
        assert fake_openai.wait_in_flight(1)
        assert not done.is_set()
    finally:
        fake_openai.release_answers()
        worker.join(timeout=5)
    assert done.is_set() and fake_openai.in_flight == 0
