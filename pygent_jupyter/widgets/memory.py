"""MemoryWidget: semantic search over the vector memory, and adding texts to it."""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any

import ipywidgets as W

from ._base import EventWidget, esc
from .render import html_table

__all__ = ["MemoryWidget"]


class MemoryWidget(EventWidget):
    """A search box with results (score, text, metadata) and a box to add texts.

    :meth:`search` and :meth:`add` return futures of the matching ``memory_update`` data.
    """

    EVENTS = ("memory_update",)

    def __init__(self, *, namespace: str | None = None, k: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.namespace = namespace
        self.results: list[dict[str, Any]] = []
        self.query_text = ""
        self.stats: dict[str, Any] = {}
        self.last_update: dict[str, Any] = {}
        self.query = W.Text(
            placeholder="Search memory (Enter)…",
            layout=W.Layout(flex="1 1 240px", min_width="160px", width="auto"),
        )
        self.k = W.BoundedIntText(
            value=k,
            min=1,
            max=100,
            description="results",
            style={"description_width": "initial"},
            layout=W.Layout(width="130px"),
        )
        self.search_button = W.Button(description="Search", button_style="primary", icon="search")
        self.search_button.on_click(lambda _b: self._search_from_ui())
        self.query.continuous_update = False  # the value syncs on Enter (and on blur)
        self.query.observe(self._on_query_submit, names="value")
        self.new_text = W.Textarea(
            placeholder="Text to remember…",
            layout=W.Layout(flex="2 1 240px", min_width="160px", width="auto", height="60px"),
        )
        self.new_meta = W.Text(
            placeholder='metadata JSON, e.g. {"source": "notes"}',
            layout=W.Layout(width="100%", min_width="220px"),
        )
        self.add_button = W.Button(description="Add", icon="plus")
        self.add_button.on_click(lambda _b: self._add_from_ui())
        self.table = W.HTML()
        self.info = W.HTML()
        search_row = W.HBox([self.query, self.k, self.search_button])
        add_row = W.HBox(
            [
                self.new_text,
                W.VBox(
                    [self.new_meta, self.add_button],
                    layout=W.Layout(flex="1 1 220px", min_width="0"),
                ),
            ]
        )
        search_row.add_class("pygent-row")
        add_row.add_class("pygent-row")
        self.children = (search_row, self.table, add_row, self.info, self.status)
        self.throttle.request()

    def _ns(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.namespace:
            data["namespace"] = self.namespace
        return data

    def search(self, query: str, k: int | None = None) -> concurrent.futures.Future[Any]:
        """Search; the future resolves to the ``memory_update{kind:results}`` data."""
        self.query_text = query
        return self.request("memory_search", self._ns({"query": query, "k": k or self.k.value}))[1]

    def add(
        self, texts: list[str] | str, metadata: dict[str, Any] | None = None
    ) -> concurrent.futures.Future[Any]:
        """Store texts; the future resolves to the ``memory_update{kind:added}`` data."""
        items = [
            {"text": t, "metadata": metadata or {}}
            for t in ([texts] if isinstance(texts, str) else texts)
        ]
        return self.request("memory_add", self._ns({"items": items}))[1]

    def refresh_stats(self) -> None:
        self.command("memory_stats", self._ns({}))

    def _on_query_submit(self, change: dict[str, Any]) -> None:
        if str(change.get("new") or "").strip():
            self._search_from_ui()

    def _search_from_ui(self) -> None:
        if self.query.value.strip():
            self.search(self.query.value.strip())

    def _add_from_ui(self) -> None:
        text = self.new_text.value.strip()
        if not text:
            self.show_error("nothing to add: the text is empty")
            return
        meta: dict[str, Any] = {}
        if self.new_meta.value.strip():
            try:
                meta = json.loads(self.new_meta.value)
            except json.JSONDecodeError as exc:
                self.show_error(f"metadata is not valid JSON: {exc.msg}")
                return
            if not isinstance(meta, dict):
                self.show_error("metadata must be a JSON object")
                return
        self.add(text, meta)
        self.new_text.value = ""

    def _on_attach(self) -> None:
        self.refresh_stats()

    def _on_memory_update(self, data: dict[str, Any], event: dict[str, Any]) -> None:
        kind = data.get("kind")
        mine = event.get("reply_to") in self._sent_ids
        if kind == "results":
            if not mine:
                return
            self.results = list(data.get("results") or [])
        elif kind == "stats":
            self.stats = data
        elif kind == "added" and mine:
            self.refresh_stats()  # the totals shown must be what is stored now
        self.last_update = data
        self._resolve(event.get("reply_to"), data)

    def _draw(self) -> None:
        rows = [
            (
                f"{r['score']:.3f}" if isinstance(r.get("score"), (int, float)) else "",
                str(r.get("text", ""))[:400],
                json.dumps(r.get("metadata") or {}),
            )
            for r in self.results
        ]
        if self.results:
            self.table.value = (
                f"<b>{len(self.results)} results for “{esc(self.query_text)}”</b>"
                + (html_table(("score", "text", "metadata"), rows))
            )
        elif self.query_text and self.last_update.get("kind") == "results":
            self.table.value = f"<i>no results for “{esc(self.query_text)}”</i>"
        else:
            self.table.value = ""
        u = self.last_update
        bits = []
        if u.get("kind") == "added":
            bits.append(f"added {len(u.get('ids') or [])} item(s)")
        if isinstance(u.get("took_ms"), (int, float)):
            bits.append(f"took {u['took_ms']:.0f} ms")
        s = self.stats
        if s:
            per = s.get("namespaces")
            if isinstance(per, list):
                total = sum(int(n.get("count", 0)) for n in per if isinstance(n, dict))
                bits.append(f"{total} memories in {len(per)} namespace(s)")
            for key in ("device", "embedder"):
                if s.get(key):
                    bits.append(f"{key} {s[key]}")
        self.info.value = f"<small>{esc(' · '.join(str(b) for b in bits))}</small>"

    def _snapshot_body(self) -> str:
        return f"<b>Memory</b><div>{self.table.value}</div><div>{self.info.value}</div>"
