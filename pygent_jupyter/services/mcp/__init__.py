"""The MCP server fleet: admin configuration, lifecycle, health, tool discovery and calls."""

from __future__ import annotations

from .service import MCPService

__all__ = ["MCPService"]
