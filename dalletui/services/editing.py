"""What an edit starts from: the images (ours or outside files), a mask or markup, and how they
become the lineage of what it makes.

An image is named by ``gen:ID`` (one of our generations) or by a path. A path to one of our own
images is linked to its generation too, so an edit of a file from the images folder still has a
parent. Everything is checked before anything is sent, each problem in one sentence, and read
into memory once (so an automatic retry sends the very same bytes).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dalletui.errors import NotFoundError, ValidationError
from dalletui.generation.metadata import ParentRef, lineage_fields
from dalletui.generation.request import image_size
from dalletui.generation.types import EditImage, EditRequest
from dalletui.storage import DatabaseManager
from dalletui.storage.lineage import InputSpec
from dalletui.storage.models import Generation

#: Kinds of generation made from images (their cost also pays for the inputs).
EDIT_KINDS = ("edit", "variation")
#: ``gen:12`` (or ``gen12``, ``#12``): one of our generations.
_GENERATION_REF = re.compile(r"^(?:gen:?|#)(\d{1,18})$", re.IGNORECASE)


@dataclass(frozen=True)
class EditSource:
    """One image an edit reads: a file, and the generation it is (None for an outside file)."""

    path: Path
    generation_id: int | None = None
    role: str = "image"

    @property
    def label(self) -> str:
        """``#12`` for one of ours, else the file's name (pass it through ``printable``)."""
        if self.generation_id is not None:
            return f"#{self.generation_id}"
        return self.path.name

    def as_role(self, role: str) -> EditSource:
        return EditSource(self.path, self.generation_id, role)

    def read(self) -> EditImage:
        """The file's bytes, named for the upload; an unreadable file is one sentence."""
        image = EditImage.from_path(self.path)
        if self.generation_id is not None:
            return EditImage(f"gen-{self.generation_id}{self.path.suffix}", image.data)
        return image


def generation_ref(text: str) -> int | None:
    """The id in ``gen:12`` / ``#12``; None when ``text`` is not such a reference."""
    match = _GENERATION_REF.match(text.strip())
    return int(match.group(1)) if match else None


def source_of_generation(generation: Generation, role: str = "image") -> EditSource:
    """The image of ``generation`` as a source; refused (one sentence) when it has none."""
    label = f"Generation #{generation.id}"
    if generation.deleted_at is not None:
        raise ValidationError(
            f"{label} is in the trash; restore it first "
            f"(dalletui trash restore generation:{generation.id})."
        )
    if generation.status != "succeeded" or not generation.file_path:
        raise ValidationError(f"{label} has no image to start from.")
    path = Path(generation.file_path)
    if not path.is_file():
        raise ValidationError(f"The image of generation #{generation.id} is missing ({path}).")
    return EditSource(path, generation.id, role)


def resolve_source(db: DatabaseManager, spec: str | int | Path, role: str = "image") -> EditSource:
    """``gen:ID``, a generation id or a path, as a source (``ValidationError`` of one sentence)."""
    number = spec if isinstance(spec, int) else None
    if isinstance(spec, str):
        number = generation_ref(spec)
    if number is not None:
        try:
            generation = db.get_generation(number)
        except NotFoundError:
            raise ValidationError(f"No generation #{number}.") from None
        return source_of_generation(generation, role)
    if not str(spec).strip():
        raise ValidationError("Name an image: a file path or gen:ID.")
    try:
        path = Path(str(spec)).expanduser()
        if path.is_dir():
            raise ValidationError(f"{path} is a folder, not an image.")
        if not path.is_file():
            raise ValidationError(f"No file {path}.")
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a name too long, a NUL, a loop
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ValidationError(f"Cannot use {str(spec)[:80]!r} as an image: {reason}.") from None
    ours = db.generation_for_file(str(resolved)) or db.generation_for_file(str(path))
    if ours is not None and ours.deleted_at is None:
        return EditSource(resolved, int(ours.id), role)
    return EditSource(resolved, None, role)


@dataclass(frozen=True)
class EditPlan:
    """An edit ready to send: the request (bytes read) and where each input came from."""

    request: EditRequest
    sources: tuple[EditSource, ...]
    kind: str = "edit"

    def input_specs(self) -> list[InputSpec]:
        """The lineage rows to record for each image the edit makes (images, then overlay)."""
        request = self.request
        images: list[EditImage | None] = [*request.images, request.mask or request.markup]
        specs: list[InputSpec] = []
        for source, image in zip(self.sources, images, strict=False):
            if image is None:
                continue
            size = image_size(image)
            specs.append(
                InputSpec(
                    role=source.role,
                    parent_id=source.generation_id,
                    file_path=None if source.generation_id is not None else str(source.path),
                    sha256=hashlib.sha256(image.data).hexdigest(),
                    width=size[0] if size else None,
                    height=size[1] if size else None,
                )
            )
        return specs

    def metadata(self, uids: dict[int, str]) -> dict[str, str]:
        """The lineage fields embedded in each image this edit makes (``uids`` by parent id)."""
        refs = [
            ParentRef(
                role=spec.role,
                id=spec.parent_id,
                uid=uids.get(spec.parent_id) if spec.parent_id is not None else None,
                sha256=spec.sha256,
            )
            for spec in self.input_specs()
        ]
        return lineage_fields(self.kind, refs)


def plan_edit(request: EditRequest, sources: Sequence[EditSource], kind: str = "edit") -> EditPlan:
    """Pair an already-built request with its sources (one per image, then mask or markup)."""
    expected = len(request.images) + (request.mask is not None or request.markup is not None)
    if len(sources) != expected:
        raise ValueError(f"{len(sources)} sources for {expected} inputs")
    if kind not in EDIT_KINDS:
        raise ValueError(f"unknown edit kind {kind!r}")
    return EditPlan(request, tuple(sources), kind)


def build_edit(
    prompt: str,
    images: Sequence[EditSource],
    *,
    mask: EditSource | None = None,
    markup: EditSource | None = None,
    input_fidelity: str | None = None,
    kind: str = "edit",
    **options: object,
) -> EditPlan:
    """Read every source and build the edit (``options``: the generate fields, model, size...).

    Only reading can fail here (one sentence); the catalogue's rules are checked by
    ``GenerationService.validate`` before sending.
    """
    if mask is not None and markup is not None:
        raise ValidationError("Give a mask or a markup, not both.")
    overlay = mask.as_role("mask") if mask else markup.as_role("markup") if markup else None
    read = [source.as_role("image").read() for source in images]
    request = EditRequest(
        prompt=prompt,
        images=tuple(read),
        mask=overlay.read() if overlay and overlay.role == "mask" else None,
        markup=overlay.read() if overlay and overlay.role == "markup" else None,
        input_fidelity=input_fidelity,
        **options,  # type: ignore[arg-type]
    )
    sources = [source.as_role("image") for source in images]
    if overlay is not None:
        sources.append(overlay)
    return plan_edit(request, sources, kind)
