"""/pygent/ws end to end on a real Jupyter Server: auth, bad input, routing, delivery, replay."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
import tornado.websocket
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPClientError, HTTPRequest


def _ws_url(port, base_url, query=""):
    return f"ws://127.0.0.1:{port}{base_url}pygent/ws{query}"


# -- authentication and origin ------------------------------------------------------------


async def test_no_token_is_403_before_upgrade(
    pygent_app, http_server_client, jp_http_port, jp_base_url
):
    with pytest.raises(HTTPClientError) as info:
        await tornado.websocket.websocket_connect(HTTPRequest(_ws_url(jp_http_port, jp_base_url)))
    assert info.value.code == 403


async def test_wrong_kernel_credential_is_403(
    pygent_app, http_server_client, jp_http_port, jp_base_url
):
    request = HTTPRequest(_ws_url(jp_http_port, jp_base_url), headers={"X-Pygent-Token": "nope"})
    with pytest.raises(HTTPClientError) as info:
        await tornado.websocket.websocket_connect(request)
    assert info.value.code == 403


async def test_kernel_credential_opens_as_owner(ws_client, pygent_app):
    client = await ws_client(headers={"X-Pygent-Token": pygent_app.kernel_token}, greet=False)
    status = await client.recv("connection_status")
    assert status["data"]["user"] == pygent_app.owner_name


async def test_token_opens_and_greets(ws_client, pygent_app):
    client = await ws_client(greet=False)
    status = await client.recv("connection_status")
    data = status["data"]
    assert data["state"] == "connected"
    assert data["protocol_version"] == 1
    assert "metrics" in data["capabilities"]
    assert data["user"] == pygent_app.owner_name  # single-user server: the owner
    assert isinstance(status["seq"], int) and status["ts"].endswith("Z")


async def test_cookie_upgrade_from_foreign_origin_is_403(
    pygent_app, http_server_client, jp_fetch, jp_http_port, jp_base_url, jp_auth_header
):
    # a token login sets Jupyter's login cookie, exactly as a browser gets it
    response = await jp_fetch("api", "status", headers=jp_auth_header)
    cookies = [v.split(";")[0] for k, v in response.headers.get_all() if k == "Set-Cookie"]
    assert cookies, "expected a login cookie"
    cookie = "; ".join(cookies)
    url = _ws_url(jp_http_port, jp_base_url)
    host = f"127.0.0.1:{jp_http_port}"
    same = HTTPRequest(url, headers={"Cookie": cookie, "Origin": f"http://{host}", "Host": host})
    conn = await tornado.websocket.websocket_connect(same)
    assert json.loads(await conn.read_message())["type"] == "connection_status"
    conn.close()
    foreign = HTTPRequest(
        url, headers={"Cookie": cookie, "Origin": "http://evil.example", "Host": host}
    )
    with pytest.raises(HTTPClientError) as info:
        await tornado.websocket.websocket_connect(foreign)
    assert info.value.code == 403


async def test_health_and_schema_need_auth(pygent_app, jp_fetch, jp_auth_header):
    health = json.loads((await jp_fetch("pygent", "api", "health")).body)
    assert health["services"]["metrics"]["state"] == "up"
    assert health["uptime"] >= 0
    schema = json.loads((await jp_fetch("pygent", "api", "schema")).body)
    assert "chat_message" in schema["messages"]
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("pygent", "api", "health", headers={"Authorization": ""})
    assert info.value.code == 403


# -- bad input: a clear error, and the connection survives ---------------------------------


async def _alive(client):
    reply = await client.request("ping", {"ts": 1})
    assert reply["type"] == "pong"


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        ("{nope", "bad_json", None),
        ("[1, 2]", "invalid", "(root)"),
        ('{"data": {}}', "invalid", "type"),
        ('{"type": "subscribe", "id": "x", "data": {"topics": 5}}', "invalid", "data.topics"),
        ('{"type": "ping", "data": {"surprise": true}}', "invalid", "data.surprise"),
        ('{"type": "warp_drive", "data": {}}', "unknown_type", "type"),
        ("[" * 100_000 + "]" * 100_000, "bad_json", None),
    ],
)
async def test_bad_input_gets_error_and_connection_survives(ws_client, frame, code, field):
    client = await ws_client()
    await client.send_raw(frame)
    error = await client.recv("error")
    assert error["data"]["code"] == code
    assert error["data"].get("field") == field
    assert "Traceback" not in error["data"]["message"] and "/" not in error["data"]["message"][:1]
    await _alive(client)


async def test_error_reply_names_request(ws_client):
    client = await ws_client()
    await client.send_raw('{"type": "subscribe", "id": "abc", "data": {"topics": []}}')
    error = await client.recv("error")
    assert error["reply_to"] == "abc"


async def test_binary_frame_closes_1003(ws_client):
    client = await ws_client()
    await client.send_raw(b"\x00\x01")
    while (frame := await client.conn.read_message()) is not None:
        assert json.loads(frame)["type"] != "error"  # greetings of other services may arrive
    assert client.conn.close_code == 1003


@pytest.fixture
def pygent_config():
    return {"MetricsService": {"interval": 0.2}}


class TestSizeLimit:
    @pytest.fixture
    def pygent_config(self):
        return {"PygentJupyter": {"max_message_size": 64 * 1024}}

    async def test_oversized_frame_closes_1009(self, ws_client):
        client = await ws_client()
        await client.send("ping", {"ts": 1, "pad": "x" * (65 * 1024)})
        while (frame := await client.conn.read_message()) is not None:
            assert '"pong"' not in frame  # greetings of other services may still arrive
        assert client.conn.close_code == 1009

    async def test_default_limit_is_one_mib(self, pygent_app):
        assert type(pygent_app).max_message_size.default_value == 1024 * 1024


class TestOnlyMetrics:
    @pytest.fixture
    def pygent_config(self):
        return {
            "PygentJupyter": {
                "services": ["pygent_jupyter.services.metrics.service:MetricsService"]
            }
        }

    async def test_command_of_absent_service_is_unavailable(self, ws_client):
        client = await ws_client()
        with pytest.raises(AssertionError, match="unavailable"):
            await client.request("ollama_list_models", {})
        await _alive(client)


# -- metrics -------------------------------------------------------------------------------


async def test_request_system_metrics(ws_client):
    client = await ws_client()
    reply = await client.request("request_system_metrics", {}, reply_type="system_metrics")
    data = reply["data"]
    assert 0 <= data["cpu_percent"] <= 100 * data["cpu_count"]
    assert data["memory"]["total"] > 0
    gpu = await client.recv("gpu_metrics")
    assert gpu["reply_to"] == reply["reply_to"]
    # this machine has no NVIDIA driver: a clear "not available", never an exception
    assert gpu["data"]["available"] in (True, False)
    if not gpu["data"]["available"]:
        assert gpu["data"]["gpus"] == []


async def test_subscription_samples_once_per_interval_for_all(ws_client, pygent_app):
    metrics = pygent_app.hub.service("metrics")
    a, b = await ws_client(), await ws_client()
    assert metrics.samples_taken == 0  # nobody subscribed: no sampling
    await a.request("subscribe", {"topics": ["metrics"]})
    await b.request("subscribe", {"topics": ["metrics"]})
    for client in (a, b):
        for _ in range(3):
            event = await client.recv("system_metrics", timeout=3)
            assert "reply_to" not in event and event["seq"] > 0
    taken, started = metrics.samples_taken, time.monotonic()
    await asyncio.sleep(1.0)
    rate = (metrics.samples_taken - taken) / (time.monotonic() - started)
    assert rate < 1 / 0.2 * 1.6, f"sampled {rate:.1f}/s for two subscribers at 5/s"
    reply = await a.request("unsubscribe", {"topics": ["metrics"]})
    assert reply["data"]["topics"] == []
    await b.request("unsubscribe", {"topics": ["metrics"]})
    await asyncio.sleep(0.3)
    stopped_at = metrics.samples_taken
    await asyncio.sleep(0.6)
    assert metrics.samples_taken == stopped_at  # zero subscribers: sampling stopped


# -- delivery across users ------------------------------------------------------------------


class TwoUsers(IdentityProvider):
    """Test identity provider: ``Authorization: token alice`` is alice, ``bob`` is bob."""

    def get_user(self, handler):
        auth = handler.request.headers.get("Authorization", "")
        name = auth.removeprefix("token ").strip()
        return User(username=name) if name in ("alice", "bob") else None


class TestTwoUsers:
    @pytest.fixture
    def pygent_config(self):
        return {"ServerApp": {"identity_provider_class": TwoUsers}}

    async def test_personal_and_broadcast_delivery(self, ws_client, pygent_app):
        alice1 = await ws_client(headers={"Authorization": "token alice"})
        alice2 = await ws_client(headers={"Authorization": "token alice"})
        bob = await ws_client(headers={"Authorization": "token bob"})
        hub = pygent_app.hub
        hub.publish("alice", "system_alert", {"metric": "x", "state": "firing", "message": "a"})
        for client in (alice1, alice2):
            event = await client.recv("system_alert")
            assert event["data"]["message"] == "a"
        hub.broadcast("system_alert", {"metric": "x", "state": "resolved", "message": "all"})
        for client in (alice1, alice2, bob):
            event = await client.recv("system_alert")
            assert event["data"]["message"] == "all"
        # bob never saw alice's personal event
        assert [e["data"]["message"] for e in bob.events if e["type"] == "system_alert"] == ["all"]
        # sequence numbers are per user
        assert alice1.events[-1]["seq"] > bob.events[-1]["seq"]


# -- slow consumers and replay ------------------------------------------------------------


class TestSlowConsumer:
    @pytest.fixture
    def pygent_config(self):
        return {"PygentJupyter": {"max_queue_bytes": 512 * 1024, "outbox_high_water": 64 * 1024}}

    async def test_client_that_stops_reading_is_closed_and_memory_bounded(
        self, pygent_app, http_server_client, jp_http_port, jp_base_url, jp_auth_header
    ):
        # a raw socket that completes the handshake and then never reads
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", jp_http_port))
        handshake = (
            f"GET {jp_base_url}pygent/ws HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: {jp_auth_header['Authorization']}\r\n\r\n"
        )
        await loop.sock_sendall(sock, handshake.encode())
        assert b"101" in await loop.sock_recv(sock, 200)
        hub = pygent_app.hub
        for _ in range(100):
            if len(hub.connections):
                break
            await asyncio.sleep(0.01)
        (conn,) = list(hub.connections)
        payload = {"metric": "x", "state": "firing", "message": "y" * 16_000}
        peak = 0
        for _ in range(2000):
            hub.publish(conn.user, "system_alert", payload)
            peak = max(peak, conn.buffered_bytes)
            if conn.closed:
                break
            await asyncio.sleep(0)
        assert conn.closed and conn.close_code == 1008
        assert peak <= 512 * 1024 + 64 * 1024 + 2 * 16_100
        await asyncio.sleep(0.05)
        assert conn not in list(hub.connections)  # cleaned up
        sock.close()


class TestResume:
    @pytest.fixture
    def pygent_config(self):
        return {"PygentJupyter": {"replay_buffer_size": 5}}

    async def test_resume_replays_missed_events_then_resync_when_gone(self, ws_client, pygent_app):
        hub = pygent_app.hub
        first = await ws_client(query="?client_id=nb-1")
        last_seq = (await first.request("ping", {}))["seq"]
        await first.close()
        await asyncio.sleep(0.05)
        user = pygent_app.owner_name
        for i in range(3):
            hub.publish(user, "system_alert", {"metric": "m", "state": "firing", "message": str(i)})
        # a reply addressed to another client of the same user is not replayed to this one
        hub.publish(
            user,
            "system_alert",
            {"metric": "m", "state": "firing", "message": "other"},
            client_id="someone-else",
        )
        again = await ws_client(query="?client_id=nb-1")
        done = await again.request("resume", {"last_seq": last_seq}, reply_type="resumed")
        got = [e["data"]["message"] for e in again.events if e["type"] == "system_alert"]
        assert got == ["0", "1", "2"]
        assert done["data"]["replayed"] == 3
        for _ in range(10):  # overflow the 5-event ring
            hub.publish(user, "system_alert", {"metric": "m", "state": "firing", "message": "z"})
        with pytest.raises(AssertionError, match="resync"):
            await again.request("resume", {"last_seq": last_seq})
