"""Joining or starting the Ray cluster that ``--executor ray`` runs on (filters and local generation).

Ray is optional (``pip install 'datagen[ray]'``); ``require_ray`` names the install command. Without an
address ``connect`` starts a local instance with one CPU slot per core of this machine (at least ``cpus``),
its temporary files in the system's temp folder; with one (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``) it
joins that cluster, whose workers need datagen and the models installed. A process that is already connected
(a test's instance, a filter run inside a pipeline) is left connected: only what ``connect`` started is
stopped by ``disconnect``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any, Literal

from pydantic import Field, model_validator

from datagen.config import ConfigModel
from datagen.errors import InputError


class RayExecution(ConfigModel):
    """Where a stage's local models run (the ``filter`` config and a teacher's ``exec`` take these fields)."""

    executor: Literal["local", "ray"] = Field(
        default="local",
        description="local: the local models run in this process; ray: in Ray actors that each hold them (one per "
        "GPU, else per CPU slot), and this process writes every result (pip install 'datagen[ray]')",
    )
    ray_address: str | None = Field(
        default=None,
        description="executor ray: the cluster to join (auto, HOST:PORT); empty: start a local one",
    )
    ray_actors: int | None = Field(
        default=None,
        ge=1,
        description="executor ray: model actors, each with its own copy of the models (empty: one per GPU, or one "
        "per CPU when there is none; set it for a large model on CPUs)",
    )

    @model_validator(mode="after")
    def _one_executor(self) -> RayExecution:
        """Worker processes (a config's ``workers``/``share_work``) and actors are two ways to share a run."""
        if self.executor == "ray" and (getattr(self, "workers", 1) > 1 or getattr(self, "share_work", False)):
            raise ValueError(
                "workers/share_work share the run with worker processes; executor ray with actors: pick one"
            )
        return self


def require_ray(what: str) -> None:
    """An InputError naming the install command when Ray (with Ray Data) is not installed."""
    for module in ("ray", "ray.data"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise InputError(
                f"{what} needs Ray: run `pip install 'datagen[ray]'` (or `pip install 'ray[data]'`)"
            )


def connect(address: str | None, cpus: int = 0) -> bool:
    """Join the cluster at ``address`` or start a local instance; True when this call connected the process."""
    import ray

    if ray.is_initialized():
        return False
    common: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
    }
    if address:
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise InputError(f"cannot join the Ray cluster at {address!r}: {e}") from e
        return True
    ray.init(num_cpus=max(cpus, os.cpu_count() or 1), **common)
    return True


def disconnect(started: bool) -> None:
    """Leave (a local instance: stop) the cluster when ``connect`` returned True."""
    if started:
        import ray

        ray.shutdown()


def slots(actors: int | None) -> tuple[int, bool]:
    """How many model actors to run and whether each takes a GPU: ``actors`` when set, else one per GPU of the
    cluster, else one per CPU slot."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    return actors or gpus or max(1, int(resources.get("CPU", 1))), gpus > 0
