"""Protocol v1: envelopes, the message catalog, validation and error codes. Pure, no I/O."""

from .catalog import CATALOG, client_types, schema_document, server_types
from .envelope import Message, decode, encode, now_iso, validate_data
from .errors import ErrorCode, PygentError
from .spec import MessageSpec

__all__ = [
    "CATALOG",
    "ErrorCode",
    "Message",
    "MessageSpec",
    "PygentError",
    "client_types",
    "decode",
    "encode",
    "now_iso",
    "schema_document",
    "server_types",
    "validate_data",
]
