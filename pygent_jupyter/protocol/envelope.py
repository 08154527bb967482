"""Decoding, validating and encoding envelopes. Pure: no I/O, no event loop.

A client frame is ``{"type", "data"?, "id"?, "ts"?}``; the server adds ``reply_to``, ``seq``
and ``ts`` to what it sends. :func:`decode` either returns a :class:`Message` whose ``data``
satisfies the type's schema, or raises :class:`~.errors.PygentError` with a stable code and
the offending field.

This is the one strict boundary every client value crosses (see docs/protocol.md, "Values"):

- strict JSON: ``NaN``, ``Infinity`` and literals that overflow a double (``1e400``) are
  refused as ``invalid`` naming the field; the server never emits them either (:func:`encode`
  writes ``null`` for a non-finite number a service produced);
- every string (keys included) is valid Unicode: a lone surrogate (``"\\ud800"``) is refused;
- every integer fits a signed 64-bit integer, and an ``integer`` field takes an integer
  literal only: ``3.0`` is refused there (``invalid``), never coerced;
- values nest at most :data:`MAX_DEPTH` levels.

An error raised after the frame parsed carries ``reply_to`` whenever its ``id`` is readable.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from .catalog import CATALOG
from .errors import ErrorCode, PygentError
from .spec import CLIENT

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DEPTH",
    "Message",
    "StrictValidator",
    "check_value",
    "decode",
    "encode",
    "now_iso",
    "validate_data",
]

log = logging.getLogger("pygent_jupyter.protocol")

_ENVELOPE_KEYS = frozenset({"type", "data", "id", "ts"})
_MAX_ID = 128
MAX_DEPTH = 64
"""Deepest nesting of objects and arrays accepted anywhere in a client message."""
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


def _is_integer(checker: Any, instance: Any) -> bool:
    """JSON integers only: ``3`` is an integer, ``3.0`` and ``True`` are not."""
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator: Any = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)
"""Draft 2020-12 where ``integer`` means an integer literal (the protocol's rule)."""

_VALIDATORS: dict[str, Any] = {
    t: StrictValidator(spec.schema, format_checker=None) for t, spec in CATALOG.items()
}


@dataclass(frozen=True, slots=True)
class Message:
    """A validated client message."""

    type: str
    data: dict[str, Any]
    id: str | None = None
    ts: str | float | None = None


_now_cache: tuple[int, str] = (-1, "")  # (epoch milliseconds, its ISO text): one tuple, atomic


def now_iso() -> str:
    """The current UTC time as ISO-8601 with milliseconds and a ``Z``.

    Formatted once per millisecond: every event carries one, and a burst of events (a
    broadcast, a service's replies) shares it."""
    global _now_cache
    ms = time.time_ns() // 1_000_000
    cached_ms, text = _now_cache
    if ms != cached_ms:
        when = datetime.fromtimestamp(ms / 1000, timezone.utc)
        text = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        _now_cache = (ms, text)
    return text


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


def _join(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _path_of(node: tuple[Any, ...] | None) -> str:
    keys: list[str | int] = []
    while node is not None:
        node, key = node
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path = _join(path, key)
    return path


def check_value(value: Any, *, where: str = "data", max_depth: int = MAX_DEPTH) -> None:
    """Raise ``invalid`` naming the first field of ``value`` the protocol refuses.

    Refused: non-finite numbers, integers outside signed 64 bits, strings or keys holding a
    lone surrogate, nesting deeper than ``max_depth``, and anything that is not a JSON value.
    Iterative and linear in the size of ``value`` (safe on hostile input). ``where`` names
    the root in messages (``""`` for a whole envelope).
    """
    root: tuple[Any, ...] | None = (None, where) if where else None
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(value, 0, root)]
    while stack:
        item, depth, node = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item) is not None:
                _refuse(node, "is not valid Unicode (it holds a lone surrogate)")
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                _refuse(node, "is an integer outside the signed 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                _refuse(
                    node,
                    "must be a finite number (NaN, Infinity and literals that overflow, "
                    "such as 1e400, are refused)",
                )
        elif isinstance(item, dict):
            if depth >= max_depth:
                _refuse(node, f"is nested more than {max_depth} levels deep")
            for key, child in item.items():
                if not isinstance(key, str):
                    _refuse(node, "has a key that is not a string")
                if _SURROGATE.search(key) is not None:
                    _refuse(node, "has a key that is not valid Unicode (a lone surrogate)")
                stack.append((child, depth + 1, (node, key)))
        elif isinstance(item, (list, tuple)):
            if depth >= max_depth:
                _refuse(node, f"is nested more than {max_depth} levels deep")
            stack.extend((child, depth + 1, (node, i)) for i, child in enumerate(item))
        else:
            _refuse(node, f"is not a JSON value ({type(item).__name__})")


def _refuse(node: tuple[Any, ...] | None, what: str) -> None:
    path = _path_of(node) or "(root)"
    raise PygentError(ErrorCode.INVALID, f"{path} {what}", field=path)


def validate_data(type_: str, data: Any) -> None:
    """Raise ``invalid`` naming the first offending field unless ``data`` fits ``type_``."""
    validator = _VALIDATORS[type_]
    error = best_match(validator.iter_errors(data))
    if error is not None:
        where = _field_path(error)
        raise PygentError(ErrorCode.INVALID, f"{where}: {error.message}", field=where)


def _readable_id(raw: dict[str, Any]) -> str | None:
    msg_id = raw.get("id")
    if isinstance(msg_id, str) and 0 < len(msg_id) <= _MAX_ID and _SURROGATE.search(msg_id) is None:
        return msg_id
    return None


def decode(frame: str | bytes) -> Message:
    """Parse and validate one client text frame.

    Raises ``bad_json`` for unparsable text (including nesting too deep to parse),
    ``invalid`` for a well-formed frame of the wrong shape or with a value the protocol
    refuses (see the module docstring), ``unknown_type`` for a type not in the catalog or not
    sendable by clients. Every error raised once the frame parsed carries ``reply_to`` when
    the frame's ``id`` is readable.
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
    msg_id = _readable_id(raw)
    try:
        return _decode_object(raw, msg_id)
    except PygentError as exc:
        exc.reply_to = msg_id
        raise


def _decode_object(raw: dict[str, Any], msg_id: str | None) -> Message:
    check_value(raw, where="")
    type_ = raw.get("type")
    if not isinstance(type_, str) or not type_:
        raise PygentError(ErrorCode.INVALID, "'type' must be a non-empty string", field="type")
    if "id" in raw and msg_id is None:
        raise PygentError(
            ErrorCode.INVALID, f"'id' must be a string of 1 to {_MAX_ID} characters", field="id"
        )
    extra = raw.keys() - _ENVELOPE_KEYS
    if extra:
        name = sorted(extra)[0]
        raise PygentError(ErrorCode.INVALID, f"unknown envelope field {name!r}", field=name)
    spec = CATALOG.get(type_)
    if spec is None or spec.direction != CLIENT:
        raise PygentError(
            ErrorCode.UNKNOWN_TYPE, f"unknown message type {type_[:64]!r}", field="type"
        )
    data = raw.get("data", {})
    if not isinstance(data, dict):
        raise PygentError(ErrorCode.INVALID, "'data' must be an object", field="data")
    ts = raw.get("ts")
    if ts is not None and not isinstance(ts, (str, int, float)):
        raise PygentError(ErrorCode.INVALID, "'ts' must be a string or number", field="ts")
    try:
        validate_data(type_, data)
    except RecursionError:
        raise PygentError(ErrorCode.INVALID, "data is nested too deeply", field="data") from None
    return Message(type=type_, data=data, id=msg_id, ts=ts)


def encode(
    type_: str,
    data: dict[str, Any],
    *,
    reply_to: str | None = None,
    seq: int | None = None,
    ts: str | None = None,
) -> str:
    """Serialise a server event as strict JSON. Key order is fixed: type, data, reply_to,
    seq, ts.

    A non-finite number a service put in ``data`` (NaN, ±Infinity, also inside NumPy values)
    is written as ``null``: no frame the server sends is refused by ``JSON.parse``.
    """
    env: dict[str, Any] = {"type": type_, "data": data}
    if reply_to is not None:
        env["reply_to"] = reply_to
    if seq is not None:
        env["seq"] = seq
    env["ts"] = ts or now_iso()
    try:
        return json.dumps(env, separators=(",", ":"), default=_json_default, allow_nan=False)
    except ValueError:
        log.debug("event %s held non-finite numbers; they are sent as null", type_)
        return json.dumps(
            _finite(env), separators=(",", ":"), default=_json_default, allow_nan=False
        )


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (NumPy values unpacked)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
