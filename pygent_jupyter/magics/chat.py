"""``%pygent chat``, ``history``, ``usage`` and ``backends``: conversations and the models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import Markdown, display

from ._base import MagicsBase, cell_text, parse

if TYPE_CHECKING:
    from ..protocol.types import BackendStatusData, ChatHistoryData, GetHistoryData, UsageData

__all__ = ["ChatMagics", "usage_markdown"]


class ChatMagics(MagicsBase):
    @magic_arguments(name="%pygent chat")
    @argument("--agent", "-a", default="general", help="agent id (general, coding, reasoning…)")
    @argument("--model", "-m", default=None, help="model name (default: the agent's)")
    @argument("--conversation", "-c", default=None, help="continue this conversation id")
    def _chat(self, rest: str) -> Any:
        args = parse(self._chat, rest)
        from ..widgets import ChatWidget

        self._show(
            ChatWidget(agent=args.agent, model=args.model, conversation_id=args.conversation)
        )
        return None

    @magic_arguments(name="%pygent history")
    @argument("--conversation", "-c", default=None, help="a conversation id")
    @argument("--limit", type=int, default=50)
    def _history(self, rest: str) -> Any:
        args = parse(self._history, rest)
        data: GetHistoryData = {"limit": args.limit}
        if args.conversation:
            data["conversation_id"] = args.conversation
        reply: ChatHistoryData = self.link.request("get_history", data, reply_type="chat_history")[
            "data"
        ]
        if args.conversation:
            lines = [
                f"**{m.get('role', '?')}**: {m.get('content', '')}"
                for m in reply.get("messages") or []
            ]
            display(Markdown("\n\n".join(lines) or "*(empty conversation)*"))
            return None
        convs = reply.get("conversations") or []
        if not convs:
            print("no conversations yet")
            return None
        rows = "\n".join(
            f"| {c.get('id', c.get('conversation_id', ''))} | "
            f"{cell_text(str(c.get('title') or c.get('preview') or ''))} | "
            f"{c.get('updated') or c.get('updated_at') or ''} | "
            f"{c.get('message_count', c.get('messages', ''))} |"
            for c in convs
        )
        display(Markdown(f"| id | title | updated | messages |\n|---|---|---|---|\n{rows}"))
        return None

    @magic_arguments(name="%pygent usage")
    @argument("--conversation", "-c", default=None, help="also this conversation's usage")
    def _usage(self, rest: str) -> Any:
        """%pygent usage: tokens and cost used today (UTC), per model, and the daily budget."""
        args = parse(self._usage, rest)
        data = {"conversation_id": args.conversation} if args.conversation else {}
        usage: UsageData = self.link.request("get_usage", data, reply_type="usage")["data"]
        display(Markdown(usage_markdown(usage)))
        return None

    def _backends(self, rest: str) -> Any:
        """%pygent backends: every backend, reachable or not, and its models."""
        status: BackendStatusData = self.link.request(
            "list_backends", {}, reply_type="backend_status"
        )["data"]
        rows = []
        for b in status.get("backends") or []:
            models = ", ".join(str(m.get("name")) for m in b.get("models") or [])
            state = {True: "up", False: "down", None: "?"}.get(b.get("reachable"), "?")
            rows.append(
                f"| {b.get('name')}{' (default)' if b.get('active') else ''} | {b.get('kind')} | "
                f"{state} | {cell_text(models or b.get('error') or '')} |"
            )
        head = "| backend | kind | state | models |\n|---|---|---|---|\n"
        display(Markdown(head + "\n".join(rows)))
        return None


def usage_markdown(usage: UsageData | dict[str, Any]) -> str:
    """A ``usage`` event's data as a Markdown table (per model, then totals and budget)."""
    currency = str(usage.get("currency") or "")

    def cost(value: Any) -> str:
        return f"{value:.4f} {currency}" if isinstance(value, (int, float)) else "-"

    lines = [f"**Model usage on {usage.get('day', '?')} (UTC)**", ""]
    for label, key in (("this conversation", "conversation"), ("today", "today")):
        totals: Any = usage.get(key)
        if not totals:
            continue
        lines += [
            f"*{label}*: {int(totals.get('total_tokens') or 0):,} tokens in "
            f"{int(totals.get('answers') or 0)} answers, cost {cost(totals.get('cost'))}",
            "",
        ]
        by_model = totals.get("by_model") or []
        if by_model:
            lines.append("| backend | model | answers | prompt | completion | cost |")
            lines.append("|---|---|---|---|---|---|")
            for m in by_model:
                lines.append(
                    f"| {m.get('backend')} | {cell_text(str(m.get('model')))} "
                    f"| {m.get('answers')} | {m.get('prompt_tokens')} "
                    f"| {m.get('completion_tokens')} | {cost(m.get('cost'))} |"
                )
            lines.append("")
    budget: Any = usage.get("budget") or {}
    limits = []
    if budget.get("tokens"):
        left = int(budget.get("tokens_left") or 0)
        limits.append(f"{left:,} of {budget['tokens']:,} tokens left")
    if budget.get("cost"):
        limits.append(f"{cost(budget.get('cost_left'))} of {cost(budget['cost'])} left")
    if limits:
        lines.append("*daily budget*: " + "; ".join(limits))
    if budget.get("exceeded"):
        lines.append("**The daily budget is spent; new work is refused until 00:00 UTC.**")
    return "\n".join(lines)
