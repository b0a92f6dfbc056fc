"""Local generation on Ray (``exec.executor: ray``) with N actors against the in-process executor, same requests.

``--n`` requests (one short instruction each, ``--max-tokens`` new tokens, nucleus sampling p=0.9 seeded per
request) go through ``Executor.run`` with the local provider (default SmolLM2-135M-Instruct, float32, chunks
of ``--batch``) on a fresh SQLite database per case, timed from the executor's construction to its close (Ray's
start, the actors' model loads and every cache write included). Cases: in-process with 1 torch thread,
in-process with ``--threads`` torch threads, Ray with ``--actors`` actors on a local instance of ``--actors``
CPUs (each actor one torch thread: Ray sets OMP_NUM_THREADS to an actor's CPUs). Aggregate tokens/s = new
tokens / wall seconds; the answers of every case are compared with the first case's.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_ray_generation.py [--n 128 --actors 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen.endpoint import ModelEndpoint
from datagen.providers.base import Request, SamplingParams
from datagen.providers.exec_config import ExecConfig
from datagen.providers.executor import Executor
from datagen.providers.registry import make_provider
from datagen.store import open_store

TOPICS = ["rivers", "bread", "chess", "volcanoes", "bicycles", "owls", "glass", "tea", "maps", "bees"]
ASKS = ["Explain how {} work.", "Write a short poem about {}.", "Give three facts about {}.", "Describe {}."]


def requests(n: int, max_tokens: int) -> list[Request]:
    return [
        Request.of(
            [{"role": "user", "content": ASKS[i % len(ASKS)].format(TOPICS[i % len(TOPICS)]) + f" ({i})"}],
            SamplingParams(max_tokens=max_tokens, temperature=0.7, top_p=0.9),
        )
        for i in range(n)
    ]


def case(tmp: Path, name: str, reqs: list[Request], batch: int, cfg: ExecConfig) -> dict[str, Any]:
    store = open_store(str(tmp / f"{name}.db"))
    provider = make_provider(ModelEndpoint(provider="local", options={"batch_size": batch}, device="cpu"))
    t0 = time.perf_counter()
    ex = Executor(store, provider, cfg)
    answers = ex.run(reqs, progress=False)
    ex.close()
    seconds = time.perf_counter() - t0
    store.close()
    tokens = sum(a.completion_tokens for a in answers)
    return {"case": name, "seconds": round(seconds, 1), "new_tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1), "texts": [a.text for a in answers]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="local1,ray,localN")
    args = ap.parse_args()
    import torch

    reqs = requests(args.n, args.max_tokens)
    out = []
    with tempfile.TemporaryDirectory() as d:
        for name in args.only.split(","):
            if name == "ray":
                cfg = ExecConfig(executor="ray", ray_actors=args.actors)
                import ray

                ray.init(
                    num_cpus=args.actors,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="WARNING",
                )
                res = case(Path(d), name, reqs, args.batch, cfg)
                ray.shutdown()
                res["threads"] = f"{args.actors} actors x 1 torch thread"
            else:
                n = 1 if name == "local1" else args.threads
                torch.set_num_threads(n)
                res = case(Path(d), name, reqs, args.batch, ExecConfig())
                res["threads"] = f"in-process, {n} torch thread(s)"
            out.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "texts"}), flush=True)
    first = out[0]
    for res in out[1:]:
        same = sum(a == b for a, b in zip(res["texts"], first["texts"], strict=True))
        ratio = first["seconds"] / res["seconds"]
        print(f"{res['case']} vs {first['case']}: {ratio:.2f}x as fast ({first['seconds']} s / {res['seconds']} s); "
              f"identical answers: {same}/{len(first['texts'])}")  # fmt: skip
    print(f"cores: {os.cpu_count()}, load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
