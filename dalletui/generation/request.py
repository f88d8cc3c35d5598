"""Checking a GenerationRequest (or an EditRequest) against the catalogue before any network
call: every problem is one sentence, and all of them are reported at once."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, UnidentifiedImageError

from dalletui.errors import ValidationError
from dalletui.generation.catalog import ModelCatalog, ModelSpec, or_list, parse_size
from dalletui.generation.types import EditImage, EditRequest, GenerationRequest

__all__ = ["image_size", "parse_size", "validate_edit_request", "validate_request"]

_Check = Callable[[GenerationRequest, ModelSpec, list[str], list[str]], None]


def validate_request(
    request: GenerationRequest, catalog: ModelCatalog, *, allow_unknown_model: bool = True
) -> list[str]:
    """Return warnings for ``request``; raise ``ValidationError`` listing every problem."""
    _spec, problems, warnings = _collect(request, catalog, allow_unknown_model)
    if problems:
        raise ValidationError(problems)
    return warnings


def validate_edit_request(
    request: EditRequest, catalog: ModelCatalog, *, allow_unknown_model: bool = True
) -> list[str]:
    """Like ``validate_request``, plus what an edit needs: a model that edits, 1 to 16 PNG, WebP
    or JPEG inputs under 50 MB, a PNG mask with alpha the size of the first image (or markup
    where the model takes it, never both) and an ``input_fidelity`` the model accepts."""
    spec, problems, warnings = _collect(request, catalog, allow_unknown_model)
    if spec is not None:
        _check_edit(request, spec, catalog, problems)
    if problems:
        raise ValidationError(problems)
    return warnings


def _collect(
    request: GenerationRequest, catalog: ModelCatalog, allow_unknown_model: bool
) -> tuple[ModelSpec | None, list[str], list[str]]:
    """The spec the request is checked against (None: none applies), problems, warnings."""
    problems: list[str] = []
    warnings: list[str] = []
    spec = catalog.get(request.model)
    if spec is None:
        if allow_unknown_model:
            warnings.append(
                f"Model '{request.model}' is not in dalletui's catalogue; "
                "it is sent as-is and its cost is unknown."
            )
            spec = catalog.unknown_spec(request.model)
        else:
            names = [s.name for s in catalog.current() if s.snapshot_of is None]
            problems.append(
                f"Model '{request.model}' is not in dalletui's catalogue; choose {or_list(names)}."
            )
    elif spec.is_retired:
        problems.append(
            f"{spec.name} was retired on {spec.retired_on}; use {or_list(spec.successors)}."
        )
        spec = None  # its limits no longer matter: the request must move to another model

    if not request.prompt.strip():
        problems.append("The prompt is empty; describe the image you want.")
    if spec is not None:
        for check in _CHECKS:
            check(request, spec, problems, warnings)
    return spec, problems, warnings


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_prompt(
    request: GenerationRequest, spec: ModelSpec, problems: list[str], warnings: list[str]
) -> None:
    length = len(request.prompt)
    if length > spec.max_prompt_chars:
        problems.append(
            f"The prompt is {length:,} characters; {spec.name} accepts at most "
            f"{spec.max_prompt_chars:,}."
        )


def _check_size(
    request: GenerationRequest, spec: ModelSpec, problems: list[str], warnings: list[str]
) -> None:
    size, sizes = request.size, spec.sizes
    if size in sizes.fixed or (size == "auto" and sizes.allow_auto):
        return
    pair = parse_size(size)
    if pair is None or sizes.rule is None:
        shown = f"'{size}'" if pair is None and size != "auto" else size
        problems.append(f"{spec.name} does not accept size {shown}; choose {sizes.describe()}.")
        return
    reasons = sizes.rule.problems(*pair)
    if reasons:
        problems.append(f"{spec.name} does not accept size {size}: {'; '.join(reasons)}.")
    elif sizes.rule.is_experimental(*pair):
        width, height = sizes.rule.experimental_above or (0, 0)
        warnings.append(
            f"Size {size} is above {width}x{height}, which is experimental on {spec.name}; "
            "results may vary."
        )


def _check_quality(
    request: GenerationRequest, spec: ModelSpec, problems: list[str], warnings: list[str]
) -> None:
    if request.quality not in spec.qualities:
        problems.append(
            f"Quality '{request.quality}' is not available for {spec.name}; "
            f"choose {or_list(spec.qualities)}."
        )


def _check_n(
    request: GenerationRequest, spec: ModelSpec, problems: list[str], warnings: list[str]
) -> None:
    low, high = spec.n_range
    if _is_int(request.n) and low <= request.n <= high:
        return
    allowed = f"exactly {low}" if low == high else f"{low} to {high}"
    problems.append(
        f"The number of images is {request.n}; {spec.name} makes {allowed} per request."
    )


def _check_output(
    request: GenerationRequest, spec: ModelSpec, problems: list[str], warnings: list[str]
) -> None:
    """Format, compression and background, which constrain each other."""
    fmt, compression, background = (
        request.output_format,
        request.output_compression,
        request.background,
    )
    format_ok = fmt in spec.output_formats
    if fmt in spec.preview_formats and not format_ok:
        problems.append(
            f"Output format '{fmt}' is an API preview that dalletui does not support; "
            f"choose {or_list(spec.output_formats)}."
        )
    elif not format_ok:
        problems.append(
            f"Output format '{fmt}' is not available for {spec.name}; "
            f"choose {or_list(spec.output_formats)}."
        )

    if compression is not None:
        low, high = spec.compression_range
        if not spec.compression_formats:
            problems.append(f"{spec.name} does not support output compression; leave it unset.")
        elif format_ok and fmt not in spec.compression_formats:
            problems.append(
                f"Output compression applies only to {or_list(spec.compression_formats)} "
                f"output; leave it unset for {fmt}."
            )
        if not (_is_int(compression) and low <= compression <= high):
            problems.append(f"Output compression is {compression}; it must be {low} to {high}.")

    if background not in spec.backgrounds:
        problems.append(
            f"Background '{background}' is not available for {spec.name}; "
            f"choose {or_list(spec.backgrounds)}."
        )
    elif background == "transparent":
        if format_ok and fmt not in spec.transparent_formats:
            problems.append(
                f"A transparent background needs {or_list(spec.transparent_formats)} output, "
                f"not {fmt}."
            )
        if spec.transparent_preview:
            warnings.append(
                f"Transparent backgrounds are a preview feature on {spec.name}; results may vary."
            )


def _check_partial_images(
    request: GenerationRequest, spec: ModelSpec, problems: list[str], warnings: list[str]
) -> None:
    partial = request.partial_images
    if _is_int(partial) and partial == 0:
        return
    if not spec.streaming:
        problems.append(f"{spec.name} does not stream, so partial images must be 0.")
    elif not (_is_int(partial) and 0 <= partial <= spec.max_partial_images):
        problems.append(
            f"Partial images is {partial}; {spec.name} streams 0 to "
            f"{spec.max_partial_images} partial images."
        )
    elif request.n != 1:
        problems.append(
            "Partial previews stream one image at a time; set n to 1 or partial images to 0."
        )


def _check_moderation(
    request: GenerationRequest, spec: ModelSpec, problems: list[str], warnings: list[str]
) -> None:
    if request.moderation not in spec.moderation:
        problems.append(
            f"Moderation '{request.moderation}' is not available for {spec.name}; "
            f"choose {or_list(spec.moderation)}."
        )


def _check_complexity(
    request: GenerationRequest, spec: ModelSpec, problems: list[str], warnings: list[str]
) -> None:
    complexity = request.complexity
    if complexity is None or complexity in spec.complexity:
        return
    if not spec.complexity:
        problems.append(f"{spec.name} does not take a complexity; leave it unset.")
    else:
        problems.append(
            f"Complexity '{complexity}' is not available for {spec.name}; "
            f"choose {or_list(spec.complexity)}."
        )


_CHECKS: tuple[_Check, ...] = (
    _check_prompt,
    _check_size,
    _check_quality,
    _check_n,
    _check_output,
    _check_partial_images,
    _check_moderation,
    _check_complexity,
)


# --- edits -----------------------------------------------------------------------------------

_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP", "gif": "GIF"}


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB"


def image_size(image: EditImage, *, oriented: bool = False) -> tuple[int, int] | None:
    """Pixel size from the header (``oriented``: after the EXIF orientation); None if unreadable."""
    info = _probe(image)
    if info is None:
        return None
    size, _has_alpha, transposed = info
    return transposed if oriented else size


def _probe(image: EditImage) -> tuple[tuple[int, int], bool, tuple[int, int]] | None:
    """(size, has alpha, size after EXIF orientation), reading only the header."""
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            size = opened.size
            has_alpha = opened.mode in ("RGBA", "LA", "PA") or (
                opened.mode == "P" and "transparency" in opened.info
            )
            orientation = opened.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    transposed = (size[1], size[0]) if orientation in (5, 6, 7, 8) else size
    return size, has_alpha, transposed


def _check_edit(
    request: EditRequest, spec: ModelSpec, catalog: ModelCatalog, problems: list[str]
) -> None:
    edits = spec.edits
    if not edits.supported:
        names = [s.name for s in catalog.editing() if s.snapshot_of is None]
        problems.append(f"{spec.name} cannot edit images; choose {or_list(names)}.")
        return
    if request.moderation != "auto":
        problems.append("Moderation applies only to generations; leave it at auto for an edit.")
    images = request.images
    if not images:
        problems.append("An edit needs at least one input image.")
    elif len(images) > edits.max_images:
        problems.append(
            f"The edit has {len(images)} input images; {spec.name} takes at most "
            f"{edits.max_images}."
        )
    allowed = or_list([_FORMAT_NAMES.get(f, f) for f in edits.input_formats])
    first_size: tuple[int, int] | None = None
    first_oriented: tuple[int, int] | None = None
    for number, image in enumerate(images, 1):
        label = f"Input image {number} ('{image.name}')"
        fmt = image.format
        if fmt not in edits.input_formats:
            kind = f"a {_FORMAT_NAMES[fmt]} file" if fmt in _FORMAT_NAMES else "not an image"
            problems.append(f"{label} is {kind}; input images must be {allowed}.")
            continue
        if len(image.data) >= edits.max_image_bytes:
            problems.append(
                f"{label} is {_megabytes(len(image.data))}; each input image must be under "
                f"{_megabytes(edits.max_image_bytes)}."
            )
            continue
        info = _probe(image)
        if info is None:
            problems.append(f"{label} cannot be read as an image; it may be damaged.")
        elif number == 1:
            first_size, first_oriented = info[0], info[2]

    if request.mask is not None and request.markup is not None:
        problems.append("A mask and markup cannot be combined; send one of them.")
    if request.mask is not None:
        if not edits.mask:
            problems.append(f"{spec.name} does not take a mask; leave it out.")
        else:
            _check_overlay(request.mask, "mask", edits.max_mask_bytes, first_size, problems)
    if request.markup is not None:
        if not edits.markup:
            takers = [s.name for s in catalog.editing() if s.edits.markup and not s.snapshot_of]
            where = f" (markup needs {or_list(takers)})" if takers else ""
            problems.append(f"{spec.name} does not take markup{where}; leave it out.")
        else:
            _check_overlay(request.markup, "markup", None, first_oriented, problems)

    fidelity = request.input_fidelity
    if fidelity is not None and fidelity not in edits.input_fidelity:
        if not edits.input_fidelity:
            problems.append(f"{spec.name} does not take input fidelity; leave it unset.")
        else:
            problems.append(
                f"Input fidelity '{fidelity}' is not available for {spec.name}; "
                f"choose {or_list(edits.input_fidelity)} or leave it unset."
            )


def _check_overlay(
    overlay: EditImage,
    what: str,
    max_bytes: int | None,
    first_size: tuple[int, int] | None,
    problems: list[str],
) -> None:
    """A mask or markup: a PNG with transparency, as large as the first input image."""
    label = f"The {what} ('{overlay.name}')"
    if overlay.format != "png":
        problems.append(f"{label} must be a PNG file.")
        return
    if max_bytes is not None and len(overlay.data) >= max_bytes:
        problems.append(
            f"{label} is {_megabytes(len(overlay.data))}; it must be under {_megabytes(max_bytes)}."
        )
        return
    info = _probe(overlay)
    if info is None:
        problems.append(f"{label} cannot be read as an image; it may be damaged.")
        return
    size, has_alpha, _oriented = info
    if not has_alpha:
        need = "where the image is to change" if what == "mask" else "outside its marks"
        problems.append(f"{label} has no alpha channel; it must be transparent {need}.")
    elif what == "markup" and not _has_transparent_pixel(overlay):
        problems.append(f"{label} has no transparent pixels; it must be a transparent overlay.")
    if first_size is not None and size != first_size:
        problems.append(
            f"{label} is {size[0]}x{size[1]} but the first image is "
            f"{first_size[0]}x{first_size[1]}; they must be the same size."
        )


def _has_transparent_pixel(image: EditImage) -> bool:
    with Image.open(io.BytesIO(image.data)) as opened:
        low, _high = opened.convert("RGBA").getchannel("A").getextrema()
    return low < 255
