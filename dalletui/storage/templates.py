"""Templates and their variables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from peewee import fn

from dalletui.errors import NotFoundError, ValidationError
from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Template, TemplateVariable


class TemplateStore(StoreBase):
    """Templates and their variables."""

    @guarded
    def create_template(self, name: str, body: str, description: str = "") -> Template:
        template = Template(name=name.strip(), body=body, description=description)
        template.validate()
        self._ensure_unique(Template, template.name, "A template")
        template.save()
        return template

    @guarded
    def get_template(self, template_id: int) -> Template:
        return self._get(Template, template_id)

    @guarded
    def get_template_by_name(self, name: str) -> Template:
        template = Template.get_or_none(Template.name == name)
        if template is None:
            raise NotFoundError(f"No template named '{name}'.")
        return template

    @guarded
    def list_templates(self) -> list[Template]:
        return list(Template.select().order_by(fn.LOWER(Template.name)))

    @guarded
    def update_template(self, template_id: int, **changes: Any) -> Template:
        template = self._get(Template, template_id)
        if "name" in changes and changes["name"] != template.name:
            self._ensure_unique(Template, changes["name"], "A template")
        return self._save(template, **changes)

    @guarded
    def delete_template(self, template_id: int) -> None:
        self._get(Template, template_id)
        Template.delete().where(Template.id == template_id).execute()

    @guarded
    def set_variable(self, name: str, values: list[str], description: str = "") -> TemplateVariable:
        """Create or replace the variable ``name``."""
        variable = TemplateVariable.get_or_none(TemplateVariable.name == name)
        if variable is None:
            variable = TemplateVariable(name=name, values=values, description=description)
            variable.validate()
            variable.save()
            return variable
        return self._save(variable, values=values, description=description)

    @guarded
    def get_variable(self, variable_id: int) -> TemplateVariable:
        return self._get(TemplateVariable, variable_id)

    @guarded
    def list_variables(self) -> list[TemplateVariable]:
        return list(TemplateVariable.select().order_by(TemplateVariable.name))

    @guarded
    def variables_by_name(self, names: Iterable[str]) -> dict[str, TemplateVariable]:
        wanted = list(names)
        rows = TemplateVariable.select().where(TemplateVariable.name.in_(wanted))
        return {row.name: row for row in rows}

    @guarded
    def update_variable(self, variable_id: int, **changes: Any) -> TemplateVariable:
        variable = self._get(TemplateVariable, variable_id)
        if "name" in changes and changes["name"] != variable.name:
            self._ensure_unique(TemplateVariable, changes["name"], "A variable")
        return self._save(variable, **changes)

    @guarded
    def delete_variable(self, variable_id: int) -> None:
        self._get(TemplateVariable, variable_id)
        TemplateVariable.delete().where(TemplateVariable.id == variable_id).execute()

    @staticmethod
    def _ensure_unique(
        model: type[Template] | type[TemplateVariable], name: str, what: str
    ) -> None:
        if model.select().where(model.name == name).exists():
            raise ValidationError(f"{what} named '{name}' already exists.")
