"""Training on several processes: ``datagen train --num-processes 2`` runs ``accelerate launch`` (DDP, gloo on the
CPU) on the tiny model; rank 0 alone writes the run, the train run, its logs and the adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finetune.config import TrainConfig
from finetune.convert import Hardware, get_sft_config, grad_accumulation
from finetune.distributed import World, launch_command
from tests.finetune_tiny import make_tiny_model, seed_dataset


def test_the_world_comes_from_torchruns_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert World.from_env() == World(0, 0, 1) and World.from_env().main
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert World.from_env() == World(3, 1, 4) and not World.from_env().main


def test_the_processes_share_the_effective_batch() -> None:
    cfg = TrainConfig(dataset="d", per_device_train_batch_size=2, effective_batch_size=16)
    assert [grad_accumulation(cfg, n) for n in (1, 2, 4, 8, 16)] == [8, 4, 2, 1, 1]
    args = get_sft_config(cfg, "/tmp/x", hw=Hardware(cuda=False, bf16=False), world_size=2)
    assert (args.gradient_accumulation_steps, args.ddp_find_unused_parameters) == (4, False)


def test_the_launch_command_is_accelerate_on_one_machine(tmp_path: Path) -> None:
    cmd = launch_command(2, tmp_path / "t.yaml", "sqlite:///x.db", cuda=False)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    i = cmd.index("-m", 3)
    assert cmd[i:] == [
        "-m",
        "datagen",
        "--db",
        "sqlite:///x.db",
        "train",
        "--recipe",
        str(tmp_path / "t.yaml"),
    ]
    opts = cmd[3:i]
    assert (
        opts[opts.index("--num_processes") + 1] == "2" and opts[opts.index("--main_process_port") + 1] == "0"
    )


def test_num_processes_checks_the_input_before_starting_any(store: Any, run_cli: Any, tmp_path: Path) -> None:
    r = run_cli("train", "--dataset", "missing", "--num-processes", "2", "--output-root", str(tmp_path / "o"))
    assert r.exit_code == 2 and "dataset 'missing' not found" in r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "qlora"])  # both with gradient checkpointing (the default)
def test_two_processes_train_one_run_and_rank_0_alone_writes(
    store: Any, fresh_db: Path, tmp_path: Path, method: str
) -> None:
    model = make_tiny_model(tmp_path / "tiny")
    seed_dataset(store, splits=(8, 2, 0))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "datagen", "train", "--dataset", "tiny", "--base-model", str(model),
           "--method", method, "--max-steps", "3", "--batch-size", "2", "--effective-batch-size", "4",
           "--precision", "fp32", "--max-length", "96", "--lr", "0.01", "--output-root", str(out),
           "--num-processes", "2", "--json"]  # fmt: skip
    env = {**os.environ, "DATAGEN_DB": str(fresh_db), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    summary = json.loads(r.stdout)  # one document: rank 0 alone prints
    assert (summary["train_run"], summary["status"], summary["global_step"]) == (1, "succeeded", 3)
    assert (
        summary["world_size"],
        summary["gradient_accumulation_steps"],
        summary["effective_batch_size"],
    ) == (
        2,
        1,
        4,
    )
    from sqlalchemy import func, select

    from datagen.store.models import Run, TrainLog, TrainRun

    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(TrainRun)) == 1
        assert list(s.scalars(select(Run.kind).where(Run.kind == "train"))) == ["train"]
        tr = s.get(TrainRun, 1)
        assert tr is not None and tr.metrics["world_size"] == 2 and tr.status == "succeeded"
        assert tr.metrics["grad_norm_min"] > 0 and tr.config["gradient_checkpointing"] is True
        steps = list(s.scalars(select(TrainLog.step).where(TrainLog.loss.is_not(None))))
    assert sorted(steps) == [1, 2, 3]  # one row per logged step, not one per rank
    assert sorted(p.name for p in out.iterdir()) == ["1"]
    assert Path(summary["adapter_path"], "adapter_model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_processes_stopped_by_sigterm_resume_on_two_processes_from_the_checkpoint(
    store: Any, fresh_db: Path, tmp_path: Path
) -> None:
    """SIGTERM to the launcher's process group (what a supervisor or ``kill -- -PGID`` sends) once a checkpoint
    exists: the ranks stop together at one step with a checkpoint; ``--num-processes 2 --resume`` finishes the
    same train run from it, each step logged once."""
    import signal
    import time

    from sqlalchemy import select

    from datagen.store.models import Run, TrainLog, TrainRun

    model = make_tiny_model(tmp_path / "tiny")
    seed_dataset(store, splits=(8, 0, 0))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "datagen", "train", "--dataset", "tiny", "--base-model", str(model),
           "--method", "lora", "--max-steps", "16", "--eval-steps", "2", "--batch-size", "2",
           "--effective-batch-size", "4", "--precision", "fp32", "--max-length", "64", "--lr", "0.01",
           "--output-root", str(out), "--num-processes", "2", "--json"]  # fmt: skip
    env = {**os.environ, "DATAGEN_DB": str(fresh_db), "OMP_NUM_THREADS": "1", "DATAGEN_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    first = out / "1" / "checkpoints" / "checkpoint-2"
    while not first.exists() and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and stdout == "", err[-4000:]
    assert err.count("checkpoint saved:") == 1, err[-4000:]  # rank 0 alone says where
    assert err.count("terminated; rerun the same command to resume") == 1, err[-4000:]  # rank 0 alone
    saved = Path(err.split("checkpoint saved: ")[1].split(";")[0])
    stopped_at = int(saved.name.removeprefix("checkpoint-"))
    assert saved.parent == first.parent and 2 <= stopped_at < 16, saved
    assert {p.name for p in saved.iterdir()} >= {"adapter_model.safetensors", "trainer_state.json",
                                                 "rng_state_0.pth", "rng_state_1.pth"}  # fmt: skip
    with store.session() as s:
        tr = s.get(TrainRun, 1)
        assert tr is not None and tr.status == "interrupted" and tr.metrics["error"].startswith("Terminated")
        logged = list(
            s.scalars(select(TrainLog.step).where(TrainLog.loss.is_not(None)).order_by(TrainLog.id))
        )
    assert logged == list(range(1, stopped_at + 1))  # the checkpoint's steps, flushed before it

    r = subprocess.run([*cmd, "--resume"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    summary = json.loads(r.stdout)
    assert (summary["train_run"], summary["status"], summary["resumed_from"]) == (1, "succeeded", str(saved))
    assert (summary["global_step"], summary["max_steps"], summary["world_size"]) == (16, 16, 2)
    with store.session() as s:
        assert [(t.id, t.status) for t in s.scalars(select(TrainRun))] == [(1, "succeeded")]
        runs = [
            (r.kind, r.status) for r in s.scalars(select(Run).where(Run.kind == "train").order_by(Run.id))
        ]
        assert runs == [("train", "interrupted"), ("train", "succeeded")]
        steps = list(
            s.scalars(select(TrainLog.step).where(TrainLog.loss.is_not(None)).order_by(TrainLog.step))
        )
    assert steps == list(range(1, 17))  # one row per step: none lost, none twice across the two runs
    assert sorted(p.name for p in out.iterdir()) == ["1"]
    assert [p.name for p in out.glob("*/adapter")] == ["adapter"]
    assert Path(summary["adapter_path"], "adapter_model.safetensors").is_file()
