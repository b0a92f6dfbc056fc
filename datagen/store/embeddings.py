"""Stored embeddings: one vector per (record, model), with the hash of the text it embeds.

The one place that reads and writes the ``embeddings`` table: the dedup pass stores the vectors it computes
and reuses them on later runs; dataset clustering reuses them instead of embedding again. A stored vector is
only reused for the same text (``text_hash``: equal up to case and spacing), so a vector of another field or
of a record edited since is computed afresh. Vectors are little-endian float32 bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from datagen.store.engine import insert_new
from datagen.store.models import Embedding

LOOKUP_BATCH = 500  # record ids per query


def model_key(model: str, quantize: str = "none") -> str:
    """The ``model`` column: the embedder's name, ``+int8`` for its dynamically quantized copy."""
    return model + ("+int8" if quantize == "int8" else "")


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes, dim: int) -> np.ndarray:
    v = np.frombuffer(data, dtype="<f4")
    assert v.shape[0] == dim, f"stored vector has {v.shape[0]} values, expected {dim}"
    return v


def lookup(s: Session, wanted: Mapping[int, str], models: Iterable[str]) -> dict[int, np.ndarray]:
    """Stored vectors by record id, for the records in ``wanted`` (record id -> text hash) whose stored vector
    is of one of ``models`` and of that same text; records without one are left out."""
    ids, names = list(wanted), list(models)
    out: dict[int, np.ndarray] = {}
    for i in range(0, len(ids), LOOKUP_BATCH):
        rows = s.execute(
            select(Embedding.record_id, Embedding.text_hash, Embedding.vector, Embedding.dim).where(
                Embedding.record_id.in_(ids[i : i + LOOKUP_BATCH]), Embedding.model.in_(names)
            )
        ).all()
        for record_id, text_hash, vector, dim in rows:
            if text_hash == wanted[record_id]:
                out[record_id] = from_bytes(vector, dim)
    return out


def save(s: Session, model: str, vectors: Mapping[int, tuple[np.ndarray, str]]) -> None:
    """Store (vector, text hash) per record id under ``model``, replacing what those records had for it."""
    if not vectors:
        return
    ids = list(vectors)
    for i in range(0, len(ids), LOOKUP_BATCH):
        chunk = ids[i : i + LOOKUP_BATCH]
        s.execute(delete(Embedding).where(Embedding.record_id.in_(chunk), Embedding.model == model))
    s.execute(
        insert_new(s, Embedding, ["record_id", "model"]),  # another process's vectors for them stand
        [
            {"record_id": rid, "model": model, "dim": int(v.shape[0]), "text_hash": h, "vector": to_bytes(v)}
            for rid, (v, h) in vectors.items()
        ],
    )
