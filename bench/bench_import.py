"""Import 100,000 records into a fresh SQLite database through datagen's own import path, and compare with a plain
SQLAlchemy Core executemany of the same rows (already parsed, no validation, no dedup) in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_import.py [--n 100000] [--conversations]

``--conversations``: ``{"messages": [...]}`` lines of two exchanges (user, assistant, user, assistant) with the same
word counts per turn instead of instruction/input/output records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DATAGEN_PROGRESS", "0")

from sqlalchemy import create_engine

from datagen.conversation import record_hash
from datagen.import_config import ImportConfig
from datagen.importer import import_file, parse_file, record_uid
from datagen.store import Record, open_store

WORDS = [
    "the",
    "a",
    "data",
    "model",
    "answer",
    "write",
    "explain",
    "list",
    "give",
    "short",
    "story",
    "poem",
    "code",
    "function",
    "table",
    "city",
    "river",
    "number",
]


def make_file(path: Path, n: int, rng: random.Random, conversations: bool = False) -> None:
    with path.open("w") as f:
        for i in range(n):
            instr = " ".join(rng.choices(WORDS, k=rng.randint(6, 20))) + f" #{i}"
            out = " ".join(rng.choices(WORDS, k=rng.randint(20, 80)))
            if not conversations:
                f.write(json.dumps({"instruction": instr, "input": "", "output": out}) + "\n")
                continue
            again = " ".join(rng.choices(WORDS, k=rng.randint(6, 20)))
            last = " ".join(rng.choices(WORDS, k=rng.randint(20, 80)))
            turns = [("user", instr), ("assistant", out), ("user", again), ("assistant", last)]
            f.write(json.dumps({"messages": [{"role": r, "content": c} for r, c in turns]}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--conversations", action="store_true", help="two-exchange conversations instead")
    args = ap.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "data.jsonl"
        make_file(src, args.n, rng, args.conversations)
        store = open_store(str(Path(tmp) / "datagen.db"))
        t0 = time.perf_counter()
        summary = import_file(store, ImportConfig(path=str(src)))
        ours = time.perf_counter() - t0
        assert summary["imported"] == args.n, summary

        # Reference: the same rows, pre-parsed outside the timer, inserted with one Core executemany.
        rows = parse_file(ImportConfig(path=str(src)))
        ref_store = open_store(str(Path(tmp) / "ref.db"))
        with ref_store.session() as s:
            from datagen.store import Run

            run = Run(kind="import", config={})
            s.add(run)
            s.flush()
            run_id = run.id
        for r in rows:
            r["content_hash"] = record_hash(
                r["instruction"], r["input"], r["output"], r.setdefault("messages", None)
            )
            r["uid"] = record_uid(r)
        prepared = [{**r, "run_id": run_id, "status": "generated", "round": 0} for r in rows]
        engine = create_engine(ref_store.url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(Record.__table__.insert(), prepared)
        ref = time.perf_counter() - t0
    result = {
        "records": args.n,
        "kind": "conversations (2 exchanges)" if args.conversations else "instruction/input/output",
        "datagen_import_s": round(ours, 2),
        "datagen_records_per_s": round(args.n / ours),
        "core_executemany_s": round(ref, 2),
        "core_records_per_s": round(args.n / ref),
        "ratio_datagen_over_core_time": round(ours / ref, 2),
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        "note": "datagen's time includes reading, validating, hashing and dedup; the reference times only the insert",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
