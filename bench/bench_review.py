"""Review, dataset and export at 10,000 kept + 1,000 filtered records, against the naive way in the same run.

* decisions: ``decide_many`` (one transaction for the whole batch) vs one transaction per decision;
* near-duplicate clustering for the splits: blocked matrix products (1,024 rows at a time) vs one row at a time;
* end to end: sample, automatic review, statistics, dataset creation (stored 384-d vectors), each export.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/bench_review.py`` (stated thread count: 1).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen.datasets.clusters import UnionFind, cluster
from datagen.datasets.config import DatasetConfig
from datagen.datasets.create import create_dataset
from datagen.export.run import export_dataset
from datagen.review.auto import auto_review
from datagen.review.config import ReviewConfig
from datagen.review.sample import create_sample
from datagen.review.session import ReviewDecision, ReviewSession
from datagen.review.stats import review_stats
from datagen.store import open_store
from datagen.store.models import CANDIDATE, FILTERED_OUT, Embedding, Record, Run, Verdict
from datagen.textnorm import content_hash

N_KEPT, N_DROPPED, DIM = 10_000, 1_000, 384


def populate(store) -> int:
    rng = np.random.default_rng(0)
    with store.session() as s:
        run = Run(kind="generate", config={}, status="succeeded")
        s.add(run)
        s.flush()
        rows = []
        for i in range(N_KEPT + N_DROPPED):
            text = f"Explain topic {i} to a student in a few clear sentences, with one example."
            out = f"Topic {i} explained: " + "a sentence of explanation. " * 8
            rows.append(
                {
                    "uid": f"b{i}",
                    "run_id": run.id,
                    "method": ("self_instruct", "evol_instruct")[i % 2],
                    "operation": (None, "deepening")[i % 2],
                    "instruction": text,
                    "input": "",
                    "output": out,
                    "status": CANDIDATE if i < N_KEPT else FILTERED_OUT,
                    "content_hash": content_hash(text, "", out),
                    "meta": {},
                    "round": 0,
                }
            )
        s.execute(insert(Record), rows)
        ids = list(s.scalars(select(Record.id).order_by(Record.id)))
        s.execute(
            insert(Verdict),
            [{"record_id": rid, "run_id": run.id, "filter_name": "adherence", "filter_version": "1",
              "score": float(rng.uniform(0.5, 1.0) if k < N_KEPT else rng.uniform(0, 0.45)),
              "passed": k < N_KEPT, "reason": "ok" if k < N_KEPT else "off_task", "details": {"threshold": 0.45}}
             for k, rid in enumerate(ids)],
        )  # fmt: skip
        vecs = rng.normal(size=(len(ids), DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        s.execute(
            insert(Embedding),
            [{"record_id": rid, "model": "all-minilm-l6-v2", "dim": DIM, "text_hash": "x", "vector": v.tobytes()}
             for rid, v in zip(ids, vecs, strict=True)],
        )  # fmt: skip
        return run.id


def naive_cluster(ids: list[int], mat: np.ndarray, threshold: float) -> dict[int, int]:
    uf = UnionFind(ids)
    for a in range(len(ids)):
        sims = mat[a] @ mat.T
        for b in np.nonzero(sims >= threshold)[0].tolist():
            if a < b:
                uf.union(ids[a], ids[b])
    return {i: uf.find(i) for i in ids}


def timed(label: str, fn, results: dict):
    t = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - t
    print(f"{label:42s} {results[label]:8.2f} s", flush=True)
    return out


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-review-"))
    store = open_store(str(tmp / "b.db"))
    res: dict[str, float] = {}
    print(
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {N_KEPT} kept + {N_DROPPED} filtered"
    )
    run = timed("populate (bulk insert)", lambda: populate(store), res)
    scope = {"run": run}
    sid = timed("create_sample (5%, + 2% filtered)", lambda: create_sample(store, ReviewConfig(), scope), res)
    timed("auto_review: decide_many, one transaction", lambda: auto_review(store, sid), res)
    sid2 = create_sample(store, ReviewConfig(seed=1), scope)
    session = ReviewSession(store, sid2, "naive")

    def one_by_one() -> None:
        for it in session.items:
            session.decide(ReviewDecision(it.record_id, "accept"))

    timed("naive: one transaction per decision", one_by_one, res)
    timed("review_stats(sample)", lambda: review_stats(store, sid), res)
    timed("review_stats(scope)", lambda: review_stats(store, scope), res)

    with store.session() as s:
        ids = list(s.scalars(select(Record.id).where(Record.status != FILTERED_OUT).order_by(Record.id)))
        rows = s.execute(Embedding.__table__.select().where(Embedding.record_id.in_(ids[:N_KEPT]))).all()
    vec = {r.record_id: np.frombuffer(r.vector, dtype=np.float32) for r in rows}
    mat = np.stack([vec[i] for i in ids[:N_KEPT]])

    class R:  # the fields cluster() reads
        def __init__(self, i: int) -> None:
            self.id, self.content_hash = i, str(i)

    fast = timed(
        "cluster: blocked 1024-row products",
        lambda: cluster([R(i) for i in ids[:N_KEPT]], dict(vec), [], 0.9)[0],
        res,
    )
    slow = timed("naive cluster: one row at a time", lambda: naive_cluster(ids[:N_KEPT], mat, 0.9), res)
    assert fast == slow
    timed(
        "create_dataset (gate, cluster, split, store)",
        lambda: create_dataset(store, DatasetConfig(name="b", run=run)),
        res,
    )
    for fmt in ("jsonl", "alpaca", "chatml", "hf"):
        timed(
            f"export {fmt} (+ card, secret scan)",
            lambda fmt=fmt: export_dataset(store, "b", 1, fmt, tmp / fmt),
            res,
        )
    print(
        f"ratio decisions naive/batched: {res['naive: one transaction per decision'] / res['auto_review: decide_many, one transaction']:.1f}x"
    )
    print(
        f"ratio clustering naive/blocked: {res['naive cluster: one row at a time'] / res['cluster: blocked 1024-row products']:.1f}x"
    )
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
