"""Typed access to event data: the generated TypedDicts applied to the client's events.

The client hands out events as plain dicts (``{"type", "data", "reply_to"?, "seq"?, "ts"?}``).
For a static type checker and editor completion, give them the generated types of
:mod:`pygent_jupyter.protocol.types`::

    from pygent_jupyter.client import event_data
    from pygent_jupyter.protocol.types import IncomingEvent, UsageData

    usage = event_data(await client.request("get_usage", reply_type="usage"), UsageData)
    usage["today"]["total_tokens"]          # checked: a typo is a type error

    def on_event(event: IncomingEvent) -> None:   # client.on("*", on_event)
        if event["type"] == "chat_stream":
            print(event["data"]["delta"])     # narrowed to ChatStreamData
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

__all__ = ["event_data", "message_type_of"]

D = TypeVar("D", bound=Mapping[str, Any])

_TYPE_OF: dict[Any, str] | None = None


def message_type_of(kind: Any) -> str:
    """The message type whose ``data`` the generated TypedDict ``kind`` describes.

    Raises ``TypeError`` for anything else (a nested TypedDict, a plain ``dict``).
    """
    global _TYPE_OF
    if _TYPE_OF is None:  # on first use: importing the ~300 TypedDicts takes milliseconds
        from ..protocol.types import DATA_TYPES

        table: dict[Any, str] = {}
        for type_, data_type in DATA_TYPES.items():  # a shared dict alias maps to none
            table[data_type] = "" if data_type in table else type_
        _TYPE_OF = table
    try:
        found = _TYPE_OF.get(kind, "")
    except TypeError:  # unhashable
        found = ""
    if not found:
        raise TypeError(f"{kind!r} is not the generated data type of one message type")
    return found


def event_data(event: Mapping[str, Any], kind: type[D]) -> D:
    """``event["data"]``, statically typed as ``kind`` (e.g. ``UsageData``).

    Checks at runtime that the event is of the message type ``kind`` describes and raises
    ``TypeError`` otherwise (say, an ``error`` where a ``usage`` was expected); the data
    itself is not re-validated (the server validates against the same catalog).
    """
    expected = message_type_of(kind)
    if event.get("type") != expected:
        raise TypeError(f"expected a {expected!r} event, got {event.get('type')!r}")
    return cast(D, event.get("data") or {})
