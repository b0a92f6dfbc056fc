"""Every local model on each device: records/s of the model-backed filters and tokens/s of batched local generation.

For each device of ``--devices`` (default ``cpu,cuda``; a device this machine lacks is reported and skipped), in
one process, on the same realistic records (``bench/filter_texts.realistic_records``, ~150 tokens each):

* ``perplexity``: the filter (default SmolLM2, its default float32 and batch size) scoring ``n`` records;
* ``adherence``: the local judge (SmolLM2, dtype auto, batch 0 = sized to the device) scoring ``n`` records;
* ``embed``: dedup's sentence-transformers embedder (all-MiniLM-L6-v2) encoding ``n`` records;
* ``generate``: the local provider (SmolLM2, dtype auto, ``--gen-batch`` requests per chunk) answering
  ``--gen-n`` requests of ``--max-tokens`` new tokens (aggregate new tokens/s).

Each is timed after a warm-up call on a few records (model loads excluded). ``--n-cpu`` / ``--gen-n-cpu`` set
smaller samples on the CPU, where the same work takes far longer; rates, not times, are compared. Prints one
JSON line per measurement and, per task, the rate on each device over the CPU's.

    OMP_NUM_THREADS=16 HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_devices.py [--devices cpu,cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.filter_texts import realistic_records
from filters.base import RecordView


def views(n: int) -> list[RecordView]:
    return [RecordView(i, r["instruction"], r.get("input", ""), r["output"]) for i, r in enumerate(realistic_records(n, seed=0))]  # fmt: skip


def timed(work: Callable[[int], float], n: int) -> tuple[float, float]:
    """(units of work done, seconds): ``work(n)`` after ``work(4)`` as a warm-up; ``work`` returns its units."""
    work(4)
    t0 = time.perf_counter()
    units = work(n)
    return units, time.perf_counter() - t0


def tasks(device: str, args: argparse.Namespace) -> dict[str, Callable[[int], float]]:
    from datagen import modelhub
    from datagen.endpoint import ModelEndpoint
    from datagen.providers.base import Request, SamplingParams
    from datagen.providers.registry import make_provider
    from filters.adherence import AdherenceFilter, AdherenceSettings
    from filters.dedup_index import embedder, encode
    from filters.perplexity import PerplexityFilter, PerplexitySettings

    ppl = PerplexityFilter(PerplexitySettings(device=device))
    judge = AdherenceFilter(AdherenceSettings(judge=ModelEndpoint(dtype="auto", device=device)))
    embed = embedder(modelhub.MINILM, device=device)
    gen = make_provider(ModelEndpoint(dtype="auto", device=device, options={"batch_size": args.gen_batch}))
    for f in (ppl, judge):
        f.prepare(None)

    def generate(n: int) -> float:
        asks = [
            Request.of(
                [{"role": "user", "content": f"Write a paragraph about {r.instruction}"}],
                SamplingParams(max_tokens=args.max_tokens, temperature=0.7, top_p=0.9),
            )
            for r in views(n)
        ]
        chunks = [asks[i : i + args.gen_batch] for i in range(0, n, args.gen_batch)]
        return float(sum(a.completion_tokens for c in chunks for a in gen.complete(c)))

    return {
        "perplexity": lambda n: float(len(ppl.score(views(n)))),
        "adherence": lambda n: float(len(judge.score(views(n)))),
        "embed": lambda n: float(len(encode(embed, [v.output for v in views(n)]))),
        "generate": generate,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--n", type=int, default=1024, help="records per filter on an accelerator")
    ap.add_argument("--n-cpu", type=int, default=64, help="records per filter on the CPU")
    ap.add_argument("--gen-n", type=int, default=256, help="generation requests on an accelerator")
    ap.add_argument("--gen-n-cpu", type=int, default=32, help="generation requests on the CPU")
    ap.add_argument("--gen-batch", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--only", default="perplexity,adherence,embed,generate")
    args = ap.parse_args()
    import torch

    rates: dict[str, dict[str, float]] = {}
    for device in args.devices.split(","):
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(json.dumps({"device": device, "skipped": "no CUDA device here"}), flush=True)
            continue
        cpu = device == "cpu"
        for name, work in tasks(device, args).items():
            if name not in args.only.split(","):
                continue
            n = (
                (args.gen_n_cpu if cpu else args.gen_n)
                if name == "generate"
                else (args.n_cpu if cpu else args.n)
            )
            if not cpu:
                torch.cuda.reset_peak_memory_stats(device)  # each task's own peak
            units, seconds = timed(work, n)
            unit = "new tokens" if name == "generate" else "records"
            rates.setdefault(name, {})[device] = units / seconds
            row: dict[str, Any] = {"device": device, "task": name, "n": n, unit: int(units), "seconds": round(seconds, 2),
                                   f"{unit.replace(' ', '_')}_per_s": round(units / seconds, 2)}  # fmt: skip
            if not cpu:
                row["gpu"] = torch.cuda.get_device_name(device)
                row["peak_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
            print(json.dumps(row), flush=True)
    for name, per in rates.items():
        for device, rate in per.items():
            if device != "cpu" and "cpu" in per:
                print(f"{name}: {device} {rate / per['cpu']:.1f}x the CPU's rate")
    print(f"torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}, load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
