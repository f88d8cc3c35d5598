"""Checking a GenerationRequest against the model catalogue before any network call."""

from __future__ import annotations

from collections.abc import Callable

from dalletui.errors import ValidationError
from dalletui.generation.catalog import ModelCatalog, ModelSpec, or_list, parse_size
from dalletui.generation.types import GenerationRequest

__all__ = ["parse_size", "validate_request"]

_Check = Callable[[GenerationRequest, ModelSpec, list[str], list[str]], None]


def validate_request(
    request: GenerationRequest, catalog: ModelCatalog, *, allow_unknown_model: bool = True
) -> list[str]:
    """Return warnings for ``request``; raise ``ValidationError`` listing every problem."""
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
    if problems:
        raise ValidationError(problems)
    return warnings


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


_CHECKS: tuple[_Check, ...] = (
    _check_prompt,
    _check_size,
    _check_quality,
    _check_n,
    _check_output,
    _check_partial_images,
    _check_moderation,
)
