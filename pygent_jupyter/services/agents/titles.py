"""Model-written conversation titles.

A new conversation is titled with the first words of its first question at once (the store
does that). After the first complete answer, :class:`TitleWriter` asks the model, in the
background, for a short title of the exchange (at most ``max_tokens`` tokens, ``timeout``
seconds); when it gets a usable one and the title is still the first-words fallback (the user
did not rename it meanwhile), it replaces the title and tells the user's clients with a
``chat_history`` event whose ``titled`` names the conversation. Any failure keeps the
fallback and is only logged: titles never hold up or break a chat.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Callable
from typing import Any

from .store import ConversationStore, _conversation, _title

__all__ = ["TitleWriter", "clean_title"]

log = logging.getLogger(__name__)

PROMPT = (
    "Write a title of at most six words for this conversation. Answer with the title only: "
    "no quotes, no punctuation at the end.\n\nQuestion: {question}\n\nAnswer: {answer}\n\nTitle:"
)
MAX_WORDS = 8
QUOTES = "\"'\u201c\u201d\u2018\u2019"
MAX_CHARS = 60


def clean_title(text: str) -> str | None:
    """The model's answer as a title (first line, no quotes, label or trailing dot, at most
    ``MAX_WORDS`` words / ``MAX_CHARS`` characters), or None when nothing usable is left."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = re.sub(r"[*#`]+", "", lines[0]).strip()
    line = re.sub(r"^title\s*:\s*", "", line, flags=re.IGNORECASE).strip(QUOTES).strip()
    line = line.rstrip(".:;,!").strip()
    words = line.split()
    if not words:
        return None
    title = " ".join(words[:MAX_WORDS])
    return title[:MAX_CHARS].rstrip() or None


def _retitle(
    conn: sqlite3.Connection, user: str, conv_id: str, expected: str, title: str
) -> dict[str, Any] | None:
    """Set the title only if it is still ``expected`` (not renamed meanwhile)."""
    with conn:
        cur = conn.execute(
            "UPDATE agent_conversations SET title=? WHERE user=? AND id=? AND title=?",
            (title, user, conv_id, expected),
        )
    if cur.rowcount != 1:
        return None
    row = conn.execute(
        "SELECT * FROM agent_conversations WHERE user=? AND id=?", (user, conv_id)
    ).fetchone()
    return _conversation(row) if row is not None else None


class TitleWriter:
    """An answer listener (``AgentsService.add_answer_listener``) that titles conversations.

    ``store`` gives the conversations, ``provider()`` the model to ask, ``publish(user, type,
    data)`` reaches the user's clients.
    """

    def __init__(
        self,
        store: Callable[[], ConversationStore | None],
        provider: Callable[[], Any],
        publish: Callable[[str, str, dict[str, Any]], Any],
        *,
        timeout: float = 30.0,
        max_tokens: int = 16,
    ) -> None:
        self.store = store
        self.provider = provider
        self.publish = publish
        self.timeout = timeout
        self.max_tokens = max_tokens

    async def __call__(self, user: str, conv_id: str, text: str, meta: dict[str, Any]) -> None:
        store = self.store()
        if store is None or not text.strip():
            return
        messages, more = await store.messages(user, conv_id, limit=3)
        if more or len(messages) != 2 or messages[0].get("role") != "user":
            return  # only after the first exchange
        question = str(messages[0].get("content", ""))
        prompt = PROMPT.format(question=question[:1500], answer=text[:1500])
        try:
            completion = await asyncio.wait_for(
                self.provider().generate(
                    prompt, options={"num_predict": self.max_tokens, "temperature": 0.0}
                ),
                self.timeout,
            )
        except Exception as exc:  # the fallback title stays
            log.info("pygent: no model title for %s (%s)", conv_id, exc or type(exc).__name__)
            return
        title = clean_title(getattr(completion, "text", "") or "")
        if title is None:
            return
        row = await store.db.run(_retitle, user, conv_id, _title(question), title)
        if row is not None:
            self.publish(
                user, "chat_history", {"conversations": [row], "has_more": False, "titled": conv_id}
            )
