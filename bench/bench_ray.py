"""``filter --executor ray`` with N actors against the in-process chain, on the same realistic records.

The same ``--n`` records (``bench/filter_texts.realistic_records``, ~150 tokens each) go into one fresh SQLite
database per case; each case runs ``run_filters`` with the model-backed chain (default: perplexity with the
default SmolLM2, float32) and is timed from the call to its return (Ray's start, the actors' model loads and
every write included). Cases: in-process with 1 torch thread, in-process with ``--threads`` torch threads,
Ray with ``--actors`` actors on a local instance of ``--actors`` CPUs (each actor one thread: Ray sets
OMP_NUM_THREADS to an actor's CPUs). The verdicts of every case are compared with the first one's.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_ray.py [--n 1000 --actors 2 --threads 2]
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

from bench.filter_texts import realistic_records
from datagen.store import open_store
from filters.chain import run_filters
from filters.config import FilterConfig
from tests.filter_fixtures import add_records, verdicts


def case(tmp: Path, name: str, records: list[dict[str, Any]], cfg: FilterConfig) -> dict[str, Any]:
    store = open_store(str(tmp / f"{name}.db"))
    add_records(store, records)
    t0 = time.perf_counter()
    summary = run_filters(store, cfg)
    seconds = time.perf_counter() - t0
    judged = {k: (v.passed, v.reason) for k, v in verdicts(store).items()}
    store.close()
    return {"case": name, "seconds": round(seconds, 1), "records_per_s": round(len(records) / seconds, 3),
            "kept": summary["kept"], "dropped": summary["dropped"], "judged": judged}  # fmt: skip


def actor_threads(actors: int) -> int:
    import ray

    @ray.remote(num_cpus=1)
    def threads() -> int:
        import torch

        return int(torch.get_num_threads())

    return int(ray.get(threads.remote()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--filters", default="perplexity")
    ap.add_argument("--only", default="ray,local1,localN")
    args = ap.parse_args()
    import torch

    records = realistic_records(args.n, seed=0)
    base = {"filters": args.filters.split(","), "histogram_png": None, "batch_size": 64}
    out = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in args.only.split(","):
            if name == "ray":
                import ray

                ray.init(
                    num_cpus=args.actors,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="WARNING",
                )
                threads = actor_threads(args.actors)
                cfg = FilterConfig(**base, executor="ray", ray_actors=args.actors, ray_batch_size=16)
                res = case(tmp, name, records, cfg)
                ray.shutdown()
                res["threads"] = f"{args.actors} actors x {threads} torch thread(s)"
            else:
                n = 1 if name == "local1" else args.threads
                torch.set_num_threads(n)
                res = case(tmp, name, records, FilterConfig(**base))
                res["threads"] = f"in-process, {n} torch thread(s)"
            out.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "judged"}), flush=True)
    first = out[0]
    for res in out[1:]:
        same = res["judged"] == first["judged"]
        ratio = res["seconds"] / first["seconds"]
        print(f"{first['case']} vs {res['case']}: verdicts identical: {same}; "
              f"{first['case']} is {ratio:.2f}x as fast (wall time {res['seconds']} s / {first['seconds']} s)")  # fmt: skip
    print(f"cores: {os.cpu_count()}, load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
