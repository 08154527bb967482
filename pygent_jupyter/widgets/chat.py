"""ChatWidget: a streamed conversation with an agent, rendered as Markdown with code."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import ipywidgets as W

from ._base import EventWidget, esc
from .render import CODE_CSS, markdown_html

__all__ = ["ChatWidget"]

DEFAULT_AGENTS = ("general", "coding", "reasoning")
_DEFAULT_MODEL = "(default)"


class ChatWidget(EventWidget):
    """History, streaming deltas, typing indicator, agent/model pickers, cancel, conversations.

    Only events answering this widget's own messages, or of its current conversation, are
    shown. :meth:`submit` sends a turn and returns a future of the final ``message`` dict;
    :meth:`ask` waits for it and returns the answer's text.
    """

    EVENTS = (
        "typing_indicator",
        "chat_stream",
        "chat_response",
        "chat_history",
        "ollama_model_update",
    )

    def __init__(
        self,
        *,
        agent: str = "general",
        model: str | None = None,
        agents: tuple[str, ...] = DEFAULT_AGENTS,
        conversation_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.messages: list[dict[str, Any]] = []
        self.conversation_id = conversation_id
        self.conversations: list[dict[str, Any]] = []
        self.typing: str | None = None
        self.active_request: str | None = None
        self._streams: dict[str, dict[str, Any]] = {}
        self.models: list[str] = [model] if model else []
        agent_list = list(dict.fromkeys([*agents, agent]))
        self.agent_picker = W.Dropdown(
            options=agent_list, value=agent, description="Agent", layout=W.Layout(width="210px")
        )
        self.model_picker = W.Dropdown(
            options=[_DEFAULT_MODEL, *self.models],
            value=model or _DEFAULT_MODEL,
            description="Model",
            layout=W.Layout(width="280px"),
        )
        self.conversation_picker = W.Dropdown(
            options=[("new conversation", "")],
            value="",
            description="Chat",
            layout=W.Layout(width="300px"),
        )
        self.conversation_picker.observe(self._on_pick_conversation, names="value")
        self.history = W.HTML(layout=W.Layout(max_height="420px", overflow_y="auto"))
        self.history.add_class("pygent-chat-history")
        self.indicator = W.HTML()
        self.input = W.Textarea(
            placeholder="Message the agent (Markdown welcome)…",
            layout=W.Layout(width="100%", height="64px"),
        )
        self.send_button = W.Button(description="Send", button_style="primary", icon="paper-plane")
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.send_button.on_click(lambda _b: self._send_from_input())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.children = (
            W.HBox([self.agent_picker, self.model_picker, self.conversation_picker]),
            self.history,
            self.indicator,
            W.HBox([self.input, W.VBox([self.send_button, self.cancel_button])]),
            self.status,
        )
        self.add_class("pygent-chat")
        self.throttle.request()

    # -- commands ---------------------------------------------------------------------------

    def submit(
        self, text: str, *, agent: str | None = None, model: str | None = None
    ) -> concurrent.futures.Future[Any]:
        """Send one user turn; the future resolves to the agent's final ``message`` dict."""
        if not text.strip():
            raise ValueError("the message is empty")
        agent = agent or self.agent_picker.value
        model = model or (
            None if self.model_picker.value == _DEFAULT_MODEL else self.model_picker.value
        )
        message: dict[str, Any] = {"content": text, "agentId": agent}
        if model:
            message["model"] = model
        data: dict[str, Any] = {"message": message}
        if self.conversation_id:
            data["conversation_id"] = self.conversation_id
        with self._state_lock:
            self.messages.append({"role": "user", "content": text, "agentId": agent})
            self.typing = agent
        msg_id, future = self.request("chat_message", data)
        self.active_request = msg_id
        self.throttle.request()
        return future

    def ask(self, text: str, *, timeout: float = 300.0, **kwargs: Any) -> str:
        """Send a turn and block until the answer is complete; returns its text.

        Needs the client to run on another thread (as ``%pygent`` sets it up).
        """
        message = self.submit(text, **kwargs).result(timeout)
        return str(message.get("content", ""))

    def cancel(self) -> None:
        """Cancel the answer being streamed, if any."""
        if self.active_request:
            self.command("cancel", {"request_id": self.active_request})

    def load_conversation(self, conversation_id: str | None) -> None:
        """Switch to a stored conversation (``None``: start a new one)."""
        with self._state_lock:
            self.conversation_id = conversation_id or None
            self.messages = []
            self._streams.clear()
        if conversation_id:
            self.command("get_history", {"conversation_id": conversation_id, "limit": 200})
        self.throttle.request()

    def refresh_conversations(self) -> None:
        self.command("get_history", {"limit": 100})

    def _send_from_input(self) -> None:
        text = self.input.value
        if not text.strip():
            return
        self.input.value = ""
        try:
            self.submit(text)
        except Exception as exc:  # shown in the widget; a button callback has nowhere to raise
            self.show_error(str(exc))

    def _on_pick_conversation(self, change: dict[str, Any]) -> None:
        new = change["new"] or None
        if new != self.conversation_id:
            self.load_conversation(new)

    def _on_attach(self) -> None:
        self.command("ollama_list_models", {})
        self.refresh_conversations()

    # -- events -----------------------------------------------------------------------------

    def _mine(self, data: dict[str, Any], event: dict[str, Any]) -> bool:
        if event.get("reply_to") in self._sent_ids:
            return True
        conv = data.get("conversation_id")
        return bool(conv) and conv == self.conversation_id

    def _on_typing_indicator(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if self._mine(data, event):
            self.typing = str(data.get("agentId") or "agent") if data.get("active") else None

    def _on_chat_stream(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if not self._mine(data, event):
            return
        self._adopt(data)
        mid = str(data.get("message_id"))
        msg = self._streams.get(mid)
        if msg is None:
            msg = {
                "id": mid,
                "role": "agent",
                "content": "",
                "streaming": True,
                "agentId": self.typing or "",
            }
            self._streams[mid] = msg
            self.messages.append(msg)
        msg["content"] += str(data.get("delta", ""))

    def _on_chat_response(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if not self._mine(data, event):
            return
        self._adopt(data)
        final = dict(data.get("message") or {})
        mid = str(final.get("id"))
        msg = self._streams.pop(mid, None)
        if msg is None:
            msg = {"id": mid, "role": "agent"}
            self.messages.append(msg)
        msg.update(
            content=final.get("content", ""),
            agentId=final.get("agentId", ""),
            metadata=final.get("metadata") or {},
            streaming=False,
        )
        reply_to = event.get("reply_to")
        if reply_to == self.active_request:
            self.active_request = None
            self.typing = None
        self._resolve(reply_to, final)

    def _on_chat_history(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if "conversations" in data:
            self.conversations = list(data["conversations"])
        if data.get("conversation_id") and data["conversation_id"] == self.conversation_id:
            self.messages = [
                {
                    "id": m.get("id"),
                    "role": "user" if m.get("role") == "user" else "agent",
                    "content": m.get("content", ""),
                    "agentId": m.get("agentId", ""),
                    "metadata": m.get("metadata") or {},
                }
                for m in data.get("messages") or []
            ]
        self._resolve(event.get("reply_to"), data)

    def _on_ollama_model_update(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        names = [str(m.get("name")) for m in data.get("models") or [] if m.get("name")]
        self.models = list(dict.fromkeys([*self.models, *names]))

    def _on_command_error(self, msg_id: str, data: dict[str, Any]) -> None:
        if msg_id == self.active_request:
            self.active_request = None
            self.typing = None
            for msg in self._streams.values():
                msg["streaming"] = False
                if data.get("code") in ("cancelled", "interrupted"):
                    msg["content"] += f" *({data['code']})*"
            self._streams.clear()

    def _adopt(self, data: dict[str, Any]) -> None:
        conv = data.get("conversation_id")
        if conv and not self.conversation_id:
            self.conversation_id = str(conv)

    # -- drawing ----------------------------------------------------------------------------

    @property
    def last_answer(self) -> str | None:
        """The text of the newest agent message, or None."""
        for msg in reversed(self.messages):
            if msg["role"] == "agent":
                return str(msg.get("content", ""))
        return None

    def _draw(self) -> None:
        parts = [CODE_CSS]
        for msg in self.messages:
            user = msg["role"] == "user"
            who = "you" if user else esc(msg.get("agentId") or "agent")
            meta = msg.get("metadata") or {}
            foot = ""
            if meta:
                bits = [str(meta[k]) for k in ("model", "backend") if meta.get(k)]
                if isinstance(meta.get("tokens_per_s"), (int, float)):
                    bits.append(f"{meta['tokens_per_s']:.1f} tok/s")
                if isinstance(meta.get("processing_time"), (int, float)):
                    bits.append(f"{meta['processing_time']:.2f} s")
                foot = f"<div style='color:#6b7280;font-size:11px'>{esc(' · '.join(bits))}</div>"
            cursor = " &#9612;" if msg.get("streaming") else ""
            parts.append(
                "<div class='pygent-msg pygent-msg-{role}' style='margin:4px 0;padding:4px 8px;"
                "border-radius:6px;background:{bg}'><b>{who}</b>{body}{cursor}{foot}</div>".format(
                    role="user" if user else "agent",
                    bg="#eef2ff" if user else "#f9fafb",
                    who=who,
                    body=markdown_html(str(msg.get("content", ""))),
                    cursor=cursor,
                    foot=foot,
                )
            )
        if not self.messages:
            parts.append("<i style='color:#6b7280'>No messages yet.</i>")
        self.history.value = "".join(parts)
        self.indicator.value = (
            f"<i style='color:#6b7280'>{esc(self.typing)} is typing…</i>" if self.typing else ""
        )
        self.cancel_button.disabled = self.active_request is None
        options = [_DEFAULT_MODEL, *self.models]
        if list(self.model_picker.options) != options:
            current = self.model_picker.value
            self.model_picker.options = options
            self.model_picker.value = current if current in options else _DEFAULT_MODEL
        convs: list[tuple[str, str]] = [("new conversation", "")]
        for c in self.conversations:
            cid = str(c.get("id") or c.get("conversation_id") or "")
            if cid:
                title = str(c.get("title") or c.get("preview") or cid)[:40]
                convs.append((title, cid))
        if self.conversation_id and self.conversation_id not in {v for _, v in convs}:
            convs.append((self.conversation_id, self.conversation_id))
        if list(self.conversation_picker.options) != convs:
            self.conversation_picker.unobserve(self._on_pick_conversation, names="value")
            self.conversation_picker.options = convs
            self.conversation_picker.value = self.conversation_id or ""
            self.conversation_picker.observe(self._on_pick_conversation, names="value")
        elif self.conversation_picker.value != (self.conversation_id or ""):
            self.conversation_picker.unobserve(self._on_pick_conversation, names="value")
            self.conversation_picker.value = self.conversation_id or ""
            self.conversation_picker.observe(self._on_pick_conversation, names="value")
