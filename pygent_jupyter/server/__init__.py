"""Tornado-facing pieces: the websocket handler, connections, REST endpoints."""
