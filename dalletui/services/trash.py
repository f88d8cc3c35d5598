"""The trash: move prompts and images out of the way, bring them back, or purge them for good.

Files of a trashed image (the image, its ``.json`` sidecar, its thumbnail) move from
``<home>/images/<rel>`` to ``<home>/trash/<rel>``, the same relative path, so restoring puts every
byte back where it was. The steps are ordered so that a crash at any point loses nothing:

- trash: mark the rows (one transaction; the entry is in the trash from here on), move the files,
  then record their new paths (one transaction);
- restore: move the files back, then unmark the rows and record the paths (one transaction);
- purge: delete the rows (one transaction), then the files.

Every step after the first tolerates a file that has already moved: each file is looked for at
both of its places. A crash between purge's two steps leaves unreferenced files under ``trash/``;
``empty`` sweeps those. The ledger (``usage_stats``) never changes: purging only unlinks its rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from dalletui.generation.files import ImageStore, fsync_folder, sidecar_path
from dalletui.storage import DatabaseManager
from dalletui.storage.models import Generation, now
from dalletui.storage.trash import Paths, TrashItem, TrashRef

log = logging.getLogger(__name__)

#: ``dalletui doctor`` moves files no row knows into ``<home>/trash/orphans``; the sweep skips it.
ORPHANS = "orphans"

__all__ = [
    "PurgeOutcome",
    "TrashItem",
    "TrashOutcome",
    "TrashRef",
    "TrashService",
    "format_size",
]


def format_size(size: int | None) -> str:
    """Bytes as people read them: 812 B, 85 KB, 1.2 MB (None: unknown)."""
    if size is None:
        return "?"
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB"):  # noqa: B007 (the last unit is used below)
        if value < 999.5 or unit == "GB":
            break
        value /= 1000
    if unit == "B":
        return f"{size} B"
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


@dataclass(frozen=True)
class TrashOutcome:
    """What moving an entry into (or out of) the trash did."""

    item: TrashItem
    files_moved: int = 0
    #: Files that could not be moved or were missing, one sentence each (the rows changed anyway).
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurgeOutcome:
    """What a purge removed for good."""

    entries: int = 0
    generations: int = 0
    files: int = 0
    bytes_freed: int = 0
    problems: tuple[str, ...] = ()


class TrashService:
    """Trash, restore, list and purge; the one place that moves files in and out of the trash."""

    def __init__(self, db: DatabaseManager, images: ImageStore, root: Path | None = None) -> None:
        self.db = db
        self.images_root = Path(images.root)
        #: ``<home>/trash``, beside ``<home>/images``.
        self.root = Path(root) if root is not None else self.images_root.parent / "trash"

    # -- into the trash ---------------------------------------------------------------------

    def trash_prompt(self, prompt_id: int) -> TrashOutcome:
        """Move a prompt and its images to the trash."""
        return self._into_trash(self.db.trash_prompt(prompt_id))

    def trash_generation(self, generation_id: int) -> TrashOutcome:
        """Move one image (a generation) to the trash; its prompt stays."""
        return self._into_trash(self.db.trash_generation(generation_id))

    def _into_trash(self, item: TrashItem) -> TrashOutcome:
        paths, moved, problems = self._move_files(item.generations, to_trash=True)
        if paths:
            self.db.set_generation_paths(paths)
        return TrashOutcome(self._sized(item), moved, tuple(problems))

    # -- what is in it ----------------------------------------------------------------------

    def entries(self, *, older_than_days: int | None = None) -> list[TrashItem]:
        """Everything in the trash, newest first, with the bytes its files take."""
        return [self._sized(item) for item in self.db.list_trash(before=_cutoff(older_than_days))]

    def entry(self, ref: TrashRef) -> TrashItem:
        """One entry (``NotFoundError`` when it is not in the trash)."""
        return self._sized(self.db.trash_entry(ref))

    # -- out of it --------------------------------------------------------------------------

    def restore(self, ref: TrashRef) -> TrashOutcome:
        """Put an entry back: files to their original paths, then the rows."""
        item = self.db.trash_entry(ref)
        paths, moved, problems = self._move_files(item.generations, to_trash=False)
        self.db.restore_entry(item, paths)
        self._prune_folders()
        return TrashOutcome(item, moved, tuple(problems))

    def purge(self, refs: Iterable[TrashRef], *, sweep: bool = False) -> PurgeOutcome:
        """Delete entries for good: rows first (one transaction), then their files.

        ``sweep`` also removes files under the trash folder that no row refers to any more.
        """
        removed = self.db.purge_entries(list(refs))
        problems: list[str] = []
        files, freed = _delete_files(
            (path for g in removed.generations for path in self._purge_targets(g)), problems
        )
        if sweep:
            swept, swept_bytes = self._sweep_orphans(problems)
            files += swept
            freed += swept_bytes
        self._prune_folders()
        return PurgeOutcome(
            len(removed.refs), len(removed.generations), files, freed, tuple(problems)
        )

    def empty(self, *, older_than_days: int | None = None) -> PurgeOutcome:
        """Purge everything in the trash (or what has been there longer than the days given)."""
        items = self.db.list_trash(before=_cutoff(older_than_days))
        return self.purge([item.ref for item in items], sweep=True)

    def purge_expired(self, days: int) -> PurgeOutcome | None:
        """The start-up clean-up: purge what has been in the trash over ``days`` (0: never)."""
        if days <= 0:
            return None
        items = self.db.list_trash(before=_cutoff(days))
        if not items:
            return None  # the usual start: nothing expired, no walk of the trash folder
        outcome = self.purge([item.ref for item in items], sweep=True)
        if outcome.entries:
            log.info(
                "emptied %d trash entries older than %d days (%d files)",
                outcome.entries,
                days,
                outcome.files,
            )
        for problem in outcome.problems:
            log.warning("%s", problem)
        return outcome

    # -- files ------------------------------------------------------------------------------

    def _places(self, recorded: str | Path) -> tuple[Path, Path] | None:
        """(home place, trash place) of a file, or None for a file outside both folders."""
        path = Path(recorded)
        for candidate in (path, _resolved(path)):
            for root in (self.images_root, self.root):
                for base in (root, _resolved(root)):
                    if candidate.is_relative_to(base):
                        relative = candidate.relative_to(base)
                        return self.images_root / relative, self.root / relative
        return None

    def _files_of(self, generation: Generation) -> Iterator[tuple[str, str]]:
        """(role, recorded path) of each file a generation owns."""
        if generation.file_path:
            yield "file", generation.file_path
            yield "sidecar", str(sidecar_path(Path(generation.file_path)))
        if generation.thumbnail_path:
            yield "thumbnail", generation.thumbnail_path

    def _move_files(
        self, generations: Iterable[Generation], *, to_trash: bool
    ) -> tuple[dict[int, Paths], int, list[str]]:
        """Move each generation's files; returns their new recorded paths, count, problems."""
        paths: dict[int, Paths] = {}
        moved = 0
        problems: list[str] = []
        touched: set[Path] = set()
        for generation in generations:
            new: dict[str, str | None] = {
                "file": generation.file_path,
                "thumbnail": generation.thumbnail_path,
            }
            for role, recorded in self._files_of(generation):
                places = self._places(recorded)
                if places is None:
                    continue  # outside the images folder: never ours to move
                home, trash = places
                source, target = (home, trash) if to_trash else (trash, home)
                try:
                    where, did_move = _move(source, target)
                except OSError as error:
                    problems.append(
                        f"Could not move {source} to {target}: {error.strerror or error}; "
                        "it stays where it is."
                    )
                    where, did_move = source, False
                if where is None:
                    if role != "sidecar":  # only JPEG and WebP images have one
                        problems.append(f"The {role} of image #{generation.id} is missing.")
                        where = target
                    else:
                        continue
                moved += did_move
                touched.update({source.parent, target.parent} if did_move else set())
                if role in new:
                    new[role] = str(where)
            paths[generation.id] = (new["file"], new["thumbnail"])
        for folder in touched:
            fsync_folder(folder)
        return paths, moved, problems

    def _purge_targets(self, generation: Generation) -> Iterator[Path]:
        """The files to delete for a purged generation.

        Always its place in the trash; its home place only when the row still recorded it there
        (the move never happened): a newer generation may reuse a purged id at home.
        """
        for _role, recorded in self._files_of(generation):
            places = self._places(recorded)
            if places is None:
                continue
            home, trash = places
            yield trash
            if _same(Path(recorded), home):
                yield home

    def _sized(self, item: TrashItem) -> TrashItem:
        total = 0
        for generation in item.generations:
            for _role, recorded in self._files_of(generation):
                places = self._places(recorded)
                candidates = places[::-1] if places else (Path(recorded),)
                for path in candidates:
                    with contextlib.suppress(OSError):
                        total += path.stat().st_size
                        break
        return replace(item, size_bytes=total)

    def _sweep_orphans(self, problems: list[str]) -> tuple[int, int]:
        """Delete files under the trash folder whose generation (named by the file) is gone.

        Only files named like a generation's (``<id>.png``, ``thumbs/<id>.png``): the ones a purge
        that crashed between its two steps left behind.
        """
        if not self.root.is_dir():
            return 0, 0
        kept = self.root / ORPHANS  # what ``dalletui doctor`` set aside is not ours to delete
        files = [p for p in self.root.rglob("*") if p.is_file() and not p.is_relative_to(kept)]
        ids = sorted({int(p.stem) for p in files if p.stem.isdigit()})
        alive = self.db.generation_exists(ids) if ids else set()
        gone = (p for p in files if p.stem.isdigit() and int(p.stem) not in alive)
        return _delete_files(gone, problems)

    def _prune_folders(self) -> None:
        """Remove empty folders under the trash (never the trash folder itself)."""
        if not self.root.is_dir():
            return
        folders = sorted((p for p in self.root.rglob("*") if p.is_dir()), reverse=True)
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()  # fails, as it should, when not empty


def _cutoff(days: int | None) -> dt.datetime | None:
    """The moment ``days`` days ago (None for no limit)."""
    if days is None:
        return None
    try:
        return now() - dt.timedelta(days=days)
    except OverflowError:  # more days than the calendar holds: nothing is that old
        return dt.datetime.min


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def _same(a: Path, b: Path) -> bool:
    return a == b or _resolved(a) == _resolved(b)


def _move(source: Path, target: Path) -> tuple[Path | None, bool]:
    """Move ``source`` to ``target``; returns (where the file is now, whether it moved).

    A file already at ``target`` (an earlier run moved it) is fine; so is a missing one
    (``None``). Renames stay on one file system, so a move is atomic.
    """
    if not source.exists():
        return (target, False) if target.exists() else (None, False)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except FileNotFoundError:
        if not source.exists():  # another dalletui moved it first
            return (target, False) if target.exists() else (None, False)
        target.parent.mkdir(parents=True, exist_ok=True)  # pruned meanwhile: make it again
        os.replace(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        shutil.move(source, target)  # another file system: copy, then remove
    return target, True


def _delete_files(paths: Iterable[Path], problems: list[str]) -> tuple[int, int]:
    """Delete these files; returns (files deleted, bytes freed). Missing ones are skipped."""
    count = freed = 0
    for path in paths:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            problems.append(f"Could not delete {path}: {error.strerror or error}.")
            continue
        count += 1
        freed += size
    return count, freed
