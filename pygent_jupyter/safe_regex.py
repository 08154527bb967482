"""Regular expressions from users, matched in linear time (RE2), safe on the event loop.

Python's :mod:`re` backtracks: a 20-character pattern such as ``(a+)+$`` can take seconds
per character of input, and it runs on whatever thread calls it. Patterns that users (task
sets) or tool servers (JSON Schema ``pattern``) supply are compiled here with google-re2
instead, whose matching time is linear in the input. RE2 has no backreferences or
lookaround; such a pattern is refused with :class:`re.error`, like any invalid pattern.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_PATTERN", "SafePattern", "compile", "linear_time_validator"]

MAX_PATTERN = 1000
"""Longest pattern accepted, in characters."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8_safe(text: str) -> str:
    """RE2 matches UTF-8: replace lone surrogates, which cannot be encoded."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


class SafePattern:
    """A compiled RE2 pattern with :meth:`search` like :class:`re.Pattern`'s."""

    __slots__ = ("_regex", "pattern")

    def __init__(self, pattern: str, regex: Any) -> None:
        self.pattern = pattern
        self._regex = regex

    def search(self, text: str) -> Any:
        """The first match in ``text`` or None; time linear in ``len(text)``."""
        return self._regex.search(_utf8_safe(text))


def compile(pattern: str, *, ignore_case: bool = False, multiline: bool = False) -> SafePattern:
    """Compile ``pattern`` with RE2. Raises :class:`re.error` with a message fit for a user
    for an invalid pattern, one RE2 does not support, or one over :data:`MAX_PATTERN`."""
    return _compile(pattern, ignore_case, multiline)


@functools.lru_cache(maxsize=512)
def _compile(pattern: str, ignore_case: bool, multiline: bool) -> SafePattern:
    try:
        import re2
    except ImportError:  # pragma: no cover - a dependency; kept readable for broken installs
        raise re.error("user regular expressions need the google-re2 package") from None
    if len(pattern) > MAX_PATTERN:
        raise re.error(f"pattern is longer than {MAX_PATTERN} characters")
    flags = ("i" if ignore_case else "") + ("m" if multiline else "")
    source = f"(?{flags}){pattern}" if flags else pattern
    options = re2.Options()
    options.log_errors = False  # the reason goes to the user, not to the server's stderr
    try:
        regex = re2.compile(_utf8_safe(source), options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise re.error(f"{reason} (RE2 syntax: no backreferences or lookaround)") from None
    except Exception as exc:  # the binding raises TypeError/ValueError for odd input
        raise re.error(str(exc)) from None
    return SafePattern(pattern, regex)


def _pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """JSON Schema ``pattern`` with RE2. A pattern RE2 cannot compile is not checked here
    (the tool server still validates its own arguments)."""
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "string"):
        return
    try:
        compiled = compile(pattern)
    except re.error:
        return
    if compiled.search(instance) is None:
        yield ValidationError(f"{instance[:80]!r} does not match {pattern!r}")


def linear_time_validator(cls: Any) -> Any:
    """``cls`` (a jsonschema validator class) with ``pattern`` matched by RE2."""
    from jsonschema import validators

    return validators.extend(cls, {"pattern": _pattern_keyword})
