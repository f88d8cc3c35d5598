"""DatabaseManager: connection, pragmas, migrations, transactions, CRUD, queries and errors.

Peewee keeps one connection per thread, so Textual thread workers get their own; WAL mode lets
readers and the writer work side by side. One manager is open per process (models are bound to
the module-level deferred database in ``models``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import peewee
from peewee import JOIN, Case, fn
from playhouse.migrations import Runner

from dalletui.errors import NotFoundError, StorageError, ValidationError
from dalletui.storage import fts
from dalletui.storage.models import (
    ALL_MODELS,
    BaseModel,
    Batch,
    Generation,
    Prompt,
    Template,
    TemplateVariable,
    UsageStat,
    database,
    normalize_prompt,
    now,
    prompt_hash,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 30_000,  # another dalletui may hold the write lock briefly
    "synchronous": 1,  # NORMAL: durable enough in WAL mode, much faster than FULL
    "cache_size": -16_000,
}
IMPORT_CHUNK = 500

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def describe_error(exc: BaseException, path: Path) -> str:
    """Turn a low-level database error into one sentence a user can act on."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return (
            f"The database {path} is locked by another program (another dalletui?); "
            "close it and try again."
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"The database {path} is damaged or is not a dalletui database. It was left "
            "untouched: move it aside to start fresh, or restore a backup."
        )
    if "readonly" in text or "read-only" in text or "permission" in text:
        return f"The database {path} is read-only; check the permissions of the file and folder."
    if "disk is full" in text or "no space" in text:
        return f"The disk holding {path} is full; free some space and try again."
    if "unable to open" in text:
        return (
            f"Cannot open the database {path}: its folder is missing or not writable. "
            "Set DALLETUI_HOME to a writable folder."
        )
    if isinstance(exc, peewee.IntegrityError):
        return f"That change conflicts with existing data ({exc})."
    return f"Database error on {path}: {exc}."


def guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Convert database and file-system errors raised by ``method`` into ``StorageError``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        try:
            return method(*args, **kwargs)
        except (peewee.PeeweeException, sqlite3.Error, OSError) as exc:
            message = describe_error(exc, self.path)  # type: ignore[attr-defined]
            log.info("%s failed: %s", method.__name__, message, exc_info=True)
            raise StorageError(message) from exc

    return wrapper


@dataclass(frozen=True)
class PromptQuery:
    """What the history list asks for: search text, filters, order and a keyset cursor."""

    text: str = ""
    favorites_only: bool = False
    model: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    has_generations: bool | None = None
    order: str = "recent"  # "recent" (last used) or "uses" (use count)
    limit: int = 50
    after: tuple[Any, int] | None = None  # (sort value, id) of the last row of the previous page
    prefix_last: bool = True


@dataclass
class PromptPage:
    """One page of prompts, each annotated with ``generation_count`` and ``latest_thumbnail``."""

    items: list[Prompt]
    next_cursor: tuple[Any, int] | None


@dataclass
class UsageTotals:
    """Aggregate usage; ``cost`` sums known costs, ``unknown_cost_count`` counts the rest."""

    images: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)
    unknown_cost_count: int = 0
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cost_known(self) -> bool:
        return self.unknown_cost_count == 0


class DatabaseManager:
    """Owns the SQLite database of one dalletui home."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = database

    # -- lifecycle -------------------------------------------------------------------------

    @guarded
    def open(self) -> DatabaseManager:
        """Create folders and the database if needed, set pragmas, run pending migrations."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.db.is_closed():
            self.db.close()
        self.db.init(str(self.path), pragmas=PRAGMAS, check_same_thread=False)
        self.db.connect(reuse_if_open=True)
        # Reading the schema first surfaces a corrupt file before anything writes to it.
        self.db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
        applied = Runner(self.db, str(MIGRATIONS_DIR)).up()
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
            self.db.pragma("user_version", self.schema_version())
        return self

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    def __enter__(self) -> DatabaseManager:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @guarded
    def schema_version(self) -> int:
        """The number of the newest applied migration."""
        names = Runner(self.db, str(MIGRATIONS_DIR)).applied()
        return max((int(name.split("_", 1)[0]) for name in names), default=0)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction (a savepoint when nested); errors become ``StorageError``."""
        try:
            with self.db.atomic():
                yield
        except (peewee.PeeweeException, sqlite3.Error) as exc:
            raise StorageError(describe_error(exc, self.path)) from exc

    @guarded
    def table_names(self) -> list[str]:
        return self.db.get_tables()

    @guarded
    def index_names(self) -> list[str]:
        rows = self.db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
        return sorted(name for (name,) in rows)

    @guarded
    def pragma(self, name: str) -> Any:
        return self.db.pragma(name)

    # -- shared helpers ------------------------------------------------------------------

    @staticmethod
    def _get(model: type[M], row_id: int) -> M:
        row = model.get_or_none(model.id == row_id)
        if row is None:
            raise NotFoundError(f"No {model._meta.table_name[:-1].replace('_', ' ')} #{row_id}.")
        return row

    @staticmethod
    def _save(instance: M, **changes: Any) -> M:
        for key, value in changes.items():
            if key not in instance._meta.fields:
                raise ValidationError(f"Unknown field '{key}'.")
            setattr(instance, key, value)
        if "updated_at" in instance._meta.fields and "updated_at" not in changes:
            instance.updated_at = now()
        instance.validate()
        instance.save()
        return instance

    # -- prompts -----------------------------------------------------------------------------

    @guarded
    def record_prompt_use(self, text: str, when: dt.datetime | None = None) -> Prompt:
        """Return the prompt row for ``text``, creating it or bumping its use count."""
        clean = normalize_prompt(text)
        Prompt(text=clean).validate()
        when = when or now()
        with self.db.atomic():
            digest = prompt_hash(clean)
            updated = (
                Prompt.update(use_count=Prompt.use_count + 1, last_used_at=when)
                .where(Prompt.text_hash == digest)
                .execute()
            )
            if updated:
                return Prompt.get(Prompt.text_hash == digest)
            return Prompt.create(text=clean, text_hash=digest, created_at=when, last_used_at=when)

    @guarded
    def import_prompts(self, texts: Iterable[str], when: dt.datetime | None = None) -> int:
        """Add many prompts as history in one transaction; returns how many lines were used.

        Blank lines are skipped; repeated texts bump ``use_count`` like repeated use would.
        """
        when = when or now()
        counts: dict[str, int] = {}
        originals: dict[str, str] = {}
        for raw in texts:
            clean = normalize_prompt(raw)
            if not clean:
                continue
            Prompt(text=clean).validate()
            digest = prompt_hash(clean)
            counts[digest] = counts.get(digest, 0) + 1
            originals.setdefault(digest, clean)
        rows = [
            {
                "text": originals[digest],
                "text_hash": digest,
                "created_at": when,
                "last_used_at": when,
                "use_count": count,
                "is_favorite": False,
                "notes": "",
            }
            for digest, count in counts.items()
        ]
        with self.db.atomic():
            for start in range(0, len(rows), IMPORT_CHUNK):
                (
                    Prompt.insert_many(rows[start : start + IMPORT_CHUNK])
                    .on_conflict(
                        conflict_target=[Prompt.text_hash],
                        update={
                            Prompt.use_count: Prompt.use_count + peewee.EXCLUDED.use_count,
                            Prompt.last_used_at: peewee.EXCLUDED.last_used_at,
                        },
                    )
                    .execute()
                )
        return sum(counts.values())

    @guarded
    def get_prompt(self, prompt_id: int) -> Prompt:
        return self._get(Prompt, prompt_id)

    @guarded
    def update_prompt(self, prompt_id: int, **changes: Any) -> Prompt:
        """Edit a prompt (text, notes, is_favorite); the text hash follows the text."""
        prompt = self._get(Prompt, prompt_id)
        if "text" in changes:
            changes["text"] = normalize_prompt(changes["text"])
            changes["text_hash"] = prompt_hash(changes["text"])
        return self._save(prompt, **changes)

    @guarded
    def set_favorite(self, prompt_id: int, on: bool = True) -> Prompt:
        prompt = self._get(Prompt, prompt_id)
        Prompt.update(is_favorite=on).where(Prompt.id == prompt_id).execute()
        prompt.is_favorite = on
        return prompt

    @guarded
    def toggle_favorite(self, prompt_id: int) -> Prompt:
        with self.db.atomic():
            prompt = self._get(Prompt, prompt_id)
            return self.set_favorite(prompt_id, not prompt.is_favorite)

    @guarded
    def delete_prompt(self, prompt_id: int) -> list[Generation]:
        """Delete a prompt with its generations and usage; returns the generations removed."""
        with self.db.atomic():
            self._get(Prompt, prompt_id)
            removed = list(Generation.select().where(Generation.prompt == prompt_id))
            Prompt.delete().where(Prompt.id == prompt_id).execute()
        return removed

    def _prompt_conditions(self, query: PromptQuery) -> list[Any]:
        conditions: list[Any] = []
        text = query.text.strip()
        if text:
            expression = fts.match_expression(query.text, prefix_last=query.prefix_last)
            if expression:
                conditions.append(Prompt.id.in_(fts.matching_ids(expression)))
            else:
                conditions.append(Prompt.text ** fts.like_pattern(text))
        if query.favorites_only:
            conditions.append(Prompt.is_favorite == True)  # noqa: E712 (SQL, not Python)
        if query.model:
            conditions.append(
                Prompt.id.in_(
                    Generation.select(Generation.prompt).where(Generation.model == query.model)
                )
            )
        if query.has_generations is not None:
            with_generations = Prompt.id.in_(Generation.select(Generation.prompt))
            conditions.append(with_generations if query.has_generations else ~with_generations)
        if query.since:
            conditions.append(Prompt.last_used_at >= query.since)
        if query.until:
            conditions.append(Prompt.last_used_at < query.until)
        return conditions

    @guarded
    def search_prompts(self, query: PromptQuery = PromptQuery()) -> PromptPage:
        """One page of prompts matching ``query``, newest (or most used) first, by keyset."""
        if query.order not in ("recent", "uses"):
            raise ValidationError(f"Order '{query.order}' is unknown; use 'recent' or 'uses'.")
        sort_field = Prompt.last_used_at if query.order == "recent" else Prompt.use_count
        conditions = self._prompt_conditions(query)
        if query.after is not None:
            value, last_id = query.after
            conditions.append(
                (sort_field < value) | ((sort_field == value) & (Prompt.id < last_id))
            )
        generation_count = Generation.select(fn.COUNT(Generation.id)).where(
            Generation.prompt == Prompt.id
        )
        latest_thumbnail = (
            Generation.select(Generation.thumbnail_path)
            .where((Generation.prompt == Prompt.id) & (Generation.status == "succeeded"))
            .order_by(Generation.id.desc())
            .limit(1)
        )
        select = Prompt.select(
            Prompt,
            generation_count.alias("generation_count"),
            latest_thumbnail.alias("latest_thumbnail"),
        )
        if conditions:
            select = select.where(*conditions)
        limit = max(1, min(query.limit, 1000))
        items = list(select.order_by(sort_field.desc(), Prompt.id.desc()).limit(limit + 1))
        has_more = len(items) > limit
        items = items[:limit]
        cursor = None
        if has_more:
            last = items[-1]
            cursor = (last.last_used_at if query.order == "recent" else last.use_count, last.id)
        return PromptPage(items=items, next_cursor=cursor)

    @guarded
    def count_prompts(self, query: PromptQuery = PromptQuery()) -> int:
        """How many prompts match ``query`` (ignoring its cursor and limit)."""
        select = Prompt.select()
        conditions = self._prompt_conditions(query)
        if conditions:
            select = select.where(*conditions)
        return select.count()

    # -- templates and variables ---------------------------------------------------------

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

    # -- batches ------------------------------------------------------------------------------

    @guarded
    def create_batch(
        self, name: str, total: int, template_id: int | None = None, params: dict | None = None
    ) -> Batch:
        batch = Batch(name=name, total=total, template=template_id, params=params or {})
        batch.validate()
        batch.save()
        return batch

    @guarded
    def get_batch(self, batch_id: int) -> Batch:
        return self._get(Batch, batch_id)

    @guarded
    def list_batches(self, limit: int = 100) -> list[Batch]:
        return list(Batch.select().order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit))

    @guarded
    def update_batch(self, batch_id: int, **changes: Any) -> Batch:
        return self._save(self._get(Batch, batch_id), **changes)

    @guarded
    def delete_batch(self, batch_id: int) -> None:
        """Delete a batch record; its generations stay in history, unlinked."""
        self._get(Batch, batch_id)
        Batch.delete().where(Batch.id == batch_id).execute()

    # -- generations ------------------------------------------------------------------------

    @guarded
    def create_generations(
        self,
        prompt: Prompt,
        count: int,
        *,
        provider: str,
        model: str,
        size: str,
        quality: str,
        output_format: str,
        background: str = "auto",
        params: dict | None = None,
        seed: int | None = None,
        batch_id: int | None = None,
    ) -> list[Generation]:
        """Create ``count`` pending generations for one request, in one transaction."""
        key = uuid.uuid4().hex
        started = now()
        rows = []
        with self.db.atomic():
            for index in range(count):
                row = Generation(
                    prompt=prompt,
                    batch=batch_id,
                    request_key=key,
                    image_index=index,
                    provider=provider,
                    model=model,
                    size=size,
                    quality=quality,
                    output_format=output_format,
                    background=background,
                    params=params or {},
                    seed=seed,
                    status="pending",
                    created_at=started,
                    started_at=started,
                )
                row.validate()
                row.save()
                rows.append(row)
        return rows

    @guarded
    def get_generation(self, generation_id: int) -> Generation:
        return self._get(Generation, generation_id)

    @guarded
    def update_generation(self, generation_id: int, **changes: Any) -> Generation:
        return self._save(self._get(Generation, generation_id), **changes)

    @guarded
    def finish_generation(
        self, generation_id: int, usage: dict[str, Any] | None = None, **changes: Any
    ) -> Generation:
        """Mark a generation finished and write its usage row, in one transaction."""
        with self.db.atomic():
            generation = self._save(self._get(Generation, generation_id), **changes)
            if usage is not None:
                self.add_usage(generation, **usage)
        return generation

    @guarded
    def fail_generations(self, ids: list[int], status: str, kind: str, message: str) -> int:
        """Mark pending generations failed, cancelled or interrupted."""
        finished = now()
        return (
            Generation.update(
                status=status, error_kind=kind, error_message=message, finished_at=finished
            )
            .where(Generation.id.in_(ids) & (Generation.status == "pending"))
            .execute()
        )

    @guarded
    def generations_for_prompt(self, prompt_id: int) -> list[Generation]:
        """A prompt's generations, newest first, each with its usage row joined (or None)."""
        return self._with_usage(
            Generation.select(Generation, UsageStat)
            .join(UsageStat, JOIN.LEFT_OUTER, on=(UsageStat.generation == Generation.id))
            .where(Generation.prompt == prompt_id)
            .order_by(Generation.id.desc())
        )

    @guarded
    def list_generations(
        self,
        *,
        limit: int = 50,
        before_id: int | None = None,
        status: str | None = None,
        batch_id: int | None = None,
    ) -> list[Generation]:
        """Generations newest first (keyset on id), with prompt and usage joined."""
        select = (
            Generation.select(Generation, Prompt, UsageStat)
            .join(Prompt)
            .switch(Generation)
            .join(UsageStat, JOIN.LEFT_OUTER, on=(UsageStat.generation == Generation.id))
        )
        conditions = []
        if before_id is not None:
            conditions.append(Generation.id < before_id)
        if status:
            conditions.append(Generation.status == status)
        if batch_id is not None:
            conditions.append(Generation.batch == batch_id)
        if conditions:
            select = select.where(*conditions)
        return self._with_usage(select.order_by(Generation.id.desc()).limit(limit))

    @staticmethod
    def _with_usage(select: Any) -> list[Generation]:
        rows = list(select)
        for row in rows:
            usage = getattr(row, "usagestat", None)
            row.usage_row = usage if usage is not None and usage.id is not None else None
        return rows

    @guarded
    def delete_generation(self, generation_id: int) -> Generation:
        generation = self._get(Generation, generation_id)
        generation.delete_instance()
        return generation

    # -- usage --------------------------------------------------------------------------------

    @guarded
    def add_usage(self, generation: Generation, **values: Any) -> UsageStat:
        values.setdefault("model", generation.model)
        values.setdefault("provider", generation.provider)
        tokens = [values.get(name, 0) or 0 for name in UsageStat.TOKEN_FIELDS[:-1]]
        values.setdefault("total_tokens", sum(tokens))
        usage = UsageStat(generation=generation, **values)
        usage.validate()
        usage.save()
        return usage

    def _usage_select(self, *group: Any) -> Any:
        return UsageStat.select(
            *group,
            fn.COUNT(UsageStat.id).alias("images"),
            fn.COALESCE(
                fn.SUM(UsageStat.input_text_tokens + UsageStat.input_image_tokens), 0
            ).alias("input_tokens"),
            fn.COALESCE(
                fn.SUM(UsageStat.output_image_tokens + UsageStat.output_text_tokens), 0
            ).alias("output_tokens"),
            fn.COALESCE(fn.SUM(UsageStat.total_tokens), 0).alias("total_tokens"),
            fn.SUM(UsageStat.cost).alias("cost"),
            fn.SUM(Case(None, [(UsageStat.cost.is_null(), 1)], 0)).alias("unknown"),
        )

    @staticmethod
    def _totals(row: Any, label: str = "") -> UsageTotals:
        cost = row.cost
        return UsageTotals(
            images=int(row.images or 0),
            input_tokens=int(row.input_tokens or 0),
            output_tokens=int(row.output_tokens or 0),
            total_tokens=int(row.total_tokens or 0),
            cost=Decimal(str(cost)).quantize(Decimal("0.000001"))
            if cost is not None
            else Decimal(0),
            unknown_cost_count=int(row.unknown or 0),
            label=label,
        )

    @guarded
    def usage_totals(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> UsageTotals:
        """Images, tokens and cost over a period (all time by default)."""
        select = self._usage_select()
        if since is not None:
            select = select.where(UsageStat.created_at >= since)
        if until is not None:
            select = select.where(UsageStat.created_at < until)
        return self._totals(select.objects().get(), "all time" if since is None else "")

    @guarded
    def usage_by_day(self, days: int = 30, today: dt.date | None = None) -> list[UsageTotals]:
        """One entry per day for the last ``days`` days (oldest first), empty days included."""
        today = today or now().date()
        first = today - dt.timedelta(days=days - 1)
        start = dt.datetime.combine(first, dt.time())
        day = fn.DATE(UsageStat.created_at)
        rows = (
            self._usage_select(day.alias("day"))
            .where(UsageStat.created_at >= start)
            .group_by(day)
            .objects()
        )
        found = {}
        for row in rows:
            # Peewee may hand back DATE(...) as a datetime; the label is the ISO day either way.
            label = str(row.day)[:10]
            found[label] = self._totals(row, label)
        result = []
        for offset in range(days):
            label = (first + dt.timedelta(days=offset)).isoformat()
            result.append(found.get(label, UsageTotals(label=label)))
        return result

    @guarded
    def usage_by_model(self, since: dt.datetime | None = None) -> list[UsageTotals]:
        """Totals per model, most images first."""
        select = self._usage_select(UsageStat.model)
        if since is not None:
            select = select.where(UsageStat.created_at >= since)
        rows = select.group_by(UsageStat.model).order_by(fn.COUNT(UsageStat.id).desc()).objects()
        return [self._totals(row, row.model) for row in rows]

    # -- maintenance -----------------------------------------------------------------------

    @guarded
    def counts(self) -> dict[str, int]:
        """Row count of every table (for the status line and verification)."""
        return {model._meta.table_name: model.select().count() for model in ALL_MODELS}
