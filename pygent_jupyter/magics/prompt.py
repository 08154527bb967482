"""``%%pygent``: the cell is a prompt; ``--vars`` attaches kernel variables, ``--act`` lets the
agent propose cells (each one approved by the user before it runs)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import Markdown, display

from ._base import MagicsBase, interpolate, parse

if TYPE_CHECKING:
    from ..protocol.types import (
        ChatMessageAttachmentsItem,
        ChatMessageData,
        ChatMessageMessage,
        ChatResponseData,
    )

__all__ = ["PromptMagics"]


class PromptMagics(MagicsBase):
    _last_chat: ChatResponseData | None = None

    @magic_arguments(name="%%pygent")
    @argument("--agent", "-a", default="general", help="agent id")
    @argument("--model", "-m", default=None, help="model name")
    @argument("--conversation", "-c", default=None, help="continue this conversation id")
    @argument("--timeout", type=float, default=300.0, help="seconds to wait between chunks")
    @argument("--vars", default="", help="comma-separated variables to attach (summaries)")
    @argument("--act", action="store_true", help="let the agent propose cells (you approve)")
    def _cell_args(self, rest: str) -> None:
        """%%pygent options."""

    def _cell(self, line: str, cell: str) -> None:
        args = parse(self._cell_args, line)
        prompt = interpolate(cell, self.shell.user_ns if self.shell else {}).strip()
        if not prompt:
            raise UsageError("pygent: the cell is empty; write a prompt below %%pygent")
        message: ChatMessageMessage = {"content": prompt, "agentId": args.agent}
        if args.model:
            message["model"] = args.model
        data: ChatMessageData = {"message": message}
        if args.conversation:
            data["conversation_id"] = args.conversation
        from ..widgets.actions import KernelActions
        from ..widgets.link import new_id

        actions = KernelActions(self.shell, cell)  # the calling cell + variables, approvals
        attachments = actions.attachments(args.vars.split(","), act=args.act)
        data["attachments"] = cast("list[ChatMessageAttachmentsItem]", attachments)
        handle: Any = None  # shown with the first reply, so an error stays one line
        text, final = "", None
        last_draw = 0.0
        for event in self.link.stream(
            "chat_message", data, until="chat_response", timeout=args.timeout
        ):
            if handle is None:
                handle = display(Markdown("*…thinking*"), display_id=True)
            if event["type"] == "chat_stream":
                text += str(event["data"].get("delta", ""))
                now = time.monotonic()
                if now - last_draw >= 0.1 and handle is not None:  # <= 10 redraws/s
                    handle.update(Markdown(text + " ▌"))
                    last_draw = now
            elif event["type"] == "chat_response":
                final = event["data"]
            elif event["type"] == "agent_action_request":
                reply = actions.handle(event["data"])
                self.link.send_nowait("agent_action_result", reply, new_id("act"))
        answer = str((final or {}).get("message", {}).get("content", text))
        if handle is not None:
            handle.update(Markdown(answer))
        meta = (final or {}).get("message", {}).get("metadata", {})
        self._last_chat = final
        if self.shell is not None:
            self.shell.user_ns["_pygent_answer"] = answer
            self.shell.user_ns["_pygent_conversation"] = (final or {}).get("conversation_id")
        if meta.get("tokens_per_s"):
            print(
                f"[{meta.get('model', '?')} · {meta.get('completion_tokens', '?')} tokens · "
                f"{float(meta['tokens_per_s']):.1f} tok/s]"
            )
        return None
