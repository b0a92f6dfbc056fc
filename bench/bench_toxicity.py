"""Toxicity backends: precision/recall/F1 on the labelled set, the threshold sweep behind the default, and
throughput against the word list in the same run.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_toxicity.py \
        [--n 2000] [--detoxify-checkpoint PATH]

Labelled set: tests/data/toxicity_labelled.jsonl (40 toxic, 40 clean, written for this project). "Embedded":
each labelled text appended to a clean instruction/answer pair (bench/filter_texts.FLUENT), as abuse shows up
in a generated record. Clean-record false flags: ``realistic_records(n, junk_rate=0)`` (~150 tokens each).
Detoxify is measured only with a real local checkpoint (none ships in a package). One thread (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.filter_texts import FLUENT, realistic_records  # noqa: E402
from datagen.textnorm import join_fields  # noqa: E402
from filters.base import RecordView  # noqa: E402
from filters.toxicity import ToxicityFilter, ToxicitySettings, profanity_probs  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "toxicity_labelled.jsonl"


def load_labelled() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]


def prf(flags: list[bool], truth: list[bool]) -> tuple[float, float, float, int, int]:
    """Precision, recall, F1, true positives, false positives."""
    tp = sum(f and t for f, t in zip(flags, truth, strict=True))
    fp = sum(f and not t for f, t in zip(flags, truth, strict=True))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / sum(truth)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0), tp, fp


def scores(f: ToxicityFilter, texts: list[str]) -> list[float]:
    return [s.value or 0.0 for s in f.score([RecordView(i, t) for i, t in enumerate(texts)])]


def best_of(n: int, fn: Any) -> float:
    """The fastest of ``n`` timed calls, in seconds (the machine is shared; the minimum is the least noisy)."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="realistic clean records (false flags, throughput)")
    ap.add_argument("--detoxify-checkpoint", default=None)
    args = ap.parse_args()
    print(f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")

    rows = load_labelled()
    texts, truth = [r["text"] for r in rows], [bool(r["toxic"]) for r in rows]
    embedded = [join_fields(FLUENT[i % len(FLUENT)][0], FLUENT[i % len(FLUENT)][1] + " " + t)
                for i, t in enumerate(texts)]  # fmt: skip
    clean = [
        join_fields(r["instruction"], r["input"], r["output"]) for r in realistic_records(args.n, junk_rate=0)
    ]
    kinds = Counter(r["kind"] for r in rows)
    print(f"labelled: {len(rows)} texts, {sum(truth)} toxic; categories {dict(kinds)}")

    settings = {"wordlist": ToxicitySettings(backend="wordlist"),
                "profanity_check": ToxicitySettings(backend="profanity_check")}  # fmt: skip
    if args.detoxify_checkpoint:
        settings["detoxify"] = ToxicitySettings(checkpoint=args.detoxify_checkpoint)
    speed: dict[str, float] = {}
    print("\n| backend | threshold | precision | recall | F1 | TP | FP | embedded P / R | clean records flagged |"
          " records/s | short texts/s |\n|---|---|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for name, s in settings.items():
        t0 = time.perf_counter()
        f = ToxicityFilter(s)
        f.prepare(None)
        load = time.perf_counter() - t0
        th = f.threshold()
        lab = scores(f, texts)
        p, r, f1, tp, fp = prf([x > th for x in lab], truth)
        ep, er, *_ = prf([x > th for x in scores(f, embedded)], truth)
        cs = scores(f, clean)
        speed[name] = len(clean) / best_of(3, lambda: scores(f, clean))  # noqa: B023
        short = 10 * len(texts) / best_of(3, lambda: [scores(f, texts) for _ in range(10)])  # noqa: B023
        flagged = sum(x > th for x in cs)
        print(f"| {f.backend} | {th} | {p:.2f} | {r:.2f} | {f1:.2f} | {tp} | {fp} | {ep:.2f} / {er:.2f} | "
              f"{flagged}/{len(clean)} | {speed[name]:,.0f} | {short:,.0f} |")  # fmt: skip
        missed = Counter(
            k for k, x, t in zip((r["kind"] for r in rows), lab, truth, strict=True) if (x > th) != t
        )
        print(f"|   errors by category (load {load:.2f} s) | {dict(missed)} |")
    if "profanity_check" in speed:
        print(f"\nprofanity_check / wordlist records/s: {speed['profanity_check'] / speed['wordlist']:.3f}×")

    f = ToxicityFilter(settings["profanity_check"])
    lab, emb, cs = scores(f, texts), scores(f, embedded), scores(f, clean)
    whole = profanity_probs(embedded)
    print("\nprofanity_check threshold sweep (sentence max; 'whole' = the record scored as one text)")
    print(
        "| threshold | precision | recall | F1 | embedded recall | embedded recall, whole | clean flagged |"
    )
    print("|---|---|---|---|---|---|---|")
    for th in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6):
        p, r, f1, *_ = prf([x > th for x in lab], truth)
        er = prf([x > th for x in emb], truth)[1]
        wr = prf([x > th for x in whole], truth)[1]
        flagged = sum(x > th for x in cs)
        print(f"| {th} | {p:.2f} | {r:.2f} | {f1:.2f} | {er:.2f} | {wr:.2f} | {flagged / len(cs):.2%} |")


if __name__ == "__main__":
    main()
