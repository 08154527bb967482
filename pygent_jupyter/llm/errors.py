"""One error family for every model backend: :class:`BackendError` and its stable codes.

=================  ===============================================  ==================
``backend_code``   when                                             protocol ``code``
=================  ===============================================  ==================
``unreachable``    connection refused / connect timeout              ``unavailable``
``timeout``        no answer within the per-call read timeout        ``timeout``
``model_not_found`` the model is not served (the message says how     ``not_found``
                   to get it: ``ollama pull``, ``/v1/models``)
``bad_response``   a body that is not the backend's API              ``unavailable``
``rate_limited``   HTTP 429 after the bounded retries                ``rate_limited``
                   (``retry_after`` seconds when the server said)
``auth_failed``    HTTP 401/403: the admin's credential is refused   ``unavailable``
``server_error``   HTTP 5xx, or an ``{"error": …}`` line             ``unavailable``
``stream_broken``  the connection died mid-stream, or the stream     ``unavailable``
                   ended without its final message
``bad_request``    HTTP 400/413/422                                  ``invalid``
=================  ===============================================  ==================

:class:`OllamaError` is the same error raised by the Ollama backend: ``ollama_code`` is its
``backend_code`` and it keeps the ``host`` of the ``ollama_error`` event. Text streamed before
a failure has already reached the caller; the caller keeps it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..protocol import ErrorCode, PygentError

__all__ = ["BACKEND_CODES", "BackendError", "OllamaError", "public_url"]

#: every ``backend_code`` and the protocol ``code`` it maps to
BACKEND_CODES: dict[str, ErrorCode] = {
    "unreachable": ErrorCode.UNAVAILABLE,
    "timeout": ErrorCode.TIMEOUT,
    "model_not_found": ErrorCode.NOT_FOUND,
    "bad_response": ErrorCode.UNAVAILABLE,
    "rate_limited": ErrorCode.RATE_LIMITED,
    "auth_failed": ErrorCode.UNAVAILABLE,
    "server_error": ErrorCode.UNAVAILABLE,
    "stream_broken": ErrorCode.UNAVAILABLE,
    "bad_request": ErrorCode.INVALID,
}


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment (safe to show to clients and logs)."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class BackendError(PygentError):
    """A backend failure with a stable :attr:`backend_code` (see the module docstring).

    :attr:`event_type` names the event that reports it to the requester, with
    :meth:`event_data` as its ``data``.
    """

    event_type = "backend_error"

    def __init__(
        self,
        backend_code: str,
        message: str,
        *,
        backend: str,
        kind: str = "openai",
        url: str = "",
        model: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        details: dict[str, object] = {"backend": backend, "backend_code": backend_code}
        if model:
            details["model"] = model
        if retry_after is not None:
            details["retry_after"] = retry_after
        super().__init__(
            BACKEND_CODES.get(backend_code, ErrorCode.UNAVAILABLE), message, details=details
        )
        self.backend_code = backend_code
        self.backend = backend
        self.kind = kind
        self.url = public_url(url)
        self.model = model
        self.retry_after = retry_after

    def backend_event_data(self) -> dict[str, Any]:
        """The ``data`` of the ``backend_error`` event for this failure."""
        data: dict[str, Any] = {
            "backend": self.backend,
            "kind": self.kind,
            "code": self.backend_code,
            "message": self.message,
        }
        if self.url:
            data["base_url"] = self.url
        if self.model:
            data["model"] = self.model
        if self.retry_after is not None:
            data["retry_after"] = self.retry_after
        return data

    def event_data(self) -> dict[str, Any]:
        """The ``data`` of the :attr:`event_type` event for this failure."""
        return self.backend_event_data()


class OllamaError(BackendError):
    """A failure of the Ollama backend; ``ollama_error`` events carry :meth:`event_data`."""

    event_type = "ollama_error"

    def __init__(
        self, ollama_code: str, message: str, *, host: str, model: str | None = None
    ) -> None:
        super().__init__(
            ollama_code, message, backend="ollama", kind="ollama", url=host, model=model
        )
        self.host = host
        self.details.update({"ollama_code": ollama_code, "host": host})

    @property
    def ollama_code(self) -> str:
        return self.backend_code

    def event_data(self) -> dict[str, Any]:
        """The ``data`` of the ``ollama_error`` event for this failure."""
        data: dict[str, Any] = {
            "code": self.backend_code,
            "message": self.message,
            "host": self.host,
        }
        if self.model:
            data["model"] = self.model
        return data
