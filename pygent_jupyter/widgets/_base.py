"""What every pygent widget shares: event intake, seq de-duplication, coalesced redraws.

A widget is a pure consumer of protocol events (``{"type", "data", "seq"?, "reply_to"?}``
dicts, as in the catalog examples). :meth:`EventWidget.feed` updates the widget's model
synchronously and asks a :class:`Throttle` for a redraw; the throttle draws at most
``max_rate`` times a second however fast events arrive, and always draws the final state.
Commands go out through a ``send(type, data) -> id`` callable, so widgets test without a
server or a kernel; :meth:`EventWidget.attach` binds both directions to a ``PygentClient``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import ipywidgets as W

from ..protocol.session import SeqFilter
from ._style import STYLE

__all__ = ["FALLBACK_MIME", "EventWidget", "Sender", "Throttle", "esc"]

FALLBACK_MIME = "application/vnd.pygent.widget+json"
"""Marks a pygent widget output; the lab extension then keeps its ``text/html`` fallback current."""
SNAPSHOT_INTERVAL = 2.0
"""Seconds between refreshes of the static snapshot (it is also refreshed on ``flush``)."""

Event = dict[str, Any]
Sender = Callable[[str, dict[str, Any], str], Any]
"""``send(type, data, id)``: deliver one command to the server (may return before it is sent)."""
_ids = itertools.count(1)


def esc(value: object) -> str:
    """HTML-escape anything for an ``ipywidgets.HTML`` value."""
    return html.escape(str(value), quote=True)


SURVIVES_RECONNECT = frozenset({"start_evolution"})
"""Commands whose work outlives the socket (their events reach all the user's connections)."""


class Scheduler(Protocol):
    def __call__(self, delay: float, fn: Callable[[], None]) -> None: ...


def _default_scheduler(delay: float, fn: Callable[[], None]) -> None:
    """Run ``fn`` after ``delay`` seconds: on the running loop when there is one, else a timer."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        timer.start()
        return
    loop.call_later(delay, fn)


class Throttle:
    """Coalesce redraw requests to at most ``max_rate`` draws per second.

    After :meth:`request`, ``draw`` runs either at once (when the last draw is at least
    ``1/max_rate`` s old) or once at the end of the current interval, never more often, and
    the last request is always followed by a draw. ``draws`` counts the draws made.
    """

    def __init__(
        self,
        draw: Callable[[], None],
        max_rate: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        scheduler: Scheduler = _default_scheduler,
    ) -> None:
        if max_rate <= 0:
            raise ValueError("max_rate must be positive")
        self.draw = draw
        self.interval = 1.0 / max_rate
        self.clock = clock
        self.scheduler = scheduler
        self.draws = 0
        self._last = -1e18
        self._dirty = False
        self._scheduled = False
        self._lock = threading.RLock()

    def request(self) -> None:
        """Note that the model changed; a draw follows within one interval."""
        with self._lock:
            self._dirty = True
            if self._scheduled:
                return
            wait = self._last + self.interval - self.clock()
            if wait <= 0:
                self._run()
            else:
                self._scheduled = True
                self.scheduler(wait, self._fire)

    def _fire(self) -> None:
        with self._lock:
            self._scheduled = False
            if self._dirty:
                self._run()

    def flush(self) -> None:
        """Draw now if anything changed since the last draw (e.g. at the end of a cell)."""
        with self._lock:
            if self._dirty:
                self._run()

    def _run(self) -> None:
        self._dirty = False
        self._last = self.clock()
        self.draws += 1
        self.draw()


class _Pending:
    """A command awaiting its completion event, resolvable from any thread."""

    def __init__(self, type_: str = "") -> None:
        self.type = type_
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def resolve(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class WidgetCommandError(RuntimeError):
    """The server answered a widget's command with ``error``; ``code`` is the protocol code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class EventWidget(W.VBox):
    """Base of every pygent widget (an ``ipywidgets.VBox``).

    Subclasses list the event types they consume in ``EVENTS`` and implement
    ``_on_<type>(data, event)`` (model update, no drawing) and ``_draw()`` (push the model into
    child widgets). Events whose ``seq`` was seen already are ignored, so a replay after a
    reconnect never duplicates anything; a greeting from a restarted server (new ``epoch``,
    or a counter behind :attr:`last_seq`) starts the numbering afresh, so its events are not
    taken for old ones (the rules of :class:`~pygent_jupyter.protocol.session.SeqFilter`).
    """

    EVENTS: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        send: Sender | None = None,
        max_rate: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        scheduler: Scheduler = _default_scheduler,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._send_fn = send
        self._client: Any = None
        self._handlers: list[tuple[str, Callable[..., Any]]] = []
        self.seqs = SeqFilter()
        self.connection_state = "connected"
        self.events_seen = 0
        self._pending: dict[str, _Pending] = {}
        self._dropped = False
        self._sent_ids: deque[str] = deque(maxlen=256)
        self._error = ""
        self._state_lock = threading.RLock()
        self.status = W.HTML(layout=W.Layout(min_height="0"))
        self.status.add_class("pygent-status")
        self.retry_in: float | None = None
        #: when (widget clock) the client tries again; the status line counts down to it
        self.retry_at: float | None = None
        self._retry_tick = False
        # The static snapshot (hidden): carries the stylesheet for the live view, and the lab
        # extension copies it into the output's text/html so a saved notebook shows it.
        self.snapshot = W.HTML(STYLE, layout=W.Layout(display="none"))
        self.snapshot.add_class("pygent-snapshot")
        self._snapshot_at = -1e18
        self._snapshot_due = False
        self._clock = clock
        self.add_class("pygent-w")
        self.throttle = Throttle(self._safe_draw, max_rate, clock=clock, scheduler=scheduler)

    # -- intake -----------------------------------------------------------------------------

    def feed(self, event: Event) -> bool:
        """Apply one event to the model and ask for a redraw. Returns False if it was skipped.

        Skipped: events of types this widget does not consume, and replays (a ``seq`` seen
        before in the server's current epoch).
        """
        type_ = event.get("type")
        data = event.get("data") or {}
        if type_ == "connection_error":  # local: a try failed; ``retry_in`` says when the next is
            self._on_connection_error(data)
            self.throttle.request()
            return True
        if type_ == "connection_status":
            self._on_connection_status(data)
            self.throttle.request()
            return True
        if type_ == "error":
            if (event.get("data") or {}).get("code") == "resync":
                self._interrupt_pending()
            return self._on_error_event(event)
        if type_ == "resumed":
            if self._dropped:
                self._interrupt_pending()
            return True
        if type_ not in self.EVENTS:
            return False
        seq = event.get("seq")
        with self._state_lock:
            if not self.seqs.accept(seq):
                return False
            self.events_seen += 1
            getattr(self, f"_on_{type_}")(data, event)
        self.throttle.request()
        return True

    @property
    def last_seq(self) -> int:
        """The newest event seq applied, in the server's current epoch (0: none yet)."""
        return self.seqs.last_seq

    @property
    def epoch(self) -> str | None:
        """The server epoch the seqs belong to (None until a greeting says)."""
        return self.seqs.epoch

    handle = feed  # the name in-kernel event sinks use (``Evolution(on_event=widget.handle)``)

    def feed_many(self, events: Iterable[Event]) -> int:
        """Feed events in order; returns how many were applied."""
        return sum(1 for e in events if self.feed(e))

    def _on_connection_status(self, data: dict[str, Any]) -> None:
        before = self.connection_state
        self.connection_state = str(data.get("state", "connected"))
        retry = data.get("retry_in", data.get("delay"))
        self.retry_in = float(retry) if isinstance(retry, (int, float)) else None
        self.retry_at = None if self.retry_in is None else self._clock() + self.retry_in
        if self.connection_state == "connected":
            with self._state_lock:  # a restarted server numbers its events from 1 again
                self.seqs.greeting(data.get("epoch"), data.get("last_seq"))
        if self.connection_state != "connected":
            self._dropped = True
        elif before != "connected" and self._send_fn is not None:
            self._on_reconnected()

    def _interrupt_pending(self) -> None:
        """After a reconnect's replay: commands that died with the old socket fail clearly.

        The server cancels a connection's running commands when it closes, and everything
        that was answered is replayed before ``resumed``; what is still pending now will never
        be answered (except runs that outlive connections, see ``SURVIVES_RECONNECT``).
        """
        self._dropped = False
        for msg_id, pending in list(self._pending.items()):
            if pending.type in SURVIVES_RECONNECT:
                continue
            self._pending.pop(msg_id, None)
            data = {
                "code": "interrupted",
                "message": f"the connection dropped while {pending.type} was running; "
                "send it again",
            }
            self.show_error(f"interrupted: {data['message']}")
            self._on_command_error(msg_id, data)
            pending.fail(WidgetCommandError("interrupted", data["message"]))

    def _on_reconnected(self) -> None:
        """Hook: the client is back after a drop. Topic subscriptions belong to a socket, so
        widgets that subscribe renew them here; replayed events arrive by themselves."""

    def _on_error_event(self, event: Event) -> bool:
        reply_to = event.get("reply_to")
        if reply_to not in self._sent_ids:
            return False
        data = event.get("data") or {}
        pending = self._pending.pop(str(reply_to), None)
        self.show_error(f"{data.get('code', 'error')}: {data.get('message', '')}")
        self._on_command_error(str(reply_to), data)
        if pending is not None:
            pending.fail(WidgetCommandError(str(data.get("code")), str(data.get("message"))))
        return True

    def _on_command_error(self, msg_id: str, data: dict[str, Any]) -> None:
        """Hook: one of this widget's commands failed (after the error is shown)."""

    def show_error(self, message: str) -> None:
        """Show a one-line error in the status line (until the next redraw clears it)."""
        with self._state_lock:
            self._error = message
        self.throttle.request()

    # -- drawing ----------------------------------------------------------------------------

    def _safe_draw(self) -> None:
        with self._state_lock, self.hold_sync():
            self._draw()
            self.status.value = self._status_html()
            now = self._clock()
            if now - self._snapshot_at >= SNAPSHOT_INTERVAL:
                self._refresh_snapshot(now)
            elif not self._snapshot_due:  # the final state always reaches the snapshot
                self._snapshot_due = True
                self.throttle.scheduler(SNAPSHOT_INTERVAL, self._late_snapshot)

    def _late_snapshot(self) -> None:
        with self._state_lock, self.hold_sync():
            self._snapshot_due = False
            self._refresh_snapshot()

    def _plot_view(self, figure: Any, plot: str) -> W.Widget:
        """The view of ``figure`` to show: a themed inline SVG (``"svg"``, the default) or the
        interactive plotly ``FigureWidget`` (``"plotly"``).

        SVG is the default because plotly 7's ``FigureWidget`` stops redrawing once it is
        updated after being displayed (seen in JupyterLab 4.6), and live widgets update.
        """
        if plot not in ("svg", "plotly"):
            raise ValueError(f"plot must be 'svg' or 'plotly', not {plot!r}")
        self.plot = plot
        self.chart = W.HTML(layout=W.Layout(width="100%"))
        self.chart.add_class("pygent-chart")
        return figure if plot == "plotly" else self.chart

    def _draw_chart(self, figure: Any, title: str) -> None:
        if getattr(self, "plot", "svg") == "svg":
            from .render import figure_svg

            self.chart.value = figure_svg(figure, title=title) or (
                "<i class='pygent-muted'>no data yet</i>"
            )

    def _refresh_snapshot(self, now: float | None = None) -> None:
        self._snapshot_at = self._clock() if now is None else now
        value = STYLE + self.snapshot_html()
        if self.snapshot.value != value:
            self.snapshot.value = value
        children: tuple[W.Widget, ...] = tuple(self.children)  # type: ignore[has-type]
        if self.snapshot not in children:
            self.children = (*children, self.snapshot)

    def snapshot_html(self) -> str:
        """Static HTML of the current state (no scripts; themed by the shared stylesheet).

        It is what a saved notebook shows for this widget when no kernel is running.
        """
        return f"<div class='pygent-fallback pygent-w'>{self._snapshot_body()}</div>"

    def _snapshot_body(self) -> str:
        return esc(type(self).__name__)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view plus a static fallback (``text/html``) and the pygent marker."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if not bundle:
            return bundle
        self.flush()
        with self._state_lock:
            self._refresh_snapshot()
            html_ = self.snapshot_html()
        bundle = dict(bundle)
        bundle["text/html"] = STYLE + html_
        bundle[FALLBACK_MIME] = {"version": 1, "widget": type(self).__name__}
        return bundle

    def _on_connection_error(self, data: dict[str, Any]) -> None:
        """A (re)connection attempt failed; the client tries again in ``retry_in`` s."""
        retry = data.get("retry_in")
        if isinstance(retry, (int, float)):
            self.retry_in = float(retry)
            self.retry_at = self._clock() + float(retry)
        if self.connection_state == "connected":
            self.connection_state = "reconnecting"
            self._dropped = True

    def _retry_left(self) -> int | None:
        """Whole seconds to the next reconnection try (0: trying now), None if unknown."""
        if self.retry_at is None:
            return None
        return max(0, math.ceil(self.retry_at - self._clock() - 1e-9))

    def _tick_countdown(self) -> None:
        """While offline with a retry ahead, redraw the status line once a second."""
        if self._retry_tick or self.connection_state == "connected" or not self._retry_left():
            return
        self._retry_tick = True

        def tick() -> None:
            self._retry_tick = False
            self.throttle.request()

        self.throttle.scheduler(1.0, tick)

    def _status_html(self) -> str:
        err = self._error
        if self.connection_state != "connected":
            left = self._retry_left()
            retry = ""
            if left is not None:
                retry = f"; next try in {left} s" if left else "; trying again now"
            self._tick_countdown()
            return (
                f"<span class='pygent-offline' role='status'>&#9888; pygent is "
                f"{esc(self.connection_state)}{esc(retry)}. Commands wait and are sent when "
                "the connection is back; the view resumes from the last event.</span>"
            )
        if err:
            return f"<span class='pygent-error' role='alert'>{esc(err)}</span>"
        return ""

    def _draw(self) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def flush(self) -> None:
        """Draw any pending change now, and refresh the static snapshot."""
        self.throttle.flush()
        with self._state_lock:
            self._refresh_snapshot()

    # -- commands ---------------------------------------------------------------------------

    def command(self, type_: str, data: dict[str, Any]) -> str:
        """Send a command through the attached client (or ``send=``); returns its message id."""
        msg_id = new_id(type_.split("_")[0][:6] + "-")
        self._send_command(type_, data, msg_id)
        return msg_id

    def request(
        self, type_: str, data: dict[str, Any]
    ) -> tuple[str, concurrent.futures.Future[Any]]:
        """Send a command; the future resolves when the widget sees it complete.

        It fails with :class:`WidgetCommandError` when the server answers ``error``.
        """
        msg_id = new_id(type_.split("_")[0][:6] + "-")
        pending = self._pending.setdefault(msg_id, _Pending(type_))
        try:
            self._send_command(type_, data, msg_id)
        except BaseException:
            self._pending.pop(msg_id, None)
            raise
        return msg_id, pending.future

    def _send_command(self, type_: str, data: dict[str, Any], msg_id: str) -> None:
        self._error = ""
        if self._send_fn is None:
            raise RuntimeError(
                "this widget is not connected: pass send=… or call attach(client) first"
            )
        self._sent_ids.append(msg_id)
        self._send_fn(type_, data, msg_id)

    def _resolve(self, msg_id: str | None, value: Any) -> None:
        if msg_id is None:
            return
        pending = self._pending.pop(msg_id, None)
        if pending is not None:
            pending.resolve(value)

    # -- client binding ---------------------------------------------------------------------

    def attach(self, client: Any) -> EventWidget:
        """Feed this widget from ``client`` events and send its commands through ``client``.

        ``client`` is a :class:`pygent_jupyter.widgets.link.Link` or anything with
        ``on(type, handler)``, ``off(type, handler)`` and ``send_nowait(type, data, id)``;
        handlers receive whole envelopes.
        Returns ``self``.
        """
        self.detach()
        self._client = client
        status = getattr(client, "status", None)
        if self.seqs.epoch is None and isinstance(status, dict):
            epoch = status.get("epoch")  # the epoch of the events that will follow
            self.seqs.epoch = epoch if isinstance(epoch, str) else None
        for type_ in (*self.EVENTS, "error", "connection_status", "connection_error", "resumed"):
            handler = self.feed
            client.on(type_, handler)
            self._handlers.append((type_, handler))
        self._send_fn = client.send_nowait
        self._on_attach()
        return self

    def _on_attach(self) -> None:
        """Hook: just attached to a client (e.g. ask for the current state)."""

    def detach(self) -> None:
        """Stop receiving events from the attached client."""
        if self._client is not None:
            for type_, handler in self._handlers:
                self._client.off(type_, handler)
        self._handlers.clear()
        self._client = None

    def close(self) -> None:
        self.detach()
        super().close()


def new_id(prefix: str = "w") -> str:
    """A fresh message id for a widget command."""
    return f"{prefix}{next(_ids)}-{int(time.time() * 1000) % 100000}"
