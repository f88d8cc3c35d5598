"""Metadata other tools read: A1111 ``parameters`` in PNGs, EXIF/XMP in JPEG and WebP.

Real readers: sd-parsers (what Civitai-like tools and galleries use) and Pillow. JPEG and WebP
get their metadata without re-encoding: the image data bytes are compared with what the
provider sent.
"""

from __future__ import annotations

import io
import json
import struct
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sd_parsers
from PIL import Image

from dalletui.generation import metadata
from dalletui.generation.files import ImageStore, sidecar_path
from dalletui.services.image_sources import find_prompt, parse_parameters, split_settings
from tests.fixtures_images import jpeg, pixels, user_comment_exif, webp

CREATED = datetime(2026, 11, 5, 14, 30, tzinfo=UTC)
PROMPT = "A café on Mars 🚀 — «naïve» 東京, with a comma: and a colon"
FIELDS = {
    "prompt": PROMPT,
    "model": "gpt-image-1-mini",
    "size": "1536x1024",
    "quality": "high",
    "provider": "openai",
}


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def _bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _alpha(size: tuple[int, int] = (120, 80)) -> Image.Image:
    image = pixels(size=size).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize(size))
    return image


# -- PNG ----------------------------------------------------------------------------------------


def test_sd_parsers_reads_the_prompt_and_model_of_a_dalletui_png(store: ImageStore) -> None:
    saved = store.save(1, _bytes(pixels(), "PNG"), "png", FIELDS, CREATED)
    info = sd_parsers.ParserManager().parse(saved.path)
    assert info is not None
    assert info.generator is sd_parsers.data.Generators.AUTOMATIC1111
    assert info.full_prompt == PROMPT
    assert [model.name for model in info.models] == ["gpt-image-1-mini"]
    (sampler,) = info.samplers
    assert sampler.name == "OpenAI Images API"
    assert sampler.parameters["seed"] == "-1"  # A1111's "random": the API takes no seed


def test_png_keeps_its_own_chunks_and_adds_parameters_and_software(store: ImageStore) -> None:
    saved = store.save(2, _bytes(pixels(), "PNG"), "png", {**FIELDS, "seed": "77"}, CREATED)
    with Image.open(saved.path) as image:
        text = dict(image.text)
    assert {key: text[key] for key in FIELDS} == FIELDS  # the existing chunks are all there
    assert text["Software"] == metadata.GENERATOR
    prompt, line = text["parameters"].rsplit("\n", 1)
    assert prompt == PROMPT
    assert line == (
        "Steps: 1, Sampler: OpenAI Images API, Seed: 77, Size: 96x64, "
        f"Model: gpt-image-1-mini, Quality: high, Provider: openai, Generator: {metadata.GENERATOR}"
    )
    assert "parameters" not in store.read_metadata(saved.path)  # our own fields only
    raw = saved.path.read_bytes()
    assert raw.count(b"parameters\x00") == 1 and b"parameters\x00\x00\x00" in raw  # uncompressed


def test_the_settings_line_parses_back_whatever_the_values_hold() -> None:
    fields = {**FIELDS, "model": "odd, model: name\nwith lines", "provider": "offline"}
    text = metadata.parameters_text(fields, 1024, 1536)
    prompt, negative, pairs = parse_parameters(text)
    settings = dict(pairs)
    assert prompt == PROMPT and negative == ""
    assert settings["Model"] == "odd model name with lines"
    assert settings["Sampler"] == "dalletui offline drawing"
    assert settings["Size"] == "1024x1536" and settings["Steps"] == "1"
    assert text.splitlines()[-1].startswith("Steps: 1, ")  # Civitai looks for this line
    found = find_prompt({"parameters": text})
    assert found.source == "dalletui" and found.prompt == PROMPT


def test_split_settings_handles_quotes_and_is_linear_on_hostile_lines() -> None:
    assert split_settings('A: 1, Lora hashes: "x: 1, y: 2", B: two') == [
        ("A", "1"),
        ("Lora hashes", "x: 1, y: 2"),
        ("B", "two"),
    ]
    hostile = "a" * 200_000 + ":" + '"' * 1000 + "," * 5000
    assert isinstance(split_settings(hostile), list)  # returns at once, no backtracking


# -- JPEG ---------------------------------------------------------------------------------------


def _segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of the segments before the image data."""
    found = []
    pos = 2
    while data[pos + 1] in range(0xE0, 0xF0) or data[pos + 1] == 0xFE:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        found.append((data[pos + 1], data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return found


def test_jpeg_gets_exif_and_xmp_without_re_encoding(store: ImageStore) -> None:
    data = jpeg()
    saved = store.save(3, data, "jpeg", FIELDS, CREATED)
    out = saved.path.read_bytes()
    assert metadata.jpeg_image_data(out) == metadata.jpeg_image_data(data)  # byte for byte
    assert out.endswith(metadata.jpeg_image_data(data))
    assert not sidecar_path(saved.path).exists()
    markers = [(marker, payload[:6]) for marker, payload in _segments(out)]
    assert markers[0] == (0xE0, b"JFIF\x00\x01")  # JFIF stays first
    assert markers[1] == (0xE1, b"Exif\x00\x00")
    assert _segments(out)[2][1].startswith(b"http://ns.adobe.com/xap/1.0/\x00")
    with Image.open(saved.path) as image:
        exif = image.getexif()
        assert exif[0x0131] == metadata.GENERATOR
        comment = exif.get_ifd(0x8769)[0x9286]
        assert metadata.decode_user_comment(comment) == metadata.parameters_text(FIELDS, 96, 64)
        assert image.tobytes() == Image.open(io.BytesIO(data)).tobytes()
    assert store.read_metadata(saved.path)["prompt"] == PROMPT


def test_sd_parsers_reads_dalletui_jpeg_and_webp(store: ImageStore) -> None:
    for number, (data, fmt) in enumerate([(jpeg(), "jpeg"), (webp(), "webp")], start=4):
        saved = store.save(number, data, fmt, FIELDS, CREATED)
        info = sd_parsers.ParserManager().parse(saved.path)
        assert info is not None and info.full_prompt == PROMPT, fmt
        assert [model.name for model in info.models] == ["gpt-image-1-mini"]


def test_xmp_is_well_formed_and_holds_every_field(store: ImageStore) -> None:
    hostile = {**FIELDS, "prompt": "a <b>&amp; \x1b[31mred\x07 fox ]]> \u202e", "revised": "ok"}
    saved = store.save(6, jpeg(), "jpeg", hostile, CREATED)
    packet = metadata.embedded_xmp(saved.path.read_bytes(), "JPEG")
    assert packet is not None
    root = ET.fromstring(packet.decode("utf-8").split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    ns = {
        "dc": "http://purl.org/dc/elements/1.1/",
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "d": metadata.DALLETUI_NS,
    }
    description = root.find(".//dc:description/rdf:Alt/rdf:li", ns)
    assert description is not None and description.text == "a <b>&amp; [31mred fox ]]> "
    fields_text = root.find(".//d:fields", ns)
    assert fields_text is not None
    assert json.loads(fields_text.text or "")["revised"] == "ok"
    assert store.read_metadata(saved.path)["prompt"] == "a <b>&amp; [31mred fox ]]> "


def test_an_earlier_exif_is_replaced_and_its_orientation_kept(store: ImageStore) -> None:
    earlier = Image.Exif()
    earlier[0x0112] = 6
    earlier[0x0131] = "camera firmware"
    data = jpeg(earlier.tobytes())
    saved = store.save(7, data, "jpeg", FIELDS, CREATED)
    out = saved.path.read_bytes()
    exif_segments = [p for m, p in _segments(out) if m == 0xE1 and p.startswith(b"Exif")]
    assert len(exif_segments) == 1
    with Image.open(saved.path) as image:
        assert image.getexif()[0x0112] == 6
        assert image.getexif()[0x0131] == metadata.GENERATOR
    assert metadata.jpeg_image_data(out) == metadata.jpeg_image_data(data)


def test_a_prompt_too_long_for_a_segment_is_cut_inside_and_kept_whole_beside(
    store: ImageStore,
) -> None:
    long_prompt = "東京の夜景、ネオン、雨 🌧 " * 2500  # ~35,000 characters, ~90 KB of UTF-8
    fields = {**FIELDS, "prompt": long_prompt}
    data = jpeg()
    saved = store.save(8, data, "jpeg", fields, CREATED)
    out = saved.path.read_bytes()
    assert metadata.jpeg_image_data(out) == metadata.jpeg_image_data(data)
    assert all(len(payload) <= 65_533 for _, payload in _segments(out))
    assert sidecar_path(saved.path).exists()  # the whole prompt is kept beside the image
    assert store.read_metadata(saved.path)["prompt"] == metadata.clean(long_prompt)
    with Image.open(saved.path) as image:
        comment = metadata.decode_user_comment(image.getexif().get_ifd(0x8769)[0x9286]) or ""
        assert comment.splitlines()[-1].startswith("Steps: 1, ")  # the settings line survives
        assert len(comment) < len(long_prompt)


# -- WebP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "first_chunk", "alpha"),
    [
        (lambda: _bytes(pixels(), "WEBP", quality=80), b"VP8 ", False),
        (lambda: _bytes(_alpha(), "WEBP", lossless=True), b"VP8L", True),
        (lambda: _bytes(_alpha(), "WEBP", quality=80), b"VP8X", True),  # ALPH + VP8 already
    ],
    ids=["lossy", "lossless-alpha", "extended"],
)
def test_webp_gets_exif_and_xmp_chunks_with_image_chunks_unchanged(
    store: ImageStore, make, first_chunk: bytes, alpha: bool
) -> None:
    data = make()
    assert metadata.webp_chunks(data)[0][0] == first_chunk
    saved = store.save(9, data, "webp", FIELDS, CREATED)
    out = saved.path.read_bytes()
    assert not sidecar_path(saved.path).exists()
    assert metadata.webp_image_chunks(out) == metadata.webp_image_chunks(data)  # byte for byte
    chunks = metadata.webp_chunks(out)  # also checks the RIFF size
    assert [c for c, _ in chunks][0] == b"VP8X" and [c for c, _ in chunks][-2:] == [
        b"EXIF",
        b"XMP ",
    ]
    vp8x = chunks[0][1]
    flags = vp8x[8]
    assert flags & 0x08 and flags & 0x04  # EXIF and XMP flags
    assert bool(flags & 0x10) is alpha
    width = int.from_bytes(vp8x[12:15], "little") + 1
    height = int.from_bytes(vp8x[15:18], "little") + 1
    with Image.open(io.BytesIO(data)) as original, Image.open(saved.path) as image:
        assert (width, height) == image.size == original.size
        assert image.tobytes() == original.tobytes()
        assert isinstance(image.info["exif"], bytes)
        assert image.getexif()[0x0131] == metadata.GENERATOR
        comment = image.getexif().get_ifd(0x8769)[0x9286]
        assert metadata.decode_user_comment(comment).startswith(PROMPT)
        assert b"dalletui:fields" in image.info["xmp"]
    assert store.read_metadata(saved.path) == {
        **FIELDS,
        "generation_id": "9",
        "created": CREATED.isoformat(),
    }


def test_a_webp_whose_structure_is_not_understood_keeps_its_bytes_and_a_sidecar(
    store: ImageStore,
) -> None:
    data = _bytes(pixels(), "WEBP") + b"trailing junk"  # RIFF size no longer matches
    saved = store.save(10, data, "webp", FIELDS, CREATED)
    assert saved.path.read_bytes() == data
    assert json.loads(sidecar_path(saved.path).read_text(encoding="utf-8"))["prompt"] == PROMPT
    assert store.needs_sidecar(saved.path) is False  # it has one


def test_needs_sidecar_for_an_older_jpeg_without_metadata(
    store: ImageStore, tmp_path: Path
) -> None:
    plain = tmp_path / "old.jpg"
    plain.write_bytes(jpeg())
    assert store.needs_sidecar(plain)
    assert store.read_metadata(plain) == {}


# -- reading ------------------------------------------------------------------------------------


def test_user_comment_in_either_byte_order_and_ascii() -> None:
    text = "a duck\nSteps: 20, Sampler: Euler, Seed: 1"
    assert metadata.decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-be")) == text
    assert metadata.decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-le")) == text
    assert metadata.decode_user_comment(b"ASCII\x00\x00\x00" + text.encode()) == text
    assert metadata.decode_user_comment(b"UNICODE\x00") is None


def test_embedded_text_of_an_a1111_jpeg(tmp_path: Path) -> None:
    data = jpeg(user_comment_exif("a duck\nSteps: 2, Sampler: Euler, Seed: 3", Software="x"))
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        fields = metadata.embedded_text(image, data)
    assert fields["parameters"].startswith("a duck\n") and fields["Software"] == "x"


def test_dalletui_fields_never_expands_entities() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<dalletui:fields>{&quot;prompt&quot;: &quot;&b;&quot;}</dalletui:fields>"
    )
    assert metadata.dalletui_fields(bomb) == {"prompt": "&b;"}  # left as text, not expanded
    assert metadata.dalletui_fields(b"<dalletui:fields>[1, 2]</dalletui:fields>") is None
    assert metadata.dalletui_fields(b"no fields here") is None
