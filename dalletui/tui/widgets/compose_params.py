"""The request pickers of the Compose screen: model, size, quality, n, format, partial previews.

Choices come from the model catalogue (data handed in by the screen, never a query); changing the
model narrows the other pickers and keeps each current value while the new model still allows it.
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
from textual.widgets import Checkbox, Label, Select

from dalletui.generation.catalog import ModelCatalog, ModelSpec
from dalletui.tui.widgets.toggles import StateCheckbox

#: How many partial images a request streams when partial previews are on.
PARTIAL_PREVIEWS = 2

#: Picker id -> request field it edits.
_FIELDS = {
    "pick-model": "model",
    "pick-size": "size",
    "pick-quality": "quality",
    "pick-n": "n",
    "pick-format": "output_format",
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
            yield StateCheckbox(
                "Partial previews",
                value=bool(defaults.get("partial_images")),
                id="pick-partials",
                compact=True,
                tooltip=f"Stream {PARTIAL_PREVIEWS} rough drafts while the image is made",
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
        self._sync_partials()

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

    def _label(self, picker: str, value: Any) -> str:
        if picker == "pick-model":
            spec = self.catalog.get(str(value))
            if spec is None:
                return f"{value} (not in catalogue)"
            return f"{value} (retired)" if spec.is_retired else str(value)
        return str(value)

    # -- values ---------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The chosen parameters, as ``GenerationRequest`` fields."""
        found: dict[str, Any] = {}
        for picker_id, field_name in _FIELDS.items():
            found[field_name] = self.query_one(f"#{picker_id}", Select).value
        partials = self.query_one("#pick-partials", Checkbox)
        on_ = partials.value and not partials.disabled
        found["partial_images"] = (
            min(PARTIAL_PREVIEWS, self.spec_for(found["model"]).max_partial_images) if on_ else 0
        )
        return found

    def choices(self, field_name: str) -> list[Any]:
        """The values the picker for ``field_name`` (e.g. ``"size"``) offers now."""
        picker_id = next(p for p, f in _FIELDS.items() if f == field_name)
        return list(self._choices.get(picker_id, []))

    def apply(self, params: Mapping[str, Any]) -> None:
        """Set whichever of model/size/quality/n/output_format/partial_images ``params`` holds."""
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
        for picker_id, field_name in _FIELDS.items():
            if picker_id == "pick-model" or field_name not in params:
                continue
            value = params[field_name]
            if value in self._choices.get(picker_id, []):
                self.query_one(f"#{picker_id}", Select).value = value
        if "partial_images" in params:
            self.query_one("#pick-partials", Checkbox).value = bool(params["partial_images"])
        self._sync_partials()

    def refresh_choices(self, prefer_size: Any = None) -> None:
        """Narrow size/quality/n/format to the chosen model, keeping values still allowed."""
        model = str(self.query_one("#pick-model", Select).value)
        spec = self.spec_for(model)
        current_size = self.query_one("#pick-size", Select).value
        sizes = self._size_choices(model)
        self._set_choices(
            "pick-size", sizes, prefer=(prefer_size, current_size, self._defaults.get("size"))
        )
        self._set_choices(
            "pick-quality", list(spec.qualities), prefer=(self._defaults.get("quality"), "auto")
        )
        self._set_choices("pick-n", self._n_choices(spec), prefer=(self._defaults.get("n"), 1))
        self._set_choices(
            "pick-format",
            list(spec.output_formats),
            prefer=(self._defaults.get("output_format"), "png"),
        )
        self._sync_partials()

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

    def _sync_partials(self) -> None:
        """Partial previews exist only where the model streams, and only for one image."""
        values = {f: self.query_one(f"#{p}", Select).value for p, f in _FIELDS.items()}
        spec = self.spec_for(str(values["model"]))
        box = self.query_one("#pick-partials", Checkbox)
        if not spec.streaming or spec.max_partial_images < 1:
            box.disabled, box.label = True, "Partial previews (model does not stream)"
        elif values["n"] != 1:
            box.disabled, box.label = True, "Partial previews (only with 1 image)"
        else:
            box.disabled, box.label = False, "Partial previews"

    # -- events ---------------------------------------------------------------------------------

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "pick-model":
            self.refresh_choices()
        elif event.select.id == "pick-n":
            self._sync_partials()
        self.post_message(self.Changed(self))

    @on(Checkbox.Changed)
    def _partials_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self))
