"""``ExchangeService``: export and import as the CLI and the TUI call them, tying the writer,
the reader, the checker and the staging of images to the database and the images folder."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from dalletui import __version__
from dalletui.errors import ValidationError
from dalletui.generation.files import ImageStore, sidecar_path
from dalletui.services.exchange.checking import _check_document
from dalletui.services.exchange.reading import _open_source, _Source
from dalletui.services.exchange.results import ExportOptions, ExportSummary, ImportSummary
from dalletui.services.exchange.schema import (
    _BOM,
    EXPORT_FORMATS,
    FORMAT_NAME,
    FORMAT_VERSION,
    IMAGES_PREFIX,
    SECTION_TYPES,
    SECTIONS,
    ZIP_DOCUMENTS,
    ImportLimits,
    _relative,
    _roots,
    _sidecar_relative,
)
from dalletui.services.exchange.staging import _InterruptsHeld, _rescue, _Staging
from dalletui.services.exchange.writing import (
    _HEADER_ORDER,
    _csv_bytes,
    _export_record,
    _iso,
    _json_bytes,
    _write_atomic,
    _zip_info,
)
from dalletui.storage import DatabaseManager
from dalletui.storage.exchange import ImportBundle, MergeResult
from dalletui.textsafe import dump_json
from dalletui.timeutil import now

#: The package's logger, as when it was one module.
log = logging.getLogger(__package__)
#: Frozen, so one default serves every service.
_DEFAULT_LIMITS = ImportLimits()


class ExchangeService:
    """Exports and imports whole histories (see the package docstring for the rules)."""

    def __init__(
        self,
        db: DatabaseManager,
        images: ImageStore,
        *,
        secrets: Iterable[str | None] = (),
        limits: ImportLimits = _DEFAULT_LIMITS,
    ) -> None:
        self.db = db
        self.images = images
        self.secrets = [s for s in secrets if s and len(s) >= 8]
        self.limits = limits

    # -- export --------------------------------------------------------------------------------

    def export_bytes(self, options: ExportOptions) -> tuple[bytes, ExportSummary]:
        """The export as bytes (JSON, JSON Lines or CSV), for standard output."""
        document, summary, _files = self._document(options, with_files=False)
        data = self._encode(document, options.format)
        self._refuse_secrets(data, "the export")
        summary.bytes = len(data)
        return data, summary

    def export_file(self, path: Path, options: ExportOptions) -> ExportSummary:
        """Write the export to ``path`` atomically (a refused export writes nothing)."""
        data, summary = self.export_bytes(options)
        if options.format == "csv":
            data = _BOM + data  # spreadsheets read the file as UTF-8 only with it
        _write_atomic(Path(path), lambda out: out.write(data))
        summary.path = str(path)
        summary.bytes = len(data)
        return summary

    def export_zip(self, path: Path, options: ExportOptions) -> ExportSummary:
        """A zip holding the JSON (or JSON Lines) document and the image files, atomically."""
        if options.format not in ZIP_DOCUMENTS.values():
            raise ValidationError(
                "A zip holds a JSON or JSON Lines export (CSV cannot be imported back); "
                "use --format json or jsonl with --zip."
            )
        document, summary, files = self._document(options, with_files=True)
        data = self._encode(document, options.format)
        self._refuse_secrets(data, "the export")
        name = next(n for n, kind in ZIP_DOCUMENTS.items() if kind == options.format)
        summary.format = "zip"

        def write(out: IO[bytes]) -> None:
            with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
                archive.writestr(_zip_info(name, now()), data, zipfile.ZIP_DEFLATED)
                for relative, (source, is_image) in files:
                    try:
                        payload = source.read_bytes()
                        stamp = dt.datetime.fromtimestamp(source.stat().st_mtime)
                    except OSError:
                        summary.missing_images += is_image
                        continue
                    self._refuse_secrets(payload, f"the image file {source}")
                    archive.writestr(
                        _zip_info(IMAGES_PREFIX + relative, stamp), payload, zipfile.ZIP_STORED
                    )
                    summary.images += is_image

        _write_atomic(Path(path), write)
        summary.path = str(path)
        with contextlib.suppress(OSError):
            summary.bytes = Path(path).stat().st_size
        return summary

    def _document(
        self, options: ExportOptions, *, with_files: bool
    ) -> tuple[dict[str, Any], ExportSummary, list[tuple[str, tuple[Path, bool]]]]:
        """The export document, its counts, and (``with_files``) every file a zip would hold:
        (relative path, (file, whether it is an image, not a thumbnail or sidecar)), sorted."""
        if options.format not in EXPORT_FORMATS:
            raise ValidationError(
                f"Export format '{options.format}' is unknown; one of {', '.join(EXPORT_FORMATS)}."
            )
        rows = self.db.export_rows(
            favorites=options.favorites, since=options.since, search=options.search
        )
        # Keyed by relative path: two records never share a file, but a zip must not repeat one.
        files: dict[str, tuple[Path, bool]] = {}
        missing = 0
        generations: list[dict[str, Any]] = []
        roots = _roots(self.images.root)
        for row in rows.generations:
            record = _export_record("generations", row)
            for key in ("file_path", "thumbnail_path"):
                record[key] = _relative(row.get(key), roots)
                if not with_files or record[key] is None:
                    continue
                source = self._source_of(row[key], record[key])
                is_image = key == "file_path"
                if source is None:
                    missing += bool(record[key]) and is_image
                    continue
                files[record[key]] = (source, is_image)
                if is_image and source.suffix.lower() != ".png":
                    sidecar = sidecar_path(source)
                    if sidecar.is_file():
                        files[_sidecar_relative(record[key])] = (sidecar, False)
            for given in record.get("inputs") or ():
                if given.get("file_path"):
                    # An outside file: its name and hash travel, never where it lies here.
                    given["file_path"] = Path(given["file_path"]).name
            generations.append(record)
        document: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "app_version": __version__,
            "exported_at": _iso(now()),
            "filters": {
                "favorites": options.favorites,
                "since": _iso(options.since) if options.since else None,
                "search": options.search.strip() or None,
            },
            "templates": [_export_record("templates", r) for r in rows.templates],
            "variables": [_export_record("variables", r) for r in rows.variables],
            "prompts": [_export_record("prompts", r) for r in rows.prompts],
            "batches": [_export_record("batches", r) for r in rows.batches],
            "generations": generations,
            "usage": [_export_record("usage", r) for r in rows.usage],
            "collections": [_export_record("collections", r) for r in rows.collections],
        }
        summary = ExportSummary(
            format=options.format,
            prompts=len(rows.prompts),
            generations=len(rows.generations),
            templates=len(rows.templates),
            variables=len(rows.variables),
            batches=len(rows.batches),
            usage=len(rows.usage),
            collections=len(rows.collections),
            missing_images=missing,
        )
        return document, summary, sorted(files.items())

    def _source_of(self, recorded: str, relative: str) -> Path | None:
        """The file to put in a zip: where the row says, else at its place here."""
        for candidate in (Path(recorded), self.images.root / relative):
            if candidate.is_file():
                return candidate
        return None

    @staticmethod
    def _encode(document: dict[str, Any], kind: str) -> bytes:
        if kind == "json":
            return _json_bytes(document)
        if kind == "jsonl":
            header = {"type": "header", **{k: document[k] for k in _HEADER_ORDER}}
            lines = [dump_json(header, separators=(",", ":"))]
            count = 0
            for section in SECTIONS:
                for record in document[section]:
                    line = {"type": SECTION_TYPES[section], **record}
                    lines.append(dump_json(line, separators=(",", ":")))
                    count += 1
            lines.append(dump_json({"type": "end", "records": count}, separators=(",", ":")))
            return ("\n".join(lines) + "\n").encode("utf-8")
        return _csv_bytes(document)

    def _refuse_secrets(self, data: bytes, what: str) -> None:
        for secret in self.secrets:
            if secret.encode("utf-8", "surrogatepass") in data:
                raise ValidationError(
                    f"{what.capitalize()} would contain your API key (in a prompt, a note or "
                    "an image's metadata); nothing was written. Remove it there and export again."
                )

    # -- import --------------------------------------------------------------------------------

    def import_file(self, path: Path, *, dry_run: bool = False) -> ImportSummary:
        """Merge an export file (JSON, JSON Lines or a zip; told apart by content) into this
        database, all or nothing. ``dry_run`` checks and counts, and changes nothing."""
        path = Path(path)
        shown = path.name or str(path)
        source = _open_source(path, shown, self.limits)
        try:
            bundle = _check_document(source.document, source.where, self.limits)
            summary = ImportSummary(source=str(path), format=source.kind)
            if dry_run:
                return self._dry_run(bundle, source, summary)
            return self._merge(bundle, source, summary)
        finally:
            source.close()

    def _dry_run(
        self, bundle: ImportBundle, source: _Source, summary: ImportSummary
    ) -> ImportSummary:
        class _Rollback(Exception):
            pass

        outcome: list[MergeResult] = []

        def stop(result: MergeResult) -> None:
            outcome.append(result)
            raise _Rollback

        with contextlib.suppress(_Rollback):
            self.db.merge_exchange(bundle, lambda _record, _id: (None, None), stop)
        _fill(summary, outcome[0])
        summary.images_copied = sum(
            1
            for record in bundle.generations
            if record["uid"] in outcome[0].new_generation_ids
            and source.member_for(record.get("file_path"))
        )
        summary.images_absent = summary.generations - summary.images_copied
        if source.archive is not None:
            planner = _Staging(self.images.root)
            here = self.db.generation_files([g["uid"] for g in bundle.generations])
            summary.images_restored = sum(
                1
                for record in bundle.generations
                if record["uid"] in here
                and planner.plan_repair(source, record, here[record["uid"]])
            )
        return summary

    def recover_staging(self) -> tuple[int, list[str]]:
        """Finish what imports that were cut off after their commit left staged (see
        ``_rescue``); returns (generations whose files were restored, problems). Every import
        does this first; ``dalletui doctor`` may too, before it calls an image missing."""
        outcome = _rescue(self.images.root, self.db.generation_files)
        for problem in outcome.problems:
            log.warning("import: %s", problem)
        return outcome.restored, outcome.problems

    def _merge(
        self, bundle: ImportBundle, source: _Source, summary: ImportSummary
    ) -> ImportSummary:
        rescued, problems = self.recover_staging()
        staging = _Staging(self.images.root)
        held = _InterruptsHeld()

        def before_commit(result: MergeResult) -> None:
            staging.check_targets(result)
            staging.write_journal()
            held.start()  # from here the rows and their files go in together

        try:
            with held:
                try:
                    if source.archive is not None:
                        here = self.db.generation_files([g["uid"] for g in bundle.generations])
                        for record in bundle.generations:
                            row = here.get(record["uid"])
                            if row is None:
                                staging.stage(source, record, self.limits)
                            else:
                                staging.stage_repair(source, record, row, self.limits)
                        staging.settle_repairs()
                    result = self.db.merge_exchange(
                        bundle, staging.place, before_commit, staging.path_repairs()
                    )
                except BaseException:
                    staging.discard()
                    raise
                _fill(summary, result)
                summary.images_copied, restored = staging.move_in()
        finally:
            staging.close()
        summary.images_restored = rescued + restored
        summary.images_absent = summary.generations - len(staging.placed)
        summary.problems = [*problems, *staging.problems]
        return summary


def _fill(summary: ImportSummary, result: MergeResult) -> None:
    for name in (
        "new_prompts",
        "merged_prompts",
        "unchanged_prompts",
        "generations",
        "skipped_generations",
        "usage",
        "skipped_usage",
        "templates",
        "variables",
        "batches",
        "skipped_batches",
        "tags",
        "collections",
        "collection_items",
        "notes",
    ):
        setattr(summary, name, getattr(result, name))
    summary.conflicts = list(result.conflicts)
