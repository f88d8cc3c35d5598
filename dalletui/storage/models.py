"""Peewee models: the data models of dalletui (validation, dict round-trip, display helpers).

The database is deferred: models are bound to ``database`` here, and ``DatabaseManager``
initialises it with a path and pragmas at start-up, never at import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import uuid
from decimal import Decimal
from typing import Any, ClassVar

from peewee import (
    BooleanField,
    CharField,
    CompositeKey,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)

from dalletui import timeutil
from dalletui.errors import ValidationError
from dalletui.formatting import format_money, humanize_age, shorten


class EpochSqliteDatabase(SqliteDatabase):
    """A deferred SQLite database whose per-thread connections follow re-initialisation.

    Peewee keeps one connection per thread; ``init()`` on a new path only closes the calling
    thread's. A thread that connected before (a worker, an executor thread) would go on writing
    to the old file. Each ``init()`` starts a new epoch, and a connection from an older epoch is
    dropped and reopened on its next use.
    """

    _epoch = 0

    def init(self, database: Any, **kwargs: Any) -> None:
        type(self)._epoch += 1
        super().init(database, **kwargs)

    def _connect(self) -> Any:
        connection = super()._connect()
        self._state.epoch = self._epoch
        return connection

    def is_closed(self) -> bool:
        state = self._state
        if not state.closed and getattr(state, "epoch", None) != self._epoch:
            with contextlib.suppress(Exception):
                state.conn.close()
            state.reset()
        return state.closed


# Every transaction takes the write lock at BEGIN (IMMEDIATE): a read-then-write inside a deferred
# transaction fails at once with SQLITE_BUSY_SNAPSHOT beside another writer; busy_timeout cannot
# help it. Reads outside transactions stay lock-free in WAL mode.
database = EpochSqliteDatabase(None, lock_type="IMMEDIATE")

PROMPT_MAX_CHARS = 32_000
NAME_MAX_CHARS = 120
SIZE_PATTERN = re.compile(r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
QUALITIES = ("auto", "low", "medium", "high", "xhigh", "max", "standard", "hd")
GENERATION_STATUSES = (
    "pending",
    "succeeded",
    "failed",
    "cancelled",
    "interrupted",
    # The request may have reached the API (timeout, cut-off answer, dropped connection after
    # sending, most 5xx): it may have been billed, and it is never re-sent without the user.
    "possibly_billed",
)
#: What a ``usage_stats`` row records: a billed image, or a request whose outcome is unknown.
USAGE_KINDS = ("image", "possibly_billed")
#: Bases a usage row's cost was computed on.
PRICE_BASES = ("tokens", "per_image", "offline", "unknown")
BATCH_STATUSES = ("planned", "running", "paused", "cancelled", "completed", "failed")
#: Where a batch's prompts came from.
BATCH_SOURCES = ("template", "text", "file", "repeat")
#: One expanded prompt of a batch: never sent, being sent, or what its last attempt became.
#: ``interrupted``: it was in flight when its process died, so it may have been billed.
BATCH_ITEM_STATUSES = (
    "planned",
    "running",
    "succeeded",
    "failed",
    "possibly_billed",
    "interrupted",
)
FORMATS = ("png", "jpeg", "webp")
#: How a generation was made: from a prompt alone, by editing images, or as a variation of one.
GENERATION_KINDS = ("generate", "edit", "variation")
#: What one input of a generation was: an image it was made from, a mask, or a markup.
INPUT_ROLES = ("image", "mask", "markup")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: What an Images API response says it applied (top level of ``ImagesResponse``, and of each
#: stream's completed event): kept under ``Generation.params["applied"]``, only those present.
APPLIED_KEYS = ("quality", "size", "background", "output_format")


def now() -> dt.datetime:
    """The local time, timezone-aware: what the user calls 'today' is local; stored as UTC."""
    return timeutil.now()


def new_uid() -> str:
    """A stable identity for a record that travels between databases (export and import)."""
    return uuid.uuid4().hex


class UTCDateTimeField(DateTimeField):
    """A moment stored in UTC with its offset, read back as an aware local datetime.

    Stored text is always ``YYYY-MM-DD HH:MM:SS.ffffff+00:00``: one width and one offset, so
    the text sorts and compares chronologically in SQL, and other tools (sqlite-utils,
    Datasette, a spreadsheet) read an unambiguous instant. A naive value is taken as local time.
    """

    STORED = "%Y-%m-%d %H:%M:%S.%f+00:00"

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        if isinstance(value, dt.datetime):
            return timeutil.utc(value).strftime(self.STORED)
        return value  # an SQL expression

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return timeutil.local(value)
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return value
        if moment.tzinfo is None:  # written before 0004, or by another tool: local time
            return timeutil.local(moment)
        return moment.astimezone()


#: C0 and C1 control characters other than tab and newline (and DEL): they could drive a terminal.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Whole terminal escape sequences (CSI, OSC, DCS/SOS/PM/APC strings, two-byte escapes), in
#: 7-bit and 8-bit forms: removed whole, so ``ESC[31mred`` becomes ``red``, not ``[31mred``.
ESCAPE_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)


def strip_controls(text: str) -> str:
    """``text`` without escape sequences or C0/C1 controls (tab and newline kept)."""
    text = text.replace("\r\n", "\n")
    return CONTROL_CHARS.sub("", ESCAPE_SEQUENCES.sub("", text))


def normalize_prompt(text: str) -> str:
    """The canonical form of a prompt: control characters removed, surrounding space trimmed."""
    return strip_controls(text).strip()


def prompt_hash(text: str) -> str:
    """Stable identity of a prompt text (after trimming)."""
    return hashlib.sha256(normalize_prompt(text).encode("utf-8")).hexdigest()


class JSONTextField(TextField):
    """JSON stored as text: portable to any database Peewee supports."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class BaseModel(Model):
    """Shared behaviour: validation hook, dict round-trip."""

    #: Fields whose ISO strings become datetimes again in ``from_dict``.
    DATETIME_FIELDS: ClassVar[tuple[str, ...]] = ()

    class Meta:
        database = database
        legacy_table_names = False

    def validate(self) -> None:
        """Raise ``ValidationError`` listing every problem; subclasses add checks."""
        problems = self.problems()
        if problems:
            raise ValidationError(problems)

    def problems(self) -> list[str]:
        return []

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; foreign keys as ids."""
        out: dict[str, Any] = {}
        for name, fld in self._meta.fields.items():
            key = fld.column_name if isinstance(fld, ForeignKeyField) else name
            value = self.__data__.get(name)
            out[key] = _iso(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaseModel:
        """Build an unsaved instance from ``to_dict`` output (unknown keys rejected)."""
        fields = cls._meta.fields
        columns = {f.column_name: n for n, f in fields.items() if isinstance(f, ForeignKeyField)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = columns.get(key, key)
            if name not in fields:
                raise ValidationError(f"Unknown field '{key}' for {cls.__name__}.")
            if name in cls.DATETIME_FIELDS and isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            if isinstance(fields[name], DecimalField) and value is not None:
                value = Decimal(str(value))
            values[name] = value
        instance = cls()
        instance.__data__.update(values)
        return instance


class Prompt(BaseModel):
    """One distinct prompt text; using it again bumps ``use_count`` and ``last_used_at``."""

    text = TextField()
    text_hash = CharField(max_length=64, unique=True)
    created_at = UTCDateTimeField(default=now, index=True)
    last_used_at = UTCDateTimeField(default=now, index=True)
    #: Uses that brought at least one image, plus ``imported_uses``: what "used N times" says.
    use_count = IntegerField(default=1, index=True)
    #: The part of ``use_count`` that came from prompt files (``import-prompts``): the most
    #: times any one imported file held this text, so importing the same or an overlapping
    #: file again never counts its lines twice.
    imported_uses = IntegerField(default=0)
    is_favorite = BooleanField(default=False, index=True)
    notes = TextField(default="")
    #: Set when the prompt is in the trash (restorable until purged).
    deleted_at = UTCDateTimeField(null=True, index=True)
    #: The prompt this one was made from (reused and changed, or an edit's); 0009.
    parent_prompt = ForeignKeyField(
        "self", null=True, on_delete="SET NULL", backref="child_prompts", index=False
    )
    #: The near-duplicate key (folded case, space, punctuation, word order); None until
    #: computed; 0009.
    family_key = TextField(null=True)

    DATETIME_FIELDS = ("created_at", "last_used_at", "deleted_at")

    class Meta:
        table_name = "prompts"

    def problems(self) -> list[str]:
        problems: list[str] = []
        text = self.text or ""
        if not text.strip():
            problems.append("The prompt is empty; write what the image should show.")
        elif len(normalize_prompt(text)) > PROMPT_MAX_CHARS:
            problems.append(
                f"The prompt is {len(normalize_prompt(text)):,} characters; "
                f"the limit is {PROMPT_MAX_CHARS:,}."
            )
        if (self.use_count or 0) < 0:
            problems.append("use_count cannot be negative.")
        if (self.imported_uses or 0) < 0:
            problems.append("imported_uses cannot be negative.")
        return problems

    @property
    def short_text(self) -> str:
        return shorten(self.text or "")

    @property
    def star(self) -> str:
        return "★" if self.is_favorite else " "

    @property
    def age(self) -> str:
        return humanize_age(self.last_used_at)


class Template(BaseModel):
    """A prompt with ``{variable}`` placeholders."""

    name = CharField(max_length=NAME_MAX_CHARS, unique=True)
    body = TextField()
    description = TextField(default="")
    created_at = UTCDateTimeField(default=now, index=True)
    updated_at = UTCDateTimeField(default=now)

    DATETIME_FIELDS = ("created_at", "updated_at")

    class Meta:
        table_name = "templates"

    def problems(self) -> list[str]:
        problems = _name_problems(self.name, "template")
        if not (self.body or "").strip():
            problems.append("The template body is empty.")
        elif len(self.body) > PROMPT_MAX_CHARS:
            problems.append(f"The template body is over {PROMPT_MAX_CHARS:,} characters.")
        return problems


class TemplateVariable(BaseModel):
    """A named list of values that ``{name}`` in a template expands to."""

    name = CharField(max_length=NAME_MAX_CHARS, unique=True)
    values = JSONTextField(default=list)
    description = TextField(default="")
    created_at = UTCDateTimeField(default=now)
    updated_at = UTCDateTimeField(default=now)

    DATETIME_FIELDS = ("created_at", "updated_at")

    class Meta:
        table_name = "template_variables"

    def problems(self) -> list[str]:
        problems: list[str] = []
        name = self.name or ""
        if not IDENTIFIER.match(name):
            problems.append(
                f"Variable name '{name}' is not valid: use letters, digits and _, "
                "not starting with a digit."
            )
        values = self.values
        if not isinstance(values, list) or not values:
            problems.append(f"Variable '{name}' needs a non-empty list of values.")
        elif not all(isinstance(v, str) and v.strip() for v in values):
            problems.append(f"Every value of variable '{name}' must be non-empty text.")
        return problems


class Batch(BaseModel):
    """A run of many generations: a template's expansions, a prompts file, or one prompt repeated.

    Counts are never stored here: they come from the batch's items (``BatchItem``), so they
    cannot drift from what happened.
    """

    #: Stable identity across databases: export and import match records by it.
    uid = CharField(max_length=32, unique=True, default=new_uid)
    name = CharField(max_length=NAME_MAX_CHARS)
    template = ForeignKeyField(Template, null=True, on_delete="SET NULL", backref="batches")
    source = CharField(max_length=16, default="template")
    #: The template body, text or file name the prompts were expanded from (as it was then).
    body = TextField(default="")
    mode = CharField(max_length=32, default="product")
    seed = IntegerField(null=True)
    #: The values each placeholder took, by name (the template's variables and overrides).
    variables = JSONTextField(default=dict)
    #: The request fields every item is sent with (model, size, quality, n, ...), and provider.
    params = JSONTextField(default=dict)
    status = CharField(max_length=16, default="planned", index=True)
    planned = IntegerField(default=0)
    concurrency = IntegerField(default=4)
    #: Why the batch stopped before finishing (quota, cancel, the process went away, ...).
    stop_reason = TextField(null=True)
    #: The process running the batch (while ``running``).
    owner_pid = IntegerField(null=True)
    created_at = UTCDateTimeField(default=now, index=True)
    started_at = UTCDateTimeField(null=True)
    finished_at = UTCDateTimeField(null=True)

    DATETIME_FIELDS = ("created_at", "started_at", "finished_at")

    class Meta:
        table_name = "batches"

    def problems(self) -> list[str]:
        problems = _name_problems(self.name, "batch")
        if self.status not in BATCH_STATUSES:
            problems.append(
                f"Batch status '{self.status}' is unknown; one of {', '.join(BATCH_STATUSES)}."
            )
        if self.source not in BATCH_SOURCES:
            problems.append(
                f"Batch source '{self.source}' is unknown; one of {', '.join(BATCH_SOURCES)}."
            )
        if (self.planned or 0) < 0:
            problems.append("Batch planned count cannot be negative.")
        if not 1 <= (self.concurrency or 0) <= 64:
            problems.append("Batch concurrency must be 1 to 64.")
        return problems


class BatchItem(BaseModel):
    """One expanded prompt of a batch and where it stands."""

    batch = ForeignKeyField(Batch, on_delete="CASCADE", backref="items")
    position = IntegerField()
    text = TextField()
    #: The value each placeholder took for this prompt.
    choice = JSONTextField(default=dict)
    #: The history prompt it became when first sent.
    prompt = ForeignKeyField(Prompt, null=True, on_delete="SET NULL", backref="batch_items")
    status = CharField(max_length=16, default="planned")
    attempts = IntegerField(default=0)
    error = TextField(null=True)
    updated_at = UTCDateTimeField(default=now)

    DATETIME_FIELDS = ("updated_at",)

    class Meta:
        table_name = "batch_items"
        indexes = ((("batch", "position"), True), (("batch", "status"), False))

    def problems(self) -> list[str]:
        problems: list[str] = []
        if self.status not in BATCH_ITEM_STATUSES:
            problems.append(
                f"Batch item status '{self.status}' is unknown; "
                f"one of {', '.join(BATCH_ITEM_STATUSES)}."
            )
        if not (self.text or "").strip():
            problems.append("A batch item needs a prompt.")
        return problems


class Generation(BaseModel):
    """One image asked of a provider: pending, then succeeded or failed."""

    #: Stable identity across databases: export and import match records by it.
    uid = CharField(max_length=32, unique=True, default=new_uid)
    prompt = ForeignKeyField(Prompt, on_delete="CASCADE", backref="generations")
    batch = ForeignKeyField(Batch, null=True, on_delete="SET NULL", backref="generations")
    batch_item = ForeignKeyField(
        BatchItem, null=True, on_delete="SET NULL", backref="generations", index=True
    )
    request_key = CharField(max_length=32, index=True)
    image_index = IntegerField(default=0)
    provider = CharField(max_length=32)
    model = CharField(max_length=64, index=True)
    size = CharField(max_length=16)
    quality = CharField(max_length=16, default="auto")
    output_format = CharField(max_length=8, default="png")
    background = CharField(max_length=16, default="auto")
    status = CharField(max_length=16, default="pending", index=True)
    error_kind = CharField(max_length=32, null=True)
    error_message = TextField(null=True)
    revised_prompt = TextField(null=True)
    file_path = TextField(null=True)
    thumbnail_path = TextField(null=True)
    width = IntegerField(null=True)
    height = IntegerField(null=True)
    seed = IntegerField(null=True)
    params = JSONTextField(default=dict)
    created_at = UTCDateTimeField(default=now, index=True)
    started_at = UTCDateTimeField(null=True)
    finished_at = UTCDateTimeField(null=True)
    duration_ms = IntegerField(null=True)
    #: The server's ``x-request-id`` when there was one (support can trace a billed request).
    request_id = CharField(max_length=128, null=True)
    #: Set when the image is in the trash (its files moved under ``<home>/trash``).
    deleted_at = UTCDateTimeField(null=True, index=True)
    #: ``generate``, ``edit`` or ``variation`` (its inputs are ``GenerationInput`` rows).
    kind = TextField(default="generate")
    #: A note on the image (0009).
    note = TextField(default="")

    DATETIME_FIELDS = ("created_at", "started_at", "finished_at", "deleted_at")

    class Meta:
        table_name = "generations"

    def problems(self) -> list[str]:
        problems: list[str] = []
        if not SIZE_PATTERN.match(self.size or ""):
            problems.append(f"Size '{self.size}' is not WIDTHxHEIGHT (for example 1024x1024).")
        if self.quality not in QUALITIES:
            problems.append(f"Quality '{self.quality}' is unknown; one of {', '.join(QUALITIES)}.")
        if self.status not in GENERATION_STATUSES:
            problems.append(
                f"Status '{self.status}' is unknown; one of {', '.join(GENERATION_STATUSES)}."
            )
        if self.output_format not in FORMATS:
            problems.append(f"Format '{self.output_format}' is unknown; one of png, jpeg, webp.")
        if not self.model:
            problems.append("A generation needs a model name.")
        if self.kind not in GENERATION_KINDS:
            problems.append(f"Kind '{self.kind}' is unknown; one of {', '.join(GENERATION_KINDS)}.")
        for label in ("width", "height", "duration_ms"):
            value = getattr(self, label)
            if value is not None and value < 0:
                problems.append(f"Generation {label} cannot be negative.")
        return problems

    @property
    def offline(self) -> bool:
        return self.provider == "offline"

    @property
    def imported(self) -> bool:
        """Made by another tool and brought in by ``import-images``: nothing was billed here."""
        return isinstance(self.params, dict) and "import_source" in self.params

    @property
    def applied(self) -> dict[str, str]:
        """What the provider said it applied (e.g. quality ``auto`` -> ``high``); {} if unknown."""
        params = self.params if isinstance(self.params, dict) else {}
        applied = params.get("applied")
        if not isinstance(applied, dict):
            return {}
        return {k: str(applied[k]) for k in APPLIED_KEYS if applied.get(k) is not None}

    @property
    def has_image(self) -> bool:
        """Succeeded with its file recorded: what History counts as an image."""
        return self.status == "succeeded" and bool(self.file_path)

    @property
    def dimensions(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else self.size

    @property
    def duration_display(self) -> str:
        return "—" if self.duration_ms is None else f"{self.duration_ms / 1000:.1f}s"


class GenerationInput(BaseModel):
    """One input of a generation, in order: an image, mask or markup it was made from.

    Either one of our own generations (``parent_generation``) or a file from outside
    (``file_path``); ``sha256``, ``width`` and ``height`` describe what was sent. Purging the
    parent unlinks it (``SET NULL``) and the hash stays; purging the child removes its inputs.
    """

    generation = ForeignKeyField(Generation, on_delete="CASCADE", backref="inputs", index=False)
    position = IntegerField(default=0)
    role = TextField(default="image")
    parent_generation = ForeignKeyField(
        Generation, null=True, on_delete="SET NULL", backref="child_inputs", index=False
    )
    file_path = TextField(null=True)
    sha256 = TextField(null=True)
    width = IntegerField(null=True)
    height = IntegerField(null=True)

    class Meta:
        table_name = "generation_inputs"
        # The names 0008 gives them (declared there; models never create tables).
        indexes = ((("generation", "position"), True), (("parent_generation",), False))

    def problems(self) -> list[str]:
        problems: list[str] = []
        if self.role not in INPUT_ROLES:
            problems.append(
                f"Input role '{self.role}' is unknown; one of {', '.join(INPUT_ROLES)}."
            )
        if (self.position or 0) < 0:
            problems.append("An input's position cannot be negative.")
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            problems.append("An input's sha256 must be 64 lowercase hex digits.")
        for label in ("width", "height"):
            value = getattr(self, label)
            if value is not None and value < 0:
                problems.append(f"An input's {label} cannot be negative.")
        return problems


class Tag(BaseModel):
    """A tag, as first written (``name``); ``name_key`` (case-folded) makes it one tag."""

    name = TextField()
    name_key = TextField(unique=True)
    created_at = UTCDateTimeField(default=now)

    DATETIME_FIELDS = ("created_at",)

    class Meta:
        table_name = "tags"


class PromptTag(BaseModel):
    """One prompt tagged with one tag (0009; deleted with either)."""

    prompt = ForeignKeyField(Prompt, on_delete="CASCADE", backref="tag_links", index=False)
    tag = ForeignKeyField(Tag, on_delete="CASCADE", backref="prompt_links", index=False)
    created_at = UTCDateTimeField(default=now)

    DATETIME_FIELDS = ("created_at",)

    class Meta:
        table_name = "prompt_tags"
        primary_key = CompositeKey("prompt", "tag")
        without_rowid = True


class Collection(BaseModel):
    """A named, ordered list of prompts and images (``name_key``: case-folded, unique)."""

    uid = CharField(max_length=32, unique=True, default=new_uid)
    name = TextField()
    name_key = TextField(unique=True)
    description = TextField(default="")
    created_at = UTCDateTimeField(default=now)
    updated_at = UTCDateTimeField(default=now)

    DATETIME_FIELDS = ("created_at", "updated_at")

    class Meta:
        table_name = "collections"


class CollectionItem(BaseModel):
    """One entry of a collection, in order: a prompt or a generation (exactly one)."""

    collection = ForeignKeyField(Collection, on_delete="CASCADE", backref="items", index=False)
    position = IntegerField()
    prompt = ForeignKeyField(Prompt, null=True, on_delete="CASCADE", index=False)
    generation = ForeignKeyField(Generation, null=True, on_delete="CASCADE", index=False)
    added_at = UTCDateTimeField(default=now)

    DATETIME_FIELDS = ("added_at",)

    class Meta:
        table_name = "collection_items"


class UsageStat(BaseModel):
    """The ledger: tokens and cost of one billed image, or one possibly billed request.

    Append-only: deleting (purging) a generation sets ``generation`` to NULL and never removes or
    changes the row. ``prices`` keeps the prices the cost was computed with (amount, as-of date
    and source per price), so a later catalogue change never rewrites past spend.
    """

    #: Stable identity across databases: export and import match records by it.
    uid = CharField(max_length=32, unique=True, default=new_uid)
    generation = ForeignKeyField(
        Generation, null=True, on_delete="SET NULL", backref="usage", unique=True
    )
    kind = CharField(max_length=16, default="image", index=True)
    request_key = CharField(max_length=32, null=True, index=True)
    request_id = CharField(max_length=128, null=True)
    model = CharField(max_length=64, index=True)
    #: The batch the request belonged to (no foreign key: spend outlives the batch record).
    batch_id = IntegerField(null=True, index=True)
    provider = CharField(max_length=32, default="openai")
    input_text_tokens = IntegerField(default=0)
    input_image_tokens = IntegerField(default=0)
    output_image_tokens = IntegerField(default=0)
    output_text_tokens = IntegerField(default=0)
    total_tokens = IntegerField(default=0)
    cost = DecimalField(max_digits=14, decimal_places=6, null=True, auto_round=True)
    size = CharField(max_length=16, null=True)
    quality = CharField(max_length=16, null=True)
    price_basis = CharField(max_length=16, default="unknown")
    prices = JSONTextField(default=dict)
    priced_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=now, index=True)

    DATETIME_FIELDS = ("created_at", "priced_at")
    TOKEN_FIELDS: ClassVar[tuple[str, ...]] = (
        "input_text_tokens",
        "input_image_tokens",
        "output_image_tokens",
        "output_text_tokens",
        "total_tokens",
    )

    class Meta:
        table_name = "usage_stats"

    def problems(self) -> list[str]:
        problems = [
            f"{label.replace('_', ' ')} cannot be negative."
            for label in self.TOKEN_FIELDS
            if (getattr(self, label) or 0) < 0
        ]
        if self.cost is not None and Decimal(str(self.cost)) < 0:
            problems.append("Cost cannot be negative.")
        if not self.model:
            problems.append("A usage row needs a model name.")
        if self.kind not in USAGE_KINDS:
            kinds = ", ".join(USAGE_KINDS)
            problems.append(f"Usage kind '{self.kind}' is unknown; one of {kinds}.")
        if self.price_basis not in PRICE_BASES:
            problems.append(
                f"Price basis '{self.price_basis}' is unknown; one of {', '.join(PRICE_BASES)}."
            )
        return problems

    @property
    def cost_display(self) -> str:
        return format_money(self.cost)


def _name_problems(name: str | None, what: str) -> list[str]:
    if not (name or "").strip():
        return [f"The {what} needs a name."]
    if len(name or "") > NAME_MAX_CHARS:
        return [f"The {what} name is over {NAME_MAX_CHARS} characters."]
    return []


class ImportJournal(BaseModel):
    """What one chunk of a running prompt import changed, so that the whole import can be undone.

    A large import merges in short transactions (never holding the write lock for long); if it
    fails, or the process dies, the journal says exactly what to take back. Rows exist only while
    an import runs.
    """

    import_key = CharField(max_length=32, index=True)
    #: A prompt the import bumped (``created`` false), with what to give back.
    prompt = ForeignKeyField(Prompt, null=True, on_delete="CASCADE")
    #: Prompts the import created (``created`` true): the id range of one chunk.
    first_id = IntegerField(null=True)
    last_id = IntegerField(null=True)
    created = BooleanField(default=False)
    added_uses = IntegerField(default=0)
    previous_last_used_at = UTCDateTimeField(null=True)
    started_at = UTCDateTimeField(default=now)

    DATETIME_FIELDS = ("previous_last_used_at", "started_at")

    class Meta:
        table_name = "import_journal"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Prompt,
    Template,
    TemplateVariable,
    Batch,
    BatchItem,
    Generation,
    GenerationInput,
    UsageStat,
    ImportJournal,
    Tag,
    PromptTag,
    Collection,
    CollectionItem,
)
