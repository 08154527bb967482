"""Test doubles shipped with the package, for this project's tests and benchmarks and for
packages that build on it (no test dependency beyond Tornado)."""

from .ollama_server import OllamaTestServer, Reply
from .openai_server import OpenAITestServer

__all__ = ["OllamaTestServer", "OpenAITestServer", "Reply"]
