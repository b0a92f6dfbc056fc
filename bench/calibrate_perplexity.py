"""Calibrate the perplexity threshold: score fluent / repetitive / word-salad / gibberish / off-topic answers.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/calibrate_perplexity.py

Prints, per model configuration and category, the median and range of perplexity (answer mode: the answer
conditioned on the instruction through the chat template) and the share above candidate thresholds.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.filter_texts import calibration_set
from filters.base import RecordView
from filters.perplexity import PerplexityFilter, PerplexitySettings

THRESHOLDS = [50, 100, 200, 500, 1000]
CONFIGS = [
    {"dtype": "float32"},
    {"dtype": "bfloat16"},
    {"dtype": "float32", "quantize": "int8"},
]


def main() -> None:
    data = calibration_set(0)
    report: dict[str, dict[str, dict[str, float]]] = {}
    for extra in CONFIGS:
        f = PerplexityFilter(PerplexitySettings(**extra))
        f.prepare(None)
        key = f.backend
        report[key] = {}
        t0 = time.perf_counter()
        for cat, pairs in data.items():
            vals = [
                s.value or 0.0 for s in f.score([RecordView(i, q, "", a) for i, (q, a) in enumerate(pairs)])
            ]
            row = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
            row |= {f">{t}": sum(v > t for v in vals) / len(vals) for t in THRESHOLDS}
            report[key][cat] = {k: round(v, 3) for k, v in row.items()}
        print(f"# {key}  ({time.perf_counter() - t0:.1f} s)")
        print(
            f"{'category':<12} {'median':>9} {'min':>9} {'max':>9} "
            + " ".join(f"{'>' + str(t):>6}" for t in THRESHOLDS)
        )
        for cat, row in report[key].items():
            print(f"{cat:<12} {row['median']:>9.1f} {row['min']:>9.1f} {row['max']:>9.1f} "
                  + " ".join(f"{row['>' + str(t)]:>6.2f}" for t in THRESHOLDS))  # fmt: skip
    print(json.dumps(report))


if __name__ == "__main__":
    main()
