"""Compose: write a prompt, pick parameters, generate, and act on the results.

The screen holds widgets and keys; the work goes through ``app.services``. Generation runs in an
async worker (group ``generate``) so the UI stays live, streams partial drafts into the live slot,
shows each announced retry wait counting down, and ``escape`` cancels it (a wait too, at once).
A possibly billed request is never sent again on its own: its card's ``r`` sends it through
``GenerationService.retry``. Database work (favourites) runs off the UI thread.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Header, Input, Select, Static, TextArea
from textual.worker import Worker, WorkerState

from dalletui.errors import DalleTuiError, GenerationError, ValidationError
from dalletui.formatting import format_money
from dalletui.generation.request import image_size
from dalletui.generation.types import EditRequest, GenerationRequest
from dalletui.services.versions import same_prompt
from dalletui.textsafe import printable, printable_message, without_controls
from dalletui.tui.messages import DataChanged, ModelChanged
from dalletui.tui.styles import css_paths
from dalletui.tui.viewer import copy_path, show_in_viewer
from dalletui.tui.widgets.compose_params import ParamPickers
from dalletui.tui.widgets.confirm import ConfirmModal
from dalletui.tui.widgets.edit_panel import (
    MAX_IMAGES,
    EditPanel,
    Loaded,
    looks_like_image_path,
    unquote_path,
)
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.results import (
    ImageSlot,
    PossiblyBilledSlot,
    ProblemSlot,
    ResultSlot,
    ResultsPanel,
    kind_label,
    wait_text,
)
from dalletui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from dalletui.generation.retry import RetryWait
    from dalletui.services.context import Services
    from dalletui.services.editing import EditPlan
    from dalletui.services.generation import GenerationOutcome
    from dalletui.services.history import Prompt

#: Seconds of quiet after an edit before the request is revalidated.
VALIDATE_DELAY = 0.3
#: Stands in for an empty prompt so the other parameters can still be checked while typing.
_PLACEHOLDER_PROMPT = "-"
#: Edits remembered for their cards' regenerate (each holds its images' bytes).
PLANS_KEPT = 20


class PromptArea(TextArea):
    """The prompt editor; a pasted path to an image file adds that image to the edit instead
    of typing the path (terminals paste a file dropped on them as its path)."""

    HELP_TITLE = "Text editing"

    @dataclass
    class PastedImage(Message):
        path: Path

    async def _on_paste(self, event: events.Paste) -> None:
        path = looks_like_image_path(event.text)
        if path is None:
            await super()._on_paste(event)
            return
        event.stop()
        event.prevent_default()
        self.post_message(self.PastedImage(path))


class ComposeScreen(Screen[None]):
    """Write a prompt, choose the model and parameters, generate, and see the images."""

    CSS_PATH = css_paths("compose.tcss")

    SUB_TITLE = "Compose"
    AUTO_FOCUS = "#prompt"

    # Cancel first: while a generation runs it is the key the footer must show at 80 columns
    # (Generate still answers "busy"); when idle it is hidden and Generate leads.
    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="compose.cancel",
            show=True,
            tooltip="Stop the running generation",
        ),
        Binding(
            "escape",
            "edit_prompt",
            "Edit prompt",
            id="compose.edit",
            show=False,
            tooltip="Back to the prompt editor",
        ),
        Binding(
            "ctrl+g,ctrl+enter",
            "generate",
            "Generate",
            id="compose.generate",
            show=True,
            tooltip="Generate images for the prompt (ctrl+g where ctrl+enter cannot be typed)",
        ),
        Binding(
            "ctrl+o",
            "add_image",
            "Add image",
            id="compose.add_image",
            show=True,
            tooltip="Edit an image: add a path or gen:ID as a reference (mask:PATH for a mask)",
        ),
        Binding(
            "ctrl+t",
            "draw_mask",
            "Mask",
            id="compose.mask",
            show=True,
            tooltip="Choose the area to edit with the keyboard (written as a transparent mask)",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._generation: Worker[Any] | None = None
        self._validate_timer: Timer | None = None
        self._ticker: Timer | None = None
        self._started = 0.0
        self._text_at_start = ""
        self._partial_files: list[Path] = []
        self._pending: tuple[str, dict[str, Any], int | None] | None = None
        #: The prompt the editor's text was reused from (id, its text): a changed text sent
        #: names it as the new prompt's parent.
        self._reused_from: tuple[int, str] | None = None
        self._ready = False
        self._shown: tuple[list[str], list[str]] | None = None
        #: The running request's announced retry wait and when it ends (monotonic seconds).
        self._wait: tuple[RetryWait, float] | None = None
        #: Whether the running request goes to a paid API (a cancel may then have been billed).
        self._online = False
        #: The possibly billed card whose request is being sent again, told when it was.
        self._resent_from: PossiblyBilledSlot | None = None
        #: A request is waiting on the monthly budget's question (or on the estimate for it).
        self._asking = False
        #: The model last told to the app (its status line shows it).
        self._told_model: str | None = None
        #: Edits sent from here, by ``id`` of their request (a card's regenerate sends it again).
        self._plans: dict[int, EditPlan] = {}
        self._estimate_for: object = None

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    @property
    def generating(self) -> bool:
        worker = self._generation
        return worker is not None and not worker.is_finished

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        settings = self.services.settings
        catalog = self.services.generation.catalog
        defaults = {
            "model": settings.model,
            "size": settings.size,
            "quality": settings.quality,
            "n": settings.n,
            "output_format": settings.output_format,
        }
        yield Header()
        with Horizontal(id="compose-body"):
            with Vertical(id="compose-form"):
                yield PromptArea(
                    id="prompt",
                    placeholder="Describe the image you want…",
                    tooltip="The prompt; ctrl+g (or ctrl+enter) generates",
                )
                yield EditPanel(id="edit")
                yield ParamPickers(catalog, defaults, id="pickers")
                yield Vertical(id="compose-messages")
                with Horizontal(id="compose-actions"):
                    yield Button(
                        "Generate",
                        id="generate",
                        variant="primary",
                        compact=True,
                        tooltip="Generate (ctrl+g)",
                    )
                    yield Button(
                        "Cancel", id="cancel", variant="error", compact=True, tooltip="Cancel (esc)"
                    )
                    yield Static("", id="compose-outcome", markup=False)
            yield ResultsPanel(id="results")
        yield StatusLine(id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        prompt = self.query_one("#prompt", TextArea)
        prompt.border_title = "Prompt"
        self.query_one("#results", ResultsPanel).border_title = "Results"
        self.query_one("#cancel", Button).display = False
        self._ticker = self.set_interval(0.1, self._tick, pause=True)
        self._ready = True
        if self._pending is not None:
            text, params, prompt_id = self._pending
            self._pending = None
            self.load_prompt(text, params, prompt_id=prompt_id)
        self._update_counter()
        self._schedule_validation(now=True)
        self._tell_model()

    def _tell_model(self) -> None:
        """Let the app know the picked model (the status line names it, not the default)."""
        model = str(self.query_one(ParamPickers).values()["model"])
        if model != self._told_model:
            self._told_model = model
            self.post_message(ModelChanged(model))

    # -- public ---------------------------------------------------------------------------------

    def load_prompt(
        self, text: str, params: dict[str, Any], *, prompt_id: int | None = None
    ) -> None:
        """Fill the editor with ``text`` and the pickers with whatever ``params`` holds;
        ``prompt_id`` is the prompt reused (a changed text sent becomes its child)."""
        if not self._ready:
            self._pending = (text, dict(params), prompt_id)
            return
        self._reused_from = None if prompt_id is None else (prompt_id, text)
        prompt = self.query_one("#prompt", TextArea)
        prompt.load_text(without_controls(text))  # an editor draws what it holds
        prompt.move_cursor(prompt.document.end)
        self.query_one(ParamPickers).apply(params)
        self._tell_model()
        prompt.focus()
        self._update_counter()
        self._schedule_validation(now=True)

    def start_edit(
        self, generation_id: int, prompt: str, params: dict[str, Any], *, add: bool = False
    ) -> None:
        """Edit generation ``generation_id`` with its prompt prefilled (and its parameters),
        or with ``add`` add it as one more reference to the edit being prepared."""
        panel = self.query_one(EditPanel)
        if add and panel.editing:
            self._load_source(f"gen:{generation_id}", "image", None)
            return
        self._load_source(f"gen:{generation_id}", "image", (prompt, params))

    @property
    def editing(self) -> bool:
        return self.query_one(EditPanel).editing

    def build_request(self) -> GenerationRequest:
        """The request described by the editor, the pickers and (when editing) the edit panel."""
        text = self.query_one("#prompt", TextArea).text.strip()
        values = self.query_one(ParamPickers).values()
        panel = self.query_one(EditPanel)
        if not panel.editing:
            return GenerationRequest(prompt=text, **values)
        return EditRequest(
            prompt=text,
            images=tuple(loaded.image for loaded in panel.images),
            mask=panel.mask,
            markup=panel.markup,
            input_fidelity=panel.fidelity,
            **values,
        )

    # -- editing --------------------------------------------------------------------------------

    def action_add_image(self) -> None:
        self.query_one(EditPanel).open_path_input()

    @on(Input.Submitted, "#edit-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one(EditPanel).close_path_input()
            return
        role, _, rest = text.partition(":")
        if role in ("mask", "markup") and rest:
            self._load_source(unquote_path(rest), role, None)
        else:
            self._load_source(unquote_path(text), "image", None)

    def _close_path_input(self) -> None:
        self.query_one(EditPanel).close_path_input()
        self.query_one("#prompt", TextArea).focus()

    @work(thread=True, group="edit-source", exit_on_error=False, description="Read an image")
    def _load_source(
        self,
        spec: str,
        role: str,
        prefill: tuple[str, dict[str, Any]] | None,
        name: str | None = None,
    ) -> None:
        """Resolve and read an image off the UI thread; refused in one sentence."""
        try:
            source = self.services.generation.source(spec, role)
            loaded = Loaded(source, source.read(), name)
        except DalleTuiError as exc:
            self.app.call_from_thread(
                self.notify,
                printable_message(exc),
                title="Cannot use that image",
                severity="warning",
                markup=False,
            )
            return
        self.app.call_from_thread(self._source_loaded, loaded, prefill)

    def _source_loaded(self, loaded: Loaded, prefill: tuple[str, dict[str, Any]] | None) -> None:
        panel = self.query_one(EditPanel)
        if prefill is not None:
            panel.set_images([loaded])
            text, params = prefill
            self.load_prompt(text, params)
        elif loaded.source.role == "image" and len(panel.images) >= MAX_IMAGES:
            self.notify(
                f"An edit takes at most {MAX_IMAGES} images.", title="Not added", severity="warning"
            )
            return
        else:
            panel.add(loaded)
        if panel.path_open:
            self._close_path_input()
        self._editing_changed()

    def action_draw_mask(self) -> None:
        panel = self.query_one(EditPanel)
        first = panel.first_image()
        if first is None:
            self.notify(
                "Add an image to edit first (e on a result, ctrl+o for a file).",
                title="No image",
                severity="warning",
            )
            return
        size = image_size(first.image, oriented=False)
        if size is None:
            self.notify("The first image cannot be read.", title="No mask", severity="warning")
            return
        from dalletui.tui.widgets.mask_picker import MaskPicker

        def chosen(rect: Any) -> None:
            if rect is not None:
                self._write_mask(first.source.path, size, rect)

        self.app.push_screen(MaskPicker(first.source.path, size), chosen)

    @work(thread=True, group="edit-source", exit_on_error=False, description="Write the mask")
    def _write_mask(self, source: Path, size: tuple[int, int], rect: Any) -> None:
        from dalletui.generation.masks import write_mask

        folder = self.services.settings.home / "masks"
        try:
            path = write_mask(folder, size, rect)
        except OSError as exc:
            self.app.call_from_thread(
                self.notify,
                printable(f"Cannot write the mask in {folder}: {exc.strerror or exc}."),
                title="No mask",
                severity="error",
                markup=False,
            )
            return
        where = f"drawn, {rect.width}×{rect.height} px at x {rect.x}, y {rect.y}"
        self._load_source(str(path), "mask", None, where)

    @on(EditPanel.Changed)
    def _edit_changed(self) -> None:
        self._editing_changed()

    @on(EditPanel.Cleared)
    def _edit_cleared(self) -> None:
        self._editing_changed()
        self.query_one("#prompt", TextArea).focus()

    def _editing_changed(self) -> None:
        editing = self.editing
        self.query_one("#generate", Button).label = "Edit" if editing else "Generate"
        self.query_one(ParamPickers).set_editing(editing)
        self._update_fidelities()
        self._schedule_validation()
        self.refresh_bindings()

    def _update_fidelities(self) -> None:
        spec = self.query_one(ParamPickers).spec
        edits = getattr(spec, "edits", None)
        values = tuple(getattr(edits, "input_fidelity", ()) or ())
        self.query_one(EditPanel).set_fidelities(values)

    @work(thread=True, exclusive=True, group="estimate", exit_on_error=False)
    def _estimate(self, request: GenerationRequest) -> None:
        from dalletui.services.usage import cost_phrase

        offline = self.services.generation.provider_name == "offline"
        phrase = cost_phrase(self.services.usage.estimate(request, offline))
        self.app.call_from_thread(self._show_estimate, request, phrase)

    def _show_estimate(self, request: GenerationRequest, phrase: str) -> None:
        if request is self._estimate_for and self.editing:
            self.query_one(EditPanel).set_estimate(phrase.capitalize())

    @on(PromptArea.PastedImage)
    def _pasted_image(self, event: PromptArea.PastedImage) -> None:
        self._load_source(str(event.path), "image", None)

    # -- validation -----------------------------------------------------------------------------

    @on(TextArea.Changed, "#prompt")
    def _prompt_changed(self) -> None:
        self._update_counter()
        self._schedule_validation()

    @on(ParamPickers.Changed)
    def _params_changed(self) -> None:
        self._update_counter()
        self._schedule_validation()
        self._tell_model()

    def _update_counter(self) -> None:
        prompt = self.query_one("#prompt", TextArea)
        limit = self.query_one(ParamPickers).spec.max_prompt_chars
        length = len(prompt.text.strip())
        prompt.border_subtitle = f"{length:,} / {limit:,}"
        prompt.set_class(length > limit, "-over-limit")

    def _schedule_validation(self, now: bool = False) -> None:
        if self._validate_timer is not None:
            self._validate_timer.stop()
            self._validate_timer = None
        if now:
            self._validate()
        else:
            self._validate_timer = self.set_timer(VALIDATE_DELAY, self._validate)

    def _validate(self) -> None:
        """Show the current request's problems and warnings (an empty prompt is not one yet);
        when editing, its estimate too."""
        request = self.build_request()
        self._check(request, blank_prompt_ok=True)
        if isinstance(request, EditRequest):
            self._estimate_for = request
            self._estimate(request)

    def _check(self, request: GenerationRequest, *, blank_prompt_ok: bool = False) -> list[str]:
        """Validate ``request`` and show the outcome inline; the problems (none: it may be sent)."""
        problems: list[str] = []
        warnings: list[str] = []
        try:
            warnings = self.services.generation.validate(request)
        except ValidationError as err:
            problems = err.problems
        if not request.prompt:
            # The other parameters are still worth checking while the editor is empty.
            try:
                warnings = self.services.generation.validate(
                    replace(request, prompt=_PLACEHOLDER_PROMPT)
                )
                if blank_prompt_ok:
                    problems = []
            except ValidationError as err:
                problems = err.problems if blank_prompt_ok else problems
        self._show_messages(problems, warnings)
        return problems

    def _show_messages(self, problems: list[str], warnings: list[str]) -> None:
        if (problems, warnings) == self._shown:
            return
        self._shown = (list(problems), list(warnings))
        box = self.query_one("#compose-messages", Vertical)
        box.remove_children()
        box.mount_all(
            [
                *(Static(printable(f"✗ {p}"), classes="problem", markup=False) for p in problems),
                *(Static(printable(f"! {w}"), classes="warning", markup=False) for w in warnings),
            ]
        )
        box.display = bool(problems or warnings)

    # -- generating -----------------------------------------------------------------------------

    def action_generate(self) -> None:
        self.generate(self.build_request())

    @on(Button.Pressed, "#generate")
    def _generate_pressed(self) -> None:
        self.action_generate()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def generate(self, request: GenerationRequest) -> Worker[Any] | None:
        """Validate ``request`` and start generating it; None when refused."""
        if self._refuse_when_busy():
            return None
        if self._validate_timer is not None:
            self._validate_timer.stop()
        problems = self._check(request)
        if problems:
            self.notify(
                printable("\n".join(problems)),
                title="Not sent",
                severity="warning",
                markup=False,
            )
            return None
        if isinstance(request, EditRequest) and self._plan_for(request) is None:
            self.notify(
                "That edit's images are no longer held; press e on its image to edit it again.",
                title="Not sent",
                severity="warning",
            )
            return None
        self._online = self.services.generation.provider_name != "offline"
        return self._start_within_budget(request)

    def retry(
        self,
        generation_id: int,
        request: GenerationRequest,
        card: PossiblyBilledSlot | None = None,
    ) -> Worker[Any] | None:
        """Send possibly billed generation ``generation_id`` again, once; None when refused.

        ``request`` is what its card shows; the service rebuilds the request from the record.
        ``card`` (the one ``r`` was pressed on) is told the new generation's number.
        """
        if self._refuse_when_busy():
            return None
        self._online = True  # only a request to the API can be possibly billed
        return self._start_within_budget(request, generation_id, card)

    def _start_within_budget(
        self,
        request: GenerationRequest,
        retry_of: int | None = None,
        card: PossiblyBilledSlot | None = None,
    ) -> Worker[Any] | None:
        """Start now; or, with a monthly budget and a paid API, ask first when the estimate
        may pass the budget (``UsageService.budget_question``). None while it asks."""
        if self.services.usage.monthly_budget is None or not self._online:
            worker = self._start(request, retry_of=retry_of)
            self._resent_from = card
            return worker
        self._asking = True
        self._check_budget(request, retry_of, card)
        return None

    @work(thread=True, group="budget", exit_on_error=False, description="Check the budget")
    def _check_budget(
        self, request: GenerationRequest, retry_of: int | None, card: PossiblyBilledSlot | None
    ) -> None:
        try:
            question = self.services.usage.budget_question(request, offline=False)
        except BaseException:
            self.app.call_from_thread(setattr, self, "_asking", False)
            raise  # reported by _worker_changed; nothing is sent
        self.app.call_from_thread(self._ask_budget, request, question, retry_of, card)

    def _ask_budget(
        self,
        request: GenerationRequest,
        question: str | None,
        retry_of: int | None,
        card: PossiblyBilledSlot | None,
    ) -> None:
        def answered(send: bool | None) -> None:
            self._asking = False
            if send:
                self._start(request, retry_of=retry_of)
                self._resent_from = card
            else:
                line = self.query_one("#compose-outcome", Static)
                line.update("Not sent (monthly budget)")
                line.set_classes("-cancelled")

        if question is None:
            answered(True)
        else:
            self.app.push_screen(ConfirmModal("Monthly budget", question, yes="Send"), answered)

    def _refuse_when_busy(self) -> bool:
        if not self.generating and not self._asking:
            return False
        self.notify(
            "A generation is already running; esc cancels it.",
            title="Busy",
            severity="warning",
        )
        return True

    def _start(self, request: GenerationRequest, retry_of: int | None = None) -> Worker[Any]:
        self._resent_from = None
        self._text_at_start = self.query_one("#prompt", TextArea).text
        self._set_running(True)
        self._generation = self._run_generation(request, retry_of)
        return self._generation

    def _set_running(self, running: bool) -> None:
        self.query_one("#generate", Button).display = not running
        self.query_one("#cancel", Button).display = running
        outcome = self.query_one("#compose-outcome", Static)
        self._wait = None
        if running:
            outcome.update("")
            outcome.set_classes("")
            self._started = time.monotonic()
            if self._ticker is not None:
                self._ticker.resume()
        elif self._ticker is not None:
            self._ticker.pause()
        self.refresh_bindings()

    def _tick(self) -> None:
        live = self.query_one("#results", ResultsPanel).live
        clock = time.monotonic()
        if live is not None:
            live.elapsed = clock - self._started
        if self._wait is not None:
            wait, ends = self._wait
            text = wait_text(wait, ends - clock)
            if live is not None:
                live.waiting = text
            line = self.query_one("#compose-outcome", Static)
            line.update(printable(text, single_line=True))
            line.set_classes("-waiting")

    def _on_wait(self, wait: RetryWait) -> None:
        """The provider announced a wait before retrying: show it now, then count it down."""
        self._wait = (wait, time.monotonic() + wait.seconds)
        self._tick()

    @work(exclusive=True, group="generate", exit_on_error=False, description="Generate images")
    async def _run_generation(
        self, request: GenerationRequest, retry_of: int | None = None
    ) -> tuple[GenerationRequest, GenerationOutcome]:
        results = self.query_one("#results", ResultsPanel)
        live = await results.start(request)
        token = uuid.uuid4().hex[:12]

        async def on_partial(index: int, data: bytes) -> None:
            path = await asyncio.to_thread(
                self._write_partial, token, index, data, request.output_format
            )
            self._partial_files.append(path)
            if live.is_attached:
                await live.show_partial(index, path)

        partial = on_partial if request.partial_images else None
        generation = self.services.generation
        plan = self._plan_for(request) if isinstance(request, EditRequest) else None
        if retry_of is None and plan is not None:
            outcome = await generation.edit(plan, on_partial=partial, on_wait=self._on_wait)
        elif retry_of is None:
            outcome = await generation.generate(
                request,
                on_partial=partial,
                on_wait=self._on_wait,
                parent_prompt_id=self.parent_for(request.prompt),
            )
            if outcome.prompt is not None and self._reused_from is not None:
                # Changed again and sent again: the next version comes from this one.
                self._reused_from = (int(outcome.prompt.id), outcome.prompt.text)
        else:
            outcome = await generation.retry(retry_of, on_partial=partial, on_wait=self._on_wait)
        return request, outcome

    def parent_for(self, text: str) -> int | None:
        """The prompt a request of ``text`` was made from: the one reused, when changed."""
        if self._reused_from is None:
            return None
        source_id, source_text = self._reused_from
        return None if same_prompt(text, source_text) else source_id

    def _plan_for(self, request: EditRequest) -> EditPlan | None:
        """The edit ``request`` belongs to: one sent before (a card's regenerate), or the one
        the edit panel describes now; None when neither holds its images any more."""
        from dalletui.services.editing import plan_edit

        plan = self._plans.get(id(request))
        if plan is None:
            panel = self.query_one(EditPanel)
            held = tuple(loaded.image for loaded in panel.images)
            if held != request.images or (panel.mask or panel.markup) != (
                request.mask or request.markup
            ):
                return None
            plan = plan_edit(request, panel.sources)
            self._plans[id(request)] = plan
            while len(self._plans) > PLANS_KEPT:
                del self._plans[next(iter(self._plans))]
        return plan

    def _write_partial(self, token: str, index: int, data: bytes, fmt: str) -> Path:
        folder = self.services.settings.home / "cache" / "partials"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{token}-{index}.{'jpg' if fmt == 'jpeg' else fmt}"
        path.write_bytes(data)
        return path

    @on(Worker.StateChanged)
    async def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if worker.group == "generate" and state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            await self._generation_finished(worker, state)
        elif state == WorkerState.ERROR and worker.error is not None:
            self._report(worker.error)

    async def _generation_finished(self, worker: Worker[Any], state: WorkerState) -> None:
        if worker is not self._generation:
            return
        results = self.query_one("#results", ResultsPanel)
        outcome_line = self.query_one("#compose-outcome", Static)
        request: GenerationRequest | None = getattr(results.live, "request", None)
        message = self._cancel_message()
        self._set_running(False)
        if state == WorkerState.SUCCESS:
            request, outcome = worker.result
            await self._show_outcome(request, outcome)
        elif state == WorkerState.CANCELLED:
            outcome_line.update("Cancelled")
            outcome_line.set_classes("-cancelled")
            await results.add(
                [
                    ProblemSlot(
                        heading="Cancelled",
                        message=message,
                        prompt_text=request.prompt if request else "",
                        request=request,
                        cancelled=True,
                    )
                ]
            )
        else:
            error = worker.error
            if isinstance(error, ValidationError):
                self._show_messages(error.problems, [])
            self._report(error)
            outcome_line.update(f"✗ {getattr(error, 'title', 'Error')}")
            outcome_line.set_classes("-failed")
            await results.add(
                [
                    ProblemSlot(
                        heading=_heading(error),
                        message=str(error),
                        prompt_text=request.prompt if request else "",
                        request=request,
                    )
                ]
            )
        self._forget_partials()
        self.post_message(DataChanged("generation"))

    def _cancel_message(self) -> str:
        """What a cancel right now leaves behind (asked before the running state is cleared)."""
        if self._wait is not None and self._wait[1] > time.monotonic():
            # Between attempts: the last one was refused (e.g. a 429) and the next not yet sent.
            return (
                f"Cancelled while waiting to retry ({self._wait[0].reason}); nothing more was sent."
            )
        if self._online:
            return (
                "Cancelled while the API was working on it; it may have been billed "
                "(Usage counts it apart). The prompt is still in the editor."
            )
        return "Stopped before the image was finished; nothing was saved."

    async def _show_outcome(self, request: GenerationRequest, outcome: GenerationOutcome) -> None:
        results = self.query_one("#results", ResultsPanel)
        prompt: Prompt = outcome.prompt
        card, self._resent_from = self._resent_from, None
        plan = self._plans.get(id(request)) if isinstance(request, EditRequest) else None
        made_from = plan.sources[0].label if plan is not None and plan.sources else None
        if card is not None and card.is_attached and outcome.generations:
            card.sent_again(min(g.id for g in outcome.generations))
        slots: list[ResultSlot] = [
            ImageSlot(
                generation,
                prompt_text=prompt.text,
                prompt_id=prompt.id,
                favorite=prompt.is_favorite,
                request=request,
                # Each image's own cost, as recorded with it (never a share of the total).
                cost=outcome.costs.get(generation.id),
                made_from=made_from,
            )
            for generation in outcome.succeeded
        ]
        unknown = [g for g in outcome.generations if g.status == "possibly_billed"]
        if unknown and outcome.error is not None:
            slots.append(
                PossiblyBilledSlot(
                    generation_id=min(g.id for g in unknown),
                    message=str(outcome.error),
                    request_id=outcome.error.request_id or unknown[0].request_id,
                    images=len(unknown),
                    prompt_text=prompt.text,
                    prompt_id=prompt.id,
                    favorite=prompt.is_favorite,
                    request=request,
                )
            )
        failed = [
            g for g in outcome.generations if g.status not in ("succeeded", "possibly_billed")
        ]
        if failed:
            first = failed[0]
            count = "" if len(failed) == 1 else f" ({len(failed)} images)"
            slots.append(
                ProblemSlot(
                    heading=f"✗ {kind_label(first.error_kind)}{count}",
                    message=first.error_message or str(outcome.error or "Failed."),
                    prompt_text=prompt.text,
                    prompt_id=prompt.id,
                    favorite=prompt.is_favorite,
                    request=request,
                )
            )
        await results.add(slots)
        made = len(outcome.succeeded)
        line = self.query_one("#compose-outcome", Static)
        if outcome.possibly_billed:
            assert outcome.error is not None
            self.notify(
                printable_message(outcome.error),
                title="Possibly billed",
                severity="warning",
                timeout=10,
                markup=False,
            )
            line.update("! Possibly billed · cost unknown")
            line.set_classes("-possibly-billed")
        elif outcome.error is not None:
            self._report(outcome.error)
            line.update(f"✗ {kind_label(outcome.error.kind)}")
            line.set_classes("-failed")
        else:
            images = "1 image" if made == 1 else f"{made} images"
            line.update(f"✓ {images} · {outcome.seconds:.1f}s · {format_money(outcome.cost)}")
            line.set_classes("-done")
        if made and self._may_take_focus():
            slots[0].focus()

    def _may_take_focus(self) -> bool:
        """Move to the new result unless the user has typed since or is picking from a list."""
        if self.query_one("#prompt", TextArea).text != self._text_at_start:
            return False
        focused = self.focused
        if focused is None:
            return True
        picking = any(isinstance(node, Select) and node.expanded for node in focused.ancestors)
        form = self.query_one("#compose-form")
        return not picking and (focused is form or form in focused.ancestors)

    def _report(self, error: BaseException | None) -> None:
        if error is None:
            return
        if isinstance(error, DalleTuiError):
            message = printable_message(error)
            self.notify(message, title=error.title, severity="error", markup=False)
        else:
            message = printable_message(f"Unexpected error: {error}")
            self.notify(message, title="Error", severity="error", markup=False)

    def _forget_partials(self) -> None:
        files, self._partial_files = self._partial_files, []
        if files:
            self._delete_files(files)

    @work(thread=True, group="cleanup", exit_on_error=False)
    def _delete_files(self, files: list[Path]) -> None:
        for path in files:
            path.unlink(missing_ok=True)

    def action_cancel(self) -> None:
        if self._generation is not None and self.generating:
            self._generation.cancel()

    def action_edit_prompt(self) -> None:
        self.query_one("#prompt", TextArea).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.generating
        if action == "draw_mask":
            return self.editing
        if action == "edit_prompt":
            focused = self.focused
            return focused is not None and focused.id != "prompt"
        return True

    # -- result actions -------------------------------------------------------------------------

    @on(ResultSlot.Action)
    def _result_action(self, event: ResultSlot.Action) -> None:
        slot = event.slot
        if event.action == "open" and slot.file_path:
            show_in_viewer(self.app, slot.file_path)
        elif event.action == "copy" and slot.file_path:
            copy_path(self.app, slot.file_path)
        elif event.action == "regenerate" and slot.request is not None:
            self.generate(slot.request)
        elif event.action == "retry" and slot.retry_id is not None and slot.request is not None:
            card = slot if isinstance(slot, PossiblyBilledSlot) else None
            self.retry(slot.retry_id, slot.request, card)
        elif event.action == "favorite" and slot.prompt_id is not None:
            self._toggle_favorite(slot.prompt_id)

    @work(thread=True, exclusive=True, group="favorite", exit_on_error=False)
    def _toggle_favorite(self, prompt_id: int) -> None:
        prompt = self.services.history.toggle_favorite(prompt_id)
        self.app.call_from_thread(self._favorite_changed, prompt)

    def _favorite_changed(self, prompt: Prompt) -> None:
        self.query_one("#results", ResultsPanel).set_favorite(prompt.id, prompt.is_favorite)
        self.notify("★ Added to favourites" if prompt.is_favorite else "Removed from favourites")
        self.post_message(DataChanged("favorite"))


def _heading(error: BaseException | None) -> str:
    if isinstance(error, GenerationError):
        return f"✗ {kind_label(error.kind)}"
    if isinstance(error, DalleTuiError):
        return f"✗ {error.title}"
    return "✗ Unexpected error"
