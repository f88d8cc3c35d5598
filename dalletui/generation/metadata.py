"""Metadata other tools read, written without re-encoding; and reading what other tools wrote.

Writing. dalletui's own fields (``prompt``, ``model``, ``size``, ...) go into every image:

- PNG (``files.py`` splices the chunks): dalletui's own text chunks, plus ``Software`` and an
  AUTOMATIC1111-style ``parameters`` chunk (``parameters_text``), which A1111's PNG Info,
  Civitai and ``sd-parsers`` read.
- JPEG: an APP1 EXIF segment (``ImageDescription``, ``Software``, ``DateTimeOriginal`` and a
  ``UserComment`` holding the same ``parameters`` text, UTF-16 as A1111 writes it) and an APP1
  XMP segment (``dc:description`` = the prompt, ``xmp:CreatorTool``, and ``dalletui:fields`` =
  every field as JSON), inserted after SOI/APP0. Everything from the first DQT/SOF on is the
  provider's bytes, unchanged. A JPEG segment holds at most 64 KB: text that does not fit is cut
  (``Embedded.complete`` is then False and ``files.py`` keeps the sidecar too).
- WebP: Pillow cannot add EXIF/XMP without re-encoding, so the RIFF chunks are written here: a
  simple ``VP8 ``/``VP8L`` file becomes ``VP8X`` (canvas size, EXIF and XMP flags, alpha flag
  from the VP8L header), the image chunk is kept byte for byte, ``EXIF`` and ``XMP `` chunks are
  appended and the RIFF size fixed.

Why the ``parameters`` line says ``Steps: 1, Sampler: …, Seed: …``: readers insist on it.
Civitai takes the settings line to be the one starting with ``Steps: ``; sd-parsers wants a
``Sampler`` and at least two more of its sampler keys on it; A1111 wants three ``Key: value``
pairs. A hosted model has no step count or sampler to report, so the values say what is true:
one request (``Steps: 1``), the provider that made the image (``Sampler: OpenAI Images API``)
and the seed, or ``-1`` (A1111's "random") where the provider takes none.

Lineage (``lineage_fields`` / ``read_lineage``): an edit or a variation also carries ``kind``
and ``parents``, a JSON list of what it was made from (``role``, and the parent's generation
``id`` and ``uid`` when it is one of ours, and the ``sha256`` of the bytes sent), so the chain
survives the file being copied out of dalletui. A file without them (every image saved before)
reads as a plain generation with no parents.

Reading (``embedded_text``): the text fields a file carries, flattened to one dict of strings,
each capped: PNG text chunks, EXIF ``UserComment`` (as ``parameters``), ``ImageDescription``,
``Software``, ``Make``/``Model`` (ComfyUI's WebP ``prompt:``/``workflow:``), the XMP packet and
dalletui's XMP fields. Interpreting them is ``services.image_sources``' job.
"""

from __future__ import annotations

import html
import io
import json
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from PIL import Image

from dalletui import __version__
from dalletui.textsafe import without_controls

GENERATOR = f"dalletui {__version__}"
#: What the XMP ``dalletui:`` prefix stands for.
DALLETUI_NS = "urn:dalletui:xmp:1.0/"
#: Any one field written into an image, at most (a prompt is at most 32,000 characters).
FIELD_MAX_CHARS = 40_000
#: Any one text read from a file, at most (a ComfyUI workflow can be a few megabytes).
READ_MAX_CHARS = 8_000_000
#: EXIF or XMP data read from a file, at most.
READ_MAX_BYTES = 8 * 1024 * 1024

_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
#: A JPEG segment's payload: 65,535 minus the two length bytes.
_SEGMENT_MAX = 65_533
_UNICODE = b"UNICODE\x00"

#: Providers as the ``Sampler`` value of the parameters line.
_SAMPLER_NAMES = {"openai": "OpenAI Images API", "offline": "dalletui offline drawing"}
#: Our own fields that go on the settings line, in order, under A1111-style key names.
_SETTINGS = (("quality", "Quality"), ("background", "Background"), ("provider", "Provider"))


@dataclass(frozen=True)
class Embedded:
    """An image with metadata inside; ``complete`` is False when some text had to be cut."""

    data: bytes
    complete: bool


def clean(value: object, limit: int = FIELD_MAX_CHARS) -> str:
    """Text safe to embed: no control characters (tab and newline kept), at most ``limit``."""
    text = without_controls(str(value)).replace("\x00", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _setting(value: object) -> str:
    """A value for the settings line: one line, no commas or colons (they separate pairs)."""
    text = re.sub(r"[\s,:]+", " ", clean(value, 200)).strip()
    return text or "unknown"


def parameters_text(fields: Mapping[str, str], width: int, height: int) -> str:
    """The AUTOMATIC1111 ``parameters`` text: the prompt, then one line of settings."""
    prompt = clean(fields.get("prompt", ""))
    provider = fields.get("provider", "")
    seed = str(fields.get("seed") or "").strip()
    pairs = [
        ("Steps", "1"),
        ("Sampler", _SAMPLER_NAMES.get(provider, provider or "unknown")),
        ("Seed", seed if re.fullmatch(r"-?\d{1,20}", seed) else "-1"),
        ("Size", f"{width}x{height}"),
        ("Model", fields.get("model", "")),
    ]
    pairs += [(label, fields[key]) for key, label in _SETTINGS if fields.get(key)]
    pairs.append(("Generator", GENERATOR))
    line = ", ".join(f"{key}: {_setting(value)}" for key, value in pairs)
    return f"{prompt}\n{line}"


# -- lineage -----------------------------------------------------------------------------------

#: The field names lineage is written under (beside ``prompt``, ``model``, ...).
KIND_FIELD = "kind"
PARENTS_FIELD = "parents"
#: Kinds a file may say (anything else reads as ``generate``).
_KINDS = ("generate", "edit", "variation")
_ROLES = ("image", "mask", "markup")
#: Parents read from one file, at most.
PARENTS_MAX = 32
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ParentRef:
    """One input an image was made from: ours (``id``, ``uid``) or an outside file (neither)."""

    role: str = "image"
    id: int | None = None
    uid: str | None = None
    sha256: str | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"role": self.role}
        for key in ("id", "uid", "sha256"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class Lineage:
    """How an image was made: ``generate`` (no parents), ``edit`` or ``variation``."""

    kind: str = "generate"
    parents: tuple[ParentRef, ...] = ()


def lineage_fields(kind: str, parents: Sequence[ParentRef] = ()) -> dict[str, str]:
    """The fields to add to an image's metadata; none for a plain generation."""
    if kind not in _KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if kind == "generate" and not parents:
        return {}
    listed = [parent.as_json() for parent in parents[:PARENTS_MAX]]
    return {
        KIND_FIELD: kind,
        PARENTS_FIELD: json.dumps(listed, ensure_ascii=True, separators=(",", ":")),
    }


def read_lineage(fields: Mapping[str, str]) -> Lineage:
    """The lineage dalletui's fields carry (``ImageStore.read_metadata``); a file without any,
    or with a damaged ``parents`` list, reads as a plain generation (or its kind alone)."""
    kind = fields.get(KIND_FIELD, "generate")
    kind = kind if kind in _KINDS else "generate"
    try:
        listed = json.loads(fields.get(PARENTS_FIELD) or "[]")
    except (ValueError, RecursionError):
        listed = []
    parents: list[ParentRef] = []
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, dict) or len(parents) >= PARENTS_MAX:
            continue
        role = item.get("role", "image")
        number = item.get("id")
        uid = item.get("uid")
        digest = item.get("sha256")
        parents.append(
            ParentRef(
                role=role if role in _ROLES else "image",
                id=number if type(number) is int and number > 0 else None,
                uid=uid if isinstance(uid, str) and _HEX32.match(uid) else None,
                sha256=digest if isinstance(digest, str) and _HEX64.match(digest) else None,
            )
        )
    return Lineage(kind, tuple(parents))


# -- EXIF (a small big-endian TIFF writer) ----------------------------------------------------

_ASCII, _SHORT, _LONG, _UNDEFINED = 2, 3, 4, 7


def _ascii(text: str, max_bytes: int) -> bytes:
    """An EXIF ASCII value: UTF-8 (what exiftool and most viewers read), cut, NUL-terminated."""
    raw = text.encode("utf-8")
    if len(raw) > max_bytes:
        raw = raw[:max_bytes].decode("utf-8", "ignore").encode("utf-8")
    return raw.replace(b"\x00", b"") + b"\x00"


def _user_comment(text: str) -> bytes:
    """EXIF UserComment as A1111 (piexif) writes it: ``UNICODE\\0`` then UTF-16 big-endian."""
    return _UNICODE + text.encode("utf-16-be", "replace")


def _ifd(entries: list[tuple[int, int, int, bytes]], offset: int) -> bytes:
    """One IFD at ``offset`` in the TIFF, its out-of-line values right after it."""
    table = [struct.pack(">H", len(entries))]
    data = bytearray()
    values_at = offset + 2 + 12 * len(entries) + 4
    for tag, kind, count, value in sorted(entries):
        if len(value) <= 4:
            table.append(struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\x00"))
        else:
            table.append(struct.pack(">HHII", tag, kind, count, values_at + len(data)))
            data += value
            if len(data) % 2:
                data += b"\x00"  # values start on word boundaries
    table.append(b"\x00\x00\x00\x00")  # no next IFD
    return b"".join(table) + bytes(data)


def exif_tiff(
    description: str,
    comment: str,
    created: datetime | None = None,
    orientation: int | None = None,
    *,
    description_bytes: int = 8_000,
) -> bytes:
    """A TIFF structure (big-endian) with IFD0 and an Exif IFD: what EXIF readers expect."""
    ifd0: list[tuple[int, int, int, bytes]] = []
    desc = _ascii(description, description_bytes)
    ifd0.append((0x010E, _ASCII, len(desc), desc))
    if orientation is not None and 1 <= orientation <= 8:
        ifd0.append((0x0112, _SHORT, 1, struct.pack(">H", orientation)))
    software = _ascii(GENERATOR, 100)
    ifd0.append((0x0131, _ASCII, len(software), software))
    exif: list[tuple[int, int, int, bytes]] = [(0x9000, _UNDEFINED, 4, b"0232")]
    if created is not None:
        stamp = _ascii(created.strftime("%Y:%m:%d %H:%M:%S"), 19)
        ifd0.append((0x0132, _ASCII, len(stamp), stamp))
        exif.append((0x9003, _ASCII, len(stamp), stamp))
        offset = created.strftime("%z")
        if offset:
            zone = _ascii(f"{offset[:3]}:{offset[3:5]}", 6)
            exif.append((0x9011, _ASCII, len(zone), zone))
    user = _user_comment(comment)
    exif.append((0x9286, _UNDEFINED, len(user), user))
    placeholder = (0x8769, _LONG, 1, b"\x00\x00\x00\x00")
    first = _ifd([*ifd0, placeholder], 8)
    pointer = (0x8769, _LONG, 1, struct.pack(">I", 8 + len(first)))
    return b"MM\x00\x2a\x00\x00\x00\x08" + _ifd([*ifd0, pointer], 8) + _ifd(exif, 8 + len(first))


# -- XMP ---------------------------------------------------------------------------------------


def _xml(text: str) -> str:
    # XML 1.0 allows tab, LF and CR among the controls; ``clean`` has removed the others.
    return html.escape(text, quote=True)


def xmp_packet(fields: Mapping[str, str], description: str | None = None) -> bytes:
    """An XMP packet: the prompt as ``dc:description``, every field as JSON in ``dalletui:``."""
    described = fields.get("prompt", "") if description is None else description
    created = fields.get("created", "")
    body = json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)
    parts = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n',
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n',
        '  <rdf:Description rdf:about=""\n',
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n',
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n',
        f'    xmlns:dalletui="{DALLETUI_NS}">\n',
        f"   <xmp:CreatorTool>{_xml(GENERATOR)}</xmp:CreatorTool>\n",
    ]
    if re.fullmatch(r"\d{4}-\d\d-\d\dT[0-9:.]+([+-]\d\d:\d\d|Z)?", created):
        parts.append(f"   <xmp:CreateDate>{created}</xmp:CreateDate>\n")
    if described:
        parts.append(
            '   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
            f"{_xml(described)}</rdf:li></rdf:Alt></dc:description>\n"
        )
    parts += [
        f"   <dalletui:fields>{_xml(body)}</dalletui:fields>\n",
        "  </rdf:Description>\n",
        " </rdf:RDF>\n",
        "</x:xmpmeta>\n",
        '<?xpacket end="w"?>',
    ]
    return "".join(parts).encode("utf-8")


_FIELDS_ELEMENT = re.compile(rb"<dalletui:fields>(.*?)</dalletui:fields>", re.DOTALL)


def dalletui_fields(xmp: bytes) -> dict[str, str] | None:
    """dalletui's fields from an XMP packet it wrote, or None (no XML parser: no entity games)."""
    match = _FIELDS_ELEMENT.search(xmp[:READ_MAX_BYTES])
    if match is None:
        return None
    try:
        loaded = json.loads(html.unescape(match.group(1).decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(loaded, dict):
        return None
    return {str(k)[:80]: clean(v, READ_MAX_CHARS) for k, v in loaded.items() if v is not None}


def _payloads(fields: Mapping[str, str], width: int, height: int) -> tuple[str, str]:
    return clean(fields.get("prompt", "")), parameters_text(fields, width, height)


def _created(fields: Mapping[str, str]) -> datetime | None:
    try:
        return datetime.fromisoformat(fields.get("created", ""))
    except ValueError:
        return None


def _fitted_xmp(fields: dict[str, str], budget: int) -> tuple[bytes, bool]:
    """The XMP packet within ``budget`` bytes: the description is cut first, then the fields."""
    packet = xmp_packet(fields)
    if len(packet) <= budget:
        return packet, True
    without = len(xmp_packet(fields, description=""))
    room = budget - without - 200  # the rdf:Alt markup around a description
    description = fields.get("prompt", "")
    if room > 0:
        while len(_xml(description).encode("utf-8")) > room:
            description = description[: max(0, len(description) * 3 // 4)]
        packet = xmp_packet(fields, description=description + "…" if description else "")
        if len(packet) <= budget:
            return packet, True  # every field is still there, in the JSON
    # Even the fields alone are too long: cut the longest ones; the sidecar keeps them whole.
    cut = dict(fields)
    packet = xmp_packet(cut, description="")
    while len(packet) > budget:
        longest = max(cut, key=lambda key: len(cut[key]))
        if len(cut[longest]) < 100:
            raise ValueError("XMP fields too long")  # cannot happen with capped fields
        cut[longest] = cut[longest][: len(cut[longest]) * 3 // 4] + "…"
        packet = xmp_packet(cut, description="")
    return packet, False


def _fitted_exif(
    description: str, parameters: str, fields: Mapping[str, str], orientation: int | None
) -> tuple[bytes, bool]:
    """The EXIF TIFF within one JPEG segment; the UserComment's prompt is cut if it must be."""
    budget = _SEGMENT_MAX - len(_EXIF_HEADER)
    created = _created(fields)
    tiff = exif_tiff(description, parameters, created, orientation)
    if len(tiff) <= budget:
        return tiff, True
    prompt, _, line = parameters.rpartition("\n")
    while len(tiff) > budget and prompt:
        prompt = prompt[: len(prompt) * 3 // 4]
        tiff = exif_tiff(description, f"{prompt}…\n{line}", created, orientation)
    return tiff, False


# -- JPEG ----------------------------------------------------------------------------------------


def _jpeg_header(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """(marker, start, end) of each APPn/COM segment after SOI, and where the rest begins.

    Raises ``ValueError`` for anything it does not understand; the caller then leaves the file
    alone (the sidecar keeps the metadata).
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    segments: list[tuple[int, int, int]] = []
    pos = 2
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise ValueError("JPEG segment structure not understood")
        marker = data[pos + 1]
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            return segments, pos  # DQT, SOF, DHT, ...: the image data, never touched
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise ValueError("JPEG segment runs past the end of the file")
        segments.append((marker, pos, end))
        pos = end


def _segment(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _orientation(exif_payload: bytes) -> int | None:
    try:
        exif = Image.Exif()
        exif.load(exif_payload)
        value = exif.get(0x0112)
    except Exception:  # noqa: BLE001 - a provider's odd EXIF is only a hint here
        return None
    return value if isinstance(value, int) else None


def embed_jpeg(data: bytes, fields: Mapping[str, str], width: int, height: int) -> Embedded:
    """``data`` with EXIF and XMP segments after SOI/APP0; image data bytes unchanged.

    Earlier EXIF and XMP segments are replaced (their Orientation is kept). Raises
    ``ValueError`` when the segment structure is not understood.
    """
    fields = {key: clean(value) for key, value in fields.items()}
    segments, start = _jpeg_header(data)
    orientation = None
    kept: list[bytes] = []
    for marker, begin, end in segments:
        payload = data[begin + 4 : end]
        if marker == 0xE1 and payload.startswith(_EXIF_HEADER):
            orientation = orientation or _orientation(payload)
            continue
        if marker == 0xE1 and payload.startswith((_XMP_HEADER, _XMP_EXTENSION_HEADER)):
            continue
        kept.append(data[begin:end])
    lead = 0
    while lead < len(kept) and kept[lead][1] == 0xE0:  # JFIF/JFXX stay first
        lead += 1
    description, parameters = _payloads(fields, width, height)
    tiff, exif_complete = _fitted_exif(description, parameters, fields, orientation)
    xmp, xmp_complete = _fitted_xmp(fields, _SEGMENT_MAX - len(_XMP_HEADER))
    ours = [_segment(_EXIF_HEADER + tiff), _segment(_XMP_HEADER + xmp)]
    out = b"".join([data[:2], *kept[:lead], *ours, *kept[lead:], data[start:]])
    return Embedded(out, exif_complete and xmp_complete)


def jpeg_image_data(data: bytes) -> bytes:
    """Everything from the first DQT/SOF on: the part of a JPEG that metadata never changes."""
    return data[_jpeg_header(data)[1] :]


def _jpeg_app1(data: bytes, header: bytes) -> bytes | None:
    try:
        segments, _ = _jpeg_header(data)
    except ValueError:
        return None
    for marker, begin, end in segments:
        if marker == 0xE1 and data[begin + 4 : end].startswith(header):
            return data[begin + 4 + len(header) : end]
    return None


# -- WebP ----------------------------------------------------------------------------------------

_VP8X_ALPHA, _VP8X_EXIF, _VP8X_XMP = 0x10, 0x08, 0x04


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, whole chunk with header and padding) of each chunk; ``ValueError`` if odd."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    (size,) = struct.unpack("<I", data[4:8])
    if size + 8 != len(data) or size % 2:
        raise ValueError("WebP RIFF size does not match the file")
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("WebP chunk header cut off")
        fourcc = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + length + (length % 2)
        if end > len(data):
            raise ValueError("WebP chunk runs past the end of the file")
        chunks.append((fourcc, data[pos:end]))
        pos = end
    if not chunks:
        raise ValueError("WebP file has no chunks")
    return chunks


def _riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) % 2 else b""
    return fourcc + struct.pack("<I", len(payload)) + payload + pad


def embed_webp(data: bytes, fields: Mapping[str, str], width: int, height: int) -> Embedded:
    """``data`` as an extended WebP with EXIF and XMP chunks; image chunks byte for byte.

    Raises ``ValueError`` when the RIFF structure is not understood.
    """
    fields = {key: clean(value) for key, value in fields.items()}
    chunks = webp_chunks(data)
    first, first_chunk = chunks[0]
    if not (0 < width <= 1 << 24 and 0 < height <= 1 << 24):
        raise ValueError("WebP canvas size out of range")
    if first == b"VP8X":
        payload = bytearray(first_chunk[8:18])
        payload[0] |= _VP8X_EXIF | _VP8X_XMP
        head = [_riff_chunk(b"VP8X", bytes(payload))]
        body = [chunk for fourcc, chunk in chunks[1:] if fourcc not in {b"EXIF", b"XMP "}]
    elif first in {b"VP8 ", b"VP8L"} and len(chunks) == 1:
        flags = _VP8X_EXIF | _VP8X_XMP
        if first == b"VP8L" and len(first_chunk) >= 13 and first_chunk[8] == 0x2F:
            (bits,) = struct.unpack("<I", first_chunk[9:13])
            if bits >> 28 & 1:  # alpha_is_used
                flags |= _VP8X_ALPHA
        canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        head = [_riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas)]
        body = [first_chunk]
    else:
        raise ValueError("WebP layout not understood")
    description, parameters = _payloads(fields, width, height)
    tiff = exif_tiff(description, parameters, _created(fields), description_bytes=FIELD_MAX_CHARS)
    tail = [_riff_chunk(b"EXIF", tiff), _riff_chunk(b"XMP ", xmp_packet(fields))]
    chunks_out = b"".join([*head, *body, *tail])
    out = b"RIFF" + struct.pack("<I", 4 + len(chunks_out)) + b"WEBP" + chunks_out
    return Embedded(out, True)


def webp_image_chunks(data: bytes) -> list[bytes]:
    """The chunks that hold pixels (``VP8 ``, ``VP8L``, ``ALPH``, ``ANMF``), as stored."""
    return [chunk for fourcc, chunk in webp_chunks(data) if fourcc in _IMAGE_CHUNKS]


_IMAGE_CHUNKS = {b"VP8 ", b"VP8L", b"ALPH", b"ANMF"}


def _webp_chunk(data: bytes, wanted: bytes) -> bytes | None:
    try:
        chunks = webp_chunks(data)
    except ValueError:
        return None
    for fourcc, chunk in chunks:
        if fourcc == wanted:
            (length,) = struct.unpack("<I", chunk[4:8])
            return chunk[8 : 8 + length]
    return None


def embedded_xmp(data: bytes, pil_format: str) -> bytes | None:
    """The XMP packet of a JPEG or WebP file, or None."""
    if pil_format == "JPEG":
        return _jpeg_app1(data, _XMP_HEADER)
    if pil_format == "WEBP":
        return _webp_chunk(data, b"XMP ")
    return None


# -- reading -----------------------------------------------------------------------------------


def decode_user_comment(raw: bytes) -> str | None:
    """An EXIF UserComment as text: UNICODE (either byte order), ASCII or undefined."""
    if len(raw) <= 8:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix == _UNICODE:
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            codec = "utf-16"
        elif len(body) >= 2 and body[0] != 0 and body[1] == 0:
            codec = "utf-16-le"  # a writer that used its own byte order
        else:
            codec = "utf-16-be"
        text = body.decode(codec, "replace")
    else:
        text = body.decode("utf-8", "replace")
    return text.rstrip("\x00") or None


def _exif_texts(image: Image.Image) -> dict[str, str]:
    found: dict[str, str] = {}
    raw = image.info.get("exif")
    if not isinstance(raw, bytes) or not raw or len(raw) > READ_MAX_BYTES:
        return found
    try:
        exif = image.getexif()
        ifd0 = dict(exif)
        sub = dict(exif.get_ifd(0x8769))
    except Exception:  # noqa: BLE001 - damaged EXIF is "no EXIF" here
        return found
    comment = sub.get(0x9286)
    if isinstance(comment, bytes):
        text = decode_user_comment(comment)
        if text:
            found["parameters"] = text
    elif isinstance(comment, str) and comment.strip():
        found["parameters"] = comment
    names = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software"}
    for tag, name in names.items():
        value = ifd0.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip("\x00 "):
            found[name] = value.rstrip("\x00")
    return found


def embedded_text(image: Image.Image, data: bytes) -> dict[str, str]:
    """Every text field ``image`` (opened from ``data`` and loaded) carries, each capped.

    PNG text chunks keep their keywords. JPEG and WebP give ``parameters`` (the EXIF
    UserComment), ``ImageDescription``, ``Make``, ``Model``, ``Software``, ``xmp`` (the packet)
    and ``dalletui`` (our fields as JSON) where present.
    """
    found: dict[str, str] = {}
    if image.format == "PNG":
        text = getattr(image, "text", {}) or {}
        for key, value in text.items():
            if isinstance(value, str):
                found[str(key)[:80]] = value[:READ_MAX_CHARS]
        return found
    found.update(_exif_texts(image))
    xmp = embedded_xmp(data, image.format or "")
    if xmp:
        packet = xmp[:READ_MAX_BYTES].decode("utf-8", "replace")
        found["xmp"] = packet
        ours = dalletui_fields(xmp)
        if ours is not None:
            found["dalletui"] = json.dumps(ours, ensure_ascii=False)
    return {key: value[:READ_MAX_CHARS] for key, value in found.items()}


def open_image(data: bytes) -> Image.Image:
    """``data`` opened with Pillow (not loaded yet)."""
    return Image.open(io.BytesIO(data))
