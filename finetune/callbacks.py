"""Trainer callbacks: the loss curve into the database (batched), the zero-gradient guard, and a checkpoint on
Ctrl-C / SIGTERM (``StopOnSignal``).

The guard exists because of a silent failure seen on CPU: a 4-bit bitsandbytes layer that once ran a no-grad
forward is repacked for inference, and training afterwards reports grad norm 0 on
every step while the adapter never changes. A run whose logged grad norm stays at 0 is failed loudly.
"""

from __future__ import annotations

import math
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from transformers import TrainerCallback

from datagen import progress
from datagen.console import say
from datagen.errors import DatagenError
from datagen.interrupts import call_handler
from datagen.store.engine import Store
from datagen.store.models import TrainLog

KNOWN = {"step", "epoch", "loss", "eval_loss", "grad_norm", "learning_rate"}


class ZeroGradientError(DatagenError):
    """Training ran but no gradient reached the adapter."""


class DbLogCallback(TrainerCallback):
    """Every ``on_log`` becomes a ``train_logs`` row; rows are written in batches of ``flush_every``."""

    def __init__(self, store: Store, train_run_id: int, flush_every: int = 20) -> None:
        self.store = store
        self.train_run_id = train_run_id
        self.flush_every = flush_every
        self.pending: list[dict[str, Any]] = []

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if not logs:
            return
        self.pending.append({"step": state.global_step, "epoch": state.epoch, **logs})
        if len(self.pending) >= self.flush_every:
            self.flush()

    def on_evaluate(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.flush()

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.flush()  # a checkpoint never runs ahead of its logs (resume deletes only later steps)

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows = [
            TrainLog(
                train_run_id=self.train_run_id,
                step=int(p["step"]),
                epoch=_num(p.get("epoch")),
                loss=_num(p.get("loss")),
                eval_loss=_num(p.get("eval_loss")),
                grad_norm=_num(p.get("grad_norm")),
                learning_rate=_num(p.get("learning_rate")),
                values={k: v for k, v in p.items() if k not in KNOWN and isinstance(v, (int, float, str))},
            )
            for p in self.pending
        ]
        with self.store.session() as s:
            s.add_all(rows)
        self.pending = []


class GradNormGuard(TrainerCallback):
    """Fail the run when ``patience`` logged training steps in a row have a zero (or NaN) gradient norm."""

    def __init__(self, patience: int = 3) -> None:
        self.patience = patience
        self.zero_run = 0
        self.seen: list[float] = []

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        g = (logs or {}).get("grad_norm")
        if g is None:
            return
        g = float(g)
        self.seen.append(g)
        self.zero_run = self.zero_run + 1 if (g == 0.0 or math.isnan(g)) else 0
        if self.zero_run >= self.patience:
            raise ZeroGradientError(
                f"gradient norm was {g} for {self.zero_run} logged steps in a row (step {state.global_step}): "
                "no gradient reaches the adapter. With QLoRA on the CPU this happens when the 4-bit model ran a "
                "no-grad forward before training (bitsandbytes repacks it for inference)."
            )

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.seen and all(g == 0.0 or math.isnan(g) for g in self.seen):
            raise ZeroGradientError(f"gradient norm was 0 on every one of {len(self.seen)} logged steps")


class StderrProgress(TrainerCallback):
    """Training's live progress (``datagen.progress``): the ``steps`` meter (done/total, rate, ETA) of the train
    stage, with the latest loss, eval loss and epoch beside it."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        progress.status("training")
        self.steps = progress.meter("steps")
        self.steps.reset(total=state.max_steps, done=state.global_step)  # a resumed run starts part-way

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.steps.update(done=state.global_step)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        shown = {k: float(v) for k, v in (logs or {}).items() if k in SHOWN and isinstance(v, (int, float))}
        if shown:
            progress.note(**shown)

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        progress.status("")


SHOWN = ("loss", "eval_loss", "epoch")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def disable_cpu_inference_repack(model: Any) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for CPU inference on the model being trained.

    A no-grad forward in eval mode (evaluation, a stray generate) converts each ``Linear4bit`` on AVX-512 bf16
    CPUs to an inference-only layout that has no autograd kernel; later training steps then lose (part or
    all of) their gradient. PEFT's input-grad hook usually keeps evaluation off that path, so this is a
    defence in depth. Returns how many layers were switched to the plain (dequantize + matmul) path.
    """
    n = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


class StopOnSignal(TrainerCallback):
    """Ctrl-C / SIGTERM during training: the step in progress ends, a checkpoint is saved (the adapter and the
    trainer state: ``datagen train --resume`` goes on from it) and the run stops, within ``deadline_s`` of the
    signal plus the save. When the step does not end in time (or a second signal comes), training stops where it
    stands, between two torch operations, and says that no checkpoint was saved then (``--resume`` goes on from
    the last one saved every ``save_steps``). ``raise_if_stopped`` after ``train()`` raises what the signal
    would have raised (KeyboardInterrupt, or ``Terminated`` for SIGTERM) with what was saved. ``deadline_s``
    None: no deadline, the step always ends first (only a second signal stops training where it stands)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, deadline_s: float | None = 1.0) -> None:
        self.deadline_s = deadline_s
        self.signum: int | None = None
        self.saving = False
        self.saved: str | None = None
        self._old: dict[int, Any] = {}
        self._timer: threading.Timer | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            self._old = {sig: signal.signal(sig, self._note) for sig in self.SIGNALS}

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            if self.deadline_s is None:
                say(
                    "stopping: the checkpoint is saved when this training step ends (a second signal: at once)"
                )
                return
            self._timer = threading.Timer(self.deadline_s, self._too_late)
            self._timer.daemon = True
            self._timer.start()
            say(
                f"stopping: the checkpoint is saved when this training step ends (within {self.deadline_s:g} s)"
            )
            return
        old = self._old.get(self.signum, signal.SIG_DFL)
        self._restore()
        say("training stopped mid-step: no checkpoint was saved now; `datagen train --resume` goes on from the "
            "last checkpoint saved (every save_steps)")  # fmt: skip
        call_handler(old, self.signum, frame)

    def _too_late(self) -> None:
        if not self.saving and self.signum is not None:
            # _note again, in the main thread (a real signal also ends a sleep): stop where it stands
            signal.pthread_kill(threading.main_thread().ident or 0, self.signum)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.signum is not None:
            self.saving = True  # the deadline no longer interrupts
            control.should_save, control.should_training_stop, control.should_evaluate = True, True, False

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.signum is not None:
            self.saved = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}

    def raise_if_stopped(self) -> None:
        """After ``train()``: a signal stopped it; say where the checkpoint is and raise as the signal would."""
        if self.signum is None:
            return
        self._restore()
        say(f"checkpoint saved: {self.saved}; `datagen train --resume` goes on from it"
            if self.saved else "no checkpoint was saved")  # fmt: skip
        call_handler(signal.getsignal(self.signum), self.signum, None)
        raise KeyboardInterrupt  # the handler did not raise (SIG_IGN): stop all the same
