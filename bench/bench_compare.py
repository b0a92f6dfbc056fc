"""What curation is worth, measured: a clean dataset against the same dataset with 30% of its records corrupted.

The clean dataset is every instance of the builtin seed tasks (43 instruction/answer pairs, written for this
project; all in the train split but two for validation). The corrupted copy replaces 30% of the records (seeded):
a third get another record's answer (shuffled answers), a third get gibberish answers of similar length, a third
become near-duplicates of another record (its instruction and answer with one word changed). Then
``finetune.compare.compare`` trains both with the same base model (SmolLM2-135M-Instruct), steps, seeds and token
budget, scores every adapter on the builtin eval set (132 items) and reports the differences with paired
intervals and the spread over seeds. Everything lives in a temporary folder; nothing is downloaded.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_compare.py [--repeats 3] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def clean_pairs() -> list[tuple[str, str, str]]:
    from datagen.generation.pool import BUILTIN_SEEDS

    out = []
    for line in BUILTIN_SEEDS.read_text().splitlines():
        task = json.loads(line)
        out += [(task["instruction"], i["input"], i["output"]) for i in task["instances"]]
    return out


def corrupt(pairs: list[tuple[str, str, str]], share: float, seed: int) -> tuple[list[Any], dict[str, int]]:
    """A copy of ``pairs`` with ``share`` of them corrupted three ways (see the module docstring)."""
    rng = random.Random(seed)
    out = list(pairs)
    chosen = rng.sample(range(len(pairs)), round(share * len(pairs)))
    kinds = {"shuffled_answer": 0, "gibberish": 0, "near_duplicate": 0}
    for k, i in enumerate(chosen):
        ins, inp, ans = pairs[i]
        other = rng.choice([j for j in range(len(pairs)) if j != i])
        if k % 3 == 0:
            out[i] = (ins, inp, pairs[other][2])
            kinds["shuffled_answer"] += 1
        elif k % 3 == 1:
            words = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 9))) for _ in ans.split()]
            out[i] = (ins, inp, " ".join(words) or "xq")
            kinds["gibberish"] += 1
        else:
            o_ins, o_inp, o_ans = pairs[other]
            words = o_ins.split()
            words[rng.randrange(len(words))] = rng.choice(["please", "now", "kindly", "quickly"])
            out[i] = (" ".join(words), o_inp, o_ans)
            kinds["near_duplicate"] += 1
    return out, kinds


def add_dataset(store: Any, name: str, pairs: list[tuple[str, str, str]]) -> None:
    from datagen.store.models import APPROVED, Dataset, DatasetItem, Record, Run
    from datagen.textnorm import content_hash, stable_hash

    with store.session() as s:
        run = Run(kind="import", config={"bench": name})
        s.add(run)
        s.flush()
        recs = [
            Record(uid=stable_hash(name, k), run_id=run.id, method="import", instruction=a, input=b, output=c,
                   status=APPROVED, content_hash=content_hash(a, b, c))
            for k, (a, b, c) in enumerate(pairs)
        ]  # fmt: skip
        s.add_all(recs)
        ds = Dataset(name=name, version=1, run_id=run.id, counts={"total": len(recs)})
        s.add(ds)
        s.flush()
        s.add_all(
            DatasetItem(dataset_id=ds.id, record_id=r.id, split="validation" if k < 2 else "train")
            for k, r in enumerate(recs)
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--share", type=float, default=0.3, help="share of records corrupted")
    ap.add_argument("--max-examples", type=int, default=None, help="eval items (none: all 132)")
    args = ap.parse_args()

    import torch

    from datagen.store import open_store
    from finetune.compare import compare
    from finetune.config import CompareConfig

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    pairs = clean_pairs()
    bad, kinds = corrupt(pairs, args.share, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "bench.db"))
        add_dataset(store, "clean", pairs)
        add_dataset(store, "corrupted", bad)
        cfg = CompareConfig(datasets=["corrupted@1", "clean@1"], eval="builtin", repeats=args.repeats,
                            max_steps=args.steps, max_examples=args.max_examples,
                            output_root=str(Path(tmp) / "compare"))  # fmt: skip
        t0 = time.perf_counter()
        out = compare(store, cfg)
        seconds = time.perf_counter() - t0
        report = Path(out["report"]).read_text()
    print(json.dumps({"threads": torch.get_num_threads(), "load_avg_end": os.getloadavg(),
                      "seconds": round(seconds, 1), "corrupted": kinds, "records": len(pairs),
                      "budget": out["budget"], "metrics": out["metrics"]}, indent=2))  # fmt: skip
    print(report)


if __name__ == "__main__":
    main()
