"""The vector side of dedup: a faiss inner-product index over normalized vectors, keyed by record id.

``flat`` is exact (brute force, fine into the hundreds of thousands of 384-d vectors on one core).
``hnsw`` is approximate (faiss ``IndexHNSWFlat``, M links per node, ``ef_search`` candidates per query) for
large corpora; measured against ``flat`` by ``bench/bench_filters.py`` on 10,000 MiniLM vectors (M=32,
efSearch=64): recall@10 0.9991, and the "has an earlier neighbour >= 0.9" decision agrees on 99.94% of records.
Also here: the embedder (optionally int8-quantized) and encoding to normalized vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_QUANTIZED: dict[str, Any] = {}


class VectorIndex:
    """Record ids and their vectors; ``search`` returns (cosines, record ids) with -1 for no neighbour."""

    def __init__(self, dim: int, kind: str = "flat", hnsw_m: int = 32, ef_search: int = 64) -> None:
        import faiss

        self.dim, self.kind = dim, kind
        self.index: Any
        if kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efSearch = ef_search
            self.index.hnsw.efConstruction = max(40, 2 * hnsw_m)
        elif kind == "flat":
            self.index = faiss.IndexFlatIP(dim)
        else:
            raise ValueError(f"unknown index kind {kind!r}: use flat or hnsw")
        self.ids: Any = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        if not ids:
            return
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = vectors.shape[0]
        if len(self) == 0 or n == 0:
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        sims, pos = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(k, len(self)))
        ids = np.where(pos >= 0, self.ids[np.clip(pos, 0, None)], -1)
        return sims, ids


def normalize(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


def embedder(name: str, quantize: str = "none", device: str = "auto") -> Any:
    """The sentence-transformers model on ``device``; ``int8`` is a dynamically quantized copy (Linear layers,
    qint8), on the CPU only."""
    from datagen import modelhub
    from datagen.errors import InputError

    base = modelhub.load_embedder(name, device)
    if quantize == "none":
        return base
    if str(base.device) != "cpu":
        raise InputError("dedup quantize int8 runs on the CPU only: set device cpu (or quantize none)")
    if name not in _QUANTIZED:
        import torch

        _QUANTIZED[name] = torch.ao.quantization.quantize_dynamic(
            base, {torch.nn.Linear}, dtype=torch.qint8, inplace=False
        )
    return _QUANTIZED[name]


def dimension(model: Any) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def encode(model: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Normalized float32 vectors, one row per text (sentence-transformers sorts by length internally)."""
    if not texts:
        return np.zeros((0, dimension(model)), dtype=np.float32)
    vecs = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    return normalize(vecs)
