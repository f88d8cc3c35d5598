"""Templates screen: prompt templates and the variables their ``{placeholders}`` expand over."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from dalletui.errors import ValidationError
from dalletui.formatting import shorten
from dalletui.services.templates import Expansion, expand_with, scan
from dalletui.textsafe import printable, printable_message
from dalletui.tui.messages import DataChanged, ReusePrompt
from dalletui.tui.notices import show_failure
from dalletui.tui.styles import css_paths
from dalletui.tui.widgets.batch_dialog import BatchDialog, BatchStart
from dalletui.tui.widgets.batch_expansions import ExpansionPicker
from dalletui.tui.widgets.confirm import ConfirmModal
from dalletui.tui.widgets.footer import KeyFooter
from dalletui.tui.widgets.status import StatusLine
from dalletui.tui.widgets.template_editor import TemplateEditor, VariableEditor
from dalletui.tui.widgets.template_preview import MUTED_STYLE, TemplatePreview

if TYPE_CHECKING:
    from dalletui.services.context import Services
    from dalletui.services.templates import Template, TemplateVariable

TEMPLATES_TAB = "templates-tab"
VARIABLES_TAB = "variables-tab"

EMPTY_TEMPLATES = (
    "No templates yet.\n\nPress n to write one: a prompt with {placeholders}, such as\n"
    "  a {style} portrait of {subject}\n"
    "Each placeholder names a variable (a list of values, on the Variables tab, v);\n"
    "the template expands to every combination."
)
EMPTY_VARIABLES = (
    "No variables yet.\n\nPress n to define one: a name such as style, and its values,\n"
    "one a line (watercolour, oil painting, pixel art...)."
)


@dataclass
class TemplatesData:
    """Everything the screen shows, loaded in one worker."""

    templates: list[Template] = field(default_factory=list)
    variables: list[TemplateVariable] = field(default_factory=list)

    @cached_property
    def values(self) -> dict[str, list[str]]:
        return {variable.name: list(variable.values) for variable in self.variables}

    def users_of(self, name: str) -> list[str]:
        """Names of templates whose body uses ``{name}`` (pure scan, no query)."""
        return [
            template.name
            for template in self.templates
            if any(t.kind == "placeholder" and t.value == name for t in scan(template.body))
        ]


def _cell(text: str, width: int) -> str:
    """One table cell: printable, on one line, cut to ``width``."""
    return shorten(printable(text, single_line=True), width)


#: The widest a name column grows; the last column (about, sample) takes what is left.
NAME_WIDTH = 28
#: The last column's widest, and the narrowest the name column gets to give it room.
LAST_WIDTH = 40
MIN_NAME = 8
TEMPLATE_HEADINGS = ("Name", "Prompts", "About")
VARIABLE_HEADINGS = ("Name", "Values", "Sample")


@dataclass(frozen=True)
class ListRow:
    """One row of a list, before it is cut to the columns' widths."""

    row_id: int
    name: str
    count: Text
    last: str


def fit_columns(
    room: int,
    padding: int,
    names: list[str],
    counts: list[Text],
    last: list[str],
    headings: tuple[str, str, str],
) -> tuple[int, int, int]:
    """Widths of the name, count and last columns for ``room`` cells: the count whole, the
    name as wide as it needs (up to NAME_WIDTH), the last column the rest (cut with "…"), so
    that nothing is cut at the list's edge without an ellipsis."""
    flat = [printable(" ".join(text.split()), single_line=True) for text in names]
    count_width = max([len(headings[1]), *(cell.cell_len for cell in counts)])
    name_need = min(NAME_WIDTH, max([len(headings[0]), *(len(text) for text in flat)]))
    last_need = min(LAST_WIDTH, max([len(headings[2]), *(len(" ".join(t.split())) for t in last)]))
    free = max(room - 3 * 2 * padding - count_width, 0)
    name_width = min(name_need, max(MIN_NAME, free - min(last_need, MIN_NAME)))
    last_width = max(min(last_need, free - name_width), 1)
    return name_width, count_width, last_width


class TemplatesScreen(Screen[None]):
    """Two tabs, each a list beside a detail pane; editors open as modals."""

    CSS_PATH = css_paths("templates.tcss")

    SUB_TITLE = "Templates"
    BINDINGS = [
        Binding("n", "new", "New", id="templates.new", tooltip="Create a template or a variable"),
        Binding("e", "edit", "Edit", id="templates.edit", tooltip="Edit the selected row"),
        Binding(
            "u",
            "use",
            "Use",
            id="templates.use",
            tooltip="Open Compose with the prompt shown (the first, or the one [ and ] step to)",
        ),
        Binding(
            "x",
            "expansions",
            "Pick prompt",
            id="templates.expansions",
            tooltip="List the template's prompts and put any one into Compose",
        ),
        Binding(
            "b",
            "batch",
            "Batch",
            id="templates.batch",
            tooltip="Run every prompt of the template as a batch (count and cost shown first)",
        ),
        Binding(
            "left_square_bracket",
            "step(-1)",
            "Previous prompt",
            id="templates.previous",
            show=False,
            tooltip="Show the template's previous prompt (u uses it)",
        ),
        Binding(
            "right_square_bracket",
            "step(1)",
            "Next prompt",
            id="templates.next",
            show=False,
            tooltip="Show the template's next prompt (u uses it)",
        ),
        Binding("d", "delete", "Delete", id="templates.delete", tooltip="Delete, after confirming"),
        Binding(
            "v",
            "show_tab('variables-tab')",
            "Variables",
            id="templates.variables",
            tooltip="Show the variables that placeholders expand over",
        ),
        Binding(
            "t",
            "show_tab('templates-tab')",
            "Templates",
            id="templates.templates",
            tooltip="Show the templates",
        ),
        Binding(
            "r",
            "reload",
            "Reload",
            id="templates.reload",
            show=False,
            tooltip="Load templates and variables again",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data = TemplatesData()
        self.active_tab = TEMPLATES_TAB
        self._select_after: tuple[str, int] | None = None
        #: Which prompt of each template (by id) the preview shows and ``u`` uses.
        self._shown: dict[int, int] = {}

    @property
    def services(self) -> Services:
        return self.app.services  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="templates-tabs"):
            with TabPane("Templates", id=TEMPLATES_TAB), Horizontal(classes="templates-split"):
                yield DataTable(id="template-table", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="template-detail", classes="templates-detail"):
                    yield Static(id="template-heading", classes="templates-heading")
                    yield TemplatePreview(id="template-detail-preview")
                    yield Static(id="template-shown")
            with TabPane("Variables", id=VARIABLES_TAB), Horizontal(classes="templates-split"):
                yield DataTable(id="variable-table", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="variable-detail", classes="templates-detail"):
                    yield Static(id="variable-heading", classes="templates-heading")
                    yield Static(id="variable-detail-values")
        yield StatusLine(id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        # The headings, until the first load answers.
        self._fill("#template-table", TEMPLATE_HEADINGS, [], "template")
        self._fill("#variable-table", VARIABLE_HEADINGS, [], "variable")

    def on_screen_resume(self) -> None:
        self.load()

    # -- loading ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="templates-load", exit_on_error=False)
    def load(self) -> None:
        templates = self.services.templates
        data = TemplatesData(templates.list_templates(), templates.list_variables())
        self.app.call_from_thread(self._show, data)

    def action_reload(self) -> None:
        self.load()

    @property
    def on_variables(self) -> bool:
        return self.active_tab == VARIABLES_TAB

    def _show(self, data: TemplatesData) -> None:
        self.data = data
        values = data.values
        self._fill(
            "#template-table",
            TEMPLATE_HEADINGS,
            [
                ListRow(
                    template.id,
                    template.name,
                    self._count_cell(template.body, values),
                    template.description or "",
                )
                for template in data.templates
            ],
            "template",
        )
        self._fill(
            "#variable-table",
            VARIABLE_HEADINGS,
            [
                ListRow(
                    variable.id,
                    variable.name,
                    Text(str(len(variable.values)), justify="right"),
                    ", ".join(variable.values),
                )
                for variable in data.variables
            ],
            "variable",
        )
        self._select_after = None
        self._show_template_detail()
        self._show_variable_detail()
        self.refresh_bindings()

    def on_resize(self) -> None:
        # The lists' columns are cut to their width: cut them again for the new one.
        if self.data.templates or self.data.variables:
            self.call_after_refresh(self._show, self.data)

    def _fill(
        self, selector: str, headings: tuple[str, str, str], rows: list[ListRow], kind: str
    ) -> None:
        """Replace a table's rows cut to its width, keeping the cursor on the same row id."""
        table = self.query_one(selector, DataTable)
        keep = self._selected_id(table)
        if self._select_after and self._select_after[0] == kind:
            keep = self._select_after[1]
        room = table.content_size.width or (self.size.width * 2) // 5
        if len(rows) + 1 > table.content_size.height:
            room -= table.styles.scrollbar_size_vertical
        name_w, count_w, last_w = fit_columns(
            room,
            table.cell_padding,
            [row.name for row in rows],
            [row.count for row in rows],
            [row.last for row in rows],
            headings,
        )
        table.clear(columns=True)
        # Widths are given, not measured on idle: a DataTable keeps cells it drew before then.
        for heading, key, width in zip(
            headings, ("name", "count", "last"), (name_w, count_w, last_w), strict=True
        ):
            label = Text(heading, justify="right" if key == "count" else "left")
            table.add_column(label, key=key, width=width)
        for row in rows:
            cells = [Text(_cell(row.name, name_w)), row.count, Text(_cell(row.last, last_w))]
            table.add_row(*cells, key=str(row.row_id))
        ids = [row.row_id for row in rows]
        if keep in ids:
            table.move_cursor(row=ids.index(keep), scroll=True)

    @staticmethod
    def _count_cell(body: str, values: dict[str, list[str]]) -> Text:
        try:
            expansion = expand_with(body, values)
        except ValidationError:
            return Text("✗ braces", justify="right")
        if expansion.unknown:
            return Text(_cell(f"? {expansion.unknown[0]}", 12), justify="right")
        return Text(f"{expansion.count:,}", justify="right")

    @staticmethod
    def _selected_id(table: DataTable) -> int | None:
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return int(row_key.value) if row_key.value is not None else None

    def _table_selection(self, selector: str) -> int | None:
        try:
            return self._selected_id(self.query_one(selector, DataTable))
        except NoMatches:  # asked by the footer before the tables exist
            return None

    def selected_template(self) -> Template | None:
        row_id = self._table_selection("#template-table")
        return next((t for t in self.data.templates if t.id == row_id), None)

    def selected_variable(self) -> TemplateVariable | None:
        row_id = self._table_selection("#variable-table")
        return next((v for v in self.data.variables if v.id == row_id), None)

    # -- detail panes ---------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#template-table")
    def _show_template_detail(self) -> None:
        heading = self.query_one("#template-heading", Static)
        preview = self.query_one("#template-detail-preview", TemplatePreview)
        template = self.selected_template()
        if template is None:
            heading.update(Content.styled(EMPTY_TEMPLATES, MUTED_STYLE))
            preview.update("")
            self._show_shown(None)
            return
        heading.update(self._heading(template.name, template.description))
        preview.show(template.body, self.data.values, samples=3)
        self._show_shown(template)

    def _expansion(self, template: Template) -> Expansion | None:
        """The template's expansion when every name is known (pure, no query), else None."""
        try:
            expansion = expand_with(template.body, self.data.values)
        except ValidationError:
            return None
        return expansion if expansion.ok and expansion.count else None

    def _show_shown(self, template: Template | None) -> None:
        """The one prompt ``u`` would use, under the preview, with the keys that change it."""
        line = self.query_one("#template-shown", Static)
        expansion = self._expansion(template) if template is not None else None
        if template is None or expansion is None or expansion.count < 2:
            line.update("")
            line.display = False
            return
        index = min(self._shown.get(template.id, 0), expansion.count - 1)
        text = shorten(printable(expansion.at(index), single_line=True), 300)
        line.display = True
        line.update(
            Content.assemble(
                "\n",
                (f"▶ {index + 1:,} of {expansion.count:,}  ", "bold"),
                text,
                ("\n[ ] step · x picks any · u uses it · b runs them all as a batch", MUTED_STYLE),
            )
        )

    @on(DataTable.RowHighlighted, "#variable-table")
    def _show_variable_detail(self) -> None:
        heading = self.query_one("#variable-heading", Static)
        body = self.query_one("#variable-detail-values", Static)
        variable = self.selected_variable()
        if variable is None:
            heading.update(Content.styled(EMPTY_VARIABLES, MUTED_STYLE))
            body.update("")
            return
        heading.update(self._heading(f"{{{variable.name}}}", variable.description))
        users = self.data.users_of(variable.name)
        used_by = f"Used by: {', '.join(users)}" if users else "Not used by any template yet."
        lines = [
            Content.assemble((f"{len(variable.values)} values", "bold")),
            *(
                Content.assemble(("• ", MUTED_STYLE), printable(value, single_line=True))
                for value in variable.values
            ),
            Content(""),
            Content.styled(printable(used_by), MUTED_STYLE),
        ]
        body.update(Content("\n").join(lines))

    @staticmethod
    def _heading(name: str, description: str) -> Content:
        parts: list[str | tuple[str, str]] = [(printable(name, single_line=True), "bold $accent")]
        if description:
            parts += ["\n", (printable(description), MUTED_STYLE)]
        return Content.assemble(*parts)

    # -- tabs and bindings -------------------------------------------------------------------

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self.active_tab = event.pane.id or TEMPLATES_TAB
        table_id = "#variable-table" if self.on_variables else "#template-table"
        self.query_one(table_id, DataTable).focus()
        self.refresh_bindings()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what cannot apply to this tab; dim what needs a selected row."""
        if action == "show_tab":
            # Offer only the tab that is not showing: one footer slot, always meaningful.
            return parameters[0] != self.active_tab
        if action in ("use", "expansions", "batch", "step") and self.on_variables:
            return False
        if action in ("expansions", "batch", "step"):
            template = self.selected_template()
            if template is None:
                return None
            if action == "step":
                expansion = self._expansion(template)
                return expansion is not None and expansion.count > 1
            return True
        if action in ("use", "edit", "delete"):
            chosen = self.selected_variable() if self.on_variables else self.selected_template()
            return True if chosen is not None else None
        return True

    @on(DataTable.RowHighlighted)
    def _row_moved(self) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#template-table")
    def _template_chosen(self) -> None:
        self.action_use()

    @on(DataTable.RowSelected, "#variable-table")
    def _variable_chosen(self) -> None:
        self.action_edit()

    # -- actions ---------------------------------------------------------------------------

    def action_new(self) -> None:
        if self.on_variables:
            editor: TemplateEditor | VariableEditor = VariableEditor(
                existing=[v.name for v in self.data.variables]
            )
            self.app.push_screen(editor, self._edited("variable"))
        else:
            self.app.push_screen(TemplateEditor(self.data.values), self._edited("template"))

    def action_edit(self) -> None:
        if self.on_variables:
            variable = self.selected_variable()
            if variable is not None:
                editor = VariableEditor(
                    existing=[v.name for v in self.data.variables],
                    variable=variable,
                    used_by=self.data.users_of(variable.name),
                )
                self.app.push_screen(editor, self._edited("variable"))
        else:
            template = self.selected_template()
            if template is not None:
                self.app.push_screen(
                    TemplateEditor(self.data.values, template), self._edited("template")
                )

    def _edited(self, kind: str):  # noqa: ANN202 - a push_screen callback
        def done(row_id: int | None) -> None:
            if row_id is not None:
                self._select_after = (kind, row_id)
                self.notify(f"Saved the {kind}.", timeout=3)
                self.load()

        return done

    def action_use(self) -> None:
        """Open Compose with the prompt the preview shows (the first, unless stepped)."""
        template = self.selected_template()
        if template is None or self.on_variables:
            return
        try:
            expansion = expand_with(template.body, self.data.values)
            index = min(self._shown.get(template.id, 0), max(expansion.count - 1, 0))
            expansion.check()
            text = expansion.at(index)
        except ValidationError as error:
            self.notify(
                printable_message(error),
                title=printable(f"Cannot use '{template.name}'", single_line=True),
                severity="error",
                markup=False,
            )
            return
        self._use(template, expansion, index, text)

    def _use(self, template: Template, expansion: Expansion, index: int, text: str) -> None:
        if expansion.count > 1:
            which = "The first" if index == 0 else f"Prompt {index + 1:,}"
            self.notify(
                printable(f"{which} of {expansion.count:,} prompts from '{template.name}'."),
                title="Template",
                timeout=4,
                markup=False,
            )
        self.post_message(ReusePrompt(text=text, params={}))

    def action_step(self, delta: int) -> None:
        """Show the previous or next prompt of the template (``u`` then uses it)."""
        template = self.selected_template()
        expansion = self._expansion(template) if template is not None else None
        if template is None or expansion is None:
            return
        index = (self._shown.get(template.id, 0) + delta) % expansion.count
        self._shown[template.id] = index
        self._show_shown(template)

    def action_expansions(self) -> None:
        """List the template's prompts; the one picked goes into Compose."""
        template = self.selected_template()
        if template is None or self.on_variables:
            return
        try:
            expansion = expand_with(template.body, self.data.values)
            expansion.check()
        except ValidationError as error:
            self.notify(
                printable_message(error),
                title=printable(f"Cannot expand '{template.name}'", single_line=True),
                severity="error",
                markup=False,
            )
            return

        def picked(index: int | None) -> None:
            if index is None:
                return
            self._shown[template.id] = index
            self._show_shown(template)
            self._use(template, expansion, index, expansion.at(index))

        current = self._shown.get(template.id, 0)
        self.app.push_screen(ExpansionPicker(template.name, expansion, current), picked)

    def action_batch(self) -> None:
        """Plan the selected template as a batch in a dialog; Run starts it and shows it."""
        template = self.selected_template()
        if template is None or self.on_variables:
            return

        def answered(start: BatchStart | None) -> None:
            if start is not None:
                self.app.run_batch_plan(start.plan, start.concurrency)  # type: ignore[attr-defined]

        self.app.push_screen(BatchDialog(self.services, template.name, template.body), answered)

    def action_delete(self) -> None:
        if self.on_variables:
            variable = self.selected_variable()
            if variable is None:
                return
            users = self.data.users_of(variable.name)
            warning = (
                f"\n\n{{{variable.name}}} becomes unknown in: {', '.join(users)}." if users else ""
            )
            message = (
                f"Delete the variable {{{variable.name}}} and its {len(variable.values)} values?"
            )
            self.app.push_screen(
                ConfirmModal("Delete variable", message + warning, yes="Delete", danger=True),
                lambda yes: self._delete("variable", variable.id) if yes else None,
            )
        else:
            template = self.selected_template()
            if template is None:
                return
            self.app.push_screen(
                ConfirmModal(
                    "Delete template",
                    f"Delete the template '{template.name}'?",
                    yes="Delete",
                    danger=True,
                ),
                lambda yes: self._delete("template", template.id) if yes else None,
            )

    @work(thread=True, exclusive=True, group="templates-write", exit_on_error=False)
    def _delete(self, kind: str, row_id: int) -> str:
        if kind == "variable":
            self.services.templates.delete_variable(row_id)
        else:
            self.services.templates.delete_template(row_id)
        return kind

    @on(Worker.StateChanged)
    def _worker_done(self, event: Worker.StateChanged) -> None:
        """One error path for this screen's workers; a finished delete reloads the lists."""
        if event.worker.group not in ("templates-load", "templates-write"):
            return
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            show_failure(self, error, "Templates")
        elif event.state == WorkerState.SUCCESS and event.worker.group == "templates-write":
            self.notify(f"Deleted the {event.worker.result}.", timeout=3)
            self.post_message(DataChanged("templates"))
            self.load()
