#!/usr/bin/env bash
# Install torch into a virtual environment, then write the constraints that keep it there.
#   scripts/install-torch.sh VENV [cpu|cuda]      (mode default: $DATAGEN_TORCH, else cpu)
# cpu:  a CPU build of torch $TORCH_VERSION, never a CUDA one. First from the indexes pip is configured with
#       (a local wheel folder, a mirror, PyTorch's CPU index if you set it); when they have no CPU build,
#       from PyTorch's CPU wheel index. On macOS PyPI's own wheel is the CPU build.
# cuda: PyPI's torch (a CUDA build on Linux), or the index in $DATAGEN_TORCH_INDEX
#       (e.g. https://download.pytorch.org/whl/cu128 for another CUDA version); checked to be a CUDA build.
# Writes VENV/datagen-constraints.txt: scripts/constraints-cpu.txt with its torch line replaced by the torch
# that was installed, so that installing everything else (`pip install -c ...`) never replaces it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$1
MODE=${2:-${DATAGEN_TORCH:-cpu}}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
CPU_INDEX=https://download.pytorch.org/whl/cpu
PY=$VENV/bin/python
pip_() {  # quiet pip, minus the notices some machines print about missing local index folders
  "$PY" -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}
build() {  # what the venv's torch is: "2.13.0+cpu cpu", "2.13.0 cuda", or nothing
  "$PY" - 2>/dev/null <<'EOF' || true
import importlib.util, pathlib, runpy  # torch/version.py, read without importing torch (seconds)
spec = importlib.util.find_spec("torch")
if spec and spec.origin:
    v = runpy.run_path(str(pathlib.Path(spec.origin).parent / "version.py"))
    print(v["__version__"], "cuda" if v.get("cuda") else "cpu")
EOF
}

case "$MODE" in
  cpu)
    have=$(build)
    if [ "${have%% *}" != "$TORCH_VERSION" ] && [ "${have%% *}" != "$TORCH_VERSION+cpu" ] || [ "${have##* }" != cpu ]; then
      if [ "$(uname -s)" = Darwin ]; then
        pip_ install "torch==$TORCH_VERSION"
      elif ! err=$(pip_ install "torch==$TORCH_VERSION+cpu" 2>&1); then
        echo "no CPU build of torch $TORCH_VERSION on the configured indexes; taking it from $CPU_INDEX" >&2
        pip_ install "torch==$TORCH_VERSION+cpu" --index-url "$CPU_INDEX" || {
          echo "$err" >&2
          echo "could not install a CPU build of torch $TORCH_VERSION (above: what the configured indexes said)" >&2
          exit 1
        }
      fi
    fi
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      echo "note: this machine has an NVIDIA GPU; DATAGEN_TORCH=cuda installs a CUDA build (README: 'GPU')" >&2
    fi
    ;;
  cuda)
    have=$(build)
    [ -z "$have" ] || [ "${have##* }" = cuda ] || pip_ uninstall -y torch  # "torch==X" would keep X+cpu
    pip_ install "torch==$TORCH_VERSION" ${DATAGEN_TORCH_INDEX:+--index-url "$DATAGEN_TORCH_INDEX"}
    ;;
  *)
    echo "DATAGEN_TORCH must be cpu or cuda, not '$MODE'" >&2
    exit 2
    ;;
esac

have=$(build)
if [ "${have##* }" != "$MODE" ]; then
  echo "expected a $MODE build of torch, got ${have:-none} in $VENV" >&2
  [ "$MODE" = cuda ] && echo "pip preferred a CPU wheel (a local wheel folder or a mirror): set DATAGEN_TORCH_INDEX=https://download.pytorch.org/whl/cu128 (your CUDA version), or install a CUDA build of torch $TORCH_VERSION into $VENV yourself, and rerun" >&2
  exit 1
fi
{ grep -v '^torch==' scripts/constraints-cpu.txt; echo "torch==${have%% *}"; } > "$VENV/datagen-constraints.txt"
