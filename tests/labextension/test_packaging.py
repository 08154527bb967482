"""The wheel ships the prebuilt lab extension where JupyterLab finds it (no Node.js needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pygent_jupyter

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "pygent_jupyter" / "labextension"


def _require_build() -> None:
    if not (BUILT / "package.json").exists():
        pytest.fail(
            "the lab extension is not built: run `npm ci && npm run build:prod` in labextension/"
        )


def test_labextension_paths_point_at_the_build() -> None:
    _require_build()
    (entry,) = pygent_jupyter._jupyter_labextension_paths()
    assert entry["dest"] == "pygent-jupyter"
    built = Path(pygent_jupyter.__file__).parent / entry["src"]
    meta = json.loads((built / "package.json").read_text())
    assert meta["name"] == "pygent-jupyter"
    assert (built / meta["jupyterlab"]["_build"]["load"]).is_file()
    schema = json.loads((built / "schemas/pygent-jupyter/plugin.json").read_text())
    assert {"defaultAgent", "metricsInterval", "chartWindow"} <= schema["properties"].keys()


@pytest.mark.slow
def test_wheel_carries_the_prebuilt_extension(tmp_path: Path) -> None:
    _require_build()
    env_free_of_node = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            "-q",
        ],
        check=True,
        env=env_free_of_node,  # prebuilt output exists, so no npm may be needed
        timeout=240,
    )
    (wheel,) = tmp_path.glob("pygent_jupyter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    prefix = next(n.split("/share/")[0] for n in names if "/share/jupyter/labextensions/" in n)
    share = f"{prefix}/share/jupyter/labextensions/pygent-jupyter/"
    meta = json.loads(zipfile.ZipFile(wheel).read(share + "package.json"))
    assert share + meta["jupyterlab"]["_build"]["load"] in names
    assert share + "static/style.js" in names
    assert share + "schemas/pygent-jupyter/plugin.json" in names
    assert f"{prefix}/etc/jupyter/jupyter_server_config.d/pygent_jupyter.json" in names
