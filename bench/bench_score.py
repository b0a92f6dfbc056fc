"""Time of a score on the builtin eval set with the default model, and what it reports.

Builds a small dataset from the builtin seed tasks (every instance an approved record, all in the train split
but two), trains a LoRA adapter on SmolLM2-135M-Instruct for a few steps through the product path, then
runs ``finetune.score.score`` with ``--eval builtin`` (132 items) and the default settings otherwise (the
local SmolLM2 judge included), timing the whole score and printing its summary. Everything lives in a
temporary folder; nothing is downloaded.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_score.py [--steps 8] [--max-new-tokens 64]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def seed_dataset(store: Any) -> int:
    """The builtin seed tasks' instances as approved records in dataset ``seeds@1`` (train, 2 validation)."""
    from datagen.generation.pool import BUILTIN_SEEDS
    from datagen.store.models import APPROVED, Dataset, DatasetItem, Record, Run
    from datagen.textnorm import content_hash

    rows = []
    for line in BUILTIN_SEEDS.read_text().splitlines():
        task = json.loads(line)
        rows += [(task["instruction"], i["input"], i["output"]) for i in task["instances"]]
    with store.session() as s:
        run = Run(kind="import", config={})
        s.add(run)
        s.flush()
        recs = [
            Record(uid=content_hash(*r), run_id=run.id, method="import", instruction=r[0], input=r[1],
                   output=r[2], status=APPROVED, content_hash=content_hash(*r))
            for r in rows
        ]  # fmt: skip
        s.add_all(recs)
        ds = Dataset(name="seeds", version=1, run_id=run.id, counts={"total": len(recs)})
        s.add(ds)
        s.flush()
        s.add_all(
            DatasetItem(dataset_id=ds.id, record_id=r.id, split="validation" if k < 2 else "train")
            for k, r in enumerate(recs)
        )
        return ds.id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8, help="LoRA training steps before scoring")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--no-judge", action="store_true", help="score without the judge")
    args = ap.parse_args()

    import torch

    from datagen.store import open_store
    from finetune.config import ScoreConfig, TrainConfig
    from finetune.score import score
    from finetune.trainer import train

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "bench.db"))
        seed_dataset(store)
        t0 = time.perf_counter()
        tr = train(store, TrainConfig(dataset="seeds@1", method="lora", max_steps=args.steps, max_length=256,
                                      per_device_train_batch_size=4, effective_batch_size=4,
                                      output_root=str(Path(tmp) / "train"), early_stopping_patience=None))  # fmt: skip
        t_train = time.perf_counter() - t0
        cfg = ScoreConfig(train_run=tr, eval="builtin", max_new_tokens=args.max_new_tokens,
                          batch_size=args.batch_size, dtype=args.dtype, use_judge=not args.no_judge)  # fmt: skip
        t0 = time.perf_counter()
        out = score(store, cfg)
        t_score = time.perf_counter() - t0
        report = Path(out["report"]).read_text() if out.get("report") else ""
    summary = {
        "threads": torch.get_num_threads(),
        "load_avg": os.getloadavg(),
        "train_seconds": round(t_train, 1),
        "score_seconds": round(t_score, 1),
        "n": out["n"],
        "eval": {k: out["eval"][k] for k in ("name", "size", "hash")},
        "overlapping": out["eval"]["overlap"]["overlapping"],
        "scores": out["scores"],
        "judge_check": out["judge_check"],
        "win_rate": out["win_rate"],
        "verdict": out["verdict"],
    }
    print(json.dumps(summary, indent=2))
    print(report)


if __name__ == "__main__":
    main()
