"""Who may read and write which memory namespace (pure: no I/O, no service state).

Every user has a private namespace ``user:<name>`` that only they can read or write (the
default for every command). Admins configure shared namespaces as
``{"team": {"read": ["*"], "write": ["alice"]}}``; ``"*"`` means every user. A shared name
uses ``[A-Za-z0-9_.:-]`` and must not start with ``user:``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...protocol import ErrorCode, PygentError

__all__ = ["NamespaceAccess", "private_namespace"]

PRIVATE_PREFIX = "user:"


def private_namespace(user: str) -> str:
    """The name of ``user``'s private namespace."""
    return f"{PRIVATE_PREFIX}{user}"


class NamespaceAccess:
    """The access rules of one configuration of shared namespaces."""

    def __init__(self, shared: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        """``shared``: ``{name: {"read": [users], "write": [users]}}``. Raises ``ValueError``
        for a shared name that would shadow private namespaces."""
        for name in shared:
            if name.startswith(PRIVATE_PREFIX):
                raise ValueError(f"shared namespace {name!r} must not start with 'user:'")
        self.shared = shared

    def resolve(self, user: str, namespace: str | None, action: str) -> str:
        """The namespace ``user`` may ``action`` (``"read"`` or ``"write"``): their private
        one when ``namespace`` is None. Raises ``forbidden`` (another user's private
        namespace, or not in the ACL) or ``not_found`` (no such shared namespace)."""
        if namespace is None or namespace == private_namespace(user):
            return private_namespace(user)
        if namespace.startswith(PRIVATE_PREFIX):
            raise PygentError(
                ErrorCode.FORBIDDEN,
                f"namespace {namespace!r} is another user's private memory",
                field="namespace",
            )
        acl = self.shared.get(namespace)
        if acl is None:
            raise PygentError(
                ErrorCode.NOT_FOUND,
                f"no shared namespace {namespace!r} is configured; use your private namespace "
                "(omit `namespace`) or ask an admin to add it to c.MemoryService.shared_namespaces",
                field="namespace",
            )
        if not self._may(acl, action, user):
            raise PygentError(
                ErrorCode.FORBIDDEN,
                f"you may not {action} namespace {namespace!r}",
                field="namespace",
            )
        return namespace

    def readable(self, user: str) -> list[str]:
        """Every namespace ``user`` may read, their private one first."""
        return self._all(user, "read")

    def writable(self, user: str) -> list[str]:
        """Every namespace ``user`` may write, their private one first."""
        return self._all(user, "write")

    def _all(self, user: str, action: str) -> list[str]:
        names = [private_namespace(user)]
        names += [n for n, acl in self.shared.items() if self._may(acl, action, user)]
        return names

    @staticmethod
    def _may(acl: Mapping[str, Sequence[str]], action: str, user: str) -> bool:
        allowed = acl.get(action, [])
        return "*" in allowed or user in allowed
