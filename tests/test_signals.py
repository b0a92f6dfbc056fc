"""SIGTERM while a local model generates: the process exits within 2 s, caches no half-generated answer, and
the run is marked interrupted (the API path is covered with the loopback teacher in test_concurrency.py)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gen_fakes import write_seeds

ROOT = Path(__file__).resolve().parent.parent

# The real command, with lm.generate announcing each call on stdout (so the signal lands mid-generation).
CHILD = """
import sys
sys.path.insert(0, {root!r})
from datagen import lm
from datagen.cli import main

real = lm.generate
def announced(*args, **kwargs):
    print("generating", flush=True)
    return real(*args, **kwargs)
lm.generate = announced
main({argv!r})
"""


@pytest.mark.timeout(120)
def test_sigterm_during_local_generation_exits_within_two_seconds(tmp_path: Path) -> None:
    from tests.finetune_tiny import make_tiny_model

    model = make_tiny_model(tmp_path / "tiny")
    config = json.loads((model / "config.json").read_text())
    config["max_position_embeddings"] = 8192  # long prompts and answers: one call runs for many seconds
    (model / "config.json").write_text(json.dumps(config))
    seeds = write_seeds(tmp_path / "seeds.jsonl", [("Give three tips for staying healthy.", False)] * 1)
    db = tmp_path / "t.db"
    argv = ["--db", str(db), "generate", "self-instruct", "--seeds", str(seeds), "--n", "4", "--max-steps", "1",
            "--prompts-per-step", "4", "--provider", "local", "--model", str(model), "--max-tokens", "4000",
            "--sampling-stop", "NEVER-STOP", "--sampling-temperature", "0", "--sampling-presence-penalty", "0"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DATAGEN_PROGRESS": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(root=str(ROOT), argv=argv)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "generating", proc.communicate()
    time.sleep(1.0)  # well inside the first batch (4,000 tokens each)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 143 and "terminated; rerun the same command to resume" in err, err
    assert took < 2.0, took
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM completions").fetchone()[0] == 0  # nothing half-generated kept
    assert con.execute("SELECT status FROM runs WHERE kind = 'generate'").fetchall() == [("interrupted",)]
    con.close()
