"""A local Ray instance for a test module, and the processes of its actors (to kill one)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def local_ray(cpus: int = 2) -> Iterator[tuple[str, str]]:
    """(the GCS address, the instance's temp folder): its files in a short temp folder (socket paths), not the
    tree; stopped and removed at the end."""
    ray = pytest.importorskip("ray", reason="Ray is in the dev extras: make setup installs it")
    temp = tempfile.mkdtemp(prefix="dg-ray-")
    ctx = ray.init(
        num_cpus=cpus, include_dashboard=False, log_to_driver=False, _temp_dir=temp, logging_level="WARNING"
    )
    try:
        yield ctx.address_info["gcs_address"], temp
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def actor_pids(temp: str, actor_class: str) -> list[int]:
    """Processes of the actors of class ``actor_class`` of the instance in ``temp``: children of its own raylet
    (other Ray instances on the machine are left alone) that Ray titled with the actor's class."""
    ps = ["ps", "-ww", "-eo", "pid=,ppid=,args="]  # -ww: whole command lines, whatever COLUMNS says
    out = subprocess.run(ps, capture_output=True, text=True, check=True).stdout
    procs = [(int(p), int(pp), args) for p, pp, args in (line.split(None, 2) for line in out.splitlines())]
    raylets = {p for p, _, args in procs if "raylet" in args.split()[0] and temp in args}
    return [p for p, pp, args in procs if pp in raylets and actor_class in args]
