"""``python -m pygent_jupyter config``: every setting of the extension and its services.

Prints a commented ``jupyter_server_config.py`` section per configurable class (the same
text ``jupyter --generate-config`` writes), so ``c.MetricsService.interval`` and friends can
be looked up without reading the source.
"""

from __future__ import annotations

import importlib
import sys

from traitlets.config import Configurable

EXTRA_CLASSES = [
    "pygent_jupyter.llm.ollama:OllamaProvider",
    "pygent_jupyter.llm.local:LocalProvider",
]


def configurable_classes() -> list[type[Configurable]]:
    """The app, every default service and the LLM providers, importable ones only."""
    from .app import PygentJupyter

    classes: list[type[Configurable]] = [PygentJupyter]
    defaults: list[str] = list(PygentJupyter.class_traits()["services"].default() or [])
    for spec in [*defaults, *EXTRA_CLASSES]:
        module, _, name = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module), name)
        except Exception as exc:  # an optional dependency is missing
            print(f"# {spec}: not importable ({exc})", file=sys.stderr)
            continue
        if cls not in classes:
            classes.append(cls)
    return classes


def main(argv: list[str]) -> int:
    if argv[:1] != ["config"]:
        print("usage: python -m pygent_jupyter config", file=sys.stderr)
        return 2
    for cls in configurable_classes():
        print(cls.class_config_section(classes=list(cls.__mro__)))  # own traits only
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
