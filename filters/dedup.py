"""Near-duplicates: an exact-hash pass, then embeddings (MiniLM) + faiss cosine against earlier kept records.

A record is a duplicate when an *earlier* (lower id) kept record — already a candidate/approved in the
database, or kept earlier in the same batch — has the same normalized text (``exact_duplicate``, cosine 1.0)
or an embedding cosine >= ``threshold`` (``near_duplicate``, default 0.9). Records are decided in id order,
greedily, so the kept member of every cluster is deterministic: its lowest id. Each dropped verdict names
``duplicate_of`` and the ``cosine``; the score is the best cosine to an earlier kept record (0 when none).

The corpus-level work is ``DedupCorpus``, which the chain runs around the filter's batches
(``filters.base.Corpus``), so the filter itself only scores the views it is given and never touches the
database: before the first
batch the corpus indexes every kept record (candidate or approved) with its stored vector
(``datagen.store.embeddings``: same model, same text) and embeds and stores the missing ones; before each
batch it reads the batch's stored vectors (``filter --executor ray``: the actors embed the batch's other records,
``given``); the vectors embedded for a batch are stored in the batch's
transaction; and the batch's kept records join the index once it committed. A later run therefore reuses
every vector instead of re-embedding. The chain orders dedup last (``cost`` 90) on purpose: what it keeps must
be what survives the other filters.

Known limit: embeddings see topic more than direction — "Sort the numbers in ascending order" and "...
descending order" have MiniLM cosine 0.973 and are called duplicates at 0.9. Raise ``threshold`` or dedup
on ``field: text`` (answers included) when such pairs matter.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen import modelhub
from datagen.endpoint import Device
from datagen.store import embeddings
from datagen.store.engine import Store
from datagen.store.models import APPROVED, CANDIDATE, Record
from datagen.textnorm import text_hash
from filters.base import Corpus, Filter, FilterScore, FilterSettings, RecordView, require
from filters.dedup_index import VectorIndex, dimension, embedder, encode

PAGE = 2000  # kept records read per query while the corpus loads


class DedupSettings(FilterSettings):
    model: str = modelhub.MINILM
    threshold: float = 0.9
    # prompt = instruction + input (every user turn of a conversation); text = every field (every turn)
    field: Literal["instruction", "prompt", "text"] = "prompt"
    index: Literal["flat", "hnsw"] = "flat"
    hnsw_m: int = 32
    ef_search: int = 64
    k: int = 10
    quantize: Literal["none", "int8"] = "none"  # int8: the CPU only
    encode_batch_size: int = 64
    device: Device = "auto"  # the embedder's: auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps


def field_text(r: RecordView, field: str) -> str:
    """The text dedup embeds: the instruction, the prompt (instruction + input) or the whole example."""
    if field == "instruction":
        return r.instruction
    if field == "prompt":
        return r.prompt()
    return r.text()


class DedupCorpus(Corpus):
    """The corpus dedup judges against: the kept records' vectors (faiss) and normalized-text hashes, plus the
    vectors of the batch being scored. Run by the chain (see the module docstring)."""

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        self.model_key = embeddings.model_key(settings.model, settings.quantize)
        self.index: VectorIndex | None = None
        self.hashes: dict[str, int] = {}  # normalized-text hash -> lowest kept record id
        self.indexed: set[int] = set()
        self.stored: dict[int, np.ndarray] = {}  # the batch's stored vectors (read by ``fetch``)
        self.pending: dict[int, tuple[np.ndarray, str]] = {}  # the batch's vectors: indexed if kept
        self.fresh: dict[int, tuple[np.ndarray, str]] = {}  # embedded for the batch: stored with it
        self.given: dict[int, np.ndarray] = {}  # embedded elsewhere (Ray actors): used and stored as fresh

    def _model(self) -> Any:
        return embedder(self.settings.model, self.settings.quantize, self.settings.device)

    def _wanted(self, views: list[RecordView]) -> dict[int, str]:
        return {v.id: text_hash(field_text(v, self.settings.field)) for v in views}

    def load(self, store: Store) -> None:
        st = self.settings
        self.index = VectorIndex(dimension(self._model()), st.index, st.hnsw_m, st.ef_search)
        self.hashes, self.indexed = {}, set()
        last = 0
        while True:
            with store.session() as s:
                rows = s.execute(
                    select(Record.id, Record.instruction, Record.input, Record.output, Record.messages)
                    .where(Record.status.in_((CANDIDATE, APPROVED)), Record.id > last)
                    .order_by(Record.id)
                    .limit(PAGE)
                ).all()
                if not rows:
                    break
                views = [RecordView(r[0], r[1] or "", r[2] or "", r[3] or "", messages=r[4]) for r in rows]
                stored = embeddings.lookup(s, self._wanted(views), [self.model_key])
            last = rows[-1][0]
            vecs, hashes, fresh = self._vectors(views, stored)
            if fresh:
                with store.session() as s:
                    embeddings.save(s, self.model_key, fresh)
            self.index.add([v.id for v in views], vecs)
            self.indexed.update(v.id for v in views)
            for v, h in zip(views, hashes, strict=True):
                self.hashes.setdefault(h, v.id)

    def fetch(self, s: Session, records: list[RecordView]) -> None:
        self.stored = embeddings.lookup(s, self._wanted(records), [self.model_key])

    def batch(self, records: list[RecordView]) -> tuple[np.ndarray, list[str]]:
        """Vectors and text hashes of the batch being scored, in order: the fetched ones reused, the rest
        embedded now (and stored with the batch)."""
        vecs, hashes, self.fresh = self._vectors(records, self.stored)
        self.stored = {}
        self.pending = {r.id: (vecs[i], hashes[i]) for i, r in enumerate(records)}
        return vecs, hashes

    def _vectors(
        self, views: list[RecordView], stored: dict[int, np.ndarray]
    ) -> tuple[np.ndarray, list[str], dict[int, tuple[np.ndarray, str]]]:
        """Vectors for ``views`` (``stored`` ones reused) and the newly embedded ones with their text hash."""
        texts = [field_text(v, self.settings.field) for v in views]
        hashes = [text_hash(t) for t in texts]
        given = {v.id: self.given.pop(v.id) for v in views if v.id in self.given and v.id not in stored}
        missing = [i for i, v in enumerate(views) if v.id not in stored and v.id not in given]
        new = encode(self._model(), [texts[i] for i in missing], self.settings.encode_batch_size)
        dim = self.index.dim if self.index else new.shape[1]
        out = np.zeros((len(views), dim), dtype=np.float32)
        fresh = {}
        for j, i in enumerate(missing):
            out[i] = new[j]
            fresh[views[i].id] = (new[j], hashes[i])
        for i, v in enumerate(views):
            if v.id in given:
                out[i] = given[v.id]
                fresh[v.id] = (given[v.id], hashes[i])
        for i, v in enumerate(views):
            if v.id in stored:
                out[i] = stored[v.id]
        return out, hashes, fresh

    def embed(self, views: list[RecordView]) -> np.ndarray:
        """The vectors of ``views`` (what a Ray actor embeds and hands to the driver's corpus as ``given``)."""
        texts = [field_text(v, self.settings.field) for v in views]
        return encode(self._model(), texts, self.settings.encode_batch_size)

    def write(self, s: Session) -> None:
        embeddings.save(s, self.model_key, self.fresh)
        self.fresh = {}

    def keep(self, ids: list[int]) -> None:
        assert self.index is not None
        new = [rid for rid in sorted(ids) if rid in self.pending and rid not in self.indexed]
        if new:
            self.index.add(new, np.stack([self.pending[rid][0] for rid in new]))
            self.indexed.update(new)
            for rid in new:
                self.hashes.setdefault(self.pending[rid][1], rid)
        self.pending = {}


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
        self.known = DedupCorpus(self.settings)

    @property
    def backend(self) -> str:
        return f"{self.known.model_key}/faiss-{self.settings.index}"

    def threshold(self) -> float | None:
        return None  # decided in score(): only earlier kept records count

    @classmethod
    def pass_rule(cls, settings: dict[str, Any], details: dict[str, Any]) -> str | None:
        """The score is the cosine to the nearest earlier kept record: a duplicate from ``threshold`` up."""
        limit = details.get("threshold", settings.get("threshold", DedupSettings().threshold))
        return f"< {limit}"

    def corpus(self) -> DedupCorpus:
        return self.known

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        known, st = self.known, self.settings
        assert known.index is not None, "the chain loads the corpus before the first batch"
        recs = sorted(records, key=lambda r: r.id)
        vecs, hashes = known.batch(recs)
        sims, nids = known.index.search(vecs, st.k)
        batch_sims = vecs @ vecs.T
        kept_pos: list[int] = []
        kept_hash: dict[str, int] = {}
        scores: dict[int, FilterScore] = {}
        for i, r in enumerate(recs):
            best_id, best = -1, 0.0
            for sim, nid in zip(sims[i], nids[i], strict=True):
                if 0 <= nid < r.id and sim > best:
                    best_id, best = int(nid), float(sim)
            for j in kept_pos:
                if batch_sims[i, j] > best:
                    best_id, best = recs[j].id, float(batch_sims[i, j])
            exact = known.hashes.get(hashes[i], kept_hash.get(hashes[i]))
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
        return [scores[r.id] for r in records]
