"""Near-duplicates: an exact-hash pass, then embeddings (MiniLM) + faiss cosine against earlier kept records.

A record is a duplicate when an *earlier* (lower id) kept record — already a candidate/approved in the
database, or kept earlier in the same batch — has the same normalized text (``exact_duplicate``, cosine 1.0)
or an embedding cosine >= ``threshold`` (``near_duplicate``, default 0.9). Records are decided in id order,
greedily, so the kept member of every cluster is deterministic: its lowest id. Each dropped verdict names
``duplicate_of`` and the ``cosine``; the score is the best cosine to an earlier kept record (0 when none).

Embeddings are stored (``embeddings`` table, keyed by record and model, with the hash of the embedded
text): a later run reuses them instead of re-embedding, and ``prepare`` rebuilds the index from the database
(embedding and storing only kept records that have no vector yet). The chain orders dedup last
(``cost`` 90) on purpose: what it keeps must be what survives the other filters.

Known limit: embeddings see topic more than direction — "Sort the numbers in ascending order" and "...
descending order" have MiniLM cosine 0.973 and are called duplicates at 0.9. Raise ``threshold`` or dedup
on ``field: text`` (answers included) when such pairs matter.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from datagen import modelhub
from datagen.store.models import APPROVED, CANDIDATE, Embedding, Record
from datagen.textnorm import text_hash
from filters.base import Filter, FilterScore, FilterSettings, RecordView, require
from filters.dedup_index import VectorIndex, dimension, embedder, encode, from_bytes, to_bytes

PAGE = 2000


class DedupSettings(FilterSettings):
    model: str = modelhub.MINILM
    threshold: float = 0.9
    field: Literal["instruction", "prompt", "text"] = "prompt"  # prompt = instruction + input
    index: Literal["flat", "hnsw"] = "flat"
    hnsw_m: int = 32
    ef_search: int = 64
    k: int = 10
    quantize: Literal["none", "int8"] = "none"
    encode_batch_size: int = 64


def field_text(r: RecordView, field: str) -> str:
    if field == "instruction":
        return r.instruction
    if field == "prompt":
        return r.prompt()
    return r.text()


class DedupFilter(Filter):
    name = "dedup"
    version = "1"
    cost = 90
    Settings = DedupSettings
    settings: DedupSettings

    def __init__(self, settings: DedupSettings | None = None) -> None:
        super().__init__(settings)
        require("faiss", "faiss-cpu", "the dedup filter")
        require("sentence_transformers", "sentence-transformers", "the dedup filter")
        self.index: VectorIndex | None = None
        self.hashes: dict[str, int] = {}  # normalized-text hash -> lowest kept record id
        self.pending: dict[int, tuple[np.ndarray, str]] = {}
        self.fresh: dict[int, tuple[np.ndarray, str]] = {}  # embedded in this batch, to store
        self.indexed: set[int] = set()
        self.store: Any = None

    @property
    def model_key(self) -> str:
        return self.settings.model + ("+int8" if self.settings.quantize == "int8" else "")

    @property
    def backend(self) -> str:
        return f"{self.model_key}/faiss-{self.settings.index}"

    def threshold(self) -> float | None:
        return None  # decided in score(): only earlier kept records count

    def _model(self) -> Any:
        return embedder(self.settings.model, self.settings.quantize)

    def prepare(self, store: Any) -> list[str]:
        """Rebuild the index from the database: stored vectors of kept records, embedding any missing."""
        model = self._model()
        self.store = store
        self.index = VectorIndex(
            dimension(model),
            self.settings.index,
            self.settings.hnsw_m,
            self.settings.ef_search,
        )
        self.hashes = {}
        last = 0
        while True:
            with store.session() as s:
                rows = s.execute(
                    select(Record.id, Record.instruction, Record.input, Record.output)
                    .where(Record.status.in_((CANDIDATE, APPROVED)), Record.id > last)
                    .order_by(Record.id)
                    .limit(PAGE)
                ).all()
                if not rows:
                    break
                views = [RecordView(r[0], r[1] or "", r[2] or "", r[3] or "") for r in rows]
                stored = self._stored(s, [v.id for v in views])
            last = rows[-1][0]
            self._absorb(store, views, stored)
        return []

    def _stored(self, s: Session, ids: list[int]) -> dict[int, tuple[str, bytes, int]]:
        rows = s.execute(
            select(Embedding.record_id, Embedding.text_hash, Embedding.vector, Embedding.dim).where(
                Embedding.record_id.in_(ids), Embedding.model == self.model_key
            )
        ).all()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def _vectors(
        self, views: list[RecordView], stored: dict[int, tuple[str, bytes, int]]
    ) -> tuple[np.ndarray, list[str], dict[int, tuple[np.ndarray, str]]]:
        """Vectors for ``views`` (stored ones reused when the text is unchanged) and the newly embedded ones."""
        texts = [field_text(v, self.settings.field) for v in views]
        hashes = [text_hash(t) for t in texts]
        missing = [i for i, v in enumerate(views) if v.id not in stored or stored[v.id][0] != hashes[i]]
        new = encode(self._model(), [texts[i] for i in missing], self.settings.encode_batch_size)
        dim = self.index.dim if self.index else new.shape[1]
        out = np.zeros((len(views), dim), dtype=np.float32)
        fresh = {}
        for j, i in enumerate(missing):
            out[i] = new[j]
            fresh[views[i].id] = (new[j], hashes[i])
        todo = set(missing)
        for i, v in enumerate(views):
            if i not in todo:
                out[i] = from_bytes(stored[v.id][1], stored[v.id][2])
        return out, hashes, fresh

    def _absorb(self, store: Any, views: list[RecordView], stored: dict[int, tuple[str, bytes, int]]) -> None:
        vecs, hashes, fresh = self._vectors(views, stored)
        if fresh:
            with store.session() as s:
                self._store(s, fresh)
        assert self.index is not None
        self.index.add([v.id for v in views], vecs)
        self.indexed.update(v.id for v in views)
        for v, h in zip(views, hashes, strict=True):
            self.hashes.setdefault(h, v.id)

    def _store(self, s: Session, fresh: dict[int, tuple[np.ndarray, str]]) -> None:
        ids = list(fresh)
        s.execute(delete(Embedding).where(Embedding.record_id.in_(ids), Embedding.model == self.model_key))
        s.execute(
            insert(Embedding),
            [
                {
                    "record_id": rid,
                    "model": self.model_key,
                    "dim": int(v.shape[0]),
                    "text_hash": h,
                    "vector": to_bytes(v),
                }
                for rid, (v, h) in fresh.items()
            ],
        )

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        assert self.index is not None, "prepare() first"
        st = self.settings
        recs = sorted(records, key=lambda r: r.id)
        stored: dict[int, tuple[str, bytes, int]] = {}
        if self.store is not None:
            with self.store.session() as s:
                stored = self._stored(s, [r.id for r in recs])
        vecs, hashes, self.fresh = self._vectors(recs, stored)
        sims, nids = self.index.search(vecs, st.k)
        batch_sims = vecs @ vecs.T
        kept_pos: list[int] = []
        kept_hash: dict[str, int] = {}
        scores: dict[int, FilterScore] = {}
        self.pending = {}
        for i, r in enumerate(recs):
            best_id, best = -1, 0.0
            for sim, nid in zip(sims[i], nids[i], strict=True):
                if 0 <= nid < r.id and sim > best:
                    best_id, best = int(nid), float(sim)
            for j in kept_pos:
                if batch_sims[i, j] > best:
                    best_id, best = recs[j].id, float(batch_sims[i, j])
            exact = self.hashes.get(hashes[i], kept_hash.get(hashes[i]))
            if exact is not None and exact < r.id:
                scores[r.id] = FilterScore(
                    1.0, {"duplicate_of": exact, "cosine": 1.0, "match": "exact"}, "exact_duplicate"
                )
            elif best >= st.threshold:
                details = {"duplicate_of": best_id, "cosine": round(best, 4), "match": "embedding"}
                scores[r.id] = FilterScore(best, details | {"threshold": st.threshold}, "near_duplicate")
            else:
                nearest = {"nearest": best_id, "cosine": round(best, 4)} if best_id >= 0 else {}
                scores[r.id] = FilterScore(max(best, 0.0), nearest | {"threshold": st.threshold})
                kept_pos.append(i)
                kept_hash.setdefault(hashes[i], r.id)
            self.pending[r.id] = (vecs[i], hashes[i])
        return [scores[r.id] for r in records]

    def write(self, session: Session, records: list[RecordView], scores: list[FilterScore]) -> None:
        if self.fresh:
            self._store(session, self.fresh)
        self.fresh = {}

    def after_batch(self, kept: list[int]) -> None:
        assert self.index is not None
        ids = [rid for rid in sorted(kept) if rid in self.pending and rid not in self.indexed]
        if ids:
            self.index.add(ids, np.stack([self.pending[rid][0] for rid in ids]))
            self.indexed.update(ids)
            for rid in ids:
                self.hashes.setdefault(self.pending[rid][1], rid)
        self.pending = {}
