"""docs/architecture.md's module table lists every package, each with a working link to its doc."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "pygent_jupyter"

# described in architecture.md itself (the handler, connections and REST rows; the service
# contract, seams and run base rows)
NO_DOC_OF_ITS_OWN = {"server", "services"}


def _table_rows() -> list[str]:
    text = (DOCS / "architecture.md").read_text()
    table = text.split("## Modules", 1)[1].split("\n\n", 2)[1]
    return [line for line in table.splitlines() if line.startswith("| `")]


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", doc.read_text(), flags=re.M)}


def _packages() -> list[str]:
    found = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()]
    services = PACKAGE / "services"
    found += [f"services/{p.name}" for p in services.iterdir() if (p / "__init__.py").exists()]
    return sorted(found)


def test_every_package_and_module_is_in_the_table() -> None:
    rows = _table_rows()
    firsts = [row.split("|")[1] for row in rows]
    names = [*_packages(), "labextension"]
    names += [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "_version")]
    for name in names:
        spelled = (f"`{name}/", f"`{name}.py`", f"`pygent_jupyter/{name}.py`")
        assert any(s in first for first in firsts for s in spelled), (
            f"docs/architecture.md: no row for {name!r}"
        )


def test_every_package_row_links_to_its_doc() -> None:
    rows = _table_rows()
    for name in [*_packages(), "labextension"]:
        if name in NO_DOC_OF_ITS_OWN:
            continue
        row = next(r for r in rows if f"`{name}/" in r.split("|")[1])
        assert re.search(r"\]\([a-z0-9-]+\.md", row), f"the {name!r} row has no link to docs/"


def test_links_in_the_architecture_doc_resolve() -> None:
    text = (DOCS / "architecture.md").read_text()
    links = re.findall(r"\]\(([a-z0-9-]+\.md)(?:#([\w-]+))?\)", text)
    assert links
    for target, anchor in links:
        doc = DOCS / target
        assert doc.exists(), f"docs/architecture.md links to a missing {target}"
        if anchor:
            assert anchor in _anchors(doc), f"docs/{target} has no heading for #{anchor}"
