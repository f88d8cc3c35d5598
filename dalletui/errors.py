"""The project's exception types: every message is a sentence a user can act on."""

from __future__ import annotations

from enum import StrEnum


class DalleTuiError(Exception):
    """Base class; ``str(error)`` is the user-facing message."""

    title = "Error"


class ConfigError(DalleTuiError):
    """The configuration file or environment is invalid."""

    title = "Configuration error"


class StorageError(DalleTuiError):
    """The database could not be opened, read or written."""

    title = "Storage error"


class NotFoundError(StorageError):
    """A requested row does not exist."""

    title = "Not found"


class ValidationError(DalleTuiError):
    """Input failed validation; ``problems`` lists every sentence."""

    title = "Invalid input"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(" ".join(self.problems))


class ErrorKind(StrEnum):
    """Classes of generation failure, recorded on failed generations."""

    VALIDATION = "validation"
    AUTHENTICATION = "authentication"
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    #: Out of credit or over the quota (a 429 that waiting cannot help).
    QUOTA = "quota"
    CONTENT_POLICY = "content_policy"
    BAD_REQUEST = "bad_request"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SERVER = "server"
    FILESYSTEM = "filesystem"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    UNKNOWN = "unknown"


class GenerationError(DalleTuiError):
    """A generation failed; ``kind`` says which class of failure.

    ``possibly_billed`` means the request may have reached the API and been processed (a
    timeout, a cut-off answer, a server error): it is not re-sent automatically.
    ``request_id`` is the API's ``x-request-id`` when a response arrived.
    """

    title = "Generation failed"

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status_code: int | None = None,
        possibly_billed: bool = False,
        request_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.status_code = status_code
        self.possibly_billed = possibly_billed
        self.request_id = request_id
        super().__init__(message)
