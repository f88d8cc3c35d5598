"""Getting an import's images into place without losing one.

Each zip member is copied into a staging folder inside the images folder and checked; a
journal, flushed inside the merge's transaction, says which file goes where; Ctrl-C is held from
the commit to the end of the moves; files move in without overwriting anything. A staging folder
left by an import that was cut off is settled by the next one (``_rescue``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dalletui.errors import StorageError
from dalletui.generation.files import ImageStore, fsync_folder, sidecar_path
from dalletui.processes import process_alive
from dalletui.services.exchange.reading import _DAMAGED, _Source
from dalletui.services.exchange.schema import (
    _HASH,
    _REL_PATH,
    _UID,
    IMAGE_SUFFIXES,
    ImportLimits,
    ImportRefused,
    _quoted,
    _refuse,
    _relative,
    _roots,
    _sidecar_relative,
)
from dalletui.storage.exchange import MergeResult, PathRepair
from dalletui.timeutil import local

#: The package's logger, as when it was one module.
log = logging.getLogger(__package__)

STAGING_PREFIX = ".import-staging-"
_STAGING = re.compile(r"^\.import-staging-(\d{1,10})-[0-9a-f]{12}$")


def _image_kind(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


#: The record a staging folder keeps of its files (``journal.json``: not a name ``doctor`` or
#: the trash takes for a generation's file). It is written, and flushed to disk, inside the
#: merge's transaction, before the commit: so whenever rows name files that are still in a
#: staging folder, the folder says which file goes where and what its bytes hash to.
JOURNAL_NAME = "journal.json"
JOURNAL_FORMAT = "dalletui-import-staging"
#: Staging folders of imports running in this process (the pid alone cannot tell an import
#: cut off by an exception from one still running in another thread).
_ACTIVE: set[str] = set()
_ACTIVE_LOCK = threading.Lock()
#: The order a generation's files are moved in: its image last, so that an image in place
#: has its thumbnail and sidecar beside it whenever the moves are cut off (and ``doctor``
#: never finds half a set to make again); each missing file is put back on its own.
_MOVE_ORDER = {"sidecar": 0, "thumbnail": 1, "file": 2}


@dataclass
class _Placed:
    """One file of a generation: staged here, to be moved there after the commit."""

    uid: str
    generation_id: int
    role: str  # file, thumbnail or sidecar
    staged: Path
    target: Path
    sha256: str
    already_there: bool = False


@dataclass
class _Staged:
    """A staged copy of one zip member, with the hash of its bytes."""

    path: Path
    sha256: str


@dataclass
class _Repair:
    """Files put back for a generation already here (matched by uid) whose files are missing:
    a row with ``file_path`` set but no file, or none recorded (a JSON import) while the zip
    holds the image. ``before`` is what the row recorded when it was read."""

    uid: str
    generation_id: int
    before: tuple[str | None, str | None]
    moves: list[_Placed]

    def after(self) -> tuple[str | None, str | None]:
        paths = {move.role: str(move.target) for move in self.moves}
        return paths.get("file", self.before[0]), paths.get("thumbnail", self.before[1])


@dataclass
class _Wanted:
    """A file to stage: the member, what it must be, and (for a repair) where it goes."""

    role: str
    member: zipfile.ZipInfo
    kind: str
    target: Path | None = None


class _InterruptsHeld:
    """Ctrl-C (SIGINT) held back from the commit until the staged files are in place.

    Once the rows naming the images are committed, stopping half-way through the moves would
    leave rows without their files. So from just before the commit to the end of the moves a
    SIGINT is only noted; afterwards the previous handler is put back and given it (Python's
    default raises KeyboardInterrupt there). Only the main thread can set signal handlers;
    elsewhere (a TUI worker) nothing changes, and the journal is what makes a cut repairable.
    """

    def __init__(self) -> None:
        self.previous: Any = None
        self.holding = False
        self.received = False

    def start(self) -> None:
        if self.holding or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is None:  # set outside Python: it could not be put back
            return
        try:
            signal.signal(signal.SIGINT, self._note)
        except (ValueError, OSError):  # not the main interpreter
            return
        self.previous = previous
        self.holding = True

    def _note(self, signum: int, frame: Any) -> None:
        self.received = True

    def __enter__(self) -> _InterruptsHeld:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: Any, tb: Any) -> None:
        if not self.holding:
            return
        self.holding = False
        signal.signal(signal.SIGINT, self.previous)
        if not self.received or kind is not None:
            return  # an exception on its way out stops the command anyway
        if callable(self.previous):
            self.previous(signal.SIGINT, None)  # default_int_handler: KeyboardInterrupt
        elif self.previous == signal.SIG_DFL:
            signal.raise_signal(signal.SIGINT)


class _Staging:
    """Images of an import, staged in ``<images>/.import-staging-<pid>-<token>/``.

    Names inside are not generation-like (``000001.part``, ``journal.json``), so ``dalletui
    doctor`` and the trash never mistake them for a generation's files. A staging folder left
    by an import that is no longer running is settled by the next import (``_rescue``).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.created_root = False
        self.folder: Path | None = None
        self.by_uid: dict[str, dict[str, _Staged]] = {}
        self.placed: dict[str, list[_Placed]] = {}
        self.repairs: dict[str, _Repair] = {}
        self.problems: list[str] = []
        self.count = 0

    def _ensure_folder(self) -> Path:
        if self.folder is None:
            if not self.root.exists():
                self.root.mkdir(parents=True)
                self.created_root = True
            token = os.urandom(6).hex()
            folder = self.root / f"{STAGING_PREFIX}{os.getpid()}-{token}"
            with _ACTIVE_LOCK:
                folder.mkdir()
                _ACTIVE.add(folder.name)
            self.folder = folder
        return self.folder

    def _copy(
        self, source: _Source, wanted: list[_Wanted], limits: ImportLimits
    ) -> dict[str, _Staged]:
        folder = self._ensure_folder()
        files: dict[str, _Staged] = {}
        for item in wanted:
            self.count += 1
            target = folder / f"{self.count:06d}.part"
            files[item.role] = _Staged(
                target, _copy_member(source, item.member, target, item.kind, limits)
            )
        return files

    def stage(self, source: _Source, record: dict[str, Any], limits: ImportLimits) -> None:
        """Copy a new generation's image, thumbnail and sidecar (those the zip holds)."""
        image = source.member_for(record.get("file_path"))
        if image is None:
            return
        wanted = [_Wanted("file", image, IMAGE_SUFFIXES[Path(image.filename).suffix.lower()])]
        thumb = source.member_for(record.get("thumbnail_path"))
        if thumb is not None:
            wanted.append(_Wanted("thumbnail", thumb, "PNG"))
        if Path(image.filename).suffix.lower() != ".png":
            sidecar = source.member_for(_sidecar_relative(record["file_path"]))
            if sidecar is not None:
                wanted.append(_Wanted("sidecar", sidecar, "JSON"))
        self.by_uid[record["uid"]] = self._copy(source, wanted, limits)

    def plan_repair(
        self, source: _Source, record: dict[str, Any], here: dict[str, Any]
    ) -> list[_Wanted]:
        """The files of a generation already here that are missing and that the zip holds,
        each with where it goes: where the row says if that is inside the images folder, else
        where a new generation's would go (named by its id here; a file already there is
        checked by ``settle_repairs``)."""
        if here["deleted_at"] is not None:
            return []  # the trash keeps its own files
        folder = ImageStore(self.root).folder_for(local(here["created_at"]))
        wanted: list[_Wanted] = []
        image = source.member_for(record.get("file_path"))
        if image is not None and not _is_file(here["file_path"]):
            suffix = _suffix(image.filename)
            target = self._inside(here["file_path"], {suffix}) or (folder / f"{here['id']}{suffix}")
            wanted.append(_Wanted("file", image, IMAGE_SUFFIXES[suffix], target))
            sidecar = source.member_for(_sidecar_relative(record["file_path"]))
            beside = sidecar_path(target)
            if suffix != ".png" and sidecar is not None and not beside.exists():
                wanted.append(_Wanted("sidecar", sidecar, "JSON", beside))
        thumb = source.member_for(record.get("thumbnail_path"))
        if thumb is not None and not _is_file(here["thumbnail_path"]):
            target = self._inside(here["thumbnail_path"], {".png"}) or (
                folder / "thumbs" / f"{here['id']}.png"
            )
            wanted.append(_Wanted("thumbnail", thumb, "PNG", target))
        return wanted

    def _inside(self, recorded: str | None, suffixes: set[str]) -> Path | None:
        """``recorded`` when it is a path dalletui writes inside the images folder."""
        if not recorded:
            return None
        for root in _roots(self.root):
            if recorded.startswith(root):
                relative = recorded[len(root) :].replace(os.sep, "/")
                if _REL_PATH.match(relative) and _suffix(relative) in suffixes:
                    return self.root / relative
        return None

    def stage_repair(
        self, source: _Source, record: dict[str, Any], here: dict[str, Any], limits: ImportLimits
    ) -> None:
        """Copy in the missing files of a generation already here (see ``plan_repair``)."""
        wanted = self.plan_repair(source, record, here)
        if not wanted:
            return
        files = self._copy(source, wanted, limits)
        moves = []
        for item in wanted:
            assert item.target is not None
            staged = files[item.role]
            moves.append(
                _Placed(
                    record["uid"], here["id"], item.role, staged.path, item.target, staged.sha256
                )
            )
        before = (here["file_path"], here["thumbnail_path"])
        self.repairs[record["uid"]] = _Repair(record["uid"], here["id"], before, _ordered(moves))

    def settle_repairs(self) -> None:
        """Before the transaction: a repair's target taken by a file meanwhile is kept if it
        holds the same bytes; another file there is left alone and that file not put back
        (a repair never refuses the import)."""
        for uid, repair in list(self.repairs.items()):
            kept = []
            dropped: set[str] = set()
            for move in repair.moves:
                if not move.target.exists() and not move.target.is_symlink():
                    kept.append(move)
                elif move.target.is_file() and _same_bytes(move.staged, move.target):
                    move.already_there = True
                    kept.append(move)
                else:
                    dropped.add(move.role)
                    self.problems.append(
                        f"{move.target} already exists and is another file; the {move.role} "
                        f"of generation {repair.generation_id} was not restored."
                    )
            if "file" in dropped:
                kept = [m for m in kept if m.role != "sidecar"]
            repair.moves = kept
            if not kept:
                del self.repairs[uid]

    def path_repairs(self) -> dict[str, PathRepair]:
        return {
            uid: PathRepair(before=repair.before, after=repair.after())
            for uid, repair in self.repairs.items()
        }

    def place(self, record: dict[str, Any], generation_id: int) -> tuple[str | None, str | None]:
        """The paths a new generation records: named by its id in its month folder."""
        files = self.by_uid.get(record["uid"])
        if not files:
            return None, None
        uid = record["uid"]
        folder = ImageStore(self.root).folder_for(record["created_at"])
        image = folder / f"{generation_id}{_suffix(record['file_path'])}"
        moves = [
            _Placed(uid, generation_id, "file", files["file"].path, image, files["file"].sha256)
        ]
        thumbnail = None
        if "thumbnail" in files:
            thumbnail = folder / "thumbs" / f"{generation_id}.png"
            staged = files["thumbnail"]
            moves.append(
                _Placed(uid, generation_id, "thumbnail", staged.path, thumbnail, staged.sha256)
            )
        if "sidecar" in files:
            staged = files["sidecar"]
            moves.append(
                _Placed(
                    uid, generation_id, "sidecar", staged.path, sidecar_path(image), staged.sha256
                )
            )
        self.placed[uid] = _ordered(moves)
        return str(image), str(thumbnail) if thumbnail else None

    def check_targets(self, result: MergeResult) -> None:
        """Inside the transaction: no file is ever overwritten. A file already at a target
        with the same bytes is kept; another file there refuses the import."""
        for uid in list(self.placed):
            if uid not in result.new_generation_ids:
                del self.placed[uid]
        for uid in list(self.repairs):
            if uid not in result.repaired:
                del self.repairs[uid]
        for move in self._moves():
            if move.already_there or (not move.target.exists() and not move.target.is_symlink()):
                continue
            if move.target.is_file() and _same_bytes(move.staged, move.target):
                move.already_there = True
                continue
            raise ImportRefused(
                f"Refused the import: {move.target} already exists and is another file "
                "(`dalletui doctor` moves files no row knows aside); nothing was imported."
            )

    def _moves(self) -> list[_Placed]:
        """Every move, in the order they are made: generation by generation (by id)."""
        groups = [*self.placed.values(), *(r.moves for r in self.repairs.values())]
        groups.sort(key=lambda moves: moves[0].generation_id if moves else 0)
        return [move for moves in groups for move in moves]

    def write_journal(self) -> None:
        """Inside the transaction, last: the record that lets a cut-off import be finished
        (see ``JOURNAL_NAME``), flushed to disk before the rows that name the files commit."""
        if self.folder is None:
            return
        files = [
            {
                "uid": move.uid,
                "id": move.generation_id,
                "role": move.role,
                "staged": move.staged.name,
                "target": move.target.relative_to(self.root).as_posix(),
                "sha256": move.sha256,
            }
            for move in self._moves()
            if not move.already_there
        ]
        data = json.dumps({"format": JOURNAL_FORMAT, "version": 1, "files": files}).encode()
        path = self.folder / JOURNAL_NAME
        try:
            with path.open("xb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise StorageError(
                f"Cannot write {path}: {exc.strerror or exc}; nothing was imported."
            ) from exc
        fsync_folder(self.folder)

    def move_in(self) -> tuple[int, int]:
        """After the commit: move every staged file into place, in ``_moves`` order (each a
        link then an unlink, never over another file). Returns (images copied for new
        generations, generations whose files were restored); problems go to ``problems``."""
        copied = 0
        restored: set[str] = set()
        failed: set[str] = set()
        folders: set[Path] = set()
        for move in self._moves():
            try:
                if not move.already_there:
                    move.target.parent.mkdir(parents=True, exist_ok=True)
                    _move_no_overwrite(move.staged, move.target)
                    folders.add(move.target.parent)
            except OSError as exc:
                failed.add(move.uid)
                self.problems.append(
                    f"Could not move {move.staged} to {move.target}: {exc.strerror or exc}; "
                    f"it was left in {self.folder} for the next import to move in."
                )
                continue
            if move.uid in self.repairs:
                restored.add(move.uid)
            elif move.role == "file":
                copied += 1
        for folder in folders:
            with contextlib.suppress(OSError):
                fsync_folder(folder)
        for problem in self.problems:
            log.warning("import: %s", problem)
        if not failed:
            self.discard(keep_root=True)
        return copied, len(restored)

    def discard(self, *, keep_root: bool = False) -> None:
        """Remove the staging folder (and the images folder if this import made it)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.close()
        if self.created_root and not keep_root:
            with contextlib.suppress(OSError):
                self.root.rmdir()

    def close(self) -> None:
        """This import is over: a folder it leaves is settled by the next import."""
        if self.folder is not None:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self.folder.name)
            self.folder = None


def _ordered(moves: list[_Placed]) -> list[_Placed]:
    return sorted(moves, key=lambda move: _MOVE_ORDER[move.role])


def _suffix(name: str) -> str:
    """An image's suffix as dalletui names files (``.jpeg`` becomes ``.jpg``)."""
    return PurePosixPath(name).suffix.lower().replace(".jpeg", ".jpg")


def _is_file(recorded: str | None) -> bool:
    return bool(recorded) and Path(recorded).is_file()  # type: ignore[arg-type]


@dataclass
class _Rescue:
    """What settling the staging folders of imports that no longer run did."""

    restored: int = 0
    problems: list[str] = field(default_factory=list)


def _rescue(root: Path, rows_of: Callable[[list[str]], dict[str, dict[str, Any]]]) -> _Rescue:
    """Settle the staging folders of imports that are not running (their process is gone, or
    it is this one and the import ended): files that committed rows name and whose files are
    missing are moved in, after their bytes are checked against the journal's SHA-256; what
    nothing needs (no row names it, or the row has its file) is deleted; a file that is needed
    but fails the check is kept, with a problem said, and the folder with it."""
    outcome = _Rescue()
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return outcome
    own = os.getpid()
    for entry in entries:
        match = _STAGING.match(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(match.group(1))
        with _ACTIVE_LOCK:
            running = entry.name in _ACTIVE if pid == own else process_alive(pid)
        if running:
            continue
        files = _read_journal(entry)
        kept = _settle_folder(root, entry, files, rows_of, outcome) if files else 0
        if not kept:
            shutil.rmtree(entry, ignore_errors=True)
    return outcome


def _read_journal(folder: Path) -> list[dict[str, str]]:
    """The journal's entries; none if it is missing or unreadable (then the import was cut
    off before its commit, and no row names the staged files)."""
    try:
        loaded = json.loads((folder / JOURNAL_NAME).read_bytes())
    except (OSError, ValueError):
        return []
    if not isinstance(loaded, dict) or loaded.get("format") != JOURNAL_FORMAT:
        return []
    entries = loaded.get("files")
    keys = ("uid", "role", "staged", "target", "sha256")
    if not isinstance(entries, list):
        return []
    good = []
    for item in entries:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in keys):
            continue
        if (
            _UID.match(item["uid"])
            and item["role"] in _MOVE_ORDER
            and re.fullmatch(r"\d{6,}\.part", item["staged"])
            and _REL_PATH.match(item["target"])
            and _HASH.match(item["sha256"])
        ):
            good.append(item)
    return good


def _settle_folder(
    root: Path,
    folder: Path,
    files: list[dict[str, str]],
    rows_of: Callable[[list[str]], dict[str, dict[str, Any]]],
    outcome: _Rescue,
) -> int:
    """Move in what rows need from one left-over staging folder; returns how many files
    had to be kept there."""
    rows = rows_of(sorted({item["uid"] for item in files}))
    roots = _roots(root)
    kept = 0
    restored: set[str] = set()
    folders: set[Path] = set()
    for item in files:
        staged = folder / item["staged"]
        if not staged.is_file():
            continue  # moved in before the cut
        target = root / item["target"]
        row = rows.get(item["uid"])
        recorded = None
        if row is not None and row["deleted_at"] is None:
            recorded = row["thumbnail_path"] if item["role"] == "thumbnail" else row["file_path"]
        relative = _relative(recorded, roots)
        if item["role"] == "sidecar" and relative is not None:
            relative = _sidecar_relative(relative)
        if row is None or relative != item["target"]:
            continue  # no row names this file (any more): not needed
        if target.exists() or target.is_symlink():
            continue  # the row has its file (this one, moved in before the cut, or another)
        if _sha256(staged) != item["sha256"]:
            kept += 1
            outcome.problems.append(
                f"{staged} does not hold the bytes its import staged for generation "
                f"{row['id']}; it was kept there, not moved to {target}."
            )
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _move_no_overwrite(staged, target)
        except FileNotFoundError:
            continue  # another import moved it in meanwhile
        except OSError as exc:
            kept += 1
            outcome.problems.append(
                f"Could not move {staged} to {target}: {exc.strerror or exc}; it was kept there."
            )
            continue
        folders.add(target.parent)
        restored.add(item["uid"])
    for moved_to in folders:
        with contextlib.suppress(OSError):
            fsync_folder(moved_to)
    outcome.restored += len(restored)
    return kept


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _copy_member(
    source: _Source, info: zipfile.ZipInfo, target: Path, kind: str, limits: ImportLimits
) -> str:
    """Copy one member to ``target``, counting real bytes and checking what they are; returns
    the SHA-256 of what was written."""
    assert source.archive is not None
    place = f"member {_quoted(info.filename)}"
    limit = min(limits.image_bytes, info.file_size)
    total = 0
    head = b""
    digest = hashlib.sha256()
    try:
        with source.archive.open(info) as member, target.open("xb") as out:
            while chunk := member.read(1024 * 1024):
                total += len(chunk)
                if total > limit:
                    raise _refuse(source.shown, f"{place} holds more than it says")
                if len(head) < 16:
                    head += chunk[:16]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except ImportRefused:
        raise
    except OSError as exc:
        raise StorageError(
            f"Cannot stage images in {target.parent}: {exc.strerror or exc}; nothing was imported."
        ) from exc
    except _DAMAGED as exc:
        raise _refuse(source.shown, f"{place} is damaged ({exc})") from exc
    if kind == "JSON":
        try:
            loaded = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _refuse(source.shown, f"{place} is not a JSON sidecar") from exc
        if not isinstance(loaded, dict):
            raise _refuse(source.shown, f"{place} is not a JSON sidecar")
    elif _image_kind(head) != kind:
        raise _refuse(source.shown, f"{place} is not a {kind} image")
    return digest.hexdigest()


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        with a.open("rb") as fa, b.open("rb") as fb:
            while True:
                ca, cb = fa.read(1 << 20), fb.read(1 << 20)
                if ca != cb:
                    return False
                if not ca:
                    return True
    except OSError:
        return False


def _move_no_overwrite(staged: Path, target: Path) -> None:
    """Rename ``staged`` to ``target`` unless something is there (a hard link refuses
    atomically; where links are not supported, check then rename). Cut off between the link
    and the unlink, both names hold the same bytes: the rescue deletes the staged one."""
    try:
        os.link(staged, target)
    except FileExistsError:
        if not _same_bytes(staged, target):
            raise
    except FileNotFoundError:
        raise
    except OSError:
        if target.exists():
            raise FileExistsError(17, "a file is already there", str(target)) from None
        os.rename(staged, target)
        return
    staged.unlink()
