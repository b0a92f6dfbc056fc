"""Near-duplicate clusters over the records of a dataset, so that no cluster is spread across splits.

Three kinds of links join records (union-find): the same content hash; a dedup verdict's ``duplicate_of``;
and cosine similarity >= threshold between embeddings of ``instruction + input`` (the prompt side, which is
what leaks a test item into training). Embeddings the dedup filter stored (``datagen.store.embeddings``) are
reused when they are of the same model and the same text; missing ones are computed with
``datagen.modelhub.load_embedder``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen.conversation import prompt_text
from datagen.store import embeddings
from datagen.store.models import Record, Verdict
from datagen.textnorm import text_hash


class UnionFind:
    def __init__(self, ids: list[int]) -> None:
        self.parent = {i: i for i in ids}

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the smallest id is the root: deterministic


def embed_text(r: Record) -> str:
    """The prompt side, as the dedup filter embeds it by default (``field: prompt``; every user turn of a
    conversation)."""
    return prompt_text(r.instruction, r.input, r.messages)


def stored_vectors(s: Session, records: list[Record], model_names: set[str]) -> dict[int, Any]:
    """Stored embeddings of these records' ``embed_text`` (same text up to case and spacing, by ``text_hash``):
    a vector of another text, e.g. from dedup on ``field: text`` or of a record edited since, is not reused."""
    return embeddings.lookup(s, {r.id: text_hash(embed_text(r)) for r in records}, model_names)


def duplicate_links(s: Session, ids: list[int]) -> list[tuple[int, int]]:
    links = []
    for i in range(0, len(ids), 500):
        for v in s.scalars(select(Verdict).where(Verdict.record_id.in_(ids[i : i + 500]))).all():
            dup = (v.details or {}).get("duplicate_of")
            if isinstance(dup, int):
                links.append((v.record_id, dup))
    return links


def cluster(
    records: list[Record],
    vectors: dict[int, Any],
    links: list[tuple[int, int]],
    threshold: float,
    embed: Any = None,
) -> tuple[dict[int, int], dict[str, int]]:
    """record id -> cluster root id; plus how many vectors were stored vs computed (``embed(texts)``)."""
    import numpy as np

    ids = [r.id for r in records]
    uf = UnionFind(ids)
    by_hash: dict[str, int] = {}
    for r in records:
        if r.content_hash in by_hash:
            uf.union(r.id, by_hash[r.content_hash])
        else:
            by_hash[r.content_hash] = r.id
    for a, b in links:
        if a in uf.parent and b in uf.parent:
            uf.union(a, b)
    missing = [r for r in records if r.id not in vectors]
    computed = 0
    if missing and embed is not None:
        probe = np.asarray(embed([embed_text(missing[0])])[0])
        if any(v.shape != probe.shape for v in vectors.values()):
            vectors.clear()  # stored vectors of another shape: embed everything with one model
            missing = list(records)
        vecs = embed([embed_text(r) for r in missing])
        for r, v in zip(missing, vecs, strict=True):
            vectors[r.id] = np.asarray(v, dtype=np.float32)
        computed = len(missing)
    have = [i for i in ids if i in vectors]
    if len(have) > 1:
        mat = np.stack([vectors[i] for i in have]).astype(np.float32)
        mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
        for start in range(0, len(have), 1024):
            sims = mat[start : start + 1024] @ mat.T
            rows, cols = np.nonzero(sims >= threshold)
            for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
                if start + a < b:
                    uf.union(have[start + a], have[b])
    stats = {
        "stored_vectors": len(have) - computed,
        "computed_vectors": computed,
        "without_vector": len(ids) - len(have),
    }
    return {i: uf.find(i) for i in ids}, stats


def groups(roots: dict[int, int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for rid, root in sorted(roots.items()):
        out[root].append(rid)
    return dict(out)
