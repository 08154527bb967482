"""The Python TypedDicts are generated from the catalog, stay current, and describe it exactly."""

from __future__ import annotations

import copy
import importlib.util
import shutil
import subprocess
import sys
import types as pytypes
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from pygent_jupyter.client import event_data
from pygent_jupyter.client.typed import message_type_of
from pygent_jupyter.protocol import CATALOG, schema_document
from pygent_jupyter.protocol import types as T

ROOT = Path(__file__).resolve().parents[1]


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_ts_types", ROOT / "scripts/gen_ts_types.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ruff() -> str | None:
    here = Path(sys.executable).parent / "ruff"
    return str(here) if here.exists() else shutil.which("ruff")


# -- current and clean --------------------------------------------------------------------


def test_generated_python_types_are_current() -> None:
    gen = _gen()
    assert gen.PY_TARGET.read_text() == gen.render_python(schema_document()), (
        "pygent_jupyter/protocol/types.py is stale: run python scripts/gen_ts_types.py"
    )


def test_check_fails_when_the_python_types_are_stale(tmp_path: Path) -> None:
    gen = _gen()
    doc = schema_document()
    changed = copy.deepcopy(doc)
    changed["messages"]["ping"]["data_schema"]["properties"]["note"] = {"type": "string"}
    assert "    note: NotRequired[str]\n" in gen.render_python(changed)
    assert "    note: NotRequired[str]\n" not in gen.render_python(doc)
    stale = tmp_path / "types.py"
    stale.write_text(gen.render_python(changed))
    assert gen.main(["--check", "--python-output", str(stale)]) == 1
    stale.write_text(gen.render_python(doc))
    assert gen.main(["--check", "--python-output", str(stale)]) == 0


def test_generated_python_is_ruff_clean(tmp_path: Path) -> None:
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed")
    target = tmp_path / "types.py"
    target.write_text(_gen().render_python(schema_document()))
    config = ["--config", str(ROOT / "pyproject.toml")]
    fmt = subprocess.run([ruff, "format", "--check", *config, str(target)], capture_output=True)
    assert fmt.returncode == 0, fmt.stdout.decode() + fmt.stderr.decode()
    lint = subprocess.run([ruff, "check", *config, str(target)], capture_output=True)
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()


# -- the types describe the schemas --------------------------------------------------------


def _members(tp: Any) -> list[Any]:
    return list(get_args(tp)) if get_origin(tp) in (Union, pytypes.UnionType) else [tp]


def _compare(schema: Any, tp: Any, where: str) -> None:
    """Keys, required-ness and nesting of ``tp`` follow ``schema``."""
    if not isinstance(schema, dict):
        return
    for member in _members(tp):
        if schema.get("properties") and is_typeddict(member):
            props, required = schema["properties"], set(schema.get("required", []))
            assert member.__required_keys__ == required, where
            assert member.__optional_keys__ == set(props) - required, where
            hints = get_type_hints(member)
            for key, sub in props.items():
                _compare(sub, hints[key], f"{where}.{key}")
        elif get_origin(member) is list and isinstance(schema.get("items"), dict):
            _compare(schema["items"], get_args(member)[0], f"{where}[]")


def test_every_message_has_data_types_matching_its_schema() -> None:
    gen = _gen()
    assert set(T.DATA_TYPES) == set(CATALOG)
    for mtype, spec in CATALOG.items():
        kind = T.DATA_TYPES[mtype]
        assert kind is getattr(T, gen.type_name(mtype))
        _compare(spec.schema, kind, mtype)
    # spot checks: enums are Literal, nullable keys are optional unions with None
    hints = get_type_hints(T.AgentProgressData)
    assert get_args(hints["state"]) == ("calling", "waiting", "done", "budget_spent")
    assert T.ChatStreamData.__required_keys__ == {"message_id", "delta"}


def test_every_incoming_event_has_an_envelope_type() -> None:
    incoming = {t for t, s in CATALOG.items() if s.direction != "client"}
    assert set(get_args(T.EventType)) == incoming
    assert set(get_args(T.ClientType)) == set(CATALOG) - incoming
    members = set(_members(T.IncomingEvent))
    assert len(members) == len(incoming)
    for event in members:
        hints = get_type_hints(event)
        (mtype,) = get_args(hints["type"])
        assert hints["data"] is T.DATA_TYPES[mtype]
        assert event.__required_keys__ == {"type", "data"}


def _conforms(value: Any, tp: Any, where: str = "data") -> None:
    """A small runtime type check: ``value`` is a valid instance of the static type ``tp``."""
    origin = get_origin(tp)
    if tp is Any:
        return
    if origin in (Union, pytypes.UnionType):
        errors = []
        for member in get_args(tp):
            try:
                _conforms(value, member, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{where}: {value!r} matches no member of {tp}: {errors}")
    if origin is Literal:
        assert value in get_args(tp), f"{where}: {value!r} not in {tp}"
    elif tp is type(None):
        assert value is None, where
    elif tp is bool or tp is str:
        assert type(value) is tp, f"{where}: {value!r} is not {tp.__name__}"
    elif tp is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r}"
    elif tp is float:
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
    elif origin is list:
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            _conforms(item, get_args(tp)[0], f"{where}[{i}]")
    elif origin is dict:
        assert isinstance(value, dict), where
        for key, item in value.items():
            _conforms(item, get_args(tp)[1], f"{where}.{key}")
    elif is_typeddict(tp):
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        missing = tp.__required_keys__ - set(value)
        assert not missing, f"{where}: missing {sorted(missing)}"
        hints = get_type_hints(tp)
        for key, item in value.items():
            if key in hints:
                _conforms(item, hints[key], f"{where}.{key}")
    else:
        raise AssertionError(f"{where}: no rule for {tp!r}")


def test_catalog_examples_are_instances_of_their_types() -> None:
    for mtype, spec in CATALOG.items():
        _conforms(spec.example.get("data", {}), T.DATA_TYPES[mtype], mtype)


def test_the_runtime_checker_can_fail() -> None:
    with pytest.raises(AssertionError, match="missing"):
        _conforms({"delta": "x"}, T.ChatStreamData)
    with pytest.raises(AssertionError, match=r"matches no member|not in"):
        _conforms(
            {"message_id": "m", "step": 1, "max_steps": 2, "state": "bored"}, T.AgentProgressData
        )


def test_translation_of_the_schema_features_the_catalog_uses() -> None:
    gen = _gen()
    doc: dict[str, Any] = {
        "messages": {
            "thing": {
                "direction": "server",
                "domain": "test",
                "description": "A test.",
                "data_schema": {
                    "type": "object",
                    "properties": {
                        "state": {"enum": ["a", "b", None]},
                        "when": {"type": ["string", "number", "null"]},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "any_of": {"anyOf": [{"type": "integer"}, {"type": "array"}]},
                        "pairs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"from": {"type": "string"}},
                                "required": ["from"],
                            },
                        },
                    },
                    "required": ["state"],
                    "additionalProperties": True,
                },
            }
        }
    }
    text = gen.render_python(doc)
    assert '    state: Literal["a", "b"] | None\n' in text
    assert "    when: NotRequired[str | float | None]\n" in text
    assert "    tags: NotRequired[list[str]]\n" in text
    assert "    meta: NotRequired[dict[str, int]]\n" in text
    assert "    any_of: NotRequired[int | list[Any]]\n" in text
    assert (
        'ThingPairsItem = TypedDict(\n    "ThingPairsItem",\n    {\n        "from": str,\n' in text
    )
    assert "The server may send keys not listed here." in text
    namespace: dict[str, Any] = {}
    exec(compile(text, "<generated>", "exec", dont_inherit=True), namespace)
    assert namespace["ThingPairsItem"].__required_keys__ == {"from"}
    assert namespace["ThingData"].__required_keys__ == {"state"}


def test_name_collisions_are_refused() -> None:
    gen = _gen()
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    doc = {
        "messages": {
            t: {"direction": "client", "domain": "x", "description": "", "data_schema": schema}
            for t in ("a_b", "a__b")
        }
    }
    with pytest.raises(ValueError, match="not unique"):
        gen.render_python(doc)


# -- using them -------------------------------------------------------------------------


def test_event_data_checks_the_event_type() -> None:
    usage = {"type": "usage", "data": {"day": "2026-01-01"}, "seq": 3}
    assert event_data(usage, T.UsageData) == {"day": "2026-01-01"}
    with pytest.raises(TypeError, match="expected a 'usage' event, got 'error'"):
        event_data({"type": "error", "data": {"code": "invalid"}}, T.UsageData)
    with pytest.raises(TypeError, match="not the generated data type"):
        event_data(usage, T.UsageToday)  # a nested type names no message
    assert message_type_of(T.ChatStreamData) == "chat_stream"


@pytest.mark.slow
def test_mypy_rejects_misuse_of_the_types(tmp_path: Path) -> None:
    """The types catch a misspelt key and a wrong value type, and narrow events on ``type``."""
    pytest.importorskip("mypy")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from pygent_jupyter.client import event_data\n"
        "from pygent_jupyter.hub import Request\n"
        "from pygent_jupyter.protocol.types import ChatMessageData, IncomingEvent, UsageData\n"
        "\n"
        "async def ok(r: Request[ChatMessageData]) -> str:\n"
        '    return r.data["message"]["content"]\n'
        "\n"
        "async def misspelt(r: Request[ChatMessageData]) -> object:\n"
        '    return r.data["mesage"]\n'  # line 9
        "\n"
        "def narrowed(e: IncomingEvent) -> str:\n"
        '    if e["type"] == "chat_stream":\n'
        '        return e["data"]["delta"]\n'
        '    return ""\n'
        "\n"
        "def usage(e: dict[str, object]) -> int:\n"
        '    return event_data(e, UsageData)["today"]["total_tokens"]\n'
        "\n"
        'x: ChatMessageData = {"message": {"content": "hi", "agentId": 3}}\n'  # line 19
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(snippet)],
        capture_output=True,
        text=True,
        cwd=ROOT,  # reuse the project's mypy cache
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, result.stdout + result.stderr
    assert 'snippet.py:9: error: TypedDict "ChatMessageData" has no key "mesage"' in errors[0]
    assert "snippet.py:19: error:" in errors[1] and '"agentId"' in errors[1]


def test_the_protocol_doc_names_the_generated_types() -> None:
    from pygent_jupyter.protocol import docgen

    gen = _gen()
    text = docgen.render()
    for mtype in CATALOG:
        assert docgen._type_name(mtype) == gen.type_name(mtype)
        assert f"data type `{gen.type_name(mtype)}`" in text
