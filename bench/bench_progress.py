"""What a progress count costs: microseconds per ``Meter.advance`` with progress off, as heartbeat lines (stderr not
a terminal) and as live bars (forced with DATAGEN_PROGRESS=1), in one process, plus a JSON log in heartbeat mode.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_progress.py [--n 100000] 2>/dev/null

The bars draw on stderr (hence ``2>/dev/null``); the result is printed on stdout.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from datagen import progress


def per_advance(n: int) -> float:
    with progress.stage("bench", 1):
        m = progress.meter("records", n)
        t = time.perf_counter()
        for _ in range(n):
            m.advance()
        return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    n = ap.parse_args().n
    per_advance(n // 10)  # warm-up (imports, first stage)
    rows = {}
    for name, flag in (("off", "0"), ("heartbeat", None), ("bars", "1")):
        os.environ.pop("DATAGEN_PROGRESS", None)
        if flag is not None:
            os.environ["DATAGEN_PROGRESS"] = flag
        rows[name] = per_advance(n)
    os.environ.pop("DATAGEN_PROGRESS", None)
    with tempfile.TemporaryDirectory() as tmp:
        progress.configure(log_json=f"{tmp}/events.jsonl")
        rows["heartbeat + --log-json"] = per_advance(n)
        progress.configure()
    for name, us in rows.items():
        print(f"{name:<24} {us:6.2f} us per advance  ({us / rows['off']:.1f}x off)")


if __name__ == "__main__":
    main()
