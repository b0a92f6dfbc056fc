"""Dedup with the real MiniLM + faiss: planted paraphrases caught, distinct texts kept, embeddings reused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from datagen.store.models import Embedding
from filters.chain import run_filters
from filters.config import FilterConfig
from tests.filter_fixtures import LONG_OUTPUT, add_records, statuses, verdicts

pytestmark = pytest.mark.slow

TEXTS = [
    "Explain how plants turn sunlight into food.",  # 0
    "Give three tips for staying healthy.",  # 1
    "What is the capital of France?",  # 2
    "Explain how plants convert sunlight into food.",  # 3 paraphrase of 0
    "Give 3 tips for staying healthy.",  # 4 paraphrase of 1
    "Summarize the article in two sentences.",  # 5
    "Write a short poem about the ocean.",  # 6
    "explain   how plants TURN sunlight into food.",  # 7 exact (normalized) copy of 0
    "Explain how animals digest food.",  # 8 related but distinct
    "What is the capital city of France?",  # 9 paraphrase of 2
]


def _rows(texts: list[str]) -> list[dict[str, Any]]:
    return [{"instruction": t, "output": LONG_OUTPUT} for t in texts]


def cfg(**kw: Any) -> FilterConfig:
    return FilterConfig(filters=["dedup"], histogram_png=None, **kw)


def test_paraphrases_caught_distinct_kept(store: Any) -> None:
    ids = add_records(store, _rows(TEXTS))
    summary = run_filters(store, cfg(batch_size=4))  # clusters span batches: earlier batches are the corpus
    st = statuses(store)
    assert [i for i in ids if st[i] == "filtered_out"] == [ids[3], ids[4], ids[7], ids[9]]
    v = verdicts(store, "dedup")
    assert v[ids[3], "dedup"].reason == "near_duplicate"
    assert v[ids[3], "dedup"].details["duplicate_of"] == ids[0]
    assert v[ids[3], "dedup"].details["cosine"] >= 0.9
    assert v[ids[9], "dedup"].details["duplicate_of"] == ids[2]
    assert (v[ids[7], "dedup"].reason, v[ids[7], "dedup"].details["duplicate_of"]) == (
        "exact_duplicate",
        ids[0],
    )
    assert v[ids[7], "dedup"].details["cosine"] == 1.0
    assert v[ids[8], "dedup"].passed and v[ids[8], "dedup"].score < 0.9
    assert summary["filters"]["dedup"]["failed_by_reason"] == {"exact_duplicate": 1, "near_duplicate": 3}
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Embedding)) == len(TEXTS)


def test_lowest_id_kept_within_one_batch_and_against_corpus(store: Any) -> None:
    first = add_records(store, _rows([TEXTS[1]]))
    run_filters(store, cfg())
    later = add_records(store, _rows([TEXTS[4], TEXTS[6], TEXTS[6] + " ", TEXTS[1]]))
    run_filters(store, cfg())  # a fresh chain rebuilds the index from the database
    st = statuses(store)
    assert st[first[0]] == "candidate"
    assert [st[i] for i in later] == ["filtered_out", "candidate", "filtered_out", "filtered_out"]
    v = verdicts(store, "dedup")
    assert v[later[0], "dedup"].details["duplicate_of"] == first[0]
    assert v[later[2], "dedup"].details["duplicate_of"] == later[1]


def test_stored_embeddings_are_not_recomputed(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    add_records(store, _rows(TEXTS[:3]))
    run_filters(store, cfg())
    import filters.dedup as dedup

    calls: list[int] = []
    real = dedup.encode

    def counting(model: Any, texts: list[str], batch_size: int = 64) -> Any:
        calls.append(len(texts))
        return real(model, texts, batch_size)

    monkeypatch.setattr(dedup, "encode", counting)
    again = run_filters(store, cfg(scope="all", rescore=True))
    assert again["filters"]["dedup"]["scored"] == 3
    assert sum(calls) == 0
    assert set(statuses(store).values()) == {"candidate"}  # a record is never its own duplicate


def test_hnsw_index_agrees_on_small_corpus(store: Any) -> None:
    ids = add_records(store, _rows(TEXTS))
    run_filters(store, cfg(batch_size=3, settings={"dedup": {"index": "hnsw"}}))
    st = statuses(store)
    assert [i for i in ids if st[i] == "filtered_out"] == [ids[3], ids[4], ids[7], ids[9]]
