"""The request pickers of the Compose screen: model, size, quality, n, format, background,
output compression, moderation, partial images and complexity.

Choices come from the model catalogue (data handed in by the screen, never a query); changing the
model narrows the other pickers and keeps each current value while the new model still allows it.
A picker that cannot apply (compression for PNG, partial images for several images) is disabled
and gives its neutral value; combinations the catalogue refuses (transparent with JPEG) stay
pickable so that validation can say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label, Select

from dalletui.generation.catalog import ModelCatalog, ModelSpec

#: Output compression steps offered (None: the API's default, 100); a reused value outside
#: them is offered too.
COMPRESSION_STEPS: tuple[int | None, ...] = (None, 100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 0)

#: Picker id -> request field it edits.
_FIELDS = {
    "pick-model": "model",
    "pick-size": "size",
    "pick-quality": "quality",
    "pick-n": "n",
    "pick-format": "output_format",
    "pick-background": "background",
    "pick-compression": "output_compression",
    "pick-partials": "partial_images",
    "pick-moderation": "moderation",
    "pick-complexity": "complexity",
}

#: What a picker shows for its neutral value.
_NEUTRAL_LABELS = {
    "pick-compression": {None: "default"},
    "pick-partials": {0: "off"},
    "pick-complexity": {None: "default"},
    "pick-moderation": {"auto": "auto"},
}


class ParamPickers(Widget):
    """A compact grid of Select widgets driven by the catalogue."""

    @dataclass
    class Changed(Message):
        """Some parameter changed (the screen revalidates)."""

        pickers: ParamPickers

    def __init__(
        self,
        catalog: ModelCatalog,
        defaults: Mapping[str, Any],
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.catalog = catalog
        self._defaults = dict(defaults)
        #: Models shown although not current (retired or unknown), e.g. from reused history.
        self._extra_models: list[str] = []
        model = str(defaults.get("model") or catalog.default_model())
        if model not in [spec.name for spec in catalog.current()]:
            self._extra_models.append(model)
        self._choices: dict[str, list[Any]] = {}
        #: A size outside the picker list that a model was given (config or reused history).
        self._custom_sizes: dict[str, str] = {}
        size = defaults.get("size")
        if isinstance(size, str) and size and size not in catalog.sizes_for(model):
            self._custom_sizes[model] = size

    # -- building -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        defaults = self._defaults
        model = str(defaults.get("model") or self.catalog.default_model())
        spec = self.spec_for(model)
        with Grid(id="pickers-grid"):
            yield Label("Model", classes="picker-label")
            yield self._select("pick-model", self._model_choices(), model, "Image model")
            yield Label("Size", classes="picker-label")
            yield self._select(
                "pick-size",
                self._size_choices(model),
                defaults.get("size"),
                "Width x height in pixels, or auto",
            )
            yield Label("Quality", classes="picker-label")
            yield self._select(
                "pick-quality",
                list(spec.qualities),
                defaults.get("quality"),
                "Higher quality costs more tokens",
            )
            yield Label("Images", classes="picker-label")
            yield self._select(
                "pick-n", self._n_choices(spec), defaults.get("n"), "How many images per request"
            )
            yield Label("Format", classes="picker-label")
            yield self._select(
                "pick-format",
                list(spec.output_formats),
                defaults.get("output_format"),
                "File format of the saved image",
            )
            yield Label("Backgr.", classes="picker-label")
            yield self._select(
                "pick-background",
                list(spec.backgrounds),
                defaults.get("background"),
                "Background: transparent needs png or webp output",
            )
            yield Label("Compress", classes="picker-label")
            yield self._select(
                "pick-compression",
                self._compression_choices(defaults.get("output_compression")),
                defaults.get("output_compression"),
                "Output compression 0-100%, for jpeg and webp only",
            )
            yield Label("Partial", classes="picker-label")
            yield self._select(
                "pick-partials",
                self._partial_choices(spec),
                defaults.get("partial_images"),
                "Rough drafts streamed while the image is made (only with 1 image)",
            )
            yield Label("Moderat.", classes="picker-label")
            yield self._select(
                "pick-moderation",
                list(spec.moderation),
                defaults.get("moderation"),
                "Content moderation: low is less restrictive",
            )
            yield Label("Complex.", classes="picker-label")
            yield self._select(
                "pick-complexity",
                self._complexity_choices(spec),
                defaults.get("complexity"),
                "Planning effort, apart from quality; default: the model's own",
            )

    def _select(self, id: str, choices: list[Any], value: Any, tooltip: str) -> Select[Any]:
        self._choices[id] = list(choices)
        chosen = value if value in choices else choices[0]
        select: Select[Any] = Select(
            [(self._label(id, c), c) for c in choices],
            value=chosen,
            allow_blank=False,
            compact=True,
            id=id,
            tooltip=tooltip,
        )
        return select

    def on_mount(self) -> None:
        self._sync_enabled()

    # -- catalogue ------------------------------------------------------------------------------

    def spec_for(self, model: str) -> ModelSpec:
        """The model's spec; an unknown model gets the catalogue's permissive stand-in."""
        return self.catalog.get(model) or self.catalog.unknown_spec(model)

    @property
    def spec(self) -> ModelSpec:
        return self.spec_for(self.values()["model"])

    def _model_choices(self) -> list[str]:
        names = [spec.name for spec in self.catalog.current()]
        return [*names, *(m for m in self._extra_models if m not in names)]

    def _size_choices(self, model: str) -> list[str]:
        sizes = self.catalog.sizes_for(model)
        # A custom size is offered (for that model only) so that validation can judge it.
        custom = self._custom_sizes.get(model)
        if custom and custom not in sizes:
            at = len(sizes) - 1 if sizes and sizes[-1] == "auto" else len(sizes)
            sizes = [*sizes[:at], custom, *sizes[at:]]
        return sizes

    @staticmethod
    def _n_choices(spec: ModelSpec) -> list[int]:
        low, high = spec.n_range
        return list(range(low, high + 1))

    @staticmethod
    def _partial_choices(spec: ModelSpec) -> list[int]:
        return list(range(spec.max_partial_images + 1)) if spec.streaming else [0]

    @staticmethod
    def _complexity_choices(spec: ModelSpec) -> list[str | None]:
        return [None, *spec.complexity]

    def _compression_choices(self, extra: Any = None) -> list[int | None]:
        """The steps, plus ``extra`` (or the value shown now) when it is another 0-100 number."""
        steps = list(COMPRESSION_STEPS)
        shown = self._choices.get("pick-compression", [])
        for value in (extra, *shown):
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100
            if ok and value not in steps:
                steps.append(value)
        return [None, *sorted((v for v in steps if v is not None), reverse=True)]

    def _label(self, picker: str, value: Any) -> str:
        if picker == "pick-model":
            spec = self.catalog.get(str(value))
            if spec is None:
                return f"{value} (not in catalogue)"
            return f"{value} (retired)" if spec.is_retired else str(value)
        neutral = _NEUTRAL_LABELS.get(picker, {})
        if value in neutral:
            return neutral[value]
        return f"{value}%" if picker == "pick-compression" else str(value)

    # -- values ---------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The chosen parameters, as ``GenerationRequest`` fields (a disabled picker gives its
        neutral value: no compression, no partial images)."""
        found: dict[str, Any] = {}
        for picker_id, field_name in _FIELDS.items():
            select = self.query_one(f"#{picker_id}", Select)
            found[field_name] = select.value
            if select.disabled and picker_id in _NEUTRAL_LABELS:
                found[field_name] = next(iter(_NEUTRAL_LABELS[picker_id]))
        return found

    def choices(self, field_name: str) -> list[Any]:
        """The values the picker for ``field_name`` (e.g. ``"size"``) offers now."""
        picker_id = next(p for p, f in _FIELDS.items() if f == field_name)
        return list(self._choices.get(picker_id, []))

    def apply(self, params: Mapping[str, Any]) -> None:
        """Set whichever request fields ``params`` holds (those of ``values()``)."""
        model = params.get("model")
        if isinstance(model, str) and model:
            if model not in self._model_choices():
                self._extra_models.append(model)
                self._set_choices("pick-model", self._model_choices())
            self.query_one("#pick-model", Select).value = model
        chosen = str(self.query_one("#pick-model", Select).value)
        size = params.get("size")
        if isinstance(size, str) and size and size not in self.catalog.sizes_for(chosen):
            self._custom_sizes[chosen] = size
        self.refresh_choices(prefer_size=size)
        if "output_compression" in params:
            compression = self._compression_choices(params["output_compression"])
            self._set_choices("pick-compression", compression)
        for picker_id, field_name in _FIELDS.items():
            if picker_id == "pick-model" or field_name not in params:
                continue
            value = params[field_name]
            if value in self._choices.get(picker_id, []):
                self.query_one(f"#{picker_id}", Select).value = value
        self._sync_enabled()

    def refresh_choices(self, prefer_size: Any = None) -> None:
        """Narrow every picker to the chosen model, keeping values still allowed."""
        model = str(self.query_one("#pick-model", Select).value)
        spec = self.spec_for(model)
        current_size = self.query_one("#pick-size", Select).value
        sizes = self._size_choices(model)
        defaults = self._defaults
        self._set_choices(
            "pick-size", sizes, prefer=(prefer_size, current_size, defaults.get("size"))
        )
        self._set_choices(
            "pick-quality", list(spec.qualities), prefer=(defaults.get("quality"), "auto")
        )
        self._set_choices("pick-n", self._n_choices(spec), prefer=(defaults.get("n"), 1))
        self._set_choices(
            "pick-format",
            list(spec.output_formats),
            prefer=(defaults.get("output_format"), "png"),
        )
        self._set_choices("pick-background", list(spec.backgrounds), prefer=("auto",))
        self._set_choices("pick-partials", self._partial_choices(spec), prefer=(0,))
        self._set_choices("pick-moderation", list(spec.moderation), prefer=("auto",))
        self._set_choices("pick-complexity", self._complexity_choices(spec), prefer=(None,))
        self._sync_enabled()

    def _set_choices(self, picker_id: str, choices: list[Any], prefer: Iterable[Any] = ()) -> None:
        select = self.query_one(f"#{picker_id}", Select)
        current = select.value
        if self._choices.get(picker_id) != choices:
            self._choices[picker_id] = list(choices)
            select.set_options([(self._label(picker_id, c), c) for c in choices])
        for candidate in (current, *prefer):
            if candidate in choices:
                if select.value != candidate:
                    select.value = candidate
                return

    def _sync_enabled(self) -> None:
        """Disable what cannot apply: compression outside jpeg/webp, partial images where the
        model does not stream or for more than one image, complexity where the model has none."""
        spec = self.spec_for(str(self.query_one("#pick-model", Select).value))
        fmt = self.query_one("#pick-format", Select).value
        n = self.query_one("#pick-n", Select).value
        self.query_one("#pick-compression", Select).disabled = fmt not in spec.compression_formats
        self.query_one("#pick-partials", Select).disabled = (
            not spec.streaming or spec.max_partial_images < 1 or n != 1
        )
        self.query_one("#pick-complexity", Select).disabled = not spec.complexity
        # The edits endpoint takes no moderation setting: an edit is sent with the default.
        self.query_one("#pick-moderation", Select).disabled = self.editing

    #: An edit is being prepared (Compose's edit panel holds an image).
    editing = False

    def set_editing(self, on: bool) -> None:
        if on != self.editing:
            self.editing = on
            self._sync_enabled()

    # -- events ---------------------------------------------------------------------------------

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "pick-model":
            self.refresh_choices()
        elif event.select.id in ("pick-n", "pick-format"):
            self._sync_enabled()
        self.post_message(self.Changed(self))
