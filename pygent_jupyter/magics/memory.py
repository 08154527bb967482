"""``%pygent memory``: the memory widget, adding to and searching the vector memory."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import Markdown, display

from ._base import MagicsBase, cell_text, json_arg, parse

if TYPE_CHECKING:
    from ..protocol.types import MemoryUpdateData

__all__ = ["MemoryMagics"]


class MemoryMagics(MagicsBase):
    @magic_arguments(name="%pygent memory")
    @argument("action", nargs="?", default="widget", choices=["widget", "add", "search"])
    @argument("text", nargs="?", default=None, help="text to add, or the query (quoted)")
    @argument("--k", type=int, default=5, help="results to return")
    @argument("--namespace", default=None)
    @argument("--meta", default=None, help="metadata for add, JSON object")
    def _memory(self, rest: str) -> Any:
        args = parse(self._memory, rest)
        from ..widgets import MemoryWidget

        if args.action == "widget":
            self._show(MemoryWidget(namespace=args.namespace, k=args.k))
            return None
        if not args.text:
            raise UsageError(f'pygent: %pygent memory {args.action} "text" needs a text')
        base: dict[str, Any] = {"namespace": args.namespace} if args.namespace else {}
        if args.action == "add":
            meta = json_arg(args.meta, "--meta")
            reply = self.link.request(
                "memory_add",
                {**base, "items": [{"text": args.text, "metadata": meta}]},
                reply_type="memory_update",
            )
            added: MemoryUpdateData = reply["data"]
            ids = added.get("ids") or []
            print(f"stored {len(ids) or 1} memory item(s){': ids ' + str(ids) if ids else ''}")
            return None
        reply = self.link.request(
            "memory_search", {**base, "query": args.text, "k": args.k}, reply_type="memory_update"
        )
        found: MemoryUpdateData = reply["data"]
        results = found.get("results") or []
        if self.shell is not None:
            self.shell.user_ns["_pygent_memories"] = results
        if not results:
            print("no memories match")
            return None
        rows = "\n".join(
            f"| {r.get('score', 0):.3f} | {cell_text(r.get('text', ''))} | "
            f"{cell_text(json.dumps(r.get('metadata') or {}))} |"
            for r in results
        )
        display(Markdown(f"| score | text | metadata |\n|---|---|---|\n{rows}"))
        return None
