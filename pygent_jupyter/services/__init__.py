"""Services hosted behind the socket. Each has a pure core and a thin :class:`Service`."""

from .base import Service

__all__ = ["Service"]
