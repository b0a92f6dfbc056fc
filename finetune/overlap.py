"""Overlap between an evaluation set and the data a model was trained on, with the near-duplicate machinery.

An eval item overlaps when a training record (train or validation split of the train run's dataset: what the
model saw, and what chose its checkpoint) has the same normalized prompt (``exact``) or a prompt embedding
with cosine >= ``threshold`` (``embedding``; the dedup filter's embedder, index and default 0.9). Prompts are
instruction + input, as dedup's ``prompt`` field (every user turn of a multi-turn conversation; each of those turns
on its own also counts as an exact match). Training records' vectors come from the stored embeddings
when dedup already computed them (same model, same text) and are stored when computed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from datagen.conversation import prompt_text
from datagen.store import embeddings
from datagen.store.engine import Store
from datagen.store.models import DatasetItem, Record
from datagen.textnorm import join_fields, text_hash
from finetune.evalset import EvalItem

TRAINING_SPLITS = ("train", "validation")


@dataclass
class Overlap:
    """What the overlap check found: one match per overlapping eval item (its nearest training record)."""

    checked: int
    training_records: int
    threshold: float
    model: str
    matches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def keys(self) -> set[str]:
        return {m["key"] for m in self.matches}

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "training_records": self.training_records,
            "overlapping": len(self.matches),
            "share": len(self.matches) / self.checked if self.checked else 0.0,
            "threshold": self.threshold,
            "model": self.model,
            "matches": self.matches,
        }


def training_prompts(store: Store, dataset_id: int) -> tuple[dict[int, str], dict[str, int]]:
    """(record id -> prompt, exact-match text hash -> record id) of the records a model trained on (train and
    validation splits); a conversation's user turns are each in the exact-match table too."""
    with store.session() as s:
        rows = s.execute(
            select(Record.id, Record.instruction, Record.input, Record.messages)
            .join(DatasetItem, DatasetItem.record_id == Record.id)
            .where(DatasetItem.dataset_id == dataset_id, DatasetItem.split.in_(TRAINING_SPLITS))
            .order_by(Record.id)
        ).all()
    prompts = {rid: prompt_text(ins or "", inp or "", turns) for rid, ins, inp, turns in rows}
    exact: dict[str, int] = {}
    for rid, _, _, turns in rows:
        exact.setdefault(text_hash(prompts[rid]), rid)
        for t in turns or []:
            if t["role"] == "user":
                exact.setdefault(text_hash(t["content"]), rid)
    return prompts, exact


def _training_vectors(store: Store, prompts: dict[int, str], model: str, encoder: Any) -> np.ndarray:
    from filters.dedup_index import encode

    wanted = {rid: text_hash(p) for rid, p in prompts.items()}
    with store.session() as s:
        stored = embeddings.lookup(s, wanted, [model])
    missing = [rid for rid in prompts if rid not in stored]
    new = encode(encoder, [prompts[r] for r in missing])
    if missing:
        with store.session() as s:
            embeddings.save(s, model, {r: (new[j], wanted[r]) for j, r in enumerate(missing)})
    fresh = dict(zip(missing, new, strict=True))
    return np.stack([stored[r] if r in stored else fresh[r] for r in prompts])


def measure_overlap(
    store: Store,
    items: list[EvalItem],
    dataset_id: int,
    threshold: float = 0.9,
    model: str | None = None,
    device: str = "auto",
) -> Overlap:
    """Which eval items overlap the training data of ``dataset_id`` (see the module docstring); the embedder
    runs on ``device``."""
    from datagen import modelhub
    from filters.dedup_index import VectorIndex, dimension, embedder, encode

    model = model or modelhub.MINILM
    prompts, exact = training_prompts(store, dataset_id)
    out = Overlap(len(items), len(prompts), threshold, model)
    if not prompts or not items:
        return out
    enc = embedder(model, device=device)
    index = VectorIndex(dimension(enc))
    index.add(list(prompts), _training_vectors(store, prompts, model, enc))
    texts = [join_fields(i.instruction, i.input) for i in items]
    sims, ids = index.search(encode(enc, texts), 1)
    for k, (item, text) in enumerate(zip(items, texts, strict=True)):
        same = exact.get(text_hash(text))
        if same is not None:
            out.matches.append({"key": item.key, "record_id": same, "cosine": 1.0, "match": "exact"})
        elif ids.shape[1] and float(sims[k, 0]) >= threshold:
            cos = round(float(sims[k, 0]), 4)
            out.matches.append(
                {"key": item.key, "record_id": int(ids[k, 0]), "cosine": cos, "match": "embedding"}
            )
    return out
