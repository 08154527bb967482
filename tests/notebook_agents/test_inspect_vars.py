"""Kernel variable summaries: pure, and through a real kernel's silent user_expressions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pygent_jupyter.inspect_vars import inspection_expression, summarize, summarize_many


def test_dataframe_summary_has_shape_dtypes_and_a_few_rows() -> None:
    df = pd.DataFrame({"x": range(1000), "name": [f"n{i}" for i in range(1000)]})
    s = summarize("df", df)
    assert s["type"] == "pandas.DataFrame" and s["shape"] == [1000, 2]
    assert s["dtypes"] == {"x": "int64", "name": "object"} or s["dtypes"]["x"] == "int64"
    assert "1000 rows x 2 columns" in s["text"] and "n4" in s["text"] and "n5" not in s["text"]
    assert s["truncated"] is True and "first 5 rows" in s["text"]


def test_array_repr_and_budget() -> None:
    s = summarize("a", np.zeros((100, 3), dtype="float32"))
    assert s["shape"] == [100, 3] and "float32" in s["text"] and s["truncated"]
    long = summarize("t", "x" * 10_000, budget=200)
    assert len(long["text"]) <= 200 and long["truncated"] and long["length"] == 10_000
    small = summarize("n", 42)
    assert small["text"] == "n: int\n42" and small["truncated"] is False


def test_broken_repr_and_missing_names() -> None:
    class Bad:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    out = summarize_many({"b": Bad()}, ["b", "ghost"])
    assert "Bad instance at" in out[0]["text"]  # a broken __repr__ does not break it
    assert out[1] == {"name": "ghost", "error": "not defined", "text": "ghost: not defined"}


@pytest.mark.slow
def test_dataframe_summary_through_a_real_kernel_silently() -> None:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute_interactive(
            "import pandas as pd\ndf = pd.DataFrame({'x': range(50), 'y': [1.5] * 50})",
            timeout=60,
        )
        msg_id = kc.execute(
            "",
            silent=True,
            store_history=False,
            user_expressions={"s": inspection_expression(["df", "nope"], 1500)},
        )
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=30)
        expr = reply["content"]["user_expressions"]["s"]
        assert expr["status"] == "ok", expr
        summaries = json.loads(expr["data"]["text/plain"])  # the JSON itself, no quoting
        df, nope = summaries
        assert df["shape"] == [50, 2] and df["dtypes"] == {"x": "int64", "y": "float64"}
        assert "50 rows x 2 columns" in df["text"] and df["truncated"] is True
        assert nope["error"] == "not defined"
        # silent: the execution counter did not move
        count = kc.execute_interactive("1", timeout=30)["content"]["execution_count"]
        assert count == 2
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
