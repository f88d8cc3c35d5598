"""Check the data folder against the database and repair what a crash leaves: ``dalletui doctor``.

A kill -9 (or a power cut) can stop dalletui anywhere. The database itself survives (SQLite in
WAL mode), but between "the API returned an image" and "its row says succeeded" it can leave:

- pending rows of a process that is gone;
- an image saved under ``images/`` whose row was never finished (paid for: it is *attached* to
  its row, never deleted);
- ``.tmp`` files of an atomic write that never reached its rename;
- recovery records (``<home>/recovery/<id>.json``) for images whose row could not be written.

The full check (``dalletui doctor``) also compares every succeeded row with its files, looks for
files no row knows, runs SQLite's integrity check and measures the trash. The cheap part runs at
every start (``startup``): no tree walk beyond the month folders a crash writes to, and
``quick_check`` only on a small database.

Another dalletui may be running beside us, so nothing of a live process is touched: pending rows
record their owner's pid, temp files carry their writer's pid (``files._write_atomic``), and the
files are listed *before* the rows are read (a row is always committed before its files are
written, so a file listed first always has its row visible after).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image

from dalletui.config import Settings
from dalletui.errors import DalleTuiError, ErrorKind
from dalletui.generation import recovery
from dalletui.generation.files import (
    ImageStore,
    _sidecar_bytes,
    _thumbnail_png,
    _write_atomic,
    sidecar_path,
)
from dalletui.processes import process_alive
from dalletui.services.generation import INTERRUPTED_MESSAGE
from dalletui.storage import DatabaseManager
from dalletui.storage.database import code_schema_version
from dalletui.storage.maintenance import AttachResult, UnfinishedGeneration
from dalletui.storage.models import Generation, UsageStat, now

log = logging.getLogger(__name__)

#: A pid can be reused; no request legitimately stays pending this long.
PENDING_STALE = dt.timedelta(hours=1)
#: A temp file whose writer cannot be known (old naming, write probes) is left alone this long.
TEMP_GRACE = dt.timedelta(minutes=5)
#: The start-up check looks at interrupted rows this recent (``dalletui doctor`` at all of them).
STARTUP_LOOKBACK = dt.timedelta(days=7)
#: The start-up check runs ``quick_check`` only on a database up to this size.
#: (It reads the whole file: about 35 ms for 16 MB on the 2-core test machine.)
QUICK_CHECK_MAX_BYTES = 16 * 1024 * 1024

#: Files moved into ``<home>/trash/orphans`` get this prefix.
ORPHAN_PREFIX = "orphan-"
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".webp": "webp"}
# Temp names: ``.<name>.<pid>.<token>.tmp`` (files._write_atomic), ``.<name>.<pid>.tmp``
# (recovery records), and the older ``.<name>.<token>.tmp`` without a pid.
_TEMP_WITH_PID = re.compile(r"^\.(?P<target>.+?)\.(?P<pid>\d{1,10})(?:\.[0-9a-f]{12})?\.tmp$")
_TEMP_OLD = re.compile(r"^\.(?P<target>.+)\.[0-9a-f]{12}\.tmp$")
_PROBE = re.compile(r"^\.write-probe-[0-9a-f]+$")
_BY_ID = re.compile(r"^(?P<id>[1-9][0-9]{0,17})\.(?P<ext>png|jpg|webp|json)$")

# Finding kinds (``REPAIR_ORDER`` below is the order ``repair`` works through them).
RECOVERY = "recovery"
IMPORT_STAGED = "import_staged"
ATTACHABLE = "attachable"
PENDING = "pending"
MOVED = "moved"
MISSING_THUMBNAIL = "missing_thumbnail"
MISSING_IMAGE = "missing_image"
TEMP = "temp"
ORPHAN = "orphan"
INTEGRITY = "integrity"
SCHEMA = "schema"
#: What a repair of each kind did, for one-line summaries ("2 temp files deleted").
FIXED_LABELS = {
    IMPORT_STAGED: ("cut-off import finished", "cut-off imports finished"),
    RECOVERY: ("recovery record attached", "recovery records attached"),
    ATTACHABLE: ("saved image attached to its row", "saved images attached to their rows"),
    PENDING: ("pending row marked interrupted", "pending rows marked interrupted"),
    MOVED: ("row pointed at its moved files", "rows pointed at their moved files"),
    MISSING_THUMBNAIL: ("thumbnail made again", "thumbnails made again"),
    MISSING_IMAGE: ("row marked failed (image missing)", "rows marked failed (image missing)"),
    TEMP: ("left-over temp file deleted", "left-over temp files deleted"),
    ORPHAN: ("orphan file moved to the trash", "orphan files moved to the trash"),
}
REPAIR_ORDER = (
    IMPORT_STAGED,  # first: the images it moves in are then not "missing"
    RECOVERY,
    ATTACHABLE,
    PENDING,
    MOVED,
    MISSING_THUMBNAIL,
    MISSING_IMAGE,
    TEMP,
    ORPHAN,
)


@dataclass
class Finding:
    """One thing wrong with the data; ``remedy`` says what ``--fix`` does ("" if it cannot)."""

    kind: str
    message: str
    remedy: str = ""
    advice: str = ""
    path: str | None = None
    generation_id: int | None = None
    fixed: bool = False
    #: After a repair: what it did, or why it could not.
    outcome: str = ""
    repair: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    @property
    def fixable(self) -> bool:
        return self.repair is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "generation_id": self.generation_id,
            "path": self.path,
            "fixable": self.fixable,
            "remedy": self.remedy or None,
            "advice": self.advice or None,
            "fixed": self.fixed,
            "outcome": self.outcome or None,
        }


@dataclass(frozen=True)
class TrashUsage:
    """Files and bytes under ``<home>/trash`` (orphans included)."""

    files: int = 0
    bytes: int = 0


@dataclass
class DoctorReport:
    """What one check found (and, with ``fix``, what it repaired)."""

    home: Path
    full: bool
    fixing: bool = False
    schema: tuple[int, int] | None = None
    #: ``quick_check``, ``integrity_check`` or "skipped"; ``integrity_problems`` lists its errors.
    integrity_mode: str = "skipped"
    integrity_problems: list[str] = field(default_factory=list)
    trash: TrashUsage | None = None
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def remaining(self) -> list[Finding]:
        return [f for f in self.findings if not f.fixed]

    @property
    def fixed(self) -> list[Finding]:
        return [f for f in self.findings if f.fixed]

    @property
    def healthy(self) -> bool:
        """True when nothing is left to fix."""
        return not self.remaining

    def counts(self, findings: Iterable[Finding] | None = None) -> dict[str, int]:
        """How many findings of each kind (of ``findings``, default all)."""
        out: dict[str, int] = {}
        for finding in self.findings if findings is None else findings:
            out[finding.kind] = out.get(finding.kind, 0) + 1
        return out

    def fixed_summary(self) -> str:
        """What the repairs did, in one line ("" when nothing was fixed)."""
        counts = self.counts(self.fixed)
        return ", ".join(
            f"{counts[kind]} {FIXED_LABELS[kind][counts[kind] != 1]}"
            for kind in REPAIR_ORDER
            if kind in counts
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "full": self.full,
            "fix": self.fixing,
            "healthy": self.healthy,
            "schema": None
            if self.schema is None
            else {"database": self.schema[0], "code": self.schema[1]},
            "integrity": {
                "check": self.integrity_mode,
                "ok": not self.integrity_problems,
                "problems": self.integrity_problems,
            },
            "trash": None
            if self.trash is None
            else {"files": self.trash.files, "bytes": self.trash.bytes},
            "findings": [finding.to_dict() for finding in self.findings],
            "summary": {
                "problems": len(self.findings),
                "fixed": len(self.fixed),
                "remaining": len(self.remaining),
            },
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _File:
    """A file under ``images/`` named by generation id."""

    path: Path
    generation_id: int
    role: str  # "image", "sidecar" or "thumbnail"


@dataclass
class _Listing:
    files: list[_File] = field(default_factory=list)
    temps: list[Path] = field(default_factory=list)
    probes: list[Path] = field(default_factory=list)


class DataDoctor:
    """Checks one data folder (``home``) against its database and repairs what it can."""

    def __init__(
        self,
        db: DatabaseManager,
        images: ImageStore,
        home: Path,
        *,
        clock: Callable[[], dt.datetime] = now,
    ) -> None:
        self.db = db
        self.images = images
        self.home = Path(home)
        self.trash_root = self.home / "trash"
        self.orphans_root = self.trash_root / "orphans"
        self.recovery_root = recovery.recovery_dir(self.home)
        self._clock = clock

    # -- entry points --

    def startup(self) -> DoctorReport:
        """The cheap checks, repaired at once: what a crash of an earlier run left behind."""
        return self.run(full=False, fix=True)

    def run(self, *, full: bool = True, fix: bool = False) -> DoctorReport:
        """Check (everything when ``full``) and, with ``fix``, repair what can be."""
        started = time.monotonic()
        report = self.examine(full=full)
        if fix:
            self.repair(report)
        report.seconds = time.monotonic() - started
        return report

    def examine(self, *, full: bool = True) -> DoctorReport:
        """Find what is wrong; change nothing."""
        report = DoctorReport(home=self.home, full=full)
        clock = self._clock()
        # Files first, rows second (see the module docstring).
        listing = self._list_images() if full else _Listing()
        report.schema = (self.db.schema_version(), code_schema_version())
        if report.schema[0] != report.schema[1]:
            report.findings.append(
                Finding(
                    SCHEMA,
                    f"The database has schema version {report.schema[0]}; this dalletui "
                    f"writes version {report.schema[1]}.",
                    advice="upgrade dalletui, or restore the database that matches it",
                )
            )
        self._check_integrity(report, full)
        staged = self._check_import_staging(report) if full else False

        claimed = self._check_recovery(report)
        folders = _FolderNames()
        unfinished = self.db.pending_generations()
        since = None if full else clock - STARTUP_LOOKBACK
        with_image = [
            generation_id
            for generation_id, created_at in self.db.unfinished_placements(
                ("interrupted",), since=since
            )
            if generation_id not in claimed
            and self._expected_image(generation_id, created_at, folders)
        ]
        if with_image:
            unfinished += self.db.unfinished_generations(("interrupted",), ids=with_image)
        busy, handled = self._check_unfinished(report, unfinished, claimed, clock, folders)

        if not full:
            listing = self._list_temps(self._startup_temp_folders(unfinished, clock))
        self._check_temps(report, listing, clock)
        if full:
            relinked = self._check_missing_files(report, staged)
            self._check_orphans(report, listing, claimed | busy | handled | relinked)
            report.trash = self.trash_usage()
        return report

    def repair(self, report: DoctorReport) -> None:
        """Run each finding's repair (in ``REPAIR_ORDER``); each says what it did."""
        report.fixing = True
        order = {kind: index for index, kind in enumerate(REPAIR_ORDER)}
        for finding in sorted(report.findings, key=lambda f: order.get(f.kind, len(order))):
            if finding.repair is None or finding.fixed:
                continue
            try:
                finding.outcome = finding.repair()
                finding.fixed = True
            except (DalleTuiError, OSError, ValueError) as exc:
                finding.outcome = f"could not fix: {exc}"
                log.warning("doctor: %s: %s", finding.message, finding.outcome)

    def trash_usage(self) -> TrashUsage:
        """Files and bytes under ``<home>/trash``."""
        files = size = 0
        for root, _dirs, names in os.walk(self.trash_root):
            for name in names:
                with contextlib.suppress(OSError):
                    size += os.lstat(os.path.join(root, name)).st_size
                    files += 1
        return TrashUsage(files, size)

    # -- integrity --

    def _check_integrity(self, report: DoctorReport, full: bool) -> None:
        if not full:
            try:
                small = self.db.path.stat().st_size <= QUICK_CHECK_MAX_BYTES
            except OSError:
                small = False
            if not small:
                return
        report.integrity_mode = "integrity_check" if full else "quick_check"
        report.integrity_problems = self.db.integrity_check(full=full)
        if report.integrity_problems:
            first = report.integrity_problems[0]
            more = len(report.integrity_problems) - 1
            report.findings.append(
                Finding(
                    INTEGRITY,
                    f"SQLite's {report.integrity_mode} reports damage in {self.db.path}: {first}"
                    + (f" (and {more} more)" if more else ""),
                    advice="copy the folder aside first; then restore a backup, or rebuild "
                    "with `sqlite3 dalletui.db .recover`",
                    path=str(self.db.path),
                )
            )

    # -- recovery records --

    def _check_recovery(self, report: DoctorReport) -> set[int]:
        """Records to attach; returns the generation ids they claim (their files are theirs)."""
        claimed: set[int] = set()
        readable = set()
        for path, record in recovery.read_records(self.home):
            readable.add(path)
            generation_id = record.get("generation_id")
            if not isinstance(generation_id, int) or isinstance(generation_id, bool):
                report.findings.append(
                    Finding(
                        RECOVERY,
                        f"The recovery record {path} names no generation.",
                        advice="look inside it; it was kept",
                        path=str(path),
                    )
                )
                continue
            claimed.add(generation_id)
            report.findings.append(
                Finding(
                    RECOVERY,
                    f"Generation {generation_id} has a recovery record: its image was saved "
                    "but its row was not written.",
                    remedy="attach the record to its row (status, files, ledger) and remove it",
                    path=str(path),
                    generation_id=generation_id,
                    repair=partial(self._attach_record, path, record),
                )
            )
        if self.recovery_root.is_dir():
            for path in sorted(self.recovery_root.glob("*.json")):
                if path not in readable:
                    report.findings.append(
                        Finding(
                            RECOVERY,
                            f"The recovery record {path} cannot be read (damaged, or from a "
                            "newer dalletui).",
                            advice="it was kept; look inside it",
                            path=str(path),
                        )
                    )
        return claimed

    def _attach_record(self, path: Path, record: dict[str, Any]) -> str:
        changes, usage = recovery.record_values(record)
        generation_id = int(record["generation_id"])
        changes = {k: v for k, v in changes.items() if k in Generation._meta.fields}
        if usage is not None:
            usage = {k: v for k, v in usage.items() if k in UsageStat._meta.fields}
        result = self.db.attach_image(
            generation_id,
            usage=usage,
            request_key=record.get("request_key") or None,
            **changes,
        )
        if result is AttachResult.ATTACHED:
            path.unlink(missing_ok=True)
            status = changes.get("status", "succeeded")
            return f"attached to its row (status {status}, ledger row written); record removed"
        if result is AttachResult.ALREADY_SUCCEEDED:
            path.unlink(missing_ok=True)
            return "its row was already finished; record removed"
        if result is AttachResult.NO_ROW:
            raise ValueError(f"there is no generation {generation_id} any more; record kept")
        raise ValueError(f"generation {generation_id} belongs to another request; record kept")

    # -- pending and interrupted rows --

    def _check_unfinished(
        self,
        report: DoctorReport,
        rows: list[UnfinishedGeneration],
        claimed: set[int],
        clock: dt.datetime,
        folders: _FolderNames,
    ) -> tuple[set[int], set[int]]:
        """Pending rows of dead processes, and unfinished rows whose image is on disk.

        Returns the ids still being worked on by a live process, and the ids handled here.
        """
        busy: set[int] = set()
        handled: set[int] = set()
        stale = clock - PENDING_STALE
        for item in rows:
            row = item.generation
            if row.id in claimed:
                continue
            pending = row.status == "pending"
            if pending and row.created_at >= stale and process_alive(item.owner_pid):
                busy.add(row.id)
                continue
            image = self._expected_image(row.id, row.created_at, folders)
            owner = f"process {item.owner_pid}" if item.owner_pid else "its process"
            was = f"pending (its {owner} is gone)" if pending else row.status
            if image is not None:
                handled.add(row.id)
                if row.provider == "offline":
                    ledger = "a ledger row at cost 0"
                else:
                    ledger = "a ledger row of unknown cost: it was returned and paid for"
                report.findings.append(
                    Finding(
                        ATTACHABLE,
                        f"Generation {row.id} is {was}, but its image {image} was saved.",
                        remedy=f"attach the image to its row (succeeded, with {ledger})",
                        path=str(image),
                        generation_id=row.id,
                        repair=partial(self._attach_file, row, image),
                    )
                )
            elif pending:
                handled.add(row.id)
                report.findings.append(
                    Finding(
                        PENDING,
                        f"Generation {row.id} is {was}.",
                        remedy="mark it interrupted",
                        generation_id=row.id,
                        repair=partial(self._interrupt, row.id),
                    )
                )
        return busy, handled

    def _expected_image(
        self, generation_id: int, created_at: dt.datetime, folders: _FolderNames
    ) -> Path | None:
        """The image ``ImageStore.save`` would have written for this row, if it is there."""
        folder = self.images.folder_for(created_at)
        names = folders.names(folder)
        for suffix in IMAGE_SUFFIXES:
            name = f"{generation_id}{suffix}"
            if name in names:
                return folder / name
        return None

    def _interrupt(self, generation_id: int) -> str:
        if self.db.fail_generations(
            [generation_id], "interrupted", ErrorKind.INTERRUPTED, INTERRUPTED_MESSAGE
        ):
            return "marked interrupted"
        return "it was finished meanwhile; left as it is"

    def _attach_file(self, row: Generation, image: Path) -> str:
        """Finish ``row`` with the image on disk: thumbnail and sidecar made if missing."""
        with Image.open(image) as picture:
            width, height = picture.size
        metadata = self.images.read_metadata(image)
        thumbnail, made_thumbnail = self._ensure_thumbnail(
            image, image.parent / "thumbs" / f"{row.id}.png"
        )
        made = ["thumbnail"] if made_thumbnail else []
        if self.images.needs_sidecar(image):  # a JPEG/WebP without its metadata inside
            _write_atomic(sidecar_path(image), _sidecar_bytes(self._metadata_for(row)))
            made.append("sidecar")
        stat = image.stat()
        finished = dt.datetime.fromtimestamp(stat.st_mtime).astimezone()
        started = row.started_at or row.created_at
        duration = max(0, int((finished - started).total_seconds() * 1000)) if started else None
        if row.provider == "offline":
            usage: dict[str, Any] = {"cost": Decimal(0), "price_basis": "offline"}
        else:
            usage = {"cost": None, "price_basis": "unknown"}
        result = self.db.attach_image(
            row.id,
            usage=usage,
            from_statuses=("pending", "interrupted"),
            status="succeeded",
            file_path=str(image),
            thumbnail_path=str(thumbnail),
            width=width,
            height=height,
            output_format=IMAGE_SUFFIXES[image.suffix.lower()],
            revised_prompt=metadata.get("revised_prompt") or None,
            finished_at=finished,
            duration_ms=duration,
            error_kind=None,
            error_message=None,
        )
        if result is AttachResult.ALREADY_SUCCEEDED:
            return "another dalletui attached it meanwhile"
        if result is not AttachResult.ATTACHED:
            raise ValueError(f"generation {row.id} changed meanwhile ({result}); left as it is")
        cost = "cost 0 (offline)" if row.provider == "offline" else "cost unknown"
        extra = f"; made its {' and '.join(made)}" if made else ""
        return f"attached: succeeded, {width}x{height}, ledger row with {cost}{extra}"

    @staticmethod
    def _ensure_thumbnail(image: Path, thumbnail: Path) -> tuple[Path, bool]:
        """``thumbnail`` made from ``image`` if it is missing; (path, whether it was made)."""
        if thumbnail.is_file():
            return thumbnail, False
        with Image.open(image) as picture:
            picture.load()
            data = _thumbnail_png(picture)
        thumbnail.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(thumbnail, data)
        return thumbnail, True

    @staticmethod
    def _metadata_for(row: Generation) -> dict[str, str]:
        """The sidecar fields ``ImageStore.save`` would have written for ``row``."""
        return {
            "prompt": row.prompt.text,
            "model": row.model,
            "size": row.size,
            "quality": row.quality,
            "provider": row.provider,
            "generation_id": str(row.id),
            "created": row.created_at.isoformat(),
        }

    # -- temp files --

    def _startup_temp_folders(
        self, rows: list[UnfinishedGeneration], clock: dt.datetime
    ) -> list[Path]:
        """Where a crash leaves temp files: this and last month's folders, unfinished rows'."""
        last_month = clock.replace(day=1) - dt.timedelta(days=1)
        months = {self.images.folder_for(clock), self.images.folder_for(last_month)}
        months |= {self.images.folder_for(item.generation.created_at) for item in rows}
        folders = [self.images.root, self.recovery_root]
        for month in sorted(months):
            folders += [month, month / "thumbs"]
        return folders

    def _list_temps(self, folders: list[Path]) -> _Listing:
        listing = _Listing()
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(".") and _is_file(entry):
                    self._sort_dotfile(listing, Path(entry.path))
        return listing

    @staticmethod
    def _sort_dotfile(listing: _Listing, path: Path) -> None:
        """Our temp files and write probes; any other dotfile is not ours and is left alone."""
        if _TEMP_WITH_PID.match(path.name) or _TEMP_OLD.match(path.name):
            listing.temps.append(path)
        elif _PROBE.match(path.name):
            listing.probes.append(path)

    def _check_temps(self, report: DoctorReport, listing: _Listing, clock: dt.datetime) -> None:
        own = os.getpid()
        for path in [*listing.temps, *listing.probes]:
            try:
                modified = dt.datetime.fromtimestamp(path.lstat().st_mtime).astimezone()
            except OSError:
                continue  # its writer renamed or removed it meanwhile
            age = clock - modified
            match = _TEMP_WITH_PID.match(path.name)
            if match:
                pid = int(match["pid"])
                if pid == own or process_alive(pid):
                    if age < PENDING_STALE:
                        continue  # a live writer's file (or a reused pid, for an hour)
                    why = f"its writer (pid {pid}) started over an hour ago"
                else:
                    why = f"its writer (pid {pid}) is gone"
            elif age >= TEMP_GRACE:
                why = f"unfinished write, {int(age.total_seconds() // 60)} minutes old"
            else:
                continue  # no pid to ask: give a live writer time to finish
            report.findings.append(
                Finding(
                    TEMP,
                    f"Left-over temporary file {path}: {why}.",
                    remedy="delete it (the write it belonged to never finished)",
                    path=str(path),
                    repair=partial(_delete_temp, path),
                )
            )

    # -- rows and files that disagree --

    def _check_import_staging(self, report: DoctorReport) -> bool:
        """An import cut off after its commit leaves its images staged in the images folder:
        ``--fix`` moves them in (checked against the import's journal) before anything else,
        so their rows are not called missing. True when there is such a folder."""
        from dalletui.services.exchange import STAGING_PREFIX  # only for a full check

        folders = sorted(self.images.root.glob(f"{STAGING_PREFIX}*"))
        if not folders:
            return False
        shown = ", ".join(str(folder) for folder in folders[:3])
        report.findings.append(
            Finding(
                IMPORT_STAGED,
                f"An import stopped before it moved its images in; they wait in {shown}.",
                remedy="move them in where their rows expect them (checked by their hashes)",
                path=str(folders[0]),
                repair=self._finish_imports,
            )
        )
        return True

    def _finish_imports(self) -> str:
        from dalletui.services.exchange import ExchangeService

        restored, problems = ExchangeService(self.db, self.images).recover_staging()
        outcome = f"{restored} generation{'s' if restored != 1 else ''} got their images back"
        return outcome + (f"; {problems[0]}" if problems else "")

    def _check_missing_files(self, report: DoctorReport, staged: bool = False) -> set[int]:
        """Succeeded rows without their files; returns ids whose files were found elsewhere.

        With an import's images still ``staged``, a missing image may be one of them: its
        repair looks again after the staged files were moved in."""
        relinked: set[int] = set()
        gaps = self.db.generations_missing_files(
            images_root=self.images.root, trash_root=self.trash_root
        )
        for gap in gaps:
            row = gap.generation
            folder = self.images.folder_for(row.created_at)
            recorded = Path(row.file_path) if row.file_path else None
            if gap.image_missing:
                found = folder / recorded.name if recorded else None
                if found is not None and found != recorded and found.is_file():
                    relinked.add(row.id)
                    thumb = folder / "thumbs" / f"{row.id}.png"
                    report.findings.append(
                        Finding(
                            MOVED,
                            f"Generation {row.id} records its image at {recorded}, which is "
                            f"missing; it is at {found} (was the data folder moved?).",
                            remedy="point the row at the files where they are",
                            path=str(found),
                            generation_id=row.id,
                            repair=partial(self._relink, row.id, found, thumb),
                        )
                    )
                    continue
                when = self._clock().strftime("%Y-%m-%d %H:%M")
                message = (
                    f"The image file {recorded} was missing when dalletui doctor checked on "
                    f"{when}; its cost stays in the usage ledger."
                )
                report.findings.append(
                    Finding(
                        MISSING_IMAGE,
                        f"Generation {row.id} succeeded but its image {recorded} is missing.",
                        remedy="mark it failed (file missing); its ledger row stays",
                        advice="it may be among the staged images of a cut-off import"
                        if staged
                        else "",
                        path=str(recorded) if recorded else None,
                        generation_id=row.id,
                        repair=partial(self._mark_missing, row.id, message, recorded),
                    )
                )
            elif recorded is not None:
                thumb = (
                    Path(row.thumbnail_path)
                    if row.thumbnail_path
                    else recorded.parent / "thumbs" / f"{row.id}.png"
                )
                report.findings.append(
                    Finding(
                        MISSING_THUMBNAIL,
                        f"Generation {row.id}: its thumbnail {thumb} is missing.",
                        remedy="make it again from the image",
                        path=str(thumb),
                        generation_id=row.id,
                        repair=partial(self._rethumb, row.id, recorded, thumb),
                    )
                )
        return relinked

    def _relink(self, generation_id: int, image: Path, thumbnail: Path) -> str:
        thumb, made = self._ensure_thumbnail(image, thumbnail)
        if not self.db.relink_files(generation_id, file_path=str(image), thumbnail_path=str(thumb)):
            raise ValueError(f"generation {generation_id} changed meanwhile; left as it is")
        return "row now points at " + str(image) + (" (thumbnail made)" if made else "")

    def _rethumb(self, generation_id: int, image: Path, thumbnail: Path) -> str:
        if not image.is_file():
            # Trashed rows keep their files under trash/: make the thumbnail beside the image.
            raise ValueError(f"{image} is not here to make a thumbnail from")
        thumb, _made = self._ensure_thumbnail(image, thumbnail)
        self.db.relink_files(generation_id, thumbnail_path=str(thumb))
        return f"thumbnail made at {thumb}"

    def _mark_missing(self, generation_id: int, message: str, recorded: Path | None = None) -> str:
        if recorded is not None and recorded.is_file():
            return "found again (a cut-off import's images were moved in); left as it is"
        if self.db.mark_files_missing({generation_id: message}):
            return "marked failed (file missing); ledger row kept"
        return "it changed meanwhile; left as it is"

    def _list_images(self) -> _Listing:
        """Every file under ``images/`` named by id, and every temp file in the data folder."""
        listing = _Listing()
        for root, dirs, names in os.walk(self.images.root):
            # Dot folders are not ours to judge: an import's staging folder is handled above.
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            in_thumbs = os.path.basename(root) == "thumbs"
            for name in sorted(names):
                path = Path(root) / name
                if name.startswith("."):
                    self._sort_dotfile(listing, path)
                    continue
                match = _BY_ID.match(name)
                if not match:
                    continue  # not ours (a user's note, .DS_Store...): never touched
                ext = match["ext"]
                if in_thumbs:
                    if ext != "png":
                        continue
                    role = "thumbnail"
                else:
                    role = "sidecar" if ext == "json" else "image"
                listing.files.append(_File(path, int(match["id"]), role))
        for other in (self.recovery_root, self.trash_root):
            for root, _dirs, names in os.walk(other):
                for name in names:
                    if name.startswith("."):
                        self._sort_dotfile(listing, Path(root) / name)
        return listing

    def _check_orphans(self, report: DoctorReport, listing: _Listing, skip: set[int]) -> None:
        """Files under ``images/`` that no row records: moved to the trash, never deleted."""
        known: set[tuple[str, ...]] = set()
        for path in self.db.known_file_paths():
            known.add(_layout_key(Path(path)))
            known.add(_layout_key(sidecar_path(Path(path))))
        unknown = [
            f
            for f in listing.files
            if f.generation_id not in skip and _layout_key(f.path) not in known
        ]
        statuses = self.db.generation_statuses(f.generation_id for f in unknown)
        for item in unknown:
            status = statuses.get(item.generation_id)
            if status == "pending":
                continue  # a live process is saving it (dead owners were handled above)
            if status is None:
                whose = f"there is no generation {item.generation_id}"
            else:
                whose = f"generation {item.generation_id} is {status} and records no such file"
            report.findings.append(
                Finding(
                    ORPHAN,
                    f"The {item.role} {item.path} belongs to no row: {whose}.",
                    remedy=f"move it to {self.orphans_root} (nothing is deleted)",
                    path=str(item.path),
                    generation_id=item.generation_id,
                    repair=partial(self._move_to_orphans, item.path),
                )
            )

    def _move_to_orphans(self, path: Path) -> str:
        if not path.exists():
            return "it is gone already"
        # "orphan-" keeps the name from looking like a generation's file, which the trash's
        # sweep of unreferenced files would delete.
        relative = path.relative_to(self.images.root)
        target = self.orphans_root / relative.parent / f"{ORPHAN_PREFIX}{path.name}"
        if target.exists():
            target = target.with_name(f"{target.stem}.{secrets.token_hex(3)}{target.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
        return f"moved to {target}"


class _FolderNames:
    """The names in each folder, listed once (a month folder may hold thousands of files)."""

    def __init__(self) -> None:
        self._names: dict[Path, frozenset[str]] = {}

    def names(self, folder: Path) -> frozenset[str]:
        if folder not in self._names:
            try:
                self._names[folder] = frozenset(os.listdir(folder))
            except OSError:
                self._names[folder] = frozenset()
        return self._names[folder]


def _layout_key(path: Path) -> tuple[str, ...]:
    """Where a file sits in the images layout (``YYYY/MM[/thumbs]/name``), whatever the home.

    Rows record absolute paths; comparing layout keys keeps a moved or copied data folder from
    making every file look like an orphan.
    """
    depth = 4 if path.parent.name == "thumbs" else 3
    return path.parts[-depth:]


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _delete_temp(path: Path) -> str:
    path.unlink(missing_ok=True)
    return "deleted"


def open_doctor(settings: Settings) -> DataDoctor:
    """A ``DataDoctor`` on the data folder of ``settings`` for ``dalletui doctor``; close its
    ``db`` after.

    Opens the database itself rather than through ``open_services``, whose start-up repairs
    would fix what the user asked only to see. ``StorageError`` when it cannot be opened.
    """
    db = DatabaseManager(settings.db_path)
    db.open()
    return DataDoctor(db, ImageStore(settings.images_dir), settings.home)
