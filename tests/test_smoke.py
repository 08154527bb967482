from __future__ import annotations


async def test_ping(ws_client):
    client = await ws_client()
    reply = await client.request("ping", {"ts": 1.5})
    assert reply["type"] == "pong"
    assert reply["data"]["ts"] == 1.5
