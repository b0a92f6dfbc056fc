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


# The real command with one function wrapped: it announces each call on stdout and takes ``pause`` seconds more
# (a slow model), so that the signal lands while that stage works.
SLOWED = """
import sys, time
sys.path.insert(0, {root!r})
import importlib
owner = importlib.import_module({module!r})
*path, name = {name!r}.split(".")
for part in path:
    owner = getattr(owner, part)
real = getattr(owner, name)
def slowed(*args, **kwargs):
    time.sleep({pause!r})
    out = real(*args, **kwargs)
    print("called", flush=True)
    return out
setattr(owner, name, slowed)
from datagen.cli import main
main({argv!r})
"""


def _slowed(
    argv: list[str], module: str, name: str, pause: float, calls: int
) -> tuple[subprocess.Popen, float, str]:
    """Start the command, wait for ``calls`` announced calls, SIGTERM it while the next one works; (the process,
    seconds it took to exit, its stderr)."""
    code = SLOWED.format(root=str(ROOT), module=module, name=name, pause=pause, argv=argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DATAGEN_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    for _ in range(calls):
        assert proc.stdout.readline().strip() == "called", proc.communicate()
    time.sleep(pause / 3)  # inside the next call
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return proc, time.monotonic() - t0, err


@pytest.mark.timeout(120)
def test_sigterm_during_perplexity_scoring_writes_the_verdicts_computed_and_exits_within_two_seconds(
    tmp_path: Path,
) -> None:
    from tests.finetune_tiny import make_tiny_model

    model = make_tiny_model(tmp_path / "tiny")
    data = tmp_path / "d.jsonl"
    with data.open("w") as f:
        for i in range(200):
            f.write(
                json.dumps({"instruction": f"Explain the idea number {i}.", "output": f"It is idea {i}."})
                + "\n"
            )
    db = tmp_path / "t.db"
    base = ["--db", str(db)]
    r = subprocess.run([sys.executable, "-m", "datagen", *base, "import", str(data), "--format", "jsonl"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    argv = [*base, "filter", "--filters", "heuristics", "--filters", "perplexity", "--policy", "any",
            "--settings", f"perplexity={{model: {model}, threshold: 1.0e9}}", "--histogram-png", ""]  # fmt: skip
    proc, took, err = _slowed(argv, "datagen.lm", "perplexities", 1.5, calls=2)
    assert proc.returncode == 143, err
    assert took < 2.0, took
    con = sqlite3.connect(db)
    verdicts = dict(con.execute("SELECT filter_name, count(*) FROM verdicts GROUP BY filter_name").fetchall())
    statuses = dict(con.execute("SELECT status, count(*) FROM records GROUP BY status").fetchall())
    runs = con.execute("SELECT status FROM runs WHERE kind = 'filter'").fetchall()
    con.close()
    # the first batch (the records' first 256, i.e. all 200): heuristics finished, perplexity's first two slices
    assert verdicts == {"heuristics": 200, "perplexity": 2 * 32}
    assert statuses == {"generated": 200} and runs == [
        ("interrupted",)
    ]  # no status before the batch is whole
    r = subprocess.run([sys.executable, "-m", "datagen", *argv, "--json"], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (
        summary["filters"]["heuristics"]["reused"] == 200 and summary["filters"]["perplexity"]["reused"] == 64
    )
    assert summary["filters"]["perplexity"]["scored"] == 200 - 64 and summary["kept"] == 200


def _train_argv(tmp_path: Path, max_steps: int) -> tuple[list[str], Path]:
    from datagen.store import open_store
    from tests.finetune_tiny import make_tiny_model, seed_dataset

    model = make_tiny_model(tmp_path / "tiny")
    db = tmp_path / "t.db"
    store = open_store(f"sqlite:///{db}")
    seed_dataset(store, splits=(8, 0, 0))
    store.close()
    argv = ["--db", str(db), "train", "--dataset", "tiny", "--base-model", str(model), "--method", "lora",
            "--max-steps", str(max_steps), "--per-device-train-batch-size", "2", "--effective-batch-size", "2",
            "--precision", "fp32", "--max-length", "64", "--output-root", str(tmp_path / "out")]  # fmt: skip
    return argv, db


@pytest.mark.timeout(180)
def test_sigterm_during_training_saves_a_checkpoint_that_resume_goes_on_from(tmp_path: Path) -> None:
    argv, db = _train_argv(tmp_path, max_steps=8)
    proc, took, err = _slowed(argv, "transformers.trainer", "Trainer.training_step", 0.6, calls=2)
    assert proc.returncode == 143 and took < 2.0, (took, err)
    assert "checkpoint saved:" in err and "datagen train --resume" in err, err
    saved = Path(err.split("checkpoint saved: ")[1].split(";")[0])
    assert saved.name == "checkpoint-3"  # the step in progress ended, then the checkpoint
    assert (saved / "adapter_model.safetensors").exists() and (saved / "trainer_state.json").exists()
    con = sqlite3.connect(db)
    assert con.execute("SELECT status FROM train_runs").fetchall() == [("interrupted",)]
    con.close()
    r = subprocess.run([sys.executable, "-m", "datagen", *argv, "--resume", "--json"], capture_output=True,
                       text=True, env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["resumed_from"] == str(saved) and out["global_step"] == 8 and out["status"] == "succeeded"


@pytest.mark.timeout(180)
def test_sigterm_during_a_step_too_long_to_finish_says_no_checkpoint_was_saved(tmp_path: Path) -> None:
    argv, _ = _train_argv(tmp_path, max_steps=8)
    proc, took, err = _slowed(argv, "transformers.trainer", "Trainer.training_step", 6.0, calls=1)
    assert proc.returncode == 143 and took < 2.0, (took, err)
    assert "no checkpoint was saved now" in err, err
    assert not list((tmp_path / "out").glob("*/checkpoints/checkpoint-*"))
