"""Markdown to safe HTML for widget output: raw HTML is escaped, code is highlighted."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import mistune
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

__all__ = ["CODE_CSS", "markdown_html"]

_FORMATTER = HtmlFormatter(nowrap=False, cssclass="pygent-code", noclasses=True)
CODE_CSS = (
    "<style>.pygent-code pre{margin:4px 0;padding:6px;border-radius:4px;overflow-x:auto;"
    "background:#f6f8fa}.pygent-msg p{margin:2px 0}</style>"
)


class _Renderer(mistune.HTMLRenderer):
    def block_code(self, code: str, info: str | None = None) -> str:
        lang = (info or "").strip().split(" ")[0]
        try:
            lexer: Any = get_lexer_by_name(lang) if lang else TextLexer()
        except ClassNotFound:
            lexer = TextLexer()
        return str(highlight(code, lexer, _FORMATTER))


_MD = mistune.create_markdown(
    renderer=_Renderer(escape=True), plugins=["strikethrough", "table", "url"]
)


@lru_cache(maxsize=512)
def markdown_html(text: str) -> str:
    """Render Markdown to HTML. Raw HTML in ``text`` is escaped, never interpreted."""
    return str(_MD(text))
