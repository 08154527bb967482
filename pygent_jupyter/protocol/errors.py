"""Stable protocol error codes and the one exception type that carries them.

Services raise :class:`PygentError`; the Hub turns it into an ``error`` event with the same
code and message. Any other exception becomes ``internal`` and its details stay in the log.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["ErrorCode", "PygentError"]


class ErrorCode(str, Enum):
    """Every error code a client can see. Values are stable across releases."""

    BAD_JSON = "bad_json"
    INVALID = "invalid"
    UNKNOWN_TYPE = "unknown_type"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    RESYNC = "resync"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    CONFLICT = "conflict"
    INTERNAL = "internal"


class PygentError(Exception):
    """An error meant for the client: ``code`` is stable, ``message`` is for people.

    ``field`` names the offending input field (a JSON-pointer-like path) when there is one;
    ``details`` is extra JSON-safe context (never a traceback or a server path).
    """

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        *,
        field: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.field = field
        self.details = details or {}
        self.reply_to: str | None = None  # the failing message's id, when it had a valid one

    def to_data(self) -> dict[str, object]:
        """The ``data`` of the ``error`` event for this exception."""
        data: dict[str, object] = {"code": self.code.value, "message": self.message}
        if self.field is not None:
            data["field"] = self.field
        if self.details:
            data["details"] = self.details
        return data
