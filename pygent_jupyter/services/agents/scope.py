"""Which chat exchange the running task serves, for context and tool providers.

Context and tool providers are called with the user only. A provider that needs the exchange
itself (the requesting client, the message's attachments, the conversation id) reads
:data:`current_chat`, which ``chat_message`` sets before it gathers context and tools; it is
visible in every task the exchange spawns and ``None`` outside a chat.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...hub import Request

__all__ = ["ChatScope", "current_chat"]


@dataclass
class ChatScope:
    """One ``chat_message`` exchange: the request, the conversation and the answer's id.

    ``state`` is a scratch dict shared by the providers of this exchange (it lives as long as
    the exchange)."""

    request: Request
    conversation_id: str
    message_id: str
    state: dict[str, Any] = field(default_factory=dict)


current_chat: ContextVar[ChatScope | None] = ContextVar("pygent_current_chat", default=None)
