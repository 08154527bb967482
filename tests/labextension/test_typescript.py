"""The TypeScript side: type-checks against the generated protocol types, and its unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LABEXT = Path(__file__).resolve().parents[2] / "labextension"

pytestmark = pytest.mark.slow


def _npx(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("npx") is None:
        pytest.fail("Node.js is needed for the TypeScript checks (Node 20 + npm)")
    if not (LABEXT / "node_modules").is_dir():
        pytest.fail("run `npm ci` in labextension/ first")
    return subprocess.run(
        ["npx", "--no-install", *args],
        cwd=LABEXT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_typescript_compiles_against_the_generated_protocol() -> None:
    result = _npx("tsc", "--noEmit")
    assert result.returncode == 0, result.stdout + result.stderr


def test_vitest_unit_tests_pass() -> None:
    result = _npx("vitest", "run", "--reporter=dot")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_sources_are_prettier_formatted() -> None:
    result = _npx(
        "prettier", "--check", "src/**/*.ts", "test/**/*.ts", "style/*.css", "schema/*.json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
