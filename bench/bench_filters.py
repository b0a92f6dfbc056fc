"""Filter benchmarks: records/s per filter and of the chain, dedup vs raw encode, perplexity vs a naive loop,
int8 paths, HNSW recall, and peak RSS of the chain over many short records.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_filters.py \
        [--n 10000] [--lm-n 256] [--chain-n 48] [--short-n 100000]

Every comparison runs both sides in the same process on the same texts (ratios, not absolute numbers, are
what carries over between machines). Thread count: torch and faiss use OMP_NUM_THREADS (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.filter_texts import realistic_records, short_records  # noqa: E402


def make_store(rows: list[dict[str, str]]) -> Any:
    """A fresh SQLite database holding ``rows`` as generated records (one bulk insert)."""
    from sqlalchemy import insert

    from datagen.store import open_store
    from datagen.store.models import Record, Run

    db = Path(tempfile.mkdtemp(prefix="bench-filters-")) / "bench.db"
    store = open_store(str(db))
    with store.session() as s:
        run = Run(kind="bench", config={})
        s.add(run)
        s.flush()
        s.execute(
            insert(Record),
            [{"uid": f"b{i}", "run_id": run.id, "method": "self_instruct", "instruction": r["instruction"],
              "input": r["input"], "output": r["output"], "status": "generated", "content_hash": f"h{i}", "meta": {}}
             for i, r in enumerate(rows)],
        )  # fmt: skip
    return store


def chain(store: Any, filters: list[str], **kw: Any) -> tuple[float, dict[str, Any]]:
    from filters.chain import run_filters
    from filters.config import FilterConfig

    cfg = FilterConfig(filters=filters, scope="all", histogram_png=None, **kw)
    t0 = time.perf_counter()
    summary = run_filters(store, cfg)
    return time.perf_counter() - t0, summary


def views(rows: list[dict[str, str]]) -> list[Any]:
    from filters.base import RecordView

    return [RecordView(i + 1, r["instruction"], r["input"], r["output"]) for i, r in enumerate(rows)]


def bench_cheap(rows: list[dict[str, str]], out: dict[str, Any]) -> None:
    store = make_store(rows)
    for name in ("heuristics", "length", "toxicity"):
        chain(store, [name], annotate_only=True, limit=64)  # warm-up (tokenizer load)
        secs, s = chain(store, [name], annotate_only=True, rescore=True)
        out[name] = {"records": len(rows), "seconds": round(secs, 2), "records_per_s": round(len(rows) / secs, 1),
                     "failed": s["filters"][name]["failed"]}  # fmt: skip
        print(name, out[name], flush=True)


def bench_dedup(rows: list[dict[str, str]], out: dict[str, Any]) -> None:
    import numpy as np

    from datagen.modelhub import load_embedder
    from filters.dedup import field_text
    from filters.dedup_index import VectorIndex, embedder, encode

    texts = [field_text(v, "prompt") for v in views(rows)]
    model = load_embedder()
    encode(model, texts[:128])
    t0 = time.perf_counter()
    vecs = encode(model, texts)
    raw = time.perf_counter() - t0
    store = make_store(rows)
    secs, s = chain(store, ["dedup"], batch_size=1000)
    t0 = time.perf_counter()
    encode(model, texts)
    raw2 = time.perf_counter() - t0
    raw_rate = len(texts) / ((raw + raw2) / 2)
    out["dedup"] = {"records": len(rows), "field": "prompt", "seconds": round(secs, 2),
                    "records_per_s": round(len(rows) / secs, 1), "raw_encode_per_s": round(raw_rate, 1),
                    "ratio_vs_raw_encode": round(len(rows) / secs / raw_rate, 3),
                    "dropped": s["filters"]["dedup"]["failed_by_reason"]}  # fmt: skip
    print("dedup", out["dedup"], flush=True)
    # int8 embedder: speed and decision agreement (same chain, fresh database)
    encode(embedder("all-minilm-l6-v2", "int8"), texts[:128])
    store8 = make_store(rows)
    secs8, s8 = chain(store8, ["dedup"], batch_size=1000, settings={"dedup": {"quantize": "int8"}})
    out["dedup_int8"] = {"records_per_s": round(len(rows) / secs8, 1), "speedup": round(secs / secs8, 2),
                         "dropped": s8["filters"]["dedup"]["failed_by_reason"]}  # fmt: skip
    out["dedup_int8"]["decisions_identical"] = _agreement(store, store8, "dedup")
    print("dedup_int8", out["dedup_int8"], flush=True)
    # HNSW recall against the exact index, queries = every vector, neighbours of lower id only
    flat, hnsw = VectorIndex(vecs.shape[1], "flat"), VectorIndex(vecs.shape[1], "hnsw")
    ids = list(range(1, len(vecs) + 1))
    flat.add(ids, vecs)
    t0 = time.perf_counter()
    hnsw.add(ids, vecs)
    build = time.perf_counter() - t0
    fs, fi = flat.search(vecs, 11)
    t0 = time.perf_counter()
    hs, hi = hnsw.search(vecs, 11)
    qtime = time.perf_counter() - t0
    rec = np.mean([len(set(fi[q, 1:]) & set(hi[q, 1:])) / 10 for q in range(len(vecs))])
    dup_f = [bool(((fs[q] >= 0.9) & (fi[q] != q + 1)).any()) for q in range(len(vecs))]
    dup_h = [bool(((hs[q] >= 0.9) & (hi[q] != q + 1)).any()) for q in range(len(vecs))]
    out["hnsw"] = {"vectors": len(vecs), "recall_at_10": round(float(rec), 4),
                   "has_neighbour_over_0.9_agreement": round(float(np.mean(np.array(dup_f) == np.array(dup_h))), 4),
                   "build_s": round(build, 2), "queries_per_s": round(len(vecs) / qtime, 1)}  # fmt: skip
    print("hnsw", out["hnsw"], flush=True)


def _agreement(store_a: Any, store_b: Any, name: str) -> float:
    """Share of records whose ``name`` verdict has the same passed flag in the two databases."""
    from sqlalchemy import select

    from datagen.store.models import Verdict

    def flags(store: Any) -> dict[int, bool]:
        with store.session() as s:
            q = select(Verdict.record_id, Verdict.passed).where(Verdict.filter_name == name)
            return dict(s.execute(q).all())

    a, b = flags(store_a), flags(store_b)
    return round(sum(a[k] == b.get(k) for k in a) / max(1, len(a)), 4)


def bench_perplexity(rows: list[dict[str, str]], out: dict[str, Any]) -> None:
    import torch

    from datagen.lm import load_causal_lm
    from filters.perplexity import PerplexityFilter, PerplexitySettings, encode_example

    recs = views(rows)
    model, tok = load_causal_lm()
    f = PerplexityFilter(PerplexitySettings())
    f.score(recs[:8])
    t0 = time.perf_counter()
    fast = [s.value for s in f.score(recs)]
    batched = time.perf_counter() - t0
    # naive: one forward per record, padded to the longest record of the set
    enc = [encode_example(tok, r, "answer", 512) for r in recs]
    width = max(len(e[0]) for e in enc)
    naive_vals = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for ids, start, _ in enc:
            x = torch.full((1, width), tok.pad_token_id, dtype=torch.long)
            x[0, : len(ids)] = torch.tensor(ids)
            mask = torch.zeros_like(x)
            mask[0, : len(ids)] = 1
            labels = x.clone()
            labels[0, :start] = -100
            labels[mask == 0] = -100
            naive_vals.append(float(torch.exp(model(input_ids=x, attention_mask=mask, labels=labels).loss)))
    naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    f.score(recs)  # batched again: the CPU is shared, so average the two batched runs around the naive one
    batched = (batched + time.perf_counter() - t0) / 2
    same = sum(abs(a - b) / b < 0.01 for a, b in zip(fast, naive_vals, strict=True) if a) / len(fast)
    out["perplexity"] = {"records": len(recs), "records_per_s": round(len(recs) / batched, 2),
                         "naive_records_per_s": round(len(recs) / naive, 2), "speedup_vs_naive": round(naive / batched, 2),
                         "values_within_1pct_of_naive": round(same, 4), "naive_padded_width": width,
                         "failed_at_100": sum(v > 100 for v in fast if v)}  # fmt: skip
    print("perplexity", out["perplexity"], flush=True)
    for extra, key in (({"quantize": "int8"}, "perplexity_int8"), ({"dtype": "bfloat16"}, "perplexity_bf16")):
        g = PerplexityFilter(PerplexitySettings(**extra))
        g.score(recs[:8])
        t0 = time.perf_counter()
        vals = [s.value for s in g.score(recs)]
        secs = time.perf_counter() - t0
        agree = sum(((a or 0) > 100) == ((b or 0) > 100) for a, b in zip(fast, vals, strict=True)) / len(recs)
        out[key] = {"records_per_s": round(len(recs) / secs, 2), "speedup_vs_fp32": round(batched / secs, 2),
                    "decisions_identical_at_100": round(agree, 4)}  # fmt: skip
        print(key, out[key], flush=True)


def bench_lm_filters(rows: list[dict[str, str]], chain_n: int, out: dict[str, Any]) -> None:
    sub = rows[:chain_n]
    store = make_store(sub)
    secs, s = chain(store, ["adherence"], annotate_only=True)
    out["adherence"] = {"records": len(sub), "records_per_s": round(len(sub) / secs, 3)}
    print("adherence", out["adherence"], flush=True)
    store = make_store(sub)
    secs, s = chain(store, ["heuristics", "length", "toxicity", "perplexity", "adherence", "dedup"])
    out["chain_all_six"] = {"records": len(sub), "seconds": round(secs, 1), "records_per_s": round(len(sub) / secs, 3),
                            "kept": s["kept"], "dropped": s["dropped"],
                            "scored": {n: st["scored"] for n, st in s["filters"].items()}}  # fmt: skip
    print("chain_all_six", out["chain_all_six"], flush=True)


def bench_chain_no_judge(rows: list[dict[str, str]], out: dict[str, Any]) -> None:
    store = make_store(rows)
    secs, s = chain(store, ["heuristics", "length", "toxicity", "perplexity", "dedup"])
    out["chain_without_judge"] = {"records": len(rows), "records_per_s": round(len(rows) / secs, 2),
                                  "kept": s["kept"], "dropped": s["dropped"]}  # fmt: skip
    print("chain_without_judge", out["chain_without_judge"], flush=True)


def peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak, inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_child(n: int) -> None:
    rows = short_records(n)
    store = make_store(rows)
    del rows
    t0 = time.perf_counter()
    _, s = chain(store, ["heuristics", "length", "toxicity", "dedup"], batch_size=512)
    print(json.dumps({"records": n, "seconds": round(time.perf_counter() - t0, 1), "kept": s["kept"],
                      "peak_rss_mb": peak_rss_mb()}))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--lm-n", type=int, default=256)
    p.add_argument("--chain-n", type=int, default=48)
    p.add_argument("--short-n", type=int, default=100000)
    p.add_argument("--only", default="cheap,dedup,perplexity,lm,chain,rss")
    p.add_argument("--rss-child", type=int)
    a = p.parse_args()
    if a.rss_child:
        rss_child(a.rss_child)
        return
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}", flush=True)
    only = set(a.only.split(","))
    rows = realistic_records(a.n)
    out: dict[str, Any] = {"threads": os.environ.get("OMP_NUM_THREADS"), "n": a.n}
    if "cheap" in only:
        bench_cheap(rows, out)
    if "dedup" in only:
        bench_dedup(rows, out)
    if "perplexity" in only:
        bench_perplexity(rows[: a.lm_n], out)
    if "lm" in only:
        bench_lm_filters(rows, a.chain_n, out)
    if "chain" in only:
        bench_chain_no_judge(rows[: a.lm_n], out)
    if "rss" in only:
        res = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(a.short_n)], capture_output=True, text=True
        )
        line = [x for x in res.stdout.splitlines() if x.startswith("{")]
        out["rss"] = json.loads(line[-1]) if line else {"error": res.stderr[-2000:]}
        print("rss", out["rss"], flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
