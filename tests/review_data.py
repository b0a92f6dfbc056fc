"""Test data for review, dataset and export tests: records and verdicts inserted directly through the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datagen.store.models import CANDIDATE, FILTERED_OUT, Record, Run, Verdict
from datagen.textnorm import content_hash


@dataclass
class Spec:
    instruction: str
    output: str = "An answer."
    input: str = ""
    method: str = "self_instruct"
    operation: str | None = None
    status: str = CANDIDATE
    # (filter, score, passed, reason, details)
    verdicts: list[tuple[str, float | None, bool, str, dict[str, Any]]] = field(default_factory=list)
    parent: int | None = None  # index into the specs list
    model: str | None = "smollm2-135m-instruct"
    provider: str | None = "transformers"


def insert(store: Any, specs: list[Spec], kind: str = "generate") -> tuple[int, list[int]]:
    """Insert a run and the records (in one transaction); returns (run id, record ids in spec order)."""
    with store.session() as s:
        run = Run(kind=kind, config={}, status="succeeded")
        s.add(run)
        s.flush()
        ids: list[int] = []
        for i, sp in enumerate(specs):
            rec = Record(
                uid=f"r{run.id}-{i}",
                run_id=run.id,
                parent_id=ids[sp.parent] if sp.parent is not None else None,
                method=sp.method,
                operation=sp.operation,
                instruction=sp.instruction,
                input=sp.input,
                output=sp.output,
                status=sp.status,
                content_hash=content_hash(sp.instruction, sp.input, sp.output),
                model=sp.model,
                provider=sp.provider,
            )
            s.add(rec)
            s.flush()
            ids.append(rec.id)
            for name, score, passed, reason, details in sp.verdicts:
                s.add(
                    Verdict(
                        record_id=rec.id,
                        run_id=run.id,
                        filter_name=name,
                        filter_version="1",
                        score=score,
                        passed=passed,
                        reason=reason,
                        details=details,
                    )
                )
        return run.id, ids


def population(n_kept: int = 40, n_dropped: int = 10) -> list[Spec]:
    """Kept records over two methods/operations with judge scores, and dropped ones with a failing verdict."""
    specs = []
    for i in range(n_kept):
        method, op = ("self_instruct", None) if i % 2 else ("evol_instruct", "deepening")
        score = round(0.5 + (i % 10) / 20, 3)
        specs.append(
            Spec(
                instruction=f"Explain topic number {i} in detail for a student.",
                output=f"Topic {i} is explained here with care and several sentences.",
                method=method,
                operation=op,
                verdicts=[
                    ("judge", score, True, "ok", {"threshold": 0.5}),
                    ("perplexity", 20.0 + i, True, "ok", {}),
                ],
            )
        )
    for i in range(n_dropped):
        specs.append(
            Spec(
                instruction=f"Bad item {i} asdf qwer zxcv",
                output="??",
                status=FILTERED_OUT,
                verdicts=[
                    ("judge", round(0.1 + i / 100, 3), False, "low_adherence", {"threshold": 0.5}),
                    ("perplexity", 500.0 + i, False, "perplexity_too_high", {}),
                ],
            )
        )
    return specs


def random_vectors(ids: list[int], seed: int = 0, dim: int = 384) -> dict[int, Any]:
    """MiniLM-shaped random vectors (far apart), one per id, unnormalized."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {i: rng.normal(size=dim) for i in ids}


def store_vectors(store: Any, vectors: dict[int, Any]) -> None:
    """Store the vectors (normalized) as MiniLM embeddings, so dataset creation loads no model."""
    import numpy as np

    from datagen.datasets.clusters import embed_text
    from datagen.store import embeddings
    from datagen.store.models import Record
    from datagen.textnorm import text_hash

    with store.session() as s:
        rows = {}
        for rid, v in vectors.items():
            record = s.get(Record, rid)
            rows[rid] = ((v / np.linalg.norm(v)).astype(np.float32), text_hash(embed_text(record)))
        embeddings.save(s, "all-minilm-l6-v2", rows)


def store_random_vectors(store: Any, ids: list[int], seed: int = 0, dim: int = 384) -> None:
    """Stored MiniLM-shaped embeddings (random, far apart), so dataset creation loads no model."""
    store_vectors(store, random_vectors(ids, seed, dim))
