"""Training on several processes (DDP): which process this is, what rank 0 hands the others, the relaunch.

``accelerate launch -m datagen train ...`` (or ``datagen train --num-processes N``, which runs exactly that)
starts one process per GPU through torchrun, which sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``. The
Trainer then wraps the model in DistributedDataParallel: NCCL on GPUs, gloo on CPUs. Rank 0 alone touches
the database (the run, the train run, the loss curve), the adapter and the card; it hands the other ranks
what they need to train (``Job``) through ``World.share``, and they write nothing.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.errors import InputError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``size`` 1: a plain single-process run)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """True on rank 0, the one process that writes."""
        return self.rank == 0

    @staticmethod
    def from_env() -> World:
        """The world torchrun (and so ``accelerate launch``) describes in the environment."""
        env = os.environ
        return World(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))

    def share(self, obj: Any, cuda: bool) -> Any:
        """Rank 0's ``obj`` on every rank (pickled over the process group, which starts here if needed:
        accelerate's state, so the Trainer later finds it up: gloo on CPUs, NCCL on GPUs)."""
        if self.size == 1:
            return obj
        import torch.distributed as dist
        from accelerate import PartialState

        PartialState(cpu=not cuda)
        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


@dataclass(frozen=True)
class Job:
    """What rank 0 decided before training and every rank needs: the train run, where it writes, the
    checkpoint it resumes from and the dataset (read once from the database, by rank 0)."""

    train_run_id: int
    out: Path
    checkpoint: str | None
    dataset: Any  # finetune.data.LoadedDataset


def launch_command(num_processes: int, recipe: Path, db: str | None, cuda: bool) -> list[str]:
    """``accelerate launch`` running ``datagen train --recipe RECIPE`` on ``num_processes`` processes (torchrun
    underneath; a free rendezvous port, so two trainings on one machine do not collide)."""
    if cuda:
        import torch

        have = torch.cuda.device_count()
        if num_processes > have:
            raise InputError(f"--num-processes {num_processes}: this machine has {have} CUDA device(s)")
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1"]
    launcher += ["--num_processes", str(num_processes), "--main_process_port", "0"]
    launcher += ["--mixed_precision", "no", "--dynamo_backend", "no"]  # the train config decides precision
    return [*launcher, "-m", "datagen", *(["--db", db] if db else []), "train", "--recipe", str(recipe)]


_HANDED_ON = (signal.SIGTERM, signal.SIGINT)


def relaunch(cfg: Any, num_processes: int, db: str | None, cuda: bool, extra: list[str]) -> int:
    """Run this training on ``num_processes`` processes under ``accelerate launch``; returns its exit code.

    Every rank reads the same fully resolved config from a temporary recipe (removed afterwards), so the
    processes cannot disagree about a default; ``extra`` are flags for rank 0's output (``--json``)."""
    import subprocess
    import tempfile

    import yaml

    from datagen.config import resolved

    with tempfile.TemporaryDirectory(prefix="datagen-train-") as tmp:
        recipe = Path(tmp) / "train.yaml"
        recipe.write_text(yaml.safe_dump(resolved(cfg), sort_keys=False))
        cmd = [*launch_command(num_processes, recipe, db, cuda), *extra]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        # The launcher runs in its own session and this process hands it each SIGTERM or Ctrl-C, once; the
        # launcher (torchrun, whose ranks have sessions of their own) hands it to every rank: they stop together
        # at the end of a step with a checkpoint (finetune.stop_together), and this process waits for them. In
        # this process's group the launcher would get a group signal twice (directly and handed on), and
        # torchrun's shutdown, interrupted by the second, signals the ranks again: they stop mid-step, unsaved.
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        old = {sig: signal.signal(sig, lambda signum, _frame: proc.send_signal(signum)) for sig in _HANDED_ON}
        try:
            return proc.wait()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
