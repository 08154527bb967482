#!/usr/bin/env bash
# Set up (see scripts/setup.sh), then start JupyterLab with the extension, opened on the
# quickstart notebook. Everything runs on the embedded defaults: no Ollama, no GPU needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYGENT_SKIP_BROWSER=1 ./scripts/setup.sh
ROOT_FLAG=""; [ "$(id -u)" = "0" ] && ROOT_FLAG="--allow-root"
exec .venv/bin/jupyter lab $ROOT_FLAG notebooks/01_quickstart.ipynb "$@"
