"""Export and import of a whole history: the bulk read and the all-or-nothing merge.

The export read runs in one read transaction, so the file is a consistent snapshot even while
another dalletui writes. Records name each other by stable keys, never by this database's
integer ids: prompts by text hash, generations, batches and usage rows by ``uid``, templates and
variables by name. The merge of an import runs in ONE write transaction: it either lands whole or
not at all. Checking the file (types, sizes, paths, enums) is the service's job and is done
before this module is called; here only what needs the database is decided (what exists
already, which ids new rows get).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from peewee import JOIN, fn

from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import (
    Batch,
    BatchItem,
    Collection,
    CollectionItem,
    Generation,
    GenerationInput,
    Prompt,
    PromptTag,
    Tag,
    Template,
    TemplateVariable,
    UsageStat,
    now,
)
from dalletui.storage.prompts import PromptQuery
from dalletui.timeutil import local

#: Keys an ``IN (...)`` list is split into (SQLite's variable limit is 32766).
_IN_CHUNK = 500
#: Local, per-process state that means nothing in another database (never exported).
LOCAL_PARAMS = ("owner_pid",)


@dataclass
class ExportRows:
    """Everything an export writes, as plain values keyed by stable ids (no local ids).

    File paths are the ones this database records (absolute); the service makes them relative
    to the images folder. ``filtered`` says whether prompts were narrowed by a filter.
    """

    prompts: list[dict[str, Any]]
    generations: list[dict[str, Any]]
    templates: list[dict[str, Any]]
    variables: list[dict[str, Any]]
    batches: list[dict[str, Any]]
    usage: list[dict[str, Any]]
    filtered: bool = False
    #: Every collection, its items naming prompts by text hash and generations by uid.
    collections: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ImportBundle:
    """Checked records of an import file, ready to merge (values already of the models' types).

    Prompts carry ``text_hash``; generations ``prompt`` (a text hash), ``batch`` (a batch uid),
    ``batch_item`` (the item's position in that batch), ``kind`` and ``inputs`` (dicts with
    ``parent`` as a generation uid or None); usage rows ``generation`` and
    ``batch`` (uids); batches ``template`` (a name) and ``items`` (dicts with ``prompt`` as a
    text hash). Paths of generations are left to the ``place`` callback of the merge.
    """

    prompts: list[dict[str, Any]] = field(default_factory=list)
    generations: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    variables: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    #: Collections (by uid) with ``items`` naming ``prompt`` (a text hash) or ``generation``
    #: (a uid); prompts carry ``tags`` (names) and generations ``note``.
    collections: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Conflict:
    """A template or variable of the file whose name exists here with other content."""

    kind: str  # "template" or "variable"
    name: str


@dataclass
class MergeResult:
    """What a merge changed (counts of rows) and what it left alone."""

    new_prompts: int = 0
    merged_prompts: int = 0
    unchanged_prompts: int = 0
    generations: int = 0
    skipped_generations: int = 0
    #: Inputs (lineage) recorded for the new generations.
    inputs: int = 0
    usage: int = 0
    skipped_usage: int = 0
    templates: int = 0
    variables: int = 0
    batches: int = 0
    skipped_batches: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    #: Generation uid -> the id it got here (new generations only).
    new_generation_ids: dict[str, int] = field(default_factory=dict)
    #: Tags put on prompts, collections made, items put in collections, notes of generations
    #: already here that were empty and got the file's.
    tags: int = 0
    collections: int = 0
    collection_items: int = 0
    notes: int = 0
    #: Generations already here whose file paths a ``PathRepair`` was applied to (by uid).
    repaired: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class PathRepair:
    """New file paths for a generation already here whose files are missing.

    Applied only if the row still records ``before`` (its file and thumbnail paths as they
    were read before the transaction) and is not in the trash, so nothing that changed
    meanwhile is written over.
    """

    before: tuple[str | None, str | None]
    after: tuple[str | None, str | None]


#: ``place(generation record, new id)`` -> (file_path, thumbnail_path) to record for it.
Placer = Callable[[dict[str, Any], int], tuple[str | None, str | None]]


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _plain(row: dict[str, Any], *, drop: Iterable[str] = ()) -> dict[str, Any]:
    """A row (``.dicts()``: field name -> value) without its local id and ``drop``."""
    skipped = {"id", *drop}
    return {name: value for name, value in row.items() if name not in skipped}


def _same(a: Any, b: Any) -> bool:
    """Equal values; datetimes compared as instants (a naive one is local time)."""
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return local(a) == local(b)
    return bool(a == b)


class ExchangeStore(StoreBase):
    """The bulk read behind ``dalletui export`` and the one-transaction merge of an import."""

    _prompt_conditions: Any  # from PromptStore, mixed into the same manager
    _link_parent: Any  # from VersionStore, mixed into the same manager

    # -- export ------------------------------------------------------------------------------

    @guarded
    def export_rows(
        self,
        *,
        favorites: bool = False,
        since: dt.datetime | None = None,
        search: str = "",
    ) -> ExportRows:
        """Prompts (not in the trash) matching the filters, their generations (not in the
        trash; with ``since`` only those made since), the batches, templates, variables and
        usage rows; one consistent snapshot.

        Unfiltered, every usage row goes (the ledger is whole: spend of trashed and purged
        images included) and every batch; filtered, the usage rows and batches of the exported
        generations.
        """
        with self._read_snapshot():
            return self._export_rows(favorites, since, search.strip())

    def _export_rows(self, favorites: bool, since: dt.datetime | None, search: str) -> ExportRows:
        # Rows are read as dicts (field name -> value, converted by the fields): building a
        # model instance per row took most of an export's time.
        filtered = bool(favorites or since or search)
        query = PromptQuery(
            text=search, favorites_only=favorites, since=since, prefix_last=False, limit=1
        )
        conditions = self._prompt_conditions(query)
        prompt_rows = list(Prompt.select().where(*conditions).order_by(Prompt.id).dicts())
        selected = Prompt.select(Prompt.id).where(*conditions)
        hashes = dict(Prompt.select(Prompt.id, Prompt.text_hash).tuples())

        generation_where = Generation.deleted_at.is_null() & Generation.prompt.in_(selected)
        if since is not None:
            generation_where &= Generation.created_at >= since
        generation_rows = list(
            Generation.select().where(generation_where).order_by(Generation.id).dicts()
        )

        batch_rows = list(Batch.select().order_by(Batch.id).dicts())
        if filtered:
            wanted = {g["batch"] for g in generation_rows if g["batch"] is not None}
            batch_rows = [b for b in batch_rows if b["id"] in wanted]
        batch_uids = dict(Batch.select(Batch.id, Batch.uid).tuples())
        template_names = dict(Template.select(Template.id, Template.name).tuples())
        items_by_batch: dict[int, list[dict[str, Any]]] = {b["id"]: [] for b in batch_rows}
        item_keys: dict[int, int] = {}
        items = BatchItem.select().order_by(BatchItem.batch, BatchItem.position).dicts()
        for item in items:
            item_keys[item["id"]] = item["position"]
            if item["batch"] in items_by_batch:
                record = _plain(item, drop=("batch",))
                record["prompt"] = hashes.get(item["prompt"])
                items_by_batch[item["batch"]].append(record)

        batches = []
        for batch in batch_rows:
            record = _plain(batch, drop=("owner_pid",))
            record["template"] = template_names.get(batch["template"])
            record["items"] = items_by_batch[batch["id"]]
            batches.append(record)

        inputs_of = self._export_inputs(Generation.select(Generation.id).where(generation_where))
        generations = []
        generation_uids: dict[int, str] = {}
        for row in generation_rows:
            record = _plain(row, drop=("deleted_at",))
            record["prompt"] = hashes[row["prompt"]]
            record["batch"] = batch_uids.get(row["batch"])
            record["batch_item"] = item_keys.get(row["batch_item"]) if record["batch"] else None
            params = dict(row["params"] or {})
            for key in LOCAL_PARAMS:
                params.pop(key, None)
            record["params"] = params
            record["inputs"] = inputs_of.get(row["id"], [])
            generations.append(record)
            generation_uids[row["id"]] = row["uid"]

        usage_select = UsageStat.select().order_by(UsageStat.id)
        if filtered:
            usage_select = usage_select.where(
                UsageStat.generation.in_(Generation.select(Generation.id).where(generation_where))
            )
        all_generation_uids = (
            generation_uids
            if filtered
            else dict(Generation.select(Generation.id, Generation.uid).tuples())
        )
        usage = []
        for row in usage_select.dicts():
            record = _plain(row, drop=("batch_id",))
            record["generation"] = all_generation_uids.get(row["generation"])
            record["batch"] = batch_uids.get(row["batch_id"])
            usage.append(record)

        tags_of = self._export_tags(selected)
        prompts = []
        for row in prompt_rows:
            record = _plain(row, drop=("deleted_at",))
            record["tags"] = tags_of.get(row["id"], [])
            record["parent"] = hashes.get(row["parent_prompt"])
            prompts.append(record)
        return ExportRows(
            prompts=prompts,
            generations=generations,
            templates=[_plain(t) for t in Template.select().order_by(Template.id).dicts()],
            variables=[
                _plain(v) for v in TemplateVariable.select().order_by(TemplateVariable.id).dicts()
            ],
            batches=batches,
            usage=usage,
            filtered=filtered,
            collections=self._export_collections(hashes),
        )

    @staticmethod
    def _export_tags(prompts: Any) -> dict[int, list[str]]:
        """The tag names of ``prompts`` (a subquery of ids), by prompt id."""
        rows = (
            PromptTag.select(PromptTag.prompt, Tag.name)
            .join(Tag, on=(PromptTag.tag == Tag.id))
            .where(PromptTag.prompt.in_(prompts))
            .order_by(PromptTag.prompt, Tag.name_key)
            .tuples()
        )
        found: dict[int, list[str]] = {}
        for prompt_id, name in rows:
            found.setdefault(prompt_id, []).append(name)
        return found

    @staticmethod
    def _export_collections(hashes: dict[int, str]) -> list[dict[str, Any]]:
        """Every collection with its items in order. An item whose prompt or image is in the
        trash or left out by a filter is still named: an import links it if it is there."""
        uids = dict(
            Generation.select(Generation.id, Generation.uid)
            .join(CollectionItem, on=(CollectionItem.generation == Generation.id))
            .tuples()
        )
        items: dict[int, list[dict[str, Any]]] = {}
        select = CollectionItem.select().order_by(
            CollectionItem.collection, CollectionItem.position
        )
        for row in select.dicts():
            items.setdefault(row["collection"], []).append(
                {
                    "position": row["position"],
                    "prompt": hashes.get(row["prompt"]) if row["prompt"] else None,
                    "generation": uids.get(row["generation"]) if row["generation"] else None,
                    "added_at": row["added_at"],
                }
            )
        collections = []
        for row in Collection.select().order_by(Collection.id).dicts():
            record = _plain(row, drop=("name_key",))
            record["items"] = items.get(row["id"], [])
            collections.append(record)
        return collections

    @staticmethod
    def _export_inputs(generations: Any) -> dict[int, list[dict[str, Any]]]:
        """The inputs of ``generations`` (a subquery of ids), by generation id, in order; each
        names its parent by uid (None for an outside file, or a parent purged long ago). A
        parent in the trash or left out by a filter is still named: an import links it if the
        database it goes into holds it."""
        parent = Generation.alias()
        rows = (
            GenerationInput.select(GenerationInput, parent.uid.alias("parent_uid"))
            .join(parent, JOIN.LEFT_OUTER, on=(GenerationInput.parent_generation == parent.id))
            .where(GenerationInput.generation.in_(generations))
            .order_by(GenerationInput.generation, GenerationInput.position)
            .dicts()
        )
        found: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            record = _plain(row, drop=("generation", "parent_generation", "parent_uid"))
            record["parent"] = row["parent_uid"]
            found.setdefault(row["generation"], []).append(record)
        return found

    @contextlib.contextmanager
    def _read_snapshot(self) -> Iterator[None]:
        """A read transaction (``BEGIN DEFERRED``): every query sees the same moment (WAL), and
        no write lock is taken."""
        if self.db.in_transaction():
            yield
            return
        conn = self.db.connection()
        conn.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            conn.execute("COMMIT")  # nothing was written: the same as a rollback

    # -- import ------------------------------------------------------------------------------

    @guarded
    def generation_files(self, uids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Generations here among ``uids``: uid -> id, created_at, deleted_at, file_path and
        thumbnail_path (read only; what an import needs to put files back)."""
        found: dict[str, dict[str, Any]] = {}
        columns = (
            Generation.uid,
            Generation.id,
            Generation.created_at,
            Generation.deleted_at,
            Generation.file_path,
            Generation.thumbnail_path,
        )
        for chunk in _chunks(list(uids)):
            rows = Generation.select(*columns).where(Generation.uid.in_(list(chunk))).dicts()
            found.update({row["uid"]: row for row in rows})
        return found

    @guarded
    def merge_exchange(
        self,
        bundle: ImportBundle,
        place: Placer,
        before_commit: Callable[[MergeResult], None] | None = None,
        repairs: Mapping[str, PathRepair] | None = None,
    ) -> MergeResult:
        """Merge ``bundle`` into this database in one write transaction; all or nothing.

        Prompts match by text hash (favourite: either; use count: the larger; last used: the
        later; created: the earlier; notes: the local ones unless empty; a prompt in the trash
        comes back). Generations, usage rows and batches match by uid: those here already are
        left as they are. Templates and variables match by name: same content is skipped,
        other content keeps the local one and is reported as a conflict. ``place`` names the
        files of each new generation (it gets the id the row will have); ``repairs`` (by uid)
        point generations already here at files put back for them; ``before_commit`` runs
        last inside the transaction, and anything it raises undoes the whole merge.
        """
        result = MergeResult()
        with self.write():
            template_ids = self._merge_named(Template, bundle.templates, "template", result)
            self._merge_named(TemplateVariable, bundle.variables, "variable", result)
            prompt_ids = self._merge_prompts(bundle.prompts, result)
            batch_ids, item_ids = self._merge_batches(
                bundle.batches, template_ids, prompt_ids, result
            )
            generation_ids = self._merge_generations(
                bundle.generations, prompt_ids, batch_ids, item_ids, place, result
            )
            self._merge_inputs(bundle.generations, generation_ids, result)
            self._merge_usage(bundle.usage, generation_ids, batch_ids, result)
            self._merge_tags(bundle.prompts, prompt_ids, result)
            self._merge_notes(bundle.generations, result)
            self._merge_collections(bundle.collections, prompt_ids, generation_ids, result)
            self._repair_paths(repairs or {}, result)
            if before_commit is not None:
                before_commit(result)
        return result

    def _merge_named(
        self,
        model: type[Template] | type[TemplateVariable],
        records: list[dict[str, Any]],
        kind: str,
        result: MergeResult,
    ) -> dict[str, int]:
        """Insert templates (or variables) not here by name; returns name -> id of all."""
        names = [r["name"] for r in records]
        found: dict[str, Any] = {}
        for chunk in _chunks(names):
            found.update({row.name: row for row in model.select().where(model.name.in_(chunk))})
        compared = ("body", "description") if model is Template else ("values", "description")
        new = []
        for record in records:
            here = found.get(record["name"])
            if here is None:
                new.append(record)
            elif any(getattr(here, key) != record.get(key) for key in compared):
                result.conflicts.append(Conflict(kind, record["name"]))
        self._insert(model, new)
        if model is Template:
            result.templates += len(new)
        else:
            result.variables += len(new)
        ids: dict[str, int] = {}
        for chunk in _chunks(names):
            ids.update(model.select(model.name, model.id).where(model.name.in_(chunk)).tuples())
        return ids

    def _merge_prompts(self, records: list[dict[str, Any]], result: MergeResult) -> dict[str, int]:
        """Insert new prompts, merge matching ones; returns text hash -> id for every prompt."""
        hashes = [r["text_hash"] for r in records]
        found: dict[str, Prompt] = {}
        for chunk in _chunks(hashes):
            found.update(
                {p.text_hash: p for p in Prompt.select().where(Prompt.text_hash.in_(chunk))}
            )
        new = []
        parents = {r["text_hash"]: r["parent"] for r in records if r.get("parent")}
        records = [{k: v for k, v in r.items() if k != "parent"} for r in records]
        for record in records:
            here = found.get(record["text_hash"])
            record = {k: v for k, v in record.items() if k != "tags"}
            if here is None:
                new.append({**record, "deleted_at": None})
                continue
            merged = {
                "is_favorite": bool(here.is_favorite or record["is_favorite"]),
                "use_count": max(here.use_count, record["use_count"]),
                "last_used_at": max(local(here.last_used_at), local(record["last_used_at"])),
                "created_at": min(local(here.created_at), local(record["created_at"])),
                "notes": here.notes if (here.notes or "").strip() else record["notes"],
                "deleted_at": None,
            }
            changed = {k: v for k, v in merged.items() if not _same(getattr(here, k), v)}
            if changed:
                Prompt.update(**changed).where(Prompt.id == here.id).execute()
                result.merged_prompts += 1
            else:
                result.unchanged_prompts += 1
        self._insert(Prompt, new)
        result.new_prompts += len(new)
        ids: dict[str, int] = {}
        for chunk in _chunks(hashes):
            ids.update(
                Prompt.select(Prompt.text_hash, Prompt.id)
                .where(Prompt.text_hash.in_(chunk))
                .tuples()
            )
        self._link_parents(parents, ids)
        return ids

    def _link_parents(self, parents: dict[str, str], ids: dict[str, int]) -> None:
        """Link each imported prompt to its parent (by text hash, in the file or already here)
        under the versions' rules: only one without a parent yet; never itself, no cycle."""
        if not parents:
            return
        known = dict(ids)
        self._local_prompt_ids(parents.values(), known)
        children = [ids[h] for h in parents if h in ids]
        rows: dict[int, Prompt] = {}
        for chunk in _chunks(children):
            rows.update({p.id: p for p in Prompt.select().where(Prompt.id.in_(chunk))})
        for digest, parent_digest in parents.items():
            child = rows.get(ids.get(digest, -1))
            parent_id = known.get(parent_digest)
            if child is not None and parent_id is not None:
                self._link_parent(child, parent_id)

    def _local_prompt_ids(self, hashes: Iterable[str | None], known: dict[str, int]) -> None:
        """Add to ``known`` the ids of prompts here whose hash the file names but does not hold."""
        missing = sorted({h for h in hashes if h and h not in known})
        for chunk in _chunks(missing):
            known.update(
                Prompt.select(Prompt.text_hash, Prompt.id)
                .where(Prompt.text_hash.in_(chunk))
                .tuples()
            )

    def _merge_batches(
        self,
        records: list[dict[str, Any]],
        template_ids: dict[str, int],
        prompt_ids: dict[str, int],
        result: MergeResult,
    ) -> tuple[dict[str, int], dict[tuple[str, int], int]]:
        """Insert batches not here by uid, with their items; returns uid -> id and
        (uid, position) -> item id for every batch of the file."""
        uids = [r["uid"] for r in records]
        existing = self._ids_by_uid(Batch, uids)
        self._local_prompt_ids(
            (item.get("prompt") for r in records for item in r["items"]), prompt_ids
        )
        missing_templates = sorted(
            {r["template"] for r in records if r.get("template")} - set(template_ids)
        )
        for chunk in _chunks(missing_templates):
            template_ids.update(
                Template.select(Template.name, Template.id).where(Template.name.in_(chunk)).tuples()
            )
        batch_ids = dict(existing)
        for record in records:
            if record["uid"] in existing:
                result.skipped_batches += 1
                continue
            values = {k: v for k, v in record.items() if k not in ("items", "template")}
            values["template"] = template_ids.get(record.get("template") or "")
            values["owner_pid"] = None
            batch_id = Batch.insert(**values).execute()
            batch_ids[record["uid"]] = batch_id
            items = [
                {
                    **{k: v for k, v in item.items() if k != "prompt"},
                    "batch": batch_id,
                    "prompt": prompt_ids.get(item.get("prompt") or ""),
                }
                for item in record["items"]
            ]
            self._insert(BatchItem, items)
            result.batches += 1
        item_ids: dict[tuple[str, int], int] = {}
        by_id = {batch_id: uid for uid, batch_id in batch_ids.items()}
        for chunk in _chunks(list(by_id)):
            rows = BatchItem.select(BatchItem.batch, BatchItem.position, BatchItem.id).where(
                BatchItem.batch.in_(list(chunk))
            )
            for batch_id, position, item_id in rows.tuples():
                item_ids[(by_id[batch_id], position)] = item_id
        return batch_ids, item_ids

    def _merge_generations(
        self,
        records: list[dict[str, Any]],
        prompt_ids: dict[str, int],
        batch_ids: dict[str, int],
        item_ids: dict[tuple[str, int], int],
        place: Placer,
        result: MergeResult,
    ) -> dict[str, int]:
        """Insert generations not here by uid; returns uid -> id for every one of the file.

        New rows get their ids here (the next free ones: the write lock is held, so nobody
        else takes them), so that ``place`` can name their files after them, as every image
        in the images folder is named.
        """
        uids = [r["uid"] for r in records]
        existing = self._ids_by_uid(Generation, uids)
        next_id = (Generation.select(fn.MAX(Generation.id)).scalar() or 0) + 1
        new = []
        for record in records:
            if record["uid"] in existing:
                result.skipped_generations += 1
                continue
            values = {k: v for k, v in record.items() if k not in ("batch", "batch_item", "inputs")}
            values.setdefault("kind", "generate")
            values.setdefault("note", "")
            values["id"] = next_id
            values["prompt"] = prompt_ids[record["prompt"]]
            batch_uid = record.get("batch")
            values["batch"] = batch_ids.get(batch_uid) if batch_uid else None
            position = record.get("batch_item")
            values["batch_item"] = (
                item_ids.get((batch_uid, position)) if batch_uid and position is not None else None
            )
            values["file_path"], values["thumbnail_path"] = place(record, next_id)
            new.append(values)
            result.new_generation_ids[record["uid"]] = next_id
            next_id += 1
        self._insert(Generation, new)
        result.generations += len(new)
        return {**existing, **result.new_generation_ids}

    def _merge_inputs(
        self,
        records: list[dict[str, Any]],
        generation_ids: dict[str, int],
        result: MergeResult,
    ) -> None:
        """Record the inputs of the new generations (those here already keep their own).

        A parent names a generation of the file or one already here by uid; one found in
        neither (a filtered export, a purged parent) is left unlinked, its hash kept.
        """
        new = [r for r in records if r["uid"] in result.new_generation_ids]
        wanted = {i["parent"] for r in new for i in r.get("inputs") or () if i.get("parent")}
        known = {
            **generation_ids,
            **self._ids_by_uid(Generation, sorted(wanted - set(generation_ids))),
        }
        rows = []
        for record in new:
            for given in record.get("inputs") or ():
                rows.append(
                    {
                        "generation": result.new_generation_ids[record["uid"]],
                        "position": given["position"],
                        "role": given["role"],
                        "parent_generation": known.get(given.get("parent") or ""),
                        "file_path": given.get("file_path"),
                        "sha256": given.get("sha256"),
                        "width": given.get("width"),
                        "height": given.get("height"),
                    }
                )
        self._insert(GenerationInput, rows)
        result.inputs += len(rows)

    def _merge_usage(
        self,
        records: list[dict[str, Any]],
        generation_ids: dict[str, int],
        batch_ids: dict[str, int],
        result: MergeResult,
    ) -> None:
        """Append usage rows not here by uid (the ledger only grows)."""
        uids = [r["uid"] for r in records]
        existing = self._ids_by_uid(UsageStat, uids)
        wanted_generations = {r["generation"] for r in records if r.get("generation")}
        unknown = sorted(wanted_generations - set(generation_ids))
        generation_ids = {**generation_ids, **self._ids_by_uid(Generation, unknown)}
        wanted_batches = {r["batch"] for r in records if r.get("batch")}
        batch_ids = {
            **batch_ids,
            **self._ids_by_uid(Batch, sorted(wanted_batches - set(batch_ids))),
        }
        linked = sorted({generation_ids[u] for u in wanted_generations if u in generation_ids})
        taken: set[int] = set()
        for chunk in _chunks(linked):
            taken.update(
                gid
                for (gid,) in UsageStat.select(UsageStat.generation)
                .where(UsageStat.generation.in_(list(chunk)))
                .tuples()
            )
        new = []
        for record in records:
            if record["uid"] in existing:
                result.skipped_usage += 1
                continue
            values = {k: v for k, v in record.items() if k not in ("generation", "batch")}
            generation_id = generation_ids.get(record.get("generation") or "")
            if generation_id in taken:
                generation_id = None  # that image has its row here already; keep the spend
            if generation_id is not None:
                taken.add(generation_id)
            values["generation"] = generation_id
            values["batch_id"] = batch_ids.get(record.get("batch") or "")
            new.append(values)
        self._insert(UsageStat, new)
        result.usage += len(new)

    def _merge_tags(
        self, records: list[dict[str, Any]], prompt_ids: dict[str, int], result: MergeResult
    ) -> None:
        """Put the file's tags on its prompts (a tag here in any case is the same tag)."""
        wanted: dict[str, str] = {}
        for record in records:
            for name in record.get("tags") or ():
                wanted.setdefault(name.casefold(), name)
        if not wanted:
            return
        keys = sorted(wanted)
        tag_ids: dict[str, int] = {}
        for chunk in _chunks(keys):
            tag_ids.update(Tag.select(Tag.name_key, Tag.id).where(Tag.name_key.in_(chunk)).tuples())
        missing = [
            {"name": wanted[k], "name_key": k, "created_at": now()}
            for k in keys
            if k not in tag_ids
        ]
        self._insert(Tag, missing)
        for chunk in _chunks(keys):
            tag_ids.update(Tag.select(Tag.name_key, Tag.id).where(Tag.name_key.in_(chunk)).tuples())
        links = {
            (prompt_ids[r["text_hash"]], tag_ids[name.casefold()])
            for r in records
            for name in r.get("tags") or ()
        }
        have: set[tuple[int, int]] = set()
        ids = sorted({pid for pid, _ in links})
        for chunk in _chunks(ids):
            have.update(
                PromptTag.select(PromptTag.prompt, PromptTag.tag)
                .where(PromptTag.prompt.in_(list(chunk)))
                .tuples()
            )
        new = [
            {"prompt": pid, "tag": tid, "created_at": now()} for pid, tid in sorted(links - have)
        ]
        self._insert(PromptTag, new)
        result.tags += len(new)

    def _merge_notes(self, records: list[dict[str, Any]], result: MergeResult) -> None:
        """A generation already here with no note gets the file's (a local note is kept)."""
        for record in records:
            if record["uid"] in result.new_generation_ids or not record.get("note"):
                continue
            result.notes += (
                Generation.update(note=record["note"])
                .where((Generation.uid == record["uid"]) & (Generation.note == ""))
                .execute()
            )

    def _merge_collections(
        self,
        records: list[dict[str, Any]],
        prompt_ids: dict[str, int],
        generation_ids: dict[str, int],
        result: MergeResult,
    ) -> None:
        """Collections match by uid, else by name (any case); one not here is made. Its items
        not there yet are added after those it has, in the file's order; an item naming a
        prompt or image found neither in the file nor here is left out."""
        if not records:
            return
        items = [i for r in records for i in r.get("items") or ()]
        self._local_prompt_ids((i.get("prompt") for i in items), prompt_ids)
        wanted = {i["generation"] for i in items if i.get("generation")}
        generation_ids = {
            **generation_ids,
            **self._ids_by_uid(Generation, sorted(wanted - set(generation_ids))),
        }
        for record in records:
            here = Collection.get_or_none(Collection.uid == record["uid"]) or (
                Collection.get_or_none(Collection.name_key == record["name"].casefold())
            )
            if here is None:
                here = Collection.create(
                    uid=record["uid"],
                    name=record["name"],
                    name_key=record["name"].casefold(),
                    description=record.get("description") or "",
                    created_at=record["created_at"],
                    updated_at=record["updated_at"],
                )
                result.collections += 1
            rows = list(
                CollectionItem.select(
                    CollectionItem.prompt, CollectionItem.generation, CollectionItem.position
                )
                .where(CollectionItem.collection == here.id)
                .tuples()
            )
            have = {("p", p) for p, _g, _pos in rows if p} | {("g", g) for _p, g, _pos in rows if g}
            position = max((pos for _p, _g, pos in rows), default=-1) + 1
            new = []
            for given in sorted(record.get("items") or (), key=lambda i: i["position"]):
                if given.get("prompt"):
                    key, value = ("p", prompt_ids.get(given["prompt"]))
                else:
                    key, value = ("g", generation_ids.get(given.get("generation") or ""))
                if value is None or (key, value) in have:
                    continue
                have.add((key, value))
                new.append(
                    {
                        "collection": here.id,
                        "position": position,
                        "prompt": value if key == "p" else None,
                        "generation": value if key == "g" else None,
                        "added_at": given.get("added_at") or now(),
                    }
                )
                position += 1
            self._insert(CollectionItem, new)
            result.collection_items += len(new)

    def _repair_paths(self, repairs: Mapping[str, PathRepair], result: MergeResult) -> None:
        """Apply each repair whose row still records what it was planned against."""
        uids = sorted(repairs)
        for chunk in _chunks(uids):
            rows = Generation.select(
                Generation.uid, Generation.id, Generation.file_path, Generation.thumbnail_path
            ).where(Generation.uid.in_(list(chunk)) & Generation.deleted_at.is_null())
            for uid, generation_id, file_path, thumbnail_path in rows.tuples():
                repair = repairs[uid]
                if (file_path, thumbnail_path) != repair.before:
                    continue  # it changed since it was read: leave it as it is now
                if repair.after != repair.before:
                    Generation.update(
                        file_path=repair.after[0], thumbnail_path=repair.after[1]
                    ).where(Generation.id == generation_id).execute()
                result.repaired.add(uid)

    @staticmethod
    def _ids_by_uid(model: Any, uids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(uids)):
            found.update(
                model.select(model.uid, model.id).where(model.uid.in_(list(chunk))).tuples()
            )
        return found

    def _insert(self, model: Any, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (all with the same keys: field names) with one prepared statement.

        Values go through each field's ``db_value``, as in ``save``; Peewee's own multi-row
        INSERT spent most of a large import compiling SQL.
        """
        if not rows:
            return
        names = list(rows[0])
        fields = [model._meta.fields[name] for name in names]
        columns = ", ".join(f'"{f.column_name}"' for f in fields)
        marks = ", ".join("?" for _ in fields)
        sql = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ({marks})'
        cursor = self.db.cursor()
        cursor.executemany(
            sql, ([f.db_value(row[n]) for f, n in zip(fields, names, strict=True)] for row in rows)
        )
