"""Ctrl-C / SIGTERM when several processes train together (DDP): they stop at the same step.

``StopOnSignal`` ends the step in progress, saves a checkpoint and stops. Under DDP every rank has to make that
decision at the same step, or the ones that go on wait forever in the next gradient all-reduce for those that
stopped. A signal may reach one rank only (``kill PID``), or the ranks at different moments (torchrun forwards
the launcher's SIGTERM to each), so at every step's end the ranks take the largest of their flags over the
process group: one signalled rank stops them all, at one step, with one checkpoint (rank 0 writes it).

There is no deadline for the step to end: a rank that stopped mid-step on its own would leave the others in a
collective that then fails (seen on a loaded CPU: one rank's step ran past the single-process 1 s deadline, the
other died with a gloo "connection closed", and no checkpoint was saved). A second signal still stops at once, and
the launcher bounds the wait: torchrun kills the ranks 30 s after it forwarded the signal.
"""

from __future__ import annotations

from typing import Any

from finetune.callbacks import StopOnSignal


class StopTogether(StopOnSignal):
    """``StopOnSignal`` whose stop decision is agreed by all the ranks at each step's end (no deadline)."""

    def __init__(self) -> None:
        super().__init__(deadline_s=None)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([self.signum or 0], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if self.signum is None and int(flag.item()):
            self.signum = int(flag.item())  # another rank was signalled: stop here as it does
        super().on_step_end(args, state, control, **kw)


def stop_on_signal(world_size: int) -> StopOnSignal:
    """The signal callback for one process, or for ``world_size`` processes that stop together."""
    return StopTogether() if world_size > 1 else StopOnSignal()
