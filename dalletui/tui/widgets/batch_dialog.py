"""Run a template as a batch: the count, the images, the estimate and the question, first.

The dialog plans in a thread worker (the planner reads variables and past costs) each time the
mode, sample size, seed or concurrency changes, and shows exactly what Run would send. Above the
thresholds (``batch_confirm_images`` / ``batch_confirm_cost`` / ``monthly_budget``) it shows the
planner's question; Run is then the answer. Planning errors are shown as their sentences.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from dalletui.errors import ValidationError
from dalletui.formatting import shorten
from dalletui.textsafe import printable, printable_message
from dalletui.tui.styles import css_paths

if TYPE_CHECKING:
    from dalletui.services.batch_plan import BatchPlan
    from dalletui.services.context import Services

MUTED = "$foreground-muted"
#: Seconds of quiet after an edit before planning again.
PLAN_DELAY = 0.25
MODES = [
    ("every combination (product)", "product"),
    ("position by position (zip)", "zip"),
    ("a random sample (sample:K)", "sample"),
]
#: What a sample draws when first chosen.
DEFAULT_SAMPLE = 10
MAX_CONCURRENCY = 32
#: How many of the planned prompts the dialog lists.
SHOWN_PROMPTS = 3


@dataclass(frozen=True)
class BatchStart:
    """What the dialog answers with: the plan as shown, and how many requests at once."""

    plan: BatchPlan
    concurrency: int


@dataclass(frozen=True)
class _Planned:
    plan: BatchPlan
    question: str | None


class BatchDialog(ModalScreen[BatchStart | None]):
    """Mode, sample size and seed, concurrency; the plan's count, estimate and question; Run."""

    CSS_PATH = css_paths("batches.tcss")

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="batch-dialog.cancel", tooltip="Send nothing"),
        Binding(
            "ctrl+s",
            "run",
            "Run",
            id="batch-dialog.run",
            tooltip="Run the batch as shown",
            priority=True,
        ),
    ]

    def __init__(self, services: Services, template_name: str, body: str) -> None:
        super().__init__()
        self.services = services
        self.template_name = template_name
        self.body = body
        self.planned: _Planned | None = None
        self.problems: list[str] = []
        self._serial = 0
        self._timer: Timer | None = None
        self._product_count: int | None = None
        self._shown_serial = -1

    def compose(self) -> ComposeResult:
        settings = self.services.settings
        with Vertical(id="batch-dialog") as dialog:
            dialog.border_title = Content(
                printable(f"Run '{self.template_name}' as a batch", single_line=True)
            )
            yield Static(
                Content.styled(printable(self.body, single_line=True), MUTED),
                id="batch-dialog-body",
            )
            with Horizontal(classes="batch-dialog-row"):
                yield Label("Mode", classes="batch-dialog-label")
                yield Select(MODES, value="product", allow_blank=False, id="batch-mode")
            with Horizontal(classes="batch-dialog-row", id="batch-sample-row"):
                yield Label("Draw", classes="batch-dialog-label")
                yield Input(
                    str(DEFAULT_SAMPLE),
                    type="integer",
                    id="batch-k",
                    tooltip="How many prompts the sample draws",
                )
                yield Label("Seed", classes="batch-dialog-label -short")
                yield Input(
                    "", type="integer", id="batch-seed", tooltip="The same seed draws the same"
                )
            with Horizontal(classes="batch-dialog-row"):
                yield Label("At once", classes="batch-dialog-label")
                yield Input(
                    str(settings.batch_concurrency),
                    type="integer",
                    id="batch-concurrency",
                    tooltip=f"Requests in flight at once (1 to {MAX_CONCURRENCY})",
                )
            yield Static(id="batch-dialog-summary")
            yield Static(id="batch-dialog-question")
            with Horizontal(id="batch-dialog-buttons"):
                yield Static(
                    Content.styled("ctrl+s runs · esc cancels", MUTED), id="batch-dialog-hint"
                )
                yield Button("Run", id="batch-run", variant="primary", compact=True)
                yield Button("Cancel", id="batch-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#batch-sample-row").display = False
        self.query_one("#batch-run", Button).disabled = True
        self.query_one("#batch-dialog-summary", Static).update(Content.styled("Planning…", MUTED))
        self.query_one("#batch-dialog-question", Static).display = False
        self.query_one("#batch-mode", Select).focus()
        self._plan_now()

    @property
    def settled(self) -> bool:
        """True once what is shown was planned from the inputs as they are now."""
        return self._timer is None and self._shown_serial == self._serial

    # -- inputs --------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        value = self.query_one("#batch-mode", Select).value
        return str(value) if isinstance(value, str) else "product"

    def _mode_text(self) -> tuple[str, int | None]:
        if self.mode != "sample":
            return self.mode, None
        k = self.query_one("#batch-k", Input).value.strip() or "0"
        seed = self.query_one("#batch-seed", Input).value.strip()
        try:
            seed_value = int(seed) if seed else None
        except ValueError:
            seed_value = None
        return f"sample:{k.lstrip('+')}", seed_value

    def concurrency(self) -> int | None:
        text = self.query_one("#batch-concurrency", Input).value.strip()
        try:
            value = int(text)
        except ValueError:
            return None
        return value if 1 <= value <= MAX_CONCURRENCY else None

    @on(Select.Changed, "#batch-mode")
    def _mode_changed(self) -> None:
        sample = self.mode == "sample"
        self.query_one("#batch-sample-row").display = sample
        seed = self.query_one("#batch-seed", Input)
        if sample and not seed.value.strip():
            # A seed is chosen now and shown, so the sample planned is the sample sent.
            seed.value = str(random.SystemRandom().randrange(2**31))
        self._schedule()

    @on(Input.Changed)
    def _input_changed(self) -> None:
        self._schedule()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_run()

    def _schedule(self) -> None:
        self._serial += 1
        self.query_one("#batch-run", Button).disabled = True
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PLAN_DELAY, self._plan_now)

    def _plan_now(self) -> None:
        self._timer = None
        self._serial += 1
        mode, seed = self._mode_text()
        self._plan(self._serial, mode, seed)

    # -- planning ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="batch-plan", exit_on_error=False)
    def _plan(self, serial: int, mode: str, seed: int | None) -> None:
        from dalletui.services.batch_plan import confirm_question

        services = self.services
        try:
            plan = services.batches.planner().plan(self.template_name, mode=mode, seed=seed)
        except ValidationError as error:
            self.app.call_from_thread(self._show_problems, serial, error.problems)
            return
        spend = Decimal(str(services.usage.this_month().cost or 0))
        question = confirm_question(plan, services.settings, spend)
        self.app.call_from_thread(self._show_plan, serial, _Planned(plan, question))

    def _show_problems(self, serial: int, problems: list[str]) -> None:
        if serial != self._serial:
            return
        self.planned = None
        self.problems = list(problems)
        self._shown_serial = serial
        summary = self.query_one("#batch-dialog-summary", Static)
        summary.update(
            Content("\n").join(
                Content.styled(printable(f"✗ {problem}"), "$error") for problem in problems
            )
        )
        self.query_one("#batch-dialog-question", Static).display = False
        self.query_one("#batch-run", Button).disabled = True

    def _show_plan(self, serial: int, planned: _Planned) -> None:
        if serial != self._serial:
            return
        plan = planned.plan
        self.planned = planned
        self._shown_serial = serial
        self.problems = []
        if plan.mode == "product":
            self._product_count = plan.count
        request = plan.request
        prompts = f"{plan.count:,} prompt" + ("" if plan.count == 1 else "s")
        images = f"{plan.images:,} image" + ("" if plan.images == 1 else "s")
        lines = [
            Content.assemble(
                (prompts, "bold"),
                " · ",
                (images, "bold"),
                (
                    f"  ({printable(request.model, single_line=True)}, {request.size}, "
                    f"{request.quality}, n={request.n})",
                    MUTED,
                ),
            ),
            Content.assemble("Estimate: ", (printable(plan.estimate.describe()), "bold")),
        ]
        for number, item in enumerate(plan.items[:SHOWN_PROMPTS], start=1):
            text = shorten(printable(item.text, single_line=True), 72)
            lines.append(Content.assemble((f"{number}. ", MUTED), text))
        if plan.count > SHOWN_PROMPTS:
            lines.append(Content.styled(f"   … and {plan.count - SHOWN_PROMPTS:,} more", MUTED))
        if self.concurrency() is None:
            lines.append(
                Content.styled(
                    f"✗ Requests at once must be a whole number from 1 to {MAX_CONCURRENCY}.",
                    "$error",
                )
            )
        lines.extend(
            Content.styled(printable(f"! {warning}"), "$warning") for warning in plan.warnings
        )
        self.query_one("#batch-dialog-summary", Static).update(Content("\n").join(lines))
        question = self.query_one("#batch-dialog-question", Static)
        question.display = planned.question is not None
        question.update(Content(printable_message(planned.question or "")))
        run = self.query_one("#batch-run", Button)
        run.label = f"Send {images}" if planned.question else "Run"
        run.disabled = self.concurrency() is None

    # -- answers -----------------------------------------------------------------------------

    @on(Button.Pressed, "#batch-run")
    def _run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_run()

    @on(Button.Pressed, "#batch-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_run(self) -> None:
        """Run what is shown (never a plan of other inputs: planning again disables Run)."""
        concurrency = self.concurrency()
        if self.planned is None or concurrency is None or not self.settled:
            self.app.bell()
            return
        if self.query_one("#batch-run", Button).disabled:
            self.app.bell()
            return
        self.dismiss(BatchStart(self.planned.plan, concurrency))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "batch-plan":
            error: Any = event.worker.error
            self._timer = None
            self._show_problems(self._serial, [printable_message(error)])
