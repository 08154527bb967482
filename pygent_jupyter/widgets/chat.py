"""ChatWidget: a streamed conversation with an agent, rendered as Markdown with code."""

from __future__ import annotations

import concurrent.futures
import re
from datetime import datetime
from typing import Any

import ipywidgets as W

from ._base import EventWidget, esc
from .actions import KernelActions
from .copy import CopyButton
from .render import markdown_html, markdown_stream_html

__all__ = ["ChatWidget"]


def conversation_label(row: dict[str, Any]) -> str:
    """``title · Dec 2 14:05`` (the date tells apart conversations with the same title)."""
    title = " ".join(str(row.get("title") or row.get("preview") or "untitled").split())
    if len(title) > 48:
        title = title[:47] + "…"
    when = str(row.get("updated") or row.get("created") or "")
    try:
        stamp = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone()
        return f"{title} · {stamp:%b %d %H:%M}"
    except ValueError:
        return title


def _picker_layout() -> W.Layout:
    """Pickers share the row and wrap onto new lines when the output is narrow."""
    return W.Layout(flex="1 1 200px", min_width="160px", max_width="340px", width="auto")


DEFAULT_AGENTS = ("general", "coding", "reasoning")
_DEFAULT_MODEL = "(default)"
_SEP = "\x1f"  # between backend and model in a picker value


def _split_choice(value: Any) -> tuple[str | None, str | None]:
    """A model picker value -> ``(backend, model)`` (``(None, None)`` for the default)."""
    if not value or value == _DEFAULT_MODEL:
        return None, None
    text = str(value)
    if _SEP in text:
        backend, _, model = text.partition(_SEP)
        return backend, model
    return None, text


_KIND_LABELS = {
    "insert_cell": "Insert a cell",
    "replace_cell": "Replace a cell",
    "delete_cell": "Delete a cell",
    "run_cell": "Run a cell",
    "create_notebook": "Create a notebook",
}


def _describe(data: dict[str, Any]) -> str:
    """``Insert a cell in analysis.ipynb (cell c3)``: a proposal in one line."""
    target = data.get("target") or {}
    where = f" (cell {target['cell_id']})" if target.get("cell_id") else ""
    path = f" in {target['path']}" if target.get("path") else ""
    return f"{_KIND_LABELS.get(str(data.get('kind')), str(data.get('kind')))}{path}{where}"


def _card_html(data: dict[str, Any]) -> str:
    """A proposal's title and its diff, added and removed lines marked."""
    lines = []
    for line in str(data.get("diff", "")).splitlines():
        cls = ""
        if line.startswith("+") and not line.startswith("+++"):
            cls = " class='pygent-add'"
        elif line.startswith("-") and not line.startswith("---"):
            cls = " class='pygent-del'"
        lines.append(f"<span{cls}>{esc(line) or ' '}</span>")
    step = f" · step {data['step']}" if data.get("step") else ""
    return (
        f"<div class='pygent-proposal-title'><b>{esc(_describe(data))}</b>{esc(step)}</div>"
        f"<pre class='pygent-diff'>{chr(10).join(lines)}</pre>"
    )


_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown answer, in order."""
    return [m.group(1).rstrip("\n") for m in _FENCE.finditer(text)]


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
        "backend_status",
        "backend_error",
        "usage",
        "evolution_complete",
        "agent_action_request",
        "agent_action_expired",
        "agent_progress",
    )

    def __init__(
        self,
        *,
        agent: str = "general",
        model: str | None = None,
        agents: tuple[str, ...] = DEFAULT_AGENTS,
        conversation_id: str | None = None,
        act: bool = False,
        variables: tuple[str, ...] | list[str] = (),
        actions: KernelActions | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: let the agent propose notebook actions (each shown as a card: Accept / Reject)
        self.act = act
        #: kernel variables whose summaries go with every message (``@var`` in the panel)
        self.variables = list(variables)
        self._actions = actions
        #: proposals waiting for a decision, by id (``agent_action_request`` data)
        self.proposals: dict[str, dict[str, Any]] = {}
        #: one line per decided proposal (what was applied, rejected, failed or expired)
        self.action_log: list[str] = []
        self.progress = ""
        self._cards: dict[str, W.VBox] = {}
        self.cards = W.VBox(layout=W.Layout(width="100%"))
        self.cards.add_class("pygent-proposals")
        self.code_actions = W.VBox(layout=W.Layout(width="100%"))
        self.code_actions.add_class("pygent-code-actions")
        self._code_blocks: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.conversation_id = conversation_id
        self.conversations: list[dict[str, Any]] = []
        self.typing: str | None = None
        self.active_request: str | None = None
        self._streams: dict[str, dict[str, Any]] = {}
        self.models: list[str] = [model] if model else []
        #: every backend's models from ``backend_status``: ``{backend, name, tools}`` each
        self.catalog: list[dict[str, Any]] = []
        #: the latest ``usage`` event (this conversation and today)
        self.usage: dict[str, Any] | None = None
        #: the latest fallback or backend failure to show (never silent)
        self.notice: str | None = None
        self.usage_gauge = W.HTML()
        self.usage_gauge.add_class("pygent-usage")
        agent_list = list(dict.fromkeys([*agents, agent]))
        #: the agent types offered (built-ins, then evolved ones as their runs complete)
        self.agents: list[str] = agent_list
        self.agent_picker = W.Dropdown(
            options=agent_list, value=agent, description="Agent", layout=_picker_layout()
        )
        self.model_picker = W.Dropdown(
            options=[_DEFAULT_MODEL, *self.models],
            value=model or _DEFAULT_MODEL,
            description="Model",
            layout=_picker_layout(),
        )
        self.conversation_picker = W.Dropdown(
            options=[("new conversation", "")],
            value="",
            description="Chat",
            layout=_picker_layout(),
        )
        self.conversation_picker.observe(self._on_pick_conversation, names="value")
        # The log scrolls inside its own HTML (a column-reverse flex box stays pinned to the
        # newest message); ipywidgets 8 has no overflow_y, so a Layout cannot do it.
        self.history = W.HTML(layout=W.Layout(width="100%"))
        self.history.add_class("pygent-chat-history")
        self.indicator = W.HTML(layout=W.Layout(min_height="0"))
        self.input = W.Textarea(
            placeholder="Message the agent (Markdown welcome)…",
            layout=W.Layout(flex="1 1 auto", width="auto", height="64px", min_width="0"),
        )
        self.send_button = W.Button(description="Send", button_style="primary", icon="paper-plane")
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.send_button.on_click(lambda _b: self._send_from_input())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.picker_row = W.HBox([self.agent_picker, self.model_picker, self.conversation_picker])
        self.picker_row.add_class("pygent-row")
        self.children = (
            self.picker_row,
            self.history,
            self.code_actions,
            self.cards,
            self.indicator,
            W.HBox(
                [self.input, W.VBox([self.send_button, self.cancel_button])],
                layout=W.Layout(width="100%"),
            ),
            self.status,
        )
        self.add_class("pygent-chat")
        self.children = (*self.children, self.usage_gauge)
        self.throttle.request()

    # -- commands ---------------------------------------------------------------------------

    def submit(
        self,
        text: str,
        *,
        agent: str | None = None,
        model: str | None = None,
        backend: str | None = None,
    ) -> concurrent.futures.Future[Any]:
        """Send one user turn; the future resolves to the agent's final ``message`` dict."""
        if not text.strip():
            raise ValueError("the message is empty")
        agent = agent or self.agent_picker.value
        picked_backend, picked_model = _split_choice(self.model_picker.value)
        model = model or picked_model
        backend = backend or (picked_backend if not model or model == picked_model else None)
        message: dict[str, Any] = {"content": text, "agentId": agent}
        if model:
            message["model"] = model
        if backend:
            message["backend"] = backend
        data: dict[str, Any] = {"message": message}
        if self.conversation_id:
            data["conversation_id"] = self.conversation_id
        if self.act or self.variables:
            data["attachments"] = self.kernel_actions.attachments(self.variables, act=self.act)
            self.kernel_actions.pending.clear()  # cells inserted by an earlier turn are out
        with self._state_lock:
            self.messages.append({"role": "user", "content": text, "agentId": agent})
            self.typing = agent
        msg_id, future = self.request("chat_message", data)
        if self.connection_state != "connected":
            self.show_error("offline: your message waits and is sent when the connection is back")
        self.active_request = msg_id
        self.throttle.request()
        return future

    def ask(self, text: str, *, timeout: float = 300.0, **kwargs: Any) -> str:
        """Send a turn and block until the answer is complete; returns its text.

        Needs the client to run on another thread (as ``%pygent`` sets it up).
        """
        message = self.submit(text, **kwargs).result(timeout)
        return str(message.get("content", ""))

    @property
    def kernel_actions(self) -> KernelActions:
        """Applies accepted proposals in this kernel (as ``%%pygent --act`` does)."""
        if self._actions is None:
            from IPython import get_ipython

            self._actions = KernelActions(get_ipython(), "", decide=lambda _data: True)
        return self._actions

    def decide(self, proposal_id: str, accept: bool) -> dict[str, Any]:
        """Answer a proposal: on accept apply it in this kernel (an inserted cell becomes the
        next input, a new cell below the next cell run; running an inserted cell runs it here),
        else reject it. Sends ``agent_action_result`` and returns it."""
        with self._state_lock:
            data = self.proposals.pop(proposal_id, None)
        if data is None:
            raise KeyError(f"no open proposal {proposal_id!r}")
        if accept:
            result = self.kernel_actions.handle({**data, "auto_approved": True})
        else:
            result = {"proposal_id": proposal_id, "decision": "rejected"}
        self.command("agent_action_result", result)
        with self._state_lock:
            self.action_log.append(f"{result['decision']}: {_describe(data)}")
        self.throttle.request()
        return result

    def insert_code(self, index: int = -1, *, replace: bool = False) -> str:
        """Put code block ``index`` of the newest answer into the notebook through the
        kernel's next-input mechanism: a new cell below the next cell you run, or (``replace``)
        that cell's own source. Returns the code."""
        code = self._code_blocks[index]
        shell = getattr(self.kernel_actions, "shell", None)
        if shell is None or not hasattr(shell, "set_next_input"):
            raise RuntimeError("no IPython kernel to insert the code into")
        shell.set_next_input(code, replace=replace)
        with self._state_lock:
            self.notice = (
                "the code replaces the next cell you run"
                if replace
                else "the code goes into a new cell below the next cell you run"
            )
        self.throttle.request()
        return code

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
            self._pick_conversation_model(conversation_id)
        self.refresh_usage()
        self.throttle.request()

    def _pick_conversation_model(self, conversation_id: str) -> None:
        """Show the backend/model the conversation last used (the choice sticks)."""
        for c in self.conversations:
            if (c.get("id") or c.get("conversation_id")) == conversation_id and c.get("model"):
                value = (
                    f"{c['backend']}{_SEP}{c['model']}"
                    if c.get("backend") and self.catalog
                    else str(c["model"])
                )
                options = self._model_options()
                values = [o[1] if isinstance(o, tuple) else o for o in options]
                if value in values:
                    self.model_picker.options = options
                    self.model_picker.value = value
                return

    def refresh_usage(self) -> None:
        """Ask for the usage gauge (today, and this conversation)."""
        data = {"conversation_id": self.conversation_id} if self.conversation_id else {}
        self.command("get_usage", data)

    def refresh_conversations(self) -> None:
        self.command("get_history", {"limit": 100})

    def search_conversations(self, query: str, limit: int = 50) -> concurrent.futures.Future[Any]:
        """Your conversations whose title or messages contain ``query``.

        The future resolves to the ``chat_history`` data (``conversations``: ``{id, title,
        updated, message_count, ...}``); the conversation picker is left as it is.
        """
        return self.request("get_history", {"query": query, "limit": limit})[1]

    def rename_conversation(
        self, title: str, conversation_id: str | None = None
    ) -> concurrent.futures.Future[Any]:
        """Retitle a conversation (default: the one shown); the picker follows."""
        conv = conversation_id or self.conversation_id
        if not conv:
            raise ValueError("no conversation to rename: pass conversation_id")
        return self.request("rename_conversation", {"conversation_id": conv, "title": title})[1]

    def delete_conversation(
        self, conversation_id: str | None = None
    ) -> concurrent.futures.Future[Any]:
        """Delete a conversation (default: the one shown, which then starts a new one)."""
        conv = conversation_id or self.conversation_id
        if not conv:
            raise ValueError("no conversation to delete: pass conversation_id")
        return self.request("delete_conversation", {"conversation_id": conv})[1]

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
        self.command("list_backends", {})
        self.refresh_usage()
        self.refresh_conversations()

    # -- events -----------------------------------------------------------------------------

    def _mine(self, data: dict[str, Any], event: dict[str, Any]) -> bool:
        if event.get("reply_to") in self._sent_ids:
            return True
        conv = data.get("conversation_id")
        return bool(conv) and conv == self.conversation_id

    def _on_typing_indicator(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if self._mine(data, event) and data.get("active"):
            fallback = data.get("fallback") or []
            self.notice = (
                "; ".join(
                    f"{f.get('from')} is down ({f.get('reason')}), {f.get('to')} answers"
                    for f in fallback
                )
                or None
            )
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
        pending = self._pending.get(str(event.get("reply_to")))
        kind = pending.type if pending is not None else ""
        if data.get("deleted"):
            gone = str(data["deleted"])
            self.conversations = [
                c for c in self.conversations if (c.get("id") or c.get("conversation_id")) != gone
            ]
            if gone == self.conversation_id:
                self.conversation_id = None
                self.messages = []
                self._streams.clear()
        elif kind == "rename_conversation" or data.get("titled"):  # renamed, or titled by the model
            for row in data.get("conversations") or []:
                for i, c in enumerate(self.conversations):
                    if (c.get("id") or c.get("conversation_id")) == row.get("id"):
                        self.conversations[i] = {**c, **row}
        elif "conversations" in data and not data.get("query"):
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

    def _on_backend_status(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        catalog = []
        for backend in data.get("backends") or []:
            for m in backend.get("models") or []:
                if m.get("name"):
                    catalog.append(
                        {
                            "backend": str(backend.get("name")),
                            "name": str(m["name"]),
                            "tools": bool(m.get("tools", backend.get("tools"))),
                        }
                    )
        self.catalog = catalog

    def _on_backend_error(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("reply_to") in self._sent_ids:
            text = f"{data.get('backend')}: {data.get('code')}"
            if data.get("fallback"):
                text += f", {data['fallback']} answers instead"
            self.notice = text

    def _on_usage(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        conv = (data.get("conversation") or {}).get("conversation_id")
        if conv and self.conversation_id and conv != self.conversation_id:
            return
        self.usage = data

    def _model_options(self) -> list[Any]:
        """``(default)``, then every backend's models as ``(label, "backend\x1fmodel")`` once
        ``backend_status`` came, else the plain model names of ``ollama_model_update``."""
        if not self.catalog:
            return [_DEFAULT_MODEL, *self.models]
        options: list[Any] = [(_DEFAULT_MODEL, _DEFAULT_MODEL)]
        for m in self.catalog:
            label = f"{m['name']} · {m['backend']}" + (" · tools" if m["tools"] else "")
            options.append((label, f"{m['backend']}{_SEP}{m['name']}"))
        return options

    def _usage_html(self) -> str:
        usage = self.usage
        if not usage:
            return ""
        currency = str(usage.get("currency") or "")

        def part(label: str, totals: dict[str, Any] | None) -> str:
            if not totals:
                return ""
            text = f"{label}: {int(totals.get('total_tokens') or 0):,} tok"
            if isinstance(totals.get("cost"), (int, float)):
                text += f" · {totals['cost']:.4f} {currency}"
            return text

        bits = [part("this chat", usage.get("conversation")), part("today", usage.get("today"))]
        budget = usage.get("budget") or {}
        if budget.get("tokens"):
            bits.append(f"left today: {int(budget.get('tokens_left') or 0):,} tok")
        if budget.get("exceeded"):
            bits.append("daily budget spent")
        return "<span class='pygent-meta'>" + esc(" | ".join(b for b in bits if b)) + "</span>"

    def _on_agent_action_request(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if not self._mine(data, event):
            return
        self._adopt(data)
        pid = str(data.get("proposal_id"))
        self.proposals[pid] = data
        if data.get("auto_approved"):  # the user opted in for this kind: no card to answer
            self.throttle.scheduler(0.0, lambda: self._decide_safely(pid, True))

    def _on_agent_action_expired(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        gone = self.proposals.pop(str(data.get("proposal_id")), None)
        if gone is not None:
            why = "expired" if data.get("reason") == "timeout" else "withdrawn"
            self.action_log.append(f"{why}: {_describe(gone)}")

    def _on_agent_progress(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        if not self._mine(data, event):
            return
        if data.get("state") == "budget_spent":
            self.progress = f"step budget spent ({data.get('max_steps')})"
        else:
            waiting = " — waiting for your decision" if data.get("state") == "waiting" else ""
            tool = data.get("tool") or ""
            self.progress = f"step {data.get('step')}/{data.get('max_steps')}: {tool}{waiting}"

    def _on_evolution_complete(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        """An evolution run registered its winners as agent types: offer them."""
        self.agents = list(dict.fromkeys([*self.agents, *map(str, data.get("agent_types") or [])]))

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

    def _messages_html(self) -> str:
        parts = []
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
                if bits:
                    foot = f"<div class='pygent-meta'>{esc(' · '.join(bits))}</div>"
            streaming = bool(msg.get("streaming"))
            content = str(msg.get("content", ""))
            body = markdown_stream_html(content) if streaming else markdown_html(content)
            cursor = "<span class='pygent-cursor'>&#9612;</span>" if streaming else ""
            parts.append(
                f"<div class='pygent-msg pygent-msg-{'user' if user else 'agent'}'>"
                f"<span class='pygent-who'>{who}</span>{body}{cursor}{foot}</div>"
            )
        if not self.messages:
            parts.append("<i class='pygent-muted'>No messages yet.</i>")
        if self.typing:
            parts.append(
                f"<div class='pygent-typing pygent-muted'>{esc(self.typing)} is typing…</div>"
            )
        # column-reverse: the browser keeps the view at the newest message as it grows
        return f"<div class='pygent-chat-log'><div>{''.join(parts)}</div></div>"

    def _snapshot_body(self) -> str:
        title = next(
            (
                c.get("title")
                for c in self.conversations
                if (c.get("id") or c.get("conversation_id")) == self.conversation_id
            ),
            "",
        )
        head = f"<b>Chat</b> · {esc(title or self.conversation_id or 'new conversation')}"
        return f"<div class='pygent-meta'>{head}</div>{self._messages_html()}"

    def _draw_cards(self) -> None:
        """One card per open proposal (its diff, Accept / Reject); cards are kept by id."""
        for pid in [p for p in self._cards if p not in self.proposals]:
            self._cards.pop(pid).close()
        for pid, data in self.proposals.items():
            if pid in self._cards:
                continue
            accept = W.Button(description="Accept", button_style="success", icon="check")
            reject = W.Button(description="Reject", icon="times")
            accept.add_class("pygent-accept")
            reject.add_class("pygent-reject")
            accept.on_click(lambda _b, pid=pid: self._decide_safely(pid, True))
            reject.on_click(lambda _b, pid=pid: self._decide_safely(pid, False))
            card = W.VBox(
                [W.HTML(_card_html(data)), W.HBox([accept, reject])],
                layout=W.Layout(width="100%"),
            )
            card.add_class("pygent-proposal")
            self._cards[pid] = card
        log = "".join(f"<div>{esc(line)}</div>" for line in self.action_log[-5:])
        head = (
            f"<div class='pygent-meta'>{esc(self.progress)}{log}</div>"
            if (self.progress or log)
            else ""
        )
        summary = W.HTML(head) if head else None
        cards = list(self._cards.values())
        self.cards.children = tuple([summary, *cards] if summary else cards)

    def _decide_safely(self, proposal_id: str, accept: bool) -> None:
        try:
            self.decide(proposal_id, accept)
        except Exception as exc:  # a button callback has nowhere to raise
            self.show_error(str(exc))

    def _draw_code_actions(self) -> None:
        """Insert below / Replace / Copy for each code block of the newest complete answer."""
        last = next((m for m in reversed(self.messages) if m["role"] == "agent"), None)
        blocks = [] if last is None or last.get("streaming") else code_blocks(last["content"])
        if blocks == self._code_blocks:
            return
        self._code_blocks = blocks
        rows = []
        for i, code in enumerate(blocks):
            first = (code.strip().splitlines() or [""])[0][:48]
            label = W.HTML(f"<code>{esc(first)}</code>", layout=W.Layout(flex="1 1 auto"))
            insert = W.Button(description="Insert below", icon="plus", tooltip="New cell")
            replace = W.Button(description="Replace", icon="exchange", tooltip="Replace cell")
            insert.add_class("pygent-code-insert")
            replace.add_class("pygent-code-replace")
            insert.on_click(lambda _b, i=i: self._insert_safely(i, False))
            replace.on_click(lambda _b, i=i: self._insert_safely(i, True))
            row = W.HBox(
                [label, insert, replace, CopyButton(text=code)], layout=W.Layout(width="100%")
            )
            row.add_class("pygent-row")
            rows.append(row)
        self.code_actions.children = tuple(rows)

    def _insert_safely(self, index: int, replace: bool) -> None:
        try:
            self.insert_code(index, replace=replace)
        except Exception as exc:
            self.show_error(str(exc))

    def _draw(self) -> None:
        self.history.value = self._messages_html()
        self._draw_cards()
        self._draw_code_actions()
        self.indicator.value = ""
        self.cancel_button.disabled = self.active_request is None
        self.usage_gauge.value = self._usage_html()
        if self.notice:
            self.indicator.value = f"<span class='pygent-meta'>&#9888; {esc(self.notice)}</span>"
        if list(self.agent_picker.options) != self.agents:
            current = self.agent_picker.value
            self.agent_picker.options = list(self.agents)
            self.agent_picker.value = current if current in self.agents else self.agents[0]
        options = self._model_options()
        if list(self.model_picker.options) != options:
            current = self.model_picker.value
            self.model_picker.options = options
            values = [o[1] if isinstance(o, tuple) else o for o in options]
            self.model_picker.value = current if current in values else _DEFAULT_MODEL
        convs: list[tuple[str, str]] = [("new conversation", "")]
        for c in self.conversations:
            cid = str(c.get("id") or c.get("conversation_id") or "")
            if cid:
                convs.append((conversation_label(c), cid))
        if self.conversation_id and self.conversation_id not in {v for _, v in convs}:
            convs.append(("this conversation", self.conversation_id))
        if list(self.conversation_picker.options) != convs:
            self.conversation_picker.unobserve(self._on_pick_conversation, names="value")
            self.conversation_picker.options = convs
            self.conversation_picker.value = self.conversation_id or ""
            self.conversation_picker.observe(self._on_pick_conversation, names="value")
        elif self.conversation_picker.value != (self.conversation_id or ""):
            self.conversation_picker.unobserve(self._on_pick_conversation, names="value")
            self.conversation_picker.value = self.conversation_id or ""
            self.conversation_picker.observe(self._on_pick_conversation, names="value")
