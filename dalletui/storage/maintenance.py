"""Maintenance queries: integrity, unfinished rows, rows and files that disagree, and their fixes.

What ``dalletui doctor`` (and the check at every start) asks of the database. The file system
questions stay with the caller except one: which succeeded rows point at files that are gone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from dalletui.errors import ErrorKind
from dalletui.storage.base import StoreBase, guarded
from dalletui.storage.models import Generation, Prompt, UsageStat, now

#: Ids per ``IN (...)`` list: well under SQLite's limit on bound variables.
_CHUNK = 500


@dataclass(frozen=True)
class UnfinishedGeneration:
    """A pending (or interrupted) row with no file, and the pid of the process that owned it."""

    generation: Generation
    owner_pid: int | None


@dataclass(frozen=True)
class MissingFiles:
    """A succeeded row whose image or thumbnail is not on disk.

    ``generation`` carries only id, status, created_at, deleted_at, file_path and thumbnail_path.
    """

    generation: Generation
    image_missing: bool
    thumbnail_missing: bool


class AttachResult(StrEnum):
    """What ``attach_image`` did."""

    ATTACHED = "attached"
    ALREADY_SUCCEEDED = "already_succeeded"
    NO_ROW = "no_row"
    OTHER_REQUEST = "other_request"
    WRONG_STATUS = "wrong_status"


class MaintenanceStore(StoreBase):
    """What ``dalletui doctor`` asks of the database, and the repairs it makes."""

    finish_generation: Any  # from GenerationStore, mixed into the same manager

    # -- checks -------------------------------------------------------------------------------

    @guarded
    def integrity_check(self, *, full: bool = False, max_errors: int = 20) -> list[str]:
        """SQLite's own check (``quick_check``, or ``integrity_check`` when ``full``): [] if ok."""
        pragma = "integrity_check" if full else "quick_check"
        rows = self.db.execute_sql(f"PRAGMA {pragma}({int(max_errors)})").fetchall()
        messages = [str(row[0]) for row in rows]
        return [] if messages == ["ok"] else messages

    @guarded
    def unfinished_generations(
        self,
        statuses: Iterable[str] = ("pending",),
        *,
        since: dt.datetime | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[UnfinishedGeneration]:
        """Rows in ``statuses`` that record no file (prompt joined), oldest first."""
        condition = Generation.status.in_(list(statuses)) & Generation.file_path.is_null()
        if since is not None:
            condition &= Generation.created_at >= since
        wanted = None if ids is None else sorted(set(ids))
        chunks = [None] if wanted is None else _chunks(wanted)
        found = []
        for chunk in chunks:
            where = condition if chunk is None else condition & Generation.id.in_(chunk)
            select = Generation.select(Generation, Prompt).join(Prompt).where(where)
            found += [UnfinishedGeneration(row, _owner_pid(row.params)) for row in select]
        return sorted(found, key=lambda item: item.generation.id)

    @guarded
    def unfinished_placements(
        self, statuses: Iterable[str] = ("interrupted",), *, since: dt.datetime | None = None
    ) -> list[tuple[int, dt.datetime]]:
        """(id, created_at) of rows in ``statuses`` with no file: where their files would be.

        Light on purpose: a folder may hold thousands of interrupted rows, and only the few
        whose image is on disk need loading (``unfinished_generations(ids=...)``).
        """
        condition = Generation.status.in_(list(statuses)) & Generation.file_path.is_null()
        if since is not None:
            condition &= Generation.created_at >= since
        select = Generation.select(Generation.id, Generation.created_at).where(condition)
        return [(row.id, row.created_at) for row in select.order_by(Generation.id).objects()]

    @guarded
    def pending_generations(self) -> list[UnfinishedGeneration]:
        """Every pending row with its owner's pid (``params["owner_pid"]``)."""
        return self.unfinished_generations(("pending",))

    @guarded
    def generations_missing_files(
        self, *, images_root: Path | None = None, trash_root: Path | None = None
    ) -> list[MissingFiles]:
        """Succeeded rows whose ``file_path`` or ``thumbnail_path`` does not exist.

        A trashed row's file also counts as present at its mirror under ``trash_root`` (the
        trash keeps the layout of ``images_root``).
        """
        select = (
            Generation.select(
                Generation.id,
                Generation.status,
                Generation.created_at,
                Generation.deleted_at,
                Generation.file_path,
                Generation.thumbnail_path,
            )
            .where(Generation.status == "succeeded")
            .order_by(Generation.id)
        )
        found = []
        for row in select.iterator():
            roots = None
            if row.deleted_at is not None and images_root is not None and trash_root is not None:
                roots = (Path(images_root), Path(trash_root))
            image_missing = not _present(row.file_path, roots)
            thumbnail_missing = not _present(row.thumbnail_path, roots)
            if image_missing or thumbnail_missing:
                found.append(MissingFiles(row, image_missing, thumbnail_missing))
        return found

    @guarded
    def known_file_paths(self) -> dict[str, int]:
        """Every image and thumbnail path any row records (any status, trash included)."""
        paths: dict[str, int] = {}
        select = Generation.select(
            Generation.id, Generation.file_path, Generation.thumbnail_path
        ).where(Generation.file_path.is_null(False) | Generation.thumbnail_path.is_null(False))
        for generation_id, file_path, thumbnail_path in select.tuples().iterator():
            for path in (file_path, thumbnail_path):
                if path:
                    paths[path] = generation_id
        return paths

    @guarded
    def generation_statuses(self, ids: Iterable[int]) -> dict[int, str]:
        """The status of each of ``ids`` that has a row."""
        statuses: dict[int, str] = {}
        for chunk in _chunks(sorted(set(ids))):
            select = Generation.select(Generation.id, Generation.status).where(
                Generation.id.in_(chunk)
            )
            statuses.update((row.id, row.status) for row in select)
        return statuses

    # -- fixes ----------------------------------------------------------------------------------

    @guarded
    def attach_image(
        self,
        generation_id: int,
        *,
        usage: dict[str, Any] | None,
        request_key: str | None = None,
        from_statuses: Iterable[str] | None = None,
        **changes: Any,
    ) -> AttachResult:
        """Finish a row with an image that is on disk (``finish_generation``), in one transaction.

        Only a row that exists, belongs to ``request_key`` (when given), is not already
        succeeded and is in ``from_statuses`` (when given) is changed. Its ledger row is
        written unless it already has one (the ledger is append-only). The first image of a
        request counts its prompt's use (as when it is recorded as it arrives).
        """
        with self.write():
            row = Generation.get_or_none(Generation.id == generation_id)
            if row is None:
                return AttachResult.NO_ROW
            if request_key is not None and row.request_key != request_key:
                return AttachResult.OTHER_REQUEST
            if row.status == "succeeded":
                return AttachResult.ALREADY_SUCCEEDED
            if from_statuses is not None and row.status not in set(from_statuses):
                return AttachResult.WRONG_STATUS
            if usage is not None and (
                UsageStat.select().where(UsageStat.generation == generation_id).exists()
            ):
                usage = None
            counted = (
                Generation.select()
                .where(
                    (Generation.prompt == row.prompt_id)
                    & (Generation.request_key == row.request_key)
                    & ((Generation.status == "succeeded") | Generation.file_path.is_null(False))
                )
                .exists()
            )
            self.finish_generation(generation_id, usage=usage, count_use=not counted, **changes)
        return AttachResult.ATTACHED

    @guarded
    def mark_files_missing(self, messages: dict[int, str]) -> int:
        """Succeeded rows whose image is gone become ``failed`` (filesystem); ledger untouched."""
        changed = 0
        finished = now()
        with self.write():
            for generation_id, message in messages.items():
                changed += (
                    Generation.update(
                        status="failed",
                        error_kind=ErrorKind.FILESYSTEM,
                        error_message=message,
                        finished_at=finished,
                    )
                    .where((Generation.id == generation_id) & (Generation.status == "succeeded"))
                    .execute()
                )
        return changed

    @guarded
    def relink_files(
        self,
        generation_id: int,
        *,
        file_path: str | None = None,
        thumbnail_path: str | None = None,
    ) -> bool:
        """Point a succeeded row at where its files really are (only the paths given change)."""
        changes: dict[Any, Any] = {}
        if file_path is not None:
            changes[Generation.file_path] = file_path
        if thumbnail_path is not None:
            changes[Generation.thumbnail_path] = thumbnail_path
        if not changes:
            return False
        return bool(
            Generation.update(changes)
            .where((Generation.id == generation_id) & (Generation.status == "succeeded"))
            .execute()
        )


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]


def _owner_pid(params: Any) -> int | None:
    pid = params.get("owner_pid") if isinstance(params, dict) else None
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else None


def _present(path: str | None, roots: tuple[Path, Path] | None) -> bool:
    """``path`` exists, or (for a trashed row) its mirror under the trash does."""
    if not path:
        return False
    target = Path(path)
    if target.exists():
        return True
    if roots is None:
        return False
    images_root, trash_root = roots
    try:
        return (trash_root / target.relative_to(images_root)).exists()
    except ValueError:
        return False
