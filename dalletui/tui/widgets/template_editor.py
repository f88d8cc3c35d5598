"""Modal editors for a template (live highlight, count and samples) and for a variable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea
from textual.worker import Worker, WorkerState

from dalletui.errors import DalleTuiError, ValidationError
from dalletui.services.templates import name_problems, values_from_text, values_problems
from dalletui.textsafe import printable, without_controls
from dalletui.tui.styles import css_paths
from dalletui.tui.widgets.template_preview import PROBLEM_STYLE, TemplatePreview

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.templates import Template, TemplateVariable


def _problems_content(problems: Sequence[str]) -> Content:
    return Content("\n").join(Content.styled(printable(f"✗ {p}"), PROBLEM_STYLE) for p in problems)


class _Editor(ModalScreen[int | None]):
    """Shared shape: a framed dialog, ctrl+s saves in a thread worker, escape cancels."""

    CSS_PATH = css_paths("templates.tcss")

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="editor.save", tooltip="Save and close"),
        Binding("escape", "cancel", "Cancel", id="editor.cancel", tooltip="Close without saving"),
    ]

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    def problems_and_buttons(self) -> ComposeResult:
        """Why a save failed, in a bounded area that scrolls; the buttons docked under it, so
        that no number of problems pushes them off a 24-line screen."""
        with VerticalScroll(id="editor-problems-scroll"):
            yield Static(id="editor-problems")
        with Horizontal(classes="editor-buttons"):
            yield Static("ctrl+s save · esc cancel", classes="editor-hint")
            yield Button("Cancel", id="editor-cancel", compact=True)
            yield Button("Save", id="editor-save", variant="primary", compact=True)

    def show_problems(self, problems: Sequence[str]) -> None:
        self.query_one("#editor-problems", Static).update(_problems_content(problems))
        area = self.query_one("#editor-problems-scroll", VerticalScroll)
        area.display = bool(problems)
        area.scroll_home(animate=False)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        self.save()

    def save(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @on(Button.Pressed, "#editor-save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#editor-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Worker.StateChanged)
    def _saved(self, event: Worker.StateChanged) -> None:
        """The one place save results land: close with the row id, or show why not."""
        if event.worker.group != "editor-save":
            return
        if event.state == WorkerState.SUCCESS:
            self.dismiss(event.worker.result)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, ValidationError):
                self.show_problems(error.problems)
            elif isinstance(error, DalleTuiError):
                self.show_problems([str(error)])
            else:
                self.show_problems([f"Could not save: {error}"])


class TemplateEditor(_Editor):
    """Create or edit a template; the preview below the body follows every keystroke."""

    def __init__(
        self, known: Mapping[str, Sequence[str]], template: Template | None = None
    ) -> None:
        super().__init__()
        self.known = known
        self.template = template

    def compose(self) -> ComposeResult:
        template = self.template
        with Vertical(id="template-editor", classes="templates-dialog") as dialog:
            # Content, not a str: a name is never read as markup.
            dialog.border_title = Content(
                "New template"
                if template is None
                else printable(f"Edit template · {template.name}", single_line=True)
            )
            with Grid(classes="editor-fields"):
                yield Label("Name", classes="editor-label")
                # Stored text goes back into editors without controls (they would be drawn).
                yield Input(
                    without_controls(template.name) if template else "",
                    placeholder="portrait",
                    id="template-name",
                    compact=True,
                )
                yield Label("About", classes="editor-label")
                yield Input(
                    without_controls(template.description) if template else "",
                    placeholder="what it is for (optional)",
                    id="template-description",
                    compact=True,
                )
            yield Label(
                "Body · {name} is a placeholder, {a|b} gives a and b, {{ }} are braces",
                classes="editor-section",
                markup=False,
            )
            yield TextArea(
                without_controls(template.body) if template else "",
                id="template-body",
                soft_wrap=True,
                tab_behavior="focus",
                placeholder="a {style} portrait of {subject}, {light} light",
            )
            yield Label("Preview", classes="editor-section")
            with VerticalScroll(id="template-preview-scroll"):
                yield TemplatePreview(id="template-preview")
            yield from self.problems_and_buttons()

    def on_mount(self) -> None:
        self.query_one("#editor-problems-scroll").display = False
        self._refresh_preview()
        self.query_one("#template-name" if self.template is None else "#template-body").focus()

    @on(TextArea.Changed, "#template-body")
    def _body_changed(self) -> None:
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        body = self.query_one("#template-body", TextArea).text
        self.query_one(TemplatePreview).show(body, self.known, samples=3)

    def save(self) -> None:
        name = self.query_one("#template-name", Input).value.strip()
        body = self.query_one("#template-body", TextArea).text
        description = self.query_one("#template-description", Input).value
        problems = []
        if not name:
            problems.append("The template needs a name.")
        if not body.strip():
            problems.append("The template body is empty.")
        self.show_problems(problems)
        if not problems:
            self._save(name, body, description)

    @work(thread=True, exclusive=True, group="editor-save", exit_on_error=False)
    def _save(self, name: str, body: str, description: str) -> int:
        templates = self.services.templates
        if self.template is None:
            return int(templates.create_template(name, body, description).id)
        updated = templates.update_template(
            self.template.id, name=name, body=body, description=description
        )
        return int(updated.id)


class VariableEditor(_Editor):
    """Create or edit a variable: a name, its values one a line, a description."""

    def __init__(
        self,
        existing: Sequence[str],
        variable: TemplateVariable | None = None,
        used_by: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.existing = set(existing)
        self.variable = variable
        self.used_by = list(used_by)

    def compose(self) -> ComposeResult:
        variable = self.variable
        with Vertical(id="variable-editor", classes="templates-dialog") as dialog:
            dialog.border_title = Content(
                "New variable"
                if variable is None
                else printable(f"Edit variable · {variable.name}", single_line=True)
            )
            with Grid(classes="editor-fields"):
                yield Label("Name", classes="editor-label")
                yield Input(
                    without_controls(variable.name) if variable else "",
                    placeholder="style  (letters, digits and _)",
                    id="variable-name",
                    compact=True,
                )
                yield Label("About", classes="editor-label")
                yield Input(
                    without_controls(variable.description) if variable else "",
                    placeholder="what the values are (optional)",
                    id="variable-description",
                    compact=True,
                )
            yield Label("Values · one a line", classes="editor-section")
            yield TextArea(
                without_controls("\n".join(variable.values)) if variable else "",
                id="variable-values",
                soft_wrap=False,
                tab_behavior="focus",
                placeholder="watercolour\noil painting\npixel art",
            )
            yield Static(id="variable-check")
            yield from self.problems_and_buttons()

    def on_mount(self) -> None:
        self.query_one("#editor-problems-scroll").display = False
        self._update_check()
        self.query_one("#variable-name" if self.variable is None else "#variable-values").focus()

    def _entered(self) -> tuple[str, list[str]]:
        name = self.query_one("#variable-name", Input).value.strip()
        values = values_from_text(self.query_one("#variable-values", TextArea).text)
        return name, values

    def _problems(self, name: str, values: list[str], *, typed_only: bool = False) -> list[str]:
        problems = name_problems(name) if name or not typed_only else []
        if values or not typed_only:
            problems += values_problems(name, values)
        renamed = self.variable is not None and name != self.variable.name
        if name and (self.variable is None or renamed) and name in self.existing:
            problems.append(f"A variable named '{name}' already exists.")
        return problems

    @on(Input.Changed, "#variable-name")
    @on(TextArea.Changed, "#variable-values")
    def _changed(self) -> None:
        self._update_check()

    def _update_check(self, *, force: bool = False) -> list[str]:
        """Live feedback: the value count, or what is wrong, and what a rename breaks."""
        name, values = self._entered()
        # Nothing is asked for before it is typed, or before the user tries to save.
        problems = self._problems(name, values, typed_only=not force)
        check = self.query_one("#variable-check", Static)
        if problems:
            check.update(_problems_content(problems))
            return problems
        count = len(values)
        lines = [
            Content.assemble(
                ("✓ ", "$success"),
                (f"{count} value{'s' if count != 1 else ''}", "bold"),
                (
                    printable(f" for {{{name}}}", single_line=True) if name else "",
                    "$foreground-muted",
                ),
            )
        ]
        if self.variable is not None and name != self.variable.name and self.used_by:
            users = ", ".join(self.used_by)
            warning = f"⚠ renaming leaves {{{self.variable.name}}} unknown in: {users}"
            lines.append(Content.styled(printable(warning, single_line=True), "$warning"))
        check.update(Content("\n").join(lines))
        return []

    def save(self) -> None:
        self.show_problems([])
        if self._update_check(force=True):
            self.app.bell()
            return
        name, values = self._entered()
        description = self.query_one("#variable-description", Input).value
        self._save(name, values, description)

    @work(thread=True, exclusive=True, group="editor-save", exit_on_error=False)
    def _save(self, name: str, values: list[str], description: str) -> int:
        templates = self.services.templates
        if self.variable is None:
            return int(templates.create_variable(name, values, description).id)
        updated = templates.update_variable(
            self.variable.id, name=name, values=values, description=description
        )
        return int(updated.id)
