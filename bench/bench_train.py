"""Fine-tuning throughput on the CPU: LoRA vs QLoRA on SmolLM2-135M, same data, same settings, same run.

Each method trains in its own subprocess (so peak RSS is per method) through the product path
(``finetune.trainer.train``: data guards, TRL SFTTrainer, PEFT, DB logging) on the same synthetic
instruction dataset. Reported: training tokens/s (non-padding input tokens seen / train runtime),
seconds per optimizer step, peak RSS of the process, and the QLoRA/LoRA ratios.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_train.py [--steps 6] [--model smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = [
    "photosynthesis",
    "the water cycle",
    "compound interest",
    "a binary search",
    "the French revolution",
    "plate tectonics",
    "a hash table",
    "inflation",
    "vaccines",
    "the speed of light",
    "recursion",
    "tides",
]
ASKS = [
    "Explain {t} to a twelve-year-old.",
    "Write three bullet points about {t}.",
    "Give a short definition of {t} and one example.",
    "What is a common misconception about {t}?",
]


def make_examples(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Deterministic instruction/answer pairs of 40-120 tokens each."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = TOPICS[i % len(TOPICS)]
        ask = ASKS[rng.randrange(len(ASKS))].format(t=t)
        words = " ".join(
            rng.choice(
                [
                    "it",
                    "is",
                    "a",
                    "process",
                    "that",
                    "changes",
                    "over",
                    "time",
                    "and",
                    "affects",
                    "many",
                    "things",
                    "in",
                    "simple",
                    "terms",
                    "we",
                    "see",
                ]
            )
            for _ in range(rng.randint(25, 70))
        )
        out.append((ask, "", f"In short, {t} {words}."))
    return out


def seed_store(db: str, n: int) -> None:
    import hashlib

    from datagen.store import open_store
    from datagen.store.models import APPROVED, Dataset, DatasetItem, Record, Run

    store = open_store(db)
    with store.session() as s:
        run = Run(kind="import", config={})
        s.add(run)
        s.flush()
        recs = []
        for i, (ins, inp, out) in enumerate(make_examples(n)):
            h = hashlib.sha256(f"{i}{ins}{out}".encode()).hexdigest()
            recs.append(
                Record(
                    uid=h,
                    run_id=run.id,
                    method="import",
                    instruction=ins,
                    input=inp,
                    output=out,
                    status=APPROVED,
                    content_hash=h,
                )
            )
        s.add_all(recs)
        ds = Dataset(name="bench", version=1, run_id=run.id)
        s.add(ds)
        s.flush()
        s.add_all(DatasetItem(dataset_id=ds.id, record_id=r.id, split="train") for r in recs)
    store.close()


def worker(args: argparse.Namespace) -> None:
    """Train one method in this process and print its metrics as one JSON line."""
    from datagen.store import open_store
    from finetune.config import TrainConfig
    from finetune.trainer import train

    store = open_store(args.db)
    cfg = TrainConfig(
        dataset="bench",
        base_model=args.model,
        method=args.method,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        effective_batch_size=args.batch_size,
        max_length=args.max_length,
        precision=args.precision,
        output_root=args.out,
        logging_steps=1,
    )
    tr_id = train(store, cfg)
    print(json.dumps(collect(store, tr_id)))


def collect(store: Any, tr_id: int) -> dict[str, Any]:
    """The run's metrics plus steady-state tokens/s: from the end of step 1 to the last step (no warm-up)."""
    from sqlalchemy import select

    from datagen.store.models import TrainLog, TrainRun

    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        m = dict(tr.metrics)
        logs = [
            lg.values
            for lg in s.scalars(
                select(TrainLog)
                .where(TrainLog.train_run_id == tr_id, TrainLog.loss.isnot(None))
                .order_by(TrainLog.step)
            )
        ]
    keep = ("tokens_seen", "train_runtime_s", "tokens_per_second", "peak_rss_mb", "global_step", "precision")
    out = {k: m[k] for k in (*keep, "optim", "grad_norm_min", "train_loss")}
    first, last = logs[0], logs[-1]
    dt = last["train_runtime"] - first["train_runtime"]
    if len(logs) > 1 and dt > 0:
        out["steady_tokens_per_second"] = round(
            (last["num_input_tokens_seen"] - first["num_input_tokens_seen"]) / dt, 1
        )
        out["steady_s_per_step"] = round(dt / (len(logs) - 1), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    ap.add_argument("--methods", default="lora,qlora")
    ap.add_argument("--worker", dest="method")
    ap.add_argument("--db")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.method:
        worker(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    db = str(tmp / "bench.db")
    seed_store(db, args.examples)
    results: dict[str, Any] = {}
    for method in args.methods.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            method,
            "--db",
            db,
            "--out",
            str(tmp / "out"),
            "--model",
            args.model,
            "--steps",
            str(args.steps),
            "--batch-size",
            str(args.batch_size),
            "--max-length",
            str(args.max_length),
            "--precision",
            args.precision,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0:
            sys.exit(f"{method} failed:\n{r.stderr[-3000:]}")
        results[method] = json.loads(r.stdout.strip().splitlines()[-1])
    summary: dict[str, Any] = {
        "load_average_at_end": os.getloadavg(),
        "model": args.model,
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "examples": args.examples,
        **results,
    }
    if "lora" in results and "qlora" in results:
        lo, q = results["lora"], results["qlora"]
        summary["qlora_over_lora"] = {
            "tokens_per_second": round(q["tokens_per_second"] / lo["tokens_per_second"], 2),
            "steady_tokens_per_second": round(
                q["steady_tokens_per_second"] / lo["steady_tokens_per_second"], 2
            ),
            "peak_rss": round(q["peak_rss_mb"] / lo["peak_rss_mb"], 2),
        }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
