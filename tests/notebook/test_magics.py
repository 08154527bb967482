"""``%pygent`` parsing, wiring and errors, in a real IPython shell with a scripted link."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from pygent_jupyter.client import ConnectionFailed, PygentRequestError
from pygent_jupyter.magics import PygentMagics, interpolate, load_ipython_extension
from pygent_jupyter.protocol import validate_data

pytestmark = pytest.mark.usefixtures("dummy_comm")

Script = Callable[[str, dict[str, Any], str], list[dict[str, Any]]]


class FakeLink:
    """Answers commands from a script: ``script(type, data, id) -> events`` (with reply_to)."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or (lambda t, d, i: [])
        self.handlers: dict[str, list[Callable[[dict[str, Any]], Any]]] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.status = {
            "server_version": "0.1.0",
            "protocol_version": 1,
            "user": "alice",
            "capabilities": ["metrics", "agents"],
        }
        self._n = 0

    def on(self, type_: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        self.handlers.setdefault(type_, []).append(handler)

    def off(self, type_: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        self.handlers.get(type_, []).remove(handler)

    def _answer(self, type_: str, data: dict[str, Any], msg_id: str) -> list[dict[str, Any]]:
        validate_data(type_, data)  # what the server would refuse as `invalid`
        self.sent.append((type_, data))
        events = self.script(type_, data, msg_id)
        for e in events:
            e.setdefault("reply_to", msg_id)
        return events

    def send_nowait(self, type_: str, data: dict[str, Any], msg_id: str) -> None:
        for event in self._answer(type_, data, msg_id):
            for handler in [*self.handlers.get(event["type"], []), *self.handlers.get("*", [])]:
                handler(event)

    def stream(
        self,
        type_: str,
        data: dict[str, Any] | None = None,
        *,
        until: Any = None,
        timeout: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        self._n += 1
        for event in self._answer(type_, data or {}, f"s{self._n}"):
            if event["type"] == "error":
                raise PygentRequestError(event["data"])
            yield event

    def request(
        self,
        type_: str,
        data: dict[str, Any] | None = None,
        *,
        reply_type: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        for event in self.stream(type_, data):
            if reply_type is None or event["type"] == reply_type:
                return event
        raise TimeoutError(f"no reply to {type_}")


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    load_ipython_extension(ip)
    yield ip
    ip.user_ns.pop("question", None)


def use(shell: InteractiveShell, link: Any) -> PygentMagics:
    magics = PygentMagics(shell, link_factory=lambda: link)
    shell.register_magics(magics)
    return magics


def error_line(shell: InteractiveShell, line: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``line`` as a cell; assert it failed with one line and no traceback; return it."""
    capsys.readouterr()
    result = shell.run_cell(line)
    out = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError), out
    text = (out.out + out.err).strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    return text


def test_interpolate_kernel_variables_and_leaves_code_alone() -> None:
    ns = {"city": "Paris", "n": 3, "obj": type("O", (), {"name": "x"})()}
    text = "Weather in {city} for {n} days, {obj.name}. Code: `def f(): return {1: 2}` {{lit}}"
    assert interpolate(text, ns) == (
        "Weather in Paris for 3 days, x. Code: `def f(): return {1: 2}` {lit}"
    )
    with pytest.raises(UsageError, match=r"\{missing\} is not defined"):
        interpolate("tell me about {missing}", ns)
    with pytest.raises(UsageError, match="no attribute 'nope'"):
        interpolate("{obj.nope}", ns)


def test_help_and_unknown_subcommand(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    use(shell, FakeLink())
    shell.run_line_magic("pygent", "help")
    out = capsys.readouterr().out
    for sub in ("chat", "reason", "game24", "evolve", "metrics", "mcp", "memory", "history"):
        assert f"%pygent {sub}" in out
    line = error_line(shell, "%pygent frobnicate", capsys)
    assert "unknown subcommand 'frobnicate'" in line and "game24" in line


def test_cell_magic_streams_markdown_with_variables(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    def script(type_: str, data: dict[str, Any], mid: str) -> list[dict[str, Any]]:
        assert type_ == "chat_message"
        return [
            {"type": "typing_indicator", "data": {"active": True}},
            {"type": "chat_stream", "data": {"message_id": "a", "delta": "**Paris** "}},
            {"type": "chat_stream", "data": {"message_id": "a", "delta": "is lovely"}},
            {
                "type": "chat_response",
                "data": {
                    "conversation_id": "cv-1",
                    "message": {
                        "id": "a",
                        "type": "agent",
                        "content": "**Paris** is lovely",
                        "agentId": "coding",
                        "metadata": {
                            "model": "smollm2",
                            "completion_tokens": 4,
                            "tokens_per_s": 40.0,
                        },
                    },
                },
            },
        ]

    link = FakeLink(script)
    use(shell, link)
    shell.user_ns["question"] = "Paris"
    shell.run_cell_magic(
        "pygent", "--agent coding --model smollm2", "Describe {question} in one line.\n"
    )
    attachments = link.sent[0][1].pop("attachments")  # the calling cell (issue 13)
    assert attachments[0]["kind"] == "notebook" and attachments[0]["actions"] is False
    assert attachments[0]["cells"][0]["source"] == "Describe {question} in one line.\n"
    assert link.sent == [
        (
            "chat_message",
            {
                "message": {
                    "content": "Describe Paris in one line.",
                    "agentId": "coding",
                    "model": "smollm2",
                }
            },
        )
    ]
    assert shell.user_ns["_pygent_answer"] == "**Paris** is lovely"
    assert shell.user_ns["_pygent_conversation"] == "cv-1"
    assert "40.0 tok/s" in capsys.readouterr().out
    line = error_line(shell, "%%pygent\nwhat is {nothing_here}?", capsys)
    assert "{nothing_here} is not defined" in line
    line = error_line(shell, "%%pygent\n   \n", capsys)
    assert "the cell is empty" in line


def test_server_error_is_one_line(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    use(
        shell,
        FakeLink(
            lambda t, d, i: [
                {
                    "type": "error",
                    "data": {"code": "unavailable", "message": "no LLM backend is available"},
                }
            ]
        ),
    )
    line = error_line(shell, "%%pygent\nhello", capsys)
    assert line.endswith("pygent: unavailable: no LLM backend is available")


def test_no_server_is_one_line(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    def fail() -> Any:
        raise ConnectionFailed("no Jupyter Server found: set $PYGENT_URL")

    shell.register_magics(PygentMagics(shell, link_factory=fail))
    line = error_line(shell, "%pygent metrics", capsys)
    assert "cannot reach the server: no Jupyter Server found" in line


def tot_script(type_: str, data: dict[str, Any], mid: str) -> list[dict[str, Any]]:
    if type_ != "start_reasoning":
        return []
    return [
        {
            "type": "reasoning_update",
            "seq": 1,
            "data": {
                "run_id": "tot-1",
                "event": "node",
                "node": {
                    "id": "n0",
                    "parent_id": None,
                    "depth": 0,
                    "thought": "4 5 6 10",
                    "value": 1.0,
                    "status": "selected",
                },
            },
        },
        {
            "type": "reasoning_complete",
            "seq": 2,
            "data": {
                "run_id": "tot-1",
                "answer": "(5 + 5) * ...",
                "solved": True,
                "best_path": ["n0"],
                "stats": {"llm_calls": 1},
            },
        },
    ]


def test_game24_maps_tot_options(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    link = FakeLink(tot_script)
    use(shell, link)
    shell.run_line_magic(
        "pygent",
        'game24 "4 5 6 10" --method dfs --n-select 3 --depth 3 --seed 7 '
        "--max-calls 50 --evaluate vote",
    )
    type_, data = link.sent[-1]
    assert type_ == "start_reasoning"
    assert data == {
        "task": "game24",
        "puzzle": "4 5 6 10",
        "method": "dfs",
        "method_evaluate": "vote",
        "n_select_sample": 3,
        "max_depth": 3,
        "seed": 7,
        "max_calls": 50,
    }
    assert shell.user_ns["_pygent_reasoning"]["solved"] is True
    assert "four whole numbers" in error_line(shell, '%pygent game24 "4 5 x"', capsys)
    line = error_line(shell, '%pygent game24 "4 5 6 10" --method sideways', capsys)
    assert "invalid choice: 'sideways'" in line
    line = error_line(shell, '%pygent game24 "4 5 6 10" --depth deep', capsys)
    assert "invalid int value: 'deep'" in line


def test_reason_sends_open_problem(shell: InteractiveShell) -> None:
    link = FakeLink(tot_script)
    use(shell, link)
    shell.run_line_magic("pygent", 'reason "How do I sort 1e9 integers?" --generate sample')
    assert link.sent[-1] == (
        "start_reasoning",
        {"problem": "How do I sort 1e9 integers?", "task": "open", "method_generate": "sample"},
    )


def test_evolve_waits_for_completion(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    def script(type_: str, data: dict[str, Any], mid: str) -> list[dict[str, Any]]:
        if type_ != "start_evolution":
            return []
        return [
            {
                "type": "evolution_progress",
                "seq": 1,
                "data": {"run_id": "evo-1", "generation": 0, "best": 0.5},
            },
            {
                "type": "evolution_complete",
                "seq": 2,
                "data": {"run_id": "evo-1", "best": {"fitness": 0.5}, "improvement": 0.0},
            },
        ]

    link = FakeLink(script)
    use(shell, link)
    shell.run_line_magic(
        "pygent",
        "evolve --population 6 --generations 3 --range 900 904 --seed 1 "
        "--prompt 'Be terse.' --prompt 'Think first.'",
    )
    assert link.sent[-1] == (
        "start_evolution",
        {
            "genome": {"seed_prompts": ["Be terse.", "Think first."]},
            "task_set": {"name": "game24", "range": [900, 904]},
            "population_size": 6,
            "generations": 3,
            "seed": 1,
        },
    )
    assert "--genome is not valid JSON" in error_line(shell, "%pygent evolve --genome '{x'", capsys)
    assert shell.user_ns["_pygent_evolution"]["run_id"] == "evo-1"


def test_mcp_subcommands(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    def script(type_: str, data: dict[str, Any], mid: str) -> list[dict[str, Any]]:
        if type_ == "mcp_list_servers":
            tool = {
                "name": "get_current_time",
                "description": "Current time",
                "input_schema": {"properties": {"timezone": {}}},
            }
            return [
                {
                    "type": "mcp_servers",
                    "data": {
                        "servers": [{"server_id": "time", "state": "running", "tools": [tool]}]
                    },
                }
            ]
        if type_ == "mcp_server_action":
            return [
                {
                    "type": "mcp_server_status",
                    "data": {"server_id": "time", "state": "running", "pid": 99},
                },
            ]
        if type_ == "mcp_call_tool":
            return [
                {
                    "type": "tool_call_result",
                    "data": {
                        "server_id": "time",
                        "tool": data["tool"],
                        "is_error": data["tool"] == "boom",
                        "content": [{"type": "text", "text": "12:00 UTC"}],
                    },
                }
            ]
        return []

    link = FakeLink(script)
    use(shell, link)
    shell.run_line_magic("pygent", "mcp start time")
    assert "time: running (pid 99)" in capsys.readouterr().out
    shell.run_line_magic("pygent", "mcp tools time")
    assert "get_current_time(timezone): Current time" in capsys.readouterr().out
    assert "no MCP server 'nope' is configured (configured: time)" in error_line(
        shell, "%pygent mcp tools nope", capsys
    )
    shell.run_line_magic(
        "pygent", """mcp call time get_current_time --args '{"timezone": "UTC"}'"""
    )
    assert "12:00 UTC" in capsys.readouterr().out
    assert link.sent[-1] == (
        "mcp_call_tool",
        {"server_id": "time", "tool": "get_current_time", "arguments": {"timezone": "UTC"}},
    )
    assert "--args is not valid JSON" in error_line(
        shell, "%pygent mcp call time get_current_time --args '{oops'", capsys
    )
    assert "needs a server id" in error_line(shell, "%pygent mcp stop", capsys)
    assert "time.boom failed: 12:00 UTC" in error_line(shell, "%pygent mcp call time boom", capsys)
    assert "invalid choice: 'explode'" in error_line(shell, "%pygent mcp explode", capsys)


def test_memory_subcommands(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    def script(type_: str, data: dict[str, Any], mid: str) -> list[dict[str, Any]]:
        if type_ == "memory_add":
            return [{"type": "memory_update", "data": {"kind": "added", "ids": [7]}}]
        return [
            {
                "type": "memory_update",
                "data": {
                    "kind": "results",
                    "results": [
                        {"id": 7, "score": 0.91, "text": "FAISS | GPUs", "metadata": {"src": "x"}}
                    ],
                },
            }
        ]

    link = FakeLink(script)
    use(shell, link)
    shell.run_line_magic("pygent", """memory add "FAISS runs on GPUs" --meta '{"src": "x"}'""")
    assert "stored 1 memory item(s): ids [7]" in capsys.readouterr().out
    assert link.sent[-1] == (
        "memory_add",
        {"items": [{"text": "FAISS runs on GPUs", "metadata": {"src": "x"}}]},
    )
    with capture_output() as cap:
        shell.run_line_magic("pygent", 'memory search "gpu" --k 2 --namespace notes')
    table = "".join(o.data.get("text/markdown", "") for o in cap.outputs)
    assert "| 0.910 | FAISS \\| GPUs |" in table
    assert link.sent[-1] == ("memory_search", {"namespace": "notes", "query": "gpu", "k": 2})
    assert shell.user_ns["_pygent_memories"][0]["score"] == 0.91
    assert "needs a text" in error_line(shell, "%pygent memory search", capsys)
    assert "--meta must be a JSON object" in error_line(
        shell, "%pygent memory add hi --meta '[1]'", capsys
    )


def test_history_lists_conversations(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    link = FakeLink(lambda t, d, i: [{"type": "chat_history", "data": {"conversations": []}}])
    use(shell, link)
    shell.run_line_magic("pygent", "history --limit 5")
    assert "no conversations yet" in capsys.readouterr().out
    assert link.sent[-1] == ("get_history", {"limit": 5})


def test_status_pings_and_shows_capabilities(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    link = FakeLink(
        lambda t, d, i: (
            [{"type": "pong", "data": {"ts": d.get("ts", 0), "server_ts": 1.0}}]
            if t == "ping"
            else []
        )
    )
    use(shell, link)
    with capture_output() as cap:
        shell.run_line_magic("pygent", "")
    shown = "".join(o.data.get("text/markdown", "") for o in cap.outputs)
    assert "| services up | metrics, agents |" in shown
    assert "| user | alice |" in shown
    sent = [t for t, _ in link.sent]
    assert sent[:3] == ["ping", "subscribe", "request_system_metrics"]


def test_loads_as_an_ipython_extension() -> None:
    ip = InteractiveShell.instance()
    ip.magics_manager.magics["line"].pop("pygent", None)
    ip.magics_manager.magics["cell"].pop("pygent", None)
    # what `%load_ext pygent_jupyter` and c.InteractiveShellApp.extensions do
    ip.extension_manager.load_extension("pygent_jupyter")
    assert "pygent" in ip.magics_manager.magics["line"]
    assert "pygent" in ip.magics_manager.magics["cell"]
