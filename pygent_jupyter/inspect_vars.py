"""Bounded summaries of kernel variables, made inside the kernel (pure; no pygent imports).

An agent never gets the object, only :func:`summarize`'s text: the type, the shape or length,
dtypes and a few rows for a pandas DataFrame/Series or a NumPy array, a truncated ``repr``
otherwise, cut to a character budget and saying so when it was cut. The in-kernel client and
the chat widget call it directly; the JupyterLab panel runs :func:`inspection_expression`
silently in the notebook's kernel (``user_expressions``, nothing in the history).
"""

from __future__ import annotations

import json
import reprlib
import sys
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "JsonText",
    "inspection_expression",
    "summarize",
    "summarize_display",
    "summarize_json",
    "summarize_many",
]

DEFAULT_BUDGET = 2000
_ROWS = 5


def _cut(text: str, budget: int) -> tuple[str, bool]:
    if len(text) <= budget:
        return text, False
    keep = max(0, budget - 20)
    return text[:keep] + f"… [{len(text) - keep} chars cut]", True


def _safe_repr(obj: Any, budget: int) -> str:
    r = reprlib.Repr()
    r.maxstring = max(20, budget)
    r.maxother = max(20, budget)
    r.maxlist = r.maxtuple = r.maxset = r.maxdict = 20
    try:
        return r.repr(obj)
    except Exception as exc:  # a broken __repr__ must not break the summary
        return f"<repr failed: {type(exc).__name__}>"


def _type_name(obj: Any) -> str:
    cls = type(obj)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def summarize(name: str, obj: Any, budget: int = DEFAULT_BUDGET) -> dict[str, Any]:
    """A summary of ``obj`` bound to ``name``: ``{name, type, shape?, length?, dtypes?,
    text, truncated}``. ``text`` is at most ``budget`` characters and is what an agent reads;
    ``truncated`` says the text was cut (rows or characters)."""
    info: dict[str, Any] = {"name": name, "type": _type_name(obj)}
    lines = [f"{name}: {info['type']}"]
    cut_rows = False
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    body = ""
    if pd is not None and isinstance(obj, pd.DataFrame):
        info["shape"] = list(obj.shape)
        info["dtypes"] = {str(k): str(v) for k, v in list(obj.dtypes.items())[:50]}
        lines.append(f"shape: {obj.shape[0]} rows x {obj.shape[1]} columns")
        cols = ", ".join(f"{k} ({v})" for k, v in info["dtypes"].items())
        if obj.shape[1] > 50:
            cols += f", … {obj.shape[1] - 50} more"
        lines.append(f"columns: {cols}")
        cut_rows = obj.shape[0] > _ROWS
        try:
            body = obj.head(_ROWS).to_string(max_cols=20, max_colwidth=40)
        except Exception:
            body = _safe_repr(obj, budget)
    elif pd is not None and isinstance(obj, pd.Series):
        info["shape"] = [len(obj)]
        info["dtypes"] = {str(obj.name): str(obj.dtype)}
        lines.append(f"length: {len(obj)}, dtype: {obj.dtype}")
        cut_rows = len(obj) > _ROWS
        body = obj.head(_ROWS).to_string()
    elif np is not None and isinstance(obj, np.ndarray):
        info["shape"] = list(obj.shape)
        info["dtypes"] = {"": str(obj.dtype)}
        lines.append(f"shape: {obj.shape}, dtype: {obj.dtype}")
        cut_rows = obj.ndim > 0 and obj.shape[0] > _ROWS
        with np.printoptions(threshold=50, edgeitems=3, linewidth=100):
            body = repr(obj[:_ROWS] if obj.ndim > 0 else obj)
    else:
        try:
            length = len(obj) if isinstance(obj, (str, bytes, list, tuple, dict, set)) else None
        except Exception:
            length = None
        if length is not None:
            info["length"] = length
            lines.append(f"length: {length}")
        body = _safe_repr(obj, budget)
        if isinstance(obj, (list, tuple, dict, set)) and length is not None and length > 20:
            cut_rows = True
    if cut_rows:
        body += f"\n… first {_ROWS} rows shown" if "shape" in info else ""
    text, cut = _cut("\n".join([*lines, body]), budget)
    info["text"] = text
    info["truncated"] = bool(cut or cut_rows)
    return info


def summarize_many(
    namespace: Mapping[str, Any], names: Iterable[str], budget: int = DEFAULT_BUDGET
) -> list[dict[str, Any]]:
    """Summaries of ``names`` in ``namespace`` (a missing name gets ``error: "not defined"``)."""
    out: list[dict[str, Any]] = []
    for name in names:
        if name not in namespace:
            out.append({"name": name, "error": "not defined", "text": f"{name}: not defined"})
        else:
            out.append(summarize(name, namespace[name], budget))
    return out


def summarize_json(names: Iterable[str], budget: int = DEFAULT_BUDGET) -> str:
    """JSON of :func:`summarize_many` over the calling kernel's user namespace."""
    namespace: Mapping[str, Any]
    try:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
    except ImportError:  # pragma: no cover - a kernel without IPython
        namespace = {}
    return json.dumps(summarize_many(namespace, list(names), budget), default=str)


class JsonText:
    """JSON whose ``text/plain`` representation is the JSON itself (not a quoted ``repr`` of a
    string), so a front end reading ``user_expressions`` can ``JSON.parse`` it as is."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text)


def summarize_display(names: Iterable[str], budget: int = DEFAULT_BUDGET) -> JsonText:
    """:func:`summarize_json` as a :class:`JsonText` (what :func:`inspection_expression` runs)."""
    return JsonText(summarize_json(names, budget))


def inspection_expression(names: Iterable[str], budget: int = DEFAULT_BUDGET) -> str:
    """A ``user_expressions`` expression that returns :func:`summarize_json` for ``names``
    (run with ``silent=True, store_history=False``: nothing shows, nothing is counted). Its
    ``text/plain`` is the JSON list of summaries, parseable as is."""
    return (
        "__import__('pygent_jupyter.inspect_vars', fromlist=['summarize_display'])"
        f".summarize_display({list(names)!r}, {int(budget)})"
    )
