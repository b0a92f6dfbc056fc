"""Local generation: aggregate tokens/s batched vs one request at a time, same run, same prompts.

The local provider (SmolLM2-135M-Instruct, float32, nucleus sampling p=0.9, per-request seeds) generates
``--n-batched`` requests in batches of ``--batch`` (left padding), and ``--n-single`` of the same requests
one at a time. Aggregate tokens/s = completion tokens produced / wall seconds. One warm-up call first.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_local_generation.py [--batch 16 --max-tokens 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen.endpoint import ModelEndpoint
from datagen.providers.base import Request, SamplingParams
from datagen.providers.registry import make_provider

TOPICS = ["rivers", "bread", "chess", "volcanoes", "bicycles", "owls", "glass", "tea", "maps", "bees"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--n-batched", type=int, default=32)
    ap.add_argument("--n-single", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    import torch

    provider = make_provider(
        ModelEndpoint(provider="local", options={"batch_size": args.batch}, dtype=args.dtype)
    )
    reqs = [
        Request.of(
            [{"role": "user", "content": f"Write a short paragraph about {TOPICS[i % len(TOPICS)]} (#{i})."}],
            SamplingParams(max_tokens=args.max_tokens, seed=i),
        )
        for i in range(args.n_batched)
    ]
    provider.complete(reqs[:2])  # load and warm up
    print(
        f"torch threads {torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
        f"dtype {args.dtype}, max_tokens {args.max_tokens}"
    )

    t0 = time.perf_counter()
    single_tokens = sum(provider.complete([r])[0].completion_tokens for r in reqs[: args.n_single])
    single_s = time.perf_counter() - t0
    single_rate = single_tokens / single_s

    t0 = time.perf_counter()
    batched_tokens = 0
    for i in range(0, len(reqs), args.batch):
        batched_tokens += sum(r.completion_tokens for r in provider.complete(reqs[i : i + args.batch]))
    batched_s = time.perf_counter() - t0
    batched_rate = batched_tokens / batched_s

    print(
        f"one at a time: {args.n_single} requests, {single_tokens} tokens in {single_s:.1f} s = {single_rate:.1f} tok/s"
    )
    print(
        f"batched x{args.batch}: {args.n_batched} requests, {batched_tokens} tokens in {batched_s:.1f} s = "
        f"{batched_rate:.1f} tok/s"
    )
    print(f"speed-up {batched_rate / single_rate:.2f}x (target >= 4x)")


if __name__ == "__main__":
    main()
