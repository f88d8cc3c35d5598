"""Export a history to a file and import one back: ``dalletui export`` / ``dalletui import``.

The format (``docs/export-format.md``) is versioned and names records by stable keys: prompts
by text hash, generations, batches and usage rows by uid, templates and variables by name, image
files by their path relative to the images folder. So a file does not depend on the database it
came from, and importing it twice changes nothing the second time.

An import is all or nothing. Everything in the file is read and checked first (types, enums
through the models' own ``problems()``, sizes, record counts, paths, zip members) before the
first byte is written anywhere; a refusal names the place ("export.json, generations[3].
file_path: ...") and leaves the database and the images folder exactly as they were. Images from
a zip are copied into a staging folder inside the images folder, the database merge runs in one
write transaction, and only after it commits are the images moved into place (a rename: the same
file system). Anything failing before the commit removes what was staged.

What the user paid for is never lost between the commit and the moves: the staging folder's
journal (written and flushed inside the transaction) says which file goes where, with its hash;
Ctrl-C waits until the moves are done; each generation's image moves last. If the process dies
there anyway, the next import moves the staged files in (``staging._rescue``), and importing the
zip again puts back any file a generation already here is missing
(``staging._Staging.plan_repair``).

No secret is ever written: the export carries no setting, and every byte written (each zip
member included) is checked for the configured API key; a match refuses the export.

The parts, each importing only those above it: ``schema`` (the format: names, limits, the
record table, refusals, relative paths), ``results`` (options and summaries), ``writing`` (the
export's encoders and the atomic write), ``reading`` (opening a file, zip checks, strict JSON),
``checking`` (records and references), ``staging`` (images: staging, journal, moves, rescue)
and ``service`` (``ExchangeService``, which ties them together).
"""

from dalletui.services.exchange.results import ExportOptions, ExportSummary, ImportSummary
from dalletui.services.exchange.schema import (
    EXPORT_FORMATS,
    FORMAT_NAME,
    FORMAT_VERSION,
    ImportLimits,
    ImportRefused,
)
from dalletui.services.exchange.service import ExchangeService
from dalletui.services.exchange.staging import JOURNAL_NAME, STAGING_PREFIX

__all__ = [
    "EXPORT_FORMATS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "JOURNAL_NAME",
    "STAGING_PREFIX",
    "ExchangeService",
    "ExportOptions",
    "ExportSummary",
    "ImportLimits",
    "ImportRefused",
    "ImportSummary",
]
