"""Decoding, validating and encoding envelopes. Pure: no I/O, no event loop.

A client frame is ``{"type", "data"?, "id"?, "ts"?}``; the server adds ``reply_to``, ``seq``
and ``ts`` to what it sends. :func:`decode` either returns a :class:`Message` whose ``data``
satisfies the type's schema, or raises :class:`~.errors.PygentError` with a stable code and
the offending field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .catalog import CATALOG
from .errors import ErrorCode, PygentError
from .spec import CLIENT

__all__ = ["Message", "decode", "encode", "now_iso", "validate_data"]

_ENVELOPE_KEYS = frozenset({"type", "data", "id", "ts"})
_MAX_ID = 128

_VALIDATORS: dict[str, Draft202012Validator] = {
    t: Draft202012Validator(spec.schema, format_checker=None) for t, spec in CATALOG.items()
}


@dataclass(frozen=True, slots=True)
class Message:
    """A validated client message."""

    type: str
    data: dict[str, Any]
    id: str | None = None
    ts: str | float | None = None


def now_iso() -> str:
    """The current UTC time as ISO-8601 with milliseconds and a ``Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _field_path(error: ValidationError) -> str:
    path = "data"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    if error.validator == "required" and isinstance(error.message, str):
        missing = error.message.split("'")[1] if "'" in error.message else ""
        if missing:
            path += f".{missing}"
    if error.validator == "additionalProperties" and "'" in str(error.message):
        extra = str(error.message).split("'")[1]
        path += f".{extra}"
    return path


def validate_data(type_: str, data: Any) -> None:
    """Raise ``invalid`` naming the first offending field unless ``data`` fits ``type_``."""
    validator = _VALIDATORS[type_]
    error = best_match(validator.iter_errors(data))
    if error is not None:
        where = _field_path(error)
        raise PygentError(ErrorCode.INVALID, f"{where}: {error.message}", field=where)


def decode(frame: str | bytes) -> Message:
    """Parse and validate one client text frame.

    Raises ``bad_json`` for unparsable text (including nesting too deep to parse),
    ``invalid`` for a well-formed frame of the wrong shape, ``unknown_type`` for a type not in
    the catalog or not sendable by clients.
    """
    try:
        raw = json.loads(frame)
    except RecursionError:
        raise PygentError(ErrorCode.BAD_JSON, "message is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PygentError(ErrorCode.BAD_JSON, f"message is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PygentError(
            ErrorCode.INVALID, "message must be a JSON object with a 'type'", field="(root)"
        )
    type_ = raw.get("type")
    if not isinstance(type_, str) or not type_:
        raise PygentError(ErrorCode.INVALID, "'type' must be a non-empty string", field="type")
    msg_id = raw.get("id")
    if msg_id is not None and (not isinstance(msg_id, str) or not 0 < len(msg_id) <= _MAX_ID):
        raise PygentError(
            ErrorCode.INVALID, f"'id' must be a string of 1 to {_MAX_ID} characters", field="id"
        )
    extra = raw.keys() - _ENVELOPE_KEYS
    if extra:
        name = sorted(extra)[0]
        raise PygentError(ErrorCode.INVALID, f"unknown envelope field {name!r}", field=name)
    spec = CATALOG.get(type_)
    if spec is None or spec.direction != CLIENT:
        error = PygentError(
            ErrorCode.UNKNOWN_TYPE, f"unknown message type {type_[:64]!r}", field="type"
        )
        error.reply_to = msg_id
        raise error
    try:
        data = raw.get("data", {})
        if not isinstance(data, dict):
            raise PygentError(ErrorCode.INVALID, "'data' must be an object", field="data")
        ts = raw.get("ts")
        if ts is not None and not isinstance(ts, (str, int, float)):
            raise PygentError(ErrorCode.INVALID, "'ts' must be a string or number", field="ts")
        try:
            validate_data(type_, data)
        except RecursionError:
            raise PygentError(
                ErrorCode.INVALID, "data is nested too deeply", field="data"
            ) from None
    except PygentError as exc:
        exc.reply_to = msg_id
        raise
    return Message(type=type_, data=data, id=msg_id, ts=ts)


def encode(
    type_: str,
    data: dict[str, Any],
    *,
    reply_to: str | None = None,
    seq: int | None = None,
    ts: str | None = None,
) -> str:
    """Serialise a server event. Key order is fixed: type, data, reply_to, seq, ts."""
    env: dict[str, Any] = {"type": type_, "data": data}
    if reply_to is not None:
        env["reply_to"] = reply_to
    if seq is not None:
        env["seq"] = seq
    env["ts"] = ts or now_iso()
    return json.dumps(env, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
