"""The sans-I/O session rules (protocol/session.py), driven by the vectors the lab extension's
session.ts also passes (tests/protocol/session_vectors.json), plus a client and a server ring
talking through a simulated socket across a drop and a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pygent_jupyter.protocol.session import ClientSession, Replay, ReplayRing, Resync, SeqFilter

VECTORS = json.loads(
    (Path(__file__).parent / "protocol" / "session_vectors.json").read_text(encoding="utf-8")
)
RECEIPT_DEFAULTS: dict[str, Any] = {"deliver": True, "send": [], "resync": None, "reply": None}


def _client_state(session: ClientSession) -> dict[str, Any]:
    return {
        "last_seq": session.last_seq,
        "epoch": session.epoch,
        "topics": sorted(session.topics),
        "capabilities": session.capabilities,
        "greeted": session.greeted,
        "pending": session.pending,
    }


def _check_state(actual: dict[str, Any], wanted: dict[str, Any], where: str) -> None:
    assert {k: actual[k] for k in wanted} == wanted, where


@pytest.mark.parametrize("case", VECTORS["client"], ids=lambda c: c["name"])
def test_client_vectors(case: dict[str, Any]) -> None:
    session = ClientSession()
    for i, step in enumerate(case["steps"]):
        where = f"step {i}: {step}"
        do = step["do"]
        if do == "open":
            session.opened()
        elif do == "close":
            session.closed()
        elif do == "receive":
            receipt = session.receive(step["event"])
            assert receipt.to_json() == {**RECEIPT_DEFAULTS, **step.get("expect", {})}, where
        elif do == "subscribe":
            session.subscribe(step["topics"])
        elif do == "unsubscribe":
            session.unsubscribe(step["topics"])
        elif do == "note_sent":
            session.note_sent(step["message"])
        elif do == "expect_reply":
            session.expect(step["id"], step.get("final"))
        elif do == "forget":
            session.forget(step["id"])
        elif do == "fail_pending":
            assert session.fail_pending() == step["expect"], where
        elif do != "check":
            raise AssertionError(f"unknown step {do!r}")
        if "state" in step:
            _check_state(_client_state(session), step["state"], where)


@pytest.mark.parametrize("case", VECTORS["filter"], ids=lambda c: c["name"])
def test_filter_vectors(case: dict[str, Any]) -> None:
    seqs = SeqFilter(epoch=case.get("epoch"), window=case.get("window", 1024))
    for i, step in enumerate(case["steps"]):
        where = f"step {i}: {step}"
        if step["do"] == "accept":
            assert seqs.accept(step["seq"]) is step["expect"], where
        elif step["do"] == "greeting":
            assert seqs.greeting(step["epoch"], step["last_seq"]) is step["expect"], where
        if "state" in step:
            actual = {"last_seq": seqs.last_seq, "epoch": seqs.epoch}
            _check_state(actual, step["state"], where)


@pytest.mark.parametrize("case", VECTORS["server"], ids=lambda c: c["name"])
def test_server_vectors(case: dict[str, Any]) -> None:
    ring = ReplayRing()
    limits = {
        "max_events": case.get("max_events", 1000),
        "max_bytes": case.get("max_bytes", 4 * 1024 * 1024),
    }
    for i, step in enumerate(case["steps"]):
        where = f"step {i}: {step}"
        if step["do"] == "publish":
            seq = ring.next_seq()
            frame = f"{seq}:".ljust(step.get("bytes", 10), "x")
            ring.remember(seq, step.get("client_id"), frame, **limits)
        elif step["do"] == "resume":
            decision = ring.resume(
                step["last_seq"],
                step["epoch"],
                current_epoch=case["epoch"],
                client_id=step["client_id"],
                max_bytes=step.get("max_bytes", 10**9),
            )
            wanted = step["expect"]
            if "replay" in wanted:
                assert isinstance(decision, Replay), where
                replayed = [int(f.split(":")[0]) for f in decision.frames]
                assert replayed == wanted["replay"] and decision.last_seq == wanted["last_seq"]
            else:
                assert isinstance(decision, Resync), where
                assert decision.details == wanted["resync"], where
                assert wanted["message"] in decision.message, where
        if "state" in step:
            actual = {
                "seq": ring.seq,
                "events": len(ring.ring),
                "bytes": ring.ring_bytes,
                "evicted_upto": ring.evicted_upto,
            }
            _check_state(actual, step["state"], where)


# -- a client and a server ring through a simulated socket ------------------------------------


class _Server:
    """The Hub's session decisions over one user's ring, with an outbox per socket."""

    def __init__(self, epoch: str) -> None:
        self.epoch = epoch
        self.ring = ReplayRing()
        self.socket: list[dict[str, Any]] | None = None

    def connect(self) -> list[dict[str, Any]]:
        self.socket = []
        self.send({"type": "connection_status", "data": self._greeting()}, remember=False)
        return self.socket

    def _greeting(self) -> dict[str, Any]:
        return {"state": "connected", "last_seq": self.ring.seq, "epoch": self.epoch}

    def send(self, event: dict[str, Any], *, remember: bool = True) -> None:
        seq = self.ring.next_seq()
        event = {**event, "seq": seq}
        if remember:
            self.ring.remember(seq, None, json.dumps(event), max_events=100, max_bytes=10**6)
        if self.socket is not None:
            self.socket.append(event)

    def handle(self, message: dict[str, Any]) -> None:
        if message["type"] != "resume":
            return
        data = message["data"]
        decision = self.ring.resume(
            data["last_seq"],
            data.get("epoch"),
            current_epoch=self.epoch,
            client_id="c1",
            max_bytes=10**6,
        )
        if isinstance(decision, Resync):
            error = {"code": "resync", "message": decision.message, "details": decision.details}
            self.send({"type": "error", "data": error}, remember=False)
        else:
            assert self.socket is not None
            self.socket.extend(json.loads(frame) for frame in decision.frames)
            self.send({"type": "resumed", "data": {"replayed": len(decision.frames)}})


def _pump(session: ClientSession, server: _Server, inbox: list[dict[str, Any]]) -> list[int]:
    """Deliver everything queued for the client; returns the seqs of delivered events of
    type ``memory_update`` (the application events)."""
    delivered: list[int] = []
    while inbox:
        event = inbox.pop(0)
        receipt = session.receive(event)
        for message in receipt.send:
            server.handle(message)
        if receipt.deliver and event["type"] == "memory_update":
            delivered.append(event["seq"])
    return delivered


def test_drop_then_resume_delivers_each_missed_event_once() -> None:
    server, session = _Server("e1"), ClientSession()
    session.opened()
    inbox = server.connect()
    for _ in range(3):
        server.send({"type": "memory_update", "data": {}})
    assert _pump(session, server, inbox) == [2, 3, 4]
    server.socket = None  # the socket drops; the user's events go on
    session.closed()
    for _ in range(2):
        server.send({"type": "memory_update", "data": {}})
    session.opened()
    inbox = server.connect()
    server.send({"type": "memory_update", "data": {}})  # live before the resume is handled
    assert _pump(session, server, inbox) == [8, 5, 6]  # 8 is not delivered twice
    assert session.last_seq == server.ring.seq


def test_after_a_server_restart_new_events_are_delivered_at_once() -> None:
    server, session = _Server("e1"), ClientSession()
    session.opened()
    inbox = server.connect()
    for _ in range(50):
        server.send({"type": "memory_update", "data": {}})
    _pump(session, server, inbox)
    session.closed()
    server = _Server("e2")  # a fresh process: new epoch, numbering from 1
    session.opened()
    inbox = server.connect()
    server.send({"type": "memory_update", "data": {}})
    assert session.receive(inbox.pop(0)).resync == "server_restarted"
    assert _pump(session, server, inbox) == [2]  # seq 2 < 51: not mistaken for an old event
    assert session.epoch == "e2"
