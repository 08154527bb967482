"""``%pygent`` and ``%%pygent``: the notebook front door to the pygent services.

Load with ``%load_ext pygent_jupyter`` (or ``c.InteractiveShellApp.extensions =
["pygent_jupyter"]``). ``%pygent help`` lists the subcommands. Every error is one line
(IPython's ``UsageError``), never a traceback. The magics talk to the server through the
process-wide :func:`~pygent_jupyter.widgets.link.shared_link`, which needs no arguments in a
kernel started by a server running the extension.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import Markdown, display

__all__ = ["PygentMagics", "interpolate", "load_ipython_extension"]

HELP = """\
%pygent                         status of the connection and services, and the live dashboard
%pygent chat [--agent A] [--model M] [--conversation ID]    a chat widget
%%pygent [--agent A] [--model M] [--conversation ID]        the cell is a prompt; the answer
                                streams in as Markdown. {name} puts a kernel variable in
                                ({{ and }} for literal braces)
%pygent reason "<problem>" [--method bfs|dfs] [--generate propose|sample]
              [--evaluate value|vote] [--n-generate N] [--n-evaluate N] [--n-select N]
              [--depth N] [--model M] [--seed N] [--max-calls N] [--max-seconds S] [--no-wait]
%pygent game24 "4 5 6 10" [same options as reason]        Tree-of-Thought on Game of 24
%pygent evolve [--population N] [--generations N] [--task-set NAME] [--seed N]
               [--max-evaluations N] [--max-seconds S] [--no-wait]
%pygent metrics                 CPU, memory, GPU time series and alerts
%pygent mcp [list]              the MCP panel (servers, tools, a call form)
%pygent mcp start|stop|restart|status SERVER
%pygent mcp tools SERVER        the server's tools
%pygent mcp call SERVER TOOL [--args JSON]
%pygent memory                  the memory widget
%pygent memory add "text" [--meta JSON] [--namespace NS]
%pygent memory search "query" [--k N] [--namespace NS]
%pygent history [--conversation ID] [--limit N]
%pygent usage [--conversation ID]   model tokens/cost today (and in a conversation), budget
%pygent backends                the model backends, their health and models
%pygent help                    this text
"""

DEFAULT_SEED_PROMPTS = (
    "You are a careful arithmetic assistant. Answer with the expression only.",
    "Solve the puzzle step by step, then give the final expression on the last line.",
)

F = TypeVar("F", bound=Callable[..., Any])

SUBCOMMANDS = (
    "status",
    "chat",
    "reason",
    "game24",
    "evolve",
    "metrics",
    "mcp",
    "memory",
    "history",
    "usage",
    "backends",
    "help",
)

_VAR = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")


def interpolate(text: str, namespace: dict[str, Any]) -> str:
    """Replace ``{name}`` / ``{name.attr}`` by the kernel value's ``str``; ``{{``/``}}`` escape.

    Any other brace text (code, JSON) is left alone. An undefined name raises ``UsageError``.
    """

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        path = match.group(1).split(".")
        if path[0] not in namespace:
            raise UsageError(
                f"{{{match.group(1)}}} is not defined in the kernel "
                "(write {{ and }} for literal braces)"
            )
        value = namespace[path[0]]
        for attr in path[1:]:
            try:
                value = getattr(value, attr)
            except AttributeError:
                raise UsageError(f"{{{match.group(1)}}}: no attribute {attr!r}") from None
        return str(value)

    return _VAR.sub(sub, text)


def _split(line: str) -> tuple[str, str]:
    line = line.strip()
    if not line:
        return "status", ""
    head, _, rest = line.partition(" ")
    return head, rest.strip()


def _parse(magic_func: Any, rest: str) -> Any:
    """Parse ``rest`` with ``magic_func``'s argparse parser, shell-style (quotes group words).

    Parse errors raise ``UsageError`` (one line).
    """
    try:
        argv = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"pygent: cannot parse the options: {exc}") from None
    return magic_func.parser.parse_args(argv)


def _json_arg(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} (at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object")
    return value


_TOT_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--method", {"choices": ["bfs", "dfs"]}),
    ("--generate", {"choices": ["propose", "sample"]}),
    ("--evaluate", {"choices": ["value", "vote"]}),
    ("--select", {"choices": ["greedy", "sample"]}),
    ("--n-generate", {"type": int, "dest": "n_generate"}),
    ("--n-evaluate", {"type": int, "dest": "n_evaluate"}),
    ("--n-select", {"type": int, "dest": "n_select"}),
    ("--depth", {"type": int, "help": "maximum tree depth"}),
    ("--model", {}),
    ("--seed", {"type": int}),
    ("--max-calls", {"type": int, "dest": "max_calls"}),
    ("--max-tokens", {"type": int, "dest": "max_tokens"}),
    ("--max-seconds", {"type": float, "dest": "max_seconds"}),
    ("--timeout", {"type": float, "default": 600.0, "help": "seconds to wait for the run"}),
    (
        "--no-wait",
        {
            "action": "store_true",
            "dest": "no_wait",
            "help": "return at once; the tree keeps growing",
        },
    ),
]


def _tot_arguments(fn: F) -> F:
    """Add the Tree-of-Thought options (shared by ``reason`` and ``game24``) to ``fn``."""
    for flag, kw in reversed(_TOT_OPTIONS):
        kw = dict(kw)
        if kw.get("action") != "store_true":
            kw.setdefault("default", None)
        fn = cast(F, argument(flag, **kw)(fn))
    return fn


@magics_class
class PygentMagics(Magics):
    """The ``%pygent`` line/cell magic. ``link_factory`` is injectable for tests."""

    def __init__(self, shell: Any = None, link_factory: Callable[[], Any] | None = None) -> None:
        super().__init__(shell)
        self._link_factory = link_factory
        self._link: Any = None

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def link(self) -> Any:
        """The connected Link (connecting on first use); a failure is one clear line."""
        if self._link is None:
            from .client import ConnectionFailed
            from .widgets.link import shared_link

            try:
                self._link = self._link_factory() if self._link_factory else shared_link()
            except ConnectionFailed as exc:
                raise UsageError(f"pygent: cannot reach the server: {exc}") from None
        return self._link

    def _run(self, fn: Callable[[], Any]) -> Any:
        """Run a subcommand, mapping server and connection failures to one-line errors."""
        from .client import ConnectionFailed, PygentRequestError
        from .widgets import WidgetCommandError

        try:
            return fn()
        except SystemExit:  # argparse after printing --help
            return None
        except (PygentRequestError, WidgetCommandError) as exc:
            raise UsageError(f"pygent: {exc.code}: {exc.message}") from None
        except ConnectionFailed as exc:
            raise UsageError(f"pygent: cannot reach the server: {exc}") from None
        except (ConnectionError, TimeoutError) as exc:
            raise UsageError(f"pygent: {exc or type(exc).__name__}") from None

    def _show(self, widget: Any) -> Any:
        widget.attach(self.link)
        display(widget)
        return widget

    # -- entry point ------------------------------------------------------------------------

    @line_cell_magic
    def pygent(self, line: str, cell: str | None = None) -> Any:
        """Agents, reasoning, evolution, metrics, MCP and memory. ``%pygent help`` for usage."""
        if cell is not None:
            return self._run(lambda: self._cell(line, cell))
        sub, rest = _split(line)
        if sub not in SUBCOMMANDS:
            raise UsageError(
                f"pygent: unknown subcommand {sub!r}; one of: {', '.join(SUBCOMMANDS)}"
            )
        if sub == "help":
            print(HELP)
            return None
        handler = getattr(self, f"_{sub}")
        return self._run(lambda: handler(rest))

    # -- status -----------------------------------------------------------------------------

    @magic_arguments(name="%pygent")
    @argument("--no-dashboard", action="store_true", help="only the status table")
    def _status(self, rest: str) -> None:
        """%pygent status: who and what the server is, and the live metrics dashboard."""
        args = _parse(self._status, rest)
        from .widgets import MetricsDashboard

        link = self.link
        pong = link.request("ping", {"ts": time.time()}, timeout=10)
        rtt = (time.time() - float(pong["data"].get("ts", time.time()))) * 1000
        st = link.status
        rows = [
            (
                "server",
                f"{st.get('server_version', '?')} (protocol {st.get('protocol_version', '?')})",
            ),
            ("user", st.get("user", "?")),
            ("services up", ", ".join(st.get("capabilities") or []) or "none"),
            ("round trip", f"{rtt:.1f} ms"),
        ]
        display(
            Markdown(
                "**pygent** connected\n\n| | |\n|---|---|\n"
                + "\n".join(f"| {k} | {v} |" for k, v in rows)
            )
        )
        if not args.no_dashboard:
            self._show(MetricsDashboard())

    # -- chat -------------------------------------------------------------------------------

    @magic_arguments(name="%pygent chat")
    @argument("--agent", "-a", default="general", help="agent id (general, coding, reasoning…)")
    @argument("--model", "-m", default=None, help="model name (default: the agent's)")
    @argument("--conversation", "-c", default=None, help="continue this conversation id")
    def _chat(self, rest: str) -> Any:
        args = _parse(self._chat, rest)
        from .widgets import ChatWidget

        self._show(
            ChatWidget(agent=args.agent, model=args.model, conversation_id=args.conversation)
        )
        return None

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
        args = _parse(self._cell_args, line)
        prompt = interpolate(cell, self.shell.user_ns if self.shell else {}).strip()
        if not prompt:
            raise UsageError("pygent: the cell is empty; write a prompt below %%pygent")
        message: dict[str, Any] = {"content": prompt, "agentId": args.agent}
        if args.model:
            message["model"] = args.model
        data: dict[str, Any] = {"message": message}
        if args.conversation:
            data["conversation_id"] = args.conversation
        from .widgets.actions import KernelActions
        from .widgets.link import new_id

        actions = KernelActions(self.shell, cell)  # the calling cell + variables, approvals
        data["attachments"] = actions.attachments(args.vars.split(","), act=args.act)
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

    # -- reasoning --------------------------------------------------------------------------

    @staticmethod
    def _tot_options(args: Any) -> dict[str, Any]:
        names = {
            "method": "method",
            "generate": "generate",
            "evaluate": "evaluate",
            "select": "select",
            "n_generate": "n_generate_sample",
            "n_evaluate": "n_evaluate_sample",
            "n_select": "n_select_sample",
            "depth": "max_depth",
            "model": "model",
            "seed": "seed",
            "max_calls": "max_calls",
            "max_seconds": "max_seconds",
            "max_tokens": "max_tokens",
        }
        return {
            wire: getattr(args, attr)
            for attr, wire in names.items()
            if getattr(args, attr) is not None
        }

    def _tot(self, start: dict[str, Any], args: Any) -> Any:
        from .widgets import ReasoningTreeWidget

        tree = self._show(ReasoningTreeWidget())
        future = tree.start(**start, **self._tot_options(args))
        if args.no_wait:
            return None
        result = future.result(args.timeout)
        tree.flush()
        if self.shell is not None:
            self.shell.user_ns["_pygent_reasoning"] = result
        return None

    @magic_arguments(name="%pygent reason")
    @argument("problem", help="the problem, quoted")
    @_tot_arguments
    def _reason_args(self, rest: str) -> None:
        """%pygent reason "<problem>" [ToT options]"""

    @magic_arguments(name="%pygent game24")
    @argument("puzzle", help='four numbers, quoted: "4 5 6 10"')
    @_tot_arguments
    def _game24_args(self, rest: str) -> None:
        """%pygent game24 "4 5 6 10" [ToT options]"""

    def _reason(self, rest: str) -> Any:
        args = _parse(self._reason_args, rest)
        return self._tot({"problem": args.problem, "task": "open"}, args)

    def _game24(self, rest: str) -> Any:
        args = _parse(self._game24_args, rest)
        numbers = args.puzzle.replace(",", " ").split()
        if len(numbers) != 4 or not all(n.isdigit() for n in numbers):
            raise UsageError(
                f'pygent: game24 needs four whole numbers, like "4 5 6 10"; got {args.puzzle!r}'
            )
        return self._tot({"task": "game24", "puzzle": " ".join(numbers)}, args)

    # -- evolution --------------------------------------------------------------------------

    @magic_arguments(name="%pygent evolve")
    @argument("--population", type=int, default=4, help="population size")
    @argument("--generations", type=int, default=2, help="number of generations")
    @argument(
        "--task-set",
        dest="task_set",
        default="game24",
        help="task set: 'game24' (puzzles from the ToT data) or a JSON task set",
    )
    @argument(
        "--range",
        nargs=2,
        type=int,
        default=[900, 902],
        metavar=("START", "STOP"),
        help="game24 puzzle indices [START, STOP)",
    )
    @argument(
        "--prompt",
        action="append",
        dest="prompts",
        default=None,
        help="a seed system prompt (repeatable)",
    )
    @argument("--genome", default=None, help="the whole genome, JSON (overrides --prompt)")
    @argument("--seed", type=int, default=None)
    @argument("--max-evaluations", dest="max_evaluations", type=int, default=None)
    @argument("--max-seconds", dest="max_seconds", type=float, default=None)
    @argument("--timeout", type=float, default=900.0, help="seconds to wait for the run")
    @argument("--no-wait", dest="no_wait", action="store_true")
    def _evolve(self, rest: str) -> Any:
        args = _parse(self._evolve, rest)
        from .widgets import EvolutionWidget

        if args.genome:
            genome = _json_arg(args.genome, "--genome")
        else:
            genome = {"seed_prompts": args.prompts or list(DEFAULT_SEED_PROMPTS)}
        if args.task_set.lstrip().startswith("{"):
            task_set = _json_arg(args.task_set, "--task-set")
        else:
            task_set = {"name": args.task_set, "range": list(args.range)}
        options: dict[str, Any] = {
            "genome": genome,
            "task_set": task_set,
            "population_size": args.population,
            "generations": args.generations,
        }
        for attr in ("seed", "max_evaluations", "max_seconds"):
            if getattr(args, attr) is not None:
                options[attr] = getattr(args, attr)
        evo = self._show(EvolutionWidget())
        future = evo.start(**options)
        if not args.no_wait:
            result = future.result(args.timeout)
            evo.flush()
            if self.shell is not None:
                self.shell.user_ns["_pygent_evolution"] = result
        return None

    # -- metrics ----------------------------------------------------------------------------

    @magic_arguments(name="%pygent metrics")
    @argument("--window", type=float, default=300.0, help="seconds of history to plot")
    def _metrics(self, rest: str) -> Any:
        args = _parse(self._metrics, rest)
        from .widgets import MetricsDashboard

        self._show(MetricsDashboard(window=args.window))

    # -- MCP --------------------------------------------------------------------------------

    @magic_arguments(name="%pygent mcp")
    @argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "start", "stop", "restart", "status", "tools", "call"],
    )
    @argument("server", nargs="?", default=None, help="configured server id")
    @argument("tool", nargs="?", default=None, help="tool name (for call)")
    @argument("--args", dest="tool_args", default=None, help="tool arguments, JSON object")
    @argument("--timeout", type=float, default=60.0)
    def _mcp(self, rest: str) -> Any:
        args = _parse(self._mcp, rest)
        from .widgets import MCPPanel

        if args.action == "list":
            self._show(MCPPanel())
            return None
        if not args.server:
            raise UsageError(f"pygent: %pygent mcp {args.action} needs a server id")
        link = self.link
        if args.action in ("start", "stop", "restart", "status"):
            reply = link.request(
                "mcp_server_action",
                {"server_id": args.server, "action": args.action},
                reply_type="mcp_server_status",
                timeout=args.timeout,
            )
            d = reply["data"]
            extra = f" (pid {d['pid']})" if d.get("pid") else ""
            err = f": {d['error']}" if d.get("error") else ""
            print(f"{d.get('server_id')}: {d.get('state')}{extra}{err}")
            return None
        if args.action == "tools":
            tools = self._tools(args.server, args.timeout)
            if not tools:
                print(f"{args.server}: no tools")
            for t in tools:
                params = ", ".join((t.get("input_schema") or {}).get("properties", {}))
                print(f"{t.get('name')}({params}): {t.get('description', '')}")
            return None
        if not args.tool:
            raise UsageError("pygent: %pygent mcp call SERVER TOOL [--args JSON]")
        data = {
            "server_id": args.server,
            "tool": args.tool,
            "arguments": _json_arg(args.tool_args, "--args"),
        }
        reply = link.request(
            "mcp_call_tool", data, reply_type="tool_call_result", timeout=args.timeout
        )
        d = reply["data"]
        texts = [
            c.get("text", json.dumps(c)) for c in d.get("content") or [] if isinstance(c, dict)
        ]
        if d.get("is_error"):
            raise UsageError(f"pygent: {args.server}.{args.tool} failed: {' '.join(texts)}")
        print("\n".join(texts))
        if self.shell is not None:
            self.shell.user_ns["_pygent_tool_result"] = d
        return None

    def _tools(self, server: str, timeout: float) -> list[dict[str, Any]]:
        """A server's tools, from the ``mcp_servers`` snapshot."""
        reply = self.link.request("mcp_list_servers", {}, reply_type="mcp_servers", timeout=timeout)
        for entry in reply["data"].get("servers") or []:
            if entry.get("server_id") == server:
                return list(entry.get("tools") or [])
        known = ", ".join(str(e.get("server_id")) for e in reply["data"].get("servers") or [])
        raise UsageError(
            f"pygent: no MCP server {server!r} is configured"
            + (f" (configured: {known})" if known else "")
        )

    # -- memory -----------------------------------------------------------------------------

    @magic_arguments(name="%pygent memory")
    @argument("action", nargs="?", default="widget", choices=["widget", "add", "search"])
    @argument("text", nargs="?", default=None, help="text to add, or the query (quoted)")
    @argument("--k", type=int, default=5, help="results to return")
    @argument("--namespace", default=None)
    @argument("--meta", default=None, help="metadata for add, JSON object")
    def _memory(self, rest: str) -> Any:
        args = _parse(self._memory, rest)
        from .widgets import MemoryWidget

        if args.action == "widget":
            self._show(MemoryWidget(namespace=args.namespace, k=args.k))
            return None
        if not args.text:
            raise UsageError(f'pygent: %pygent memory {args.action} "text" needs a text')
        base: dict[str, Any] = {"namespace": args.namespace} if args.namespace else {}
        if args.action == "add":
            meta = _json_arg(args.meta, "--meta")
            reply = self.link.request(
                "memory_add",
                {**base, "items": [{"text": args.text, "metadata": meta}]},
                reply_type="memory_update",
            )
            ids = reply["data"].get("ids") or []
            print(f"stored {len(ids) or 1} memory item(s){': ids ' + str(ids) if ids else ''}")
            return None
        reply = self.link.request(
            "memory_search", {**base, "query": args.text, "k": args.k}, reply_type="memory_update"
        )
        results = reply["data"].get("results") or []
        if self.shell is not None:
            self.shell.user_ns["_pygent_memories"] = results
        if not results:
            print("no memories match")
            return None
        rows = "\n".join(
            f"| {r.get('score', 0):.3f} | {_cell_text(r.get('text', ''))} | "
            f"{_cell_text(json.dumps(r.get('metadata') or {}))} |"
            for r in results
        )
        display(Markdown(f"| score | text | metadata |\n|---|---|---|\n{rows}"))
        return None

    # -- history ----------------------------------------------------------------------------

    @magic_arguments(name="%pygent history")
    @argument("--conversation", "-c", default=None, help="a conversation id")
    @argument("--limit", type=int, default=50)
    def _history(self, rest: str) -> Any:
        args = _parse(self._history, rest)
        data: dict[str, Any] = {"limit": args.limit}
        if args.conversation:
            data["conversation_id"] = args.conversation
        reply = self.link.request("get_history", data, reply_type="chat_history")["data"]
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
            f"{_cell_text(str(c.get('title') or c.get('preview') or ''))} | "
            f"{c.get('updated') or c.get('updated_at') or ''} | "
            f"{c.get('message_count', c.get('messages', ''))} |"
            for c in convs
        )
        display(Markdown(f"| id | title | updated | messages |\n|---|---|---|---|\n{rows}"))
        return None

    # -- usage and backends -----------------------------------------------------------------

    @magic_arguments(name="%pygent usage")
    @argument("--conversation", "-c", default=None, help="also this conversation's usage")
    def _usage(self, rest: str) -> Any:
        """%pygent usage: tokens and cost used today (UTC), per model, and the daily budget."""
        args = _parse(self._usage, rest)
        data = {"conversation_id": args.conversation} if args.conversation else {}
        usage = self.link.request("get_usage", data, reply_type="usage")["data"]
        display(Markdown(usage_markdown(usage)))
        return None

    def _backends(self, rest: str) -> Any:
        """%pygent backends: every backend, reachable or not, and its models."""
        status = self.link.request("list_backends", {}, reply_type="backend_status")["data"]
        rows = []
        for b in status.get("backends") or []:
            models = ", ".join(str(m.get("name")) for m in b.get("models") or [])
            state = {True: "up", False: "down", None: "?"}.get(b.get("reachable"), "?")
            rows.append(
                f"| {b.get('name')}{' (default)' if b.get('active') else ''} | {b.get('kind')} | "
                f"{state} | {_cell_text(models or b.get('error') or '')} |"
            )
        head = "| backend | kind | state | models |\n|---|---|---|---|\n"
        display(Markdown(head + "\n".join(rows)))
        return None


def usage_markdown(usage: dict[str, Any]) -> str:
    """A ``usage`` event's data as a Markdown table (per model, then totals and budget)."""
    currency = str(usage.get("currency") or "")

    def cost(value: Any) -> str:
        return f"{value:.4f} {currency}" if isinstance(value, (int, float)) else "-"

    lines = [f"**Model usage on {usage.get('day', '?')} (UTC)**", ""]
    for label, key in (("this conversation", "conversation"), ("today", "today")):
        totals = usage.get(key)
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
                    f"| {m.get('backend')} | {_cell_text(str(m.get('model')))} "
                    f"| {m.get('answers')} | {m.get('prompt_tokens')} "
                    f"| {m.get('completion_tokens')} | {cost(m.get('cost'))} |"
                )
            lines.append("")
    budget = usage.get("budget") or {}
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


def _cell_text(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%pygent`` / ``%%pygent`` on ``ipython``."""
    ipython.register_magics(PygentMagics)


def iter_help() -> Iterator[str]:
    """The help text, line by line (for docs and tests)."""
    yield from HELP.splitlines()
