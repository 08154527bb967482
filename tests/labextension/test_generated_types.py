"""The TypeScript message types are generated from the protocol and must stay current."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType

from pygent_jupyter.protocol import CATALOG, schema_document

ROOT = Path(__file__).resolve().parents[2]


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_ts_types", ROOT / "scripts/gen_ts_types.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_file_is_current() -> None:
    gen = _gen()
    current = gen.TARGET.read_text()
    assert current == gen.render(schema_document()), (
        "labextension/src/protocol.generated.ts is stale: run python scripts/gen_ts_types.py"
    )
    assert gen.main(["--check"]) == 0


def test_check_fails_when_the_catalog_changes(tmp_path: Path) -> None:
    gen = _gen()
    doc = schema_document()
    changed = copy.deepcopy(doc)
    changed["messages"]["ping"]["data_schema"]["properties"]["note"] = {"type": "string"}
    stale = tmp_path / "protocol.generated.ts"
    stale.write_text(gen.render(doc))
    assert gen.render(changed) != gen.render(doc)
    assert "note?: string;" in gen.render(changed)
    stale.write_text(gen.render(doc).replace("PROTOCOL_VERSION = 1", "PROTOCOL_VERSION = 0"))
    assert gen.main(["--check", "--output", str(stale)]) == 1


def test_every_catalog_type_has_an_interface_and_a_direction_group() -> None:
    gen = _gen()
    text = gen.TARGET.read_text()
    for mtype, spec in CATALOG.items():
        assert f"export type {gen.type_name(mtype)} = " in text
        group = {"client": "ClientMessages", "server": "ServerEvents", "local": "LocalEvents"}
        block = text.split(f"export interface {group[spec.direction]} {{", 1)[1].split("}", 1)[0]
        assert f"  {mtype}: {gen.type_name(mtype)};" in block


def test_schema_translation_keeps_required_enums_and_nulls() -> None:
    gen = _gen()
    ts = gen.schema_to_ts(
        {
            "type": "object",
            "properties": {
                "state": {"type": "string", "enum": ["firing", "resolved"]},
                "value": {"type": ["number", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["state"],
            "additionalProperties": False,
        }
    )
    assert 'state: "firing" | "resolved";' in ts
    assert "value?: number | null;" in ts
    assert "tags?: Array<string>;" in ts
    assert "[key: string]" not in ts
    assert "[key: string]: unknown;" in gen.schema_to_ts(
        {"type": "object", "properties": {}, "additionalProperties": True}
    )
