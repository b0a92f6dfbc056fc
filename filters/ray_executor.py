"""``filter --executor ray``: the portable filters score as Ray Data batch inference; this process writes.

The driver (this process) reads the selected records as the in-process chain does (``iter_batches``) with the
decisions already stored for them, and hands them to Ray Data as one dataset (read up front: about the size of
the records' text in memory, e.g. ~1 GB for a million records of 1 KB). ``map_batches`` runs
``ScoringActor``: each actor builds the configured filters once, keeps the portable ones (``Filter.portable``:
those that need no database, i.e. every filter but dedup and an API-backed adherence judge), loads their
models (``prepare``) and scores batches of records exactly as ``Chain.process`` would (cheapest first;
policy ``all`` skips the records an earlier filter dropped; stored decisions count and are not scored
again). One actor per GPU when the cluster has GPUs (``num_gpus=1`` each), else one per CPU slot
(``num_cpus=1`` each); ``ray_actors`` sets the number.

The results come back in record order (``preserve_order``) in batches of the chain's ``batch_size``, and
``Chain.process`` writes each batch in ONE transaction as it always does, its scores taken from the actors
(``chain.scorer``); so the database has a single writer, verdicts are inserted only if new
(``insert_new``), and a killed driver or a lost actor costs at most the batches not yet written: a rerun
selects what is left. Filters that are not portable (dedup, whose decisions depend on the records kept
before, in id order; an API judge) run on the driver, inside ``Chain.process``, as in-process; dedup's model
work does not: the actors embed the records that reach it (``DedupCorpus.given``), so the driver only searches
the index, decides, and stores the vectors with the batch (as it stores those it embeds itself). The same
records get the same verdicts as with ``executor: local`` (tests/test_ray_executor.py); scores may differ in
the last float digits where a model's batches are composed differently.

Ray is optional (``pip install 'datagen[ray]'``); ``datagen.ray_cluster`` starts a local instance for the run
or joins ``ray_address``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from datagen import ray_cluster
from datagen.lm import usage
from filters.base import Filter, FilterScore, RecordView
from filters.chain import Chain, build_filters, iter_batches
from filters.config import FilterConfig
from filters.dedup import DedupCorpus


def score_rows(
    filters: list[Filter], cfg: FilterConfig, views: list[RecordView], known: list[dict[str, bool]]
) -> tuple[list[dict[str, dict[str, Any]]], dict[str, float], list[bool]]:
    """Score ``views`` with ``filters`` (in order) as ``Chain.process`` would: per record the new scores by
    filter name; the seconds each filter took per record it scored; and whether a later filter still scores
    the record (not dropped, or a policy that scores every record). ``known``: stored decisions."""
    short_circuit = cfg.policy == "all" and not cfg.annotate_only
    alive = [True] * len(views)
    out: list[dict[str, dict[str, Any]]] = [{} for _ in views]
    per_record: dict[str, float] = {}
    for f in filters:
        counts = f.name not in cfg.advisory
        todo = []
        for i, k in enumerate(known):
            if short_circuit and not alive[i]:
                continue
            if f.name in k:
                alive[i] = alive[i] and (k[f.name] or not counts)
            else:
                todo.append(i)
        if not todo:
            continue
        t0 = time.perf_counter()
        scores = f.score([views[i] for i in todo])
        per_record[f.name] = (time.perf_counter() - t0) / len(todo)
        backend = f.backend  # as resolved here (dtype auto on this actor's device), not on the driver
        for i, sc in zip(todo, scores, strict=True):
            out[i][f.name] = asdict(sc) | {"details": {"backend": backend, **sc.details}}
            if counts and not f.decide(sc).passed:
                alive[i] = False
    return out, per_record, [a or not short_circuit for a in alive]


class ScoringActor:
    """A Ray Data actor: the portable filters of one config, models loaded once, scoring batches of rows."""

    def __init__(self, config: str) -> None:
        self.cfg = FilterConfig.model_validate_json(config)
        with usage.recording() as self.used:
            built = build_filters(self.cfg)
            self.filters = [f for f in built if f.portable]
            for f in self.filters:
                f.prepare(None)
        self.dedup = next((c for f in built if isinstance(c := f.corpus(), DedupCorpus)), None)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        views = [RecordView(**json.loads(v)) for v in batch["view"]]
        known = [json.loads(k) for k in batch["known"]]
        with usage.recording() as used:
            scored, seconds, reach = score_rows(self.filters, self.cfg, views, known)
            vectors = self._embed(views, [r and "dedup" not in k for r, k in zip(reach, known, strict=True)])
        used = self.used | used
        n = len(views)
        return {
            "id": list(batch["id"]),
            "view": list(batch["view"]),
            "scores": [json.dumps(s) for s in scored],
            "seconds": [json.dumps(seconds)] * n,
            "used": [json.dumps(used)] * n,
            "vector": vectors,
        }

    def _embed(self, views: list[RecordView], wanted: list[bool]) -> list[bytes]:
        """Dedup's vectors (float32 bytes; empty: none) of the ``wanted`` records: embedded here, so the driver
        only searches and decides (dedup itself runs there, in id order) and stores them with the batch."""
        out = [b""] * len(views)
        todo = [i for i, w in enumerate(wanted) if w]
        if self.dedup is None or not todo:
            return out
        for i, vec in zip(todo, self.dedup.embed([views[i] for i in todo]), strict=True):
            out[i] = vec.astype(np.float32).tobytes()
        return out


class RayExecutor:
    """Runs ``chain``'s portable filters on Ray (see the module docstring); ``batches`` feeds ``Chain.process``."""

    def __init__(self, chain: Chain) -> None:
        ray_cluster.require_ray("filter --executor ray")
        self.chain, self.cfg = chain, chain.cfg
        self.remote = {f.name for f in chain.filters if f.portable}
        self.prepared: set[str] = set()
        self.scores: dict[tuple[int, str], FilterScore] = {}
        corpora = [c for f in chain.filters if isinstance(c := f.corpus(), DedupCorpus)]
        self.given: dict[int, np.ndarray] = corpora[0].given if corpora else {}  # the actors' dedup vectors
        chain.scorer = self._score

    def prepare(self) -> list[str]:
        """The driver prepares only the filters it runs (dedup's corpus, an API judge)."""
        return self.chain.prepare(skip=self.remote)

    def _score(self, f: Filter, records: list[RecordView]) -> list[FilterScore]:
        """The actors' scores; records they did not score (a verdict that changed since the records were read,
        a filter that is not portable) are scored here."""
        got = [self.scores.pop((r.id, f.name), None) for r in records]
        missing = [r for r, g in zip(records, got, strict=True) if g is None]
        if not missing:
            return [g for g in got if g is not None]
        if f.name in self.remote and f.name not in self.prepared:
            f.prepare(self.chain.store)
            self.prepared.add(f.name)
        fresh = iter(f.score(missing))
        return [g if g is not None else next(fresh) for g in got]

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for batch in iter_batches(self.chain.store, self.cfg):
            stored = self.chain.stored_decisions([r.id for r in batch])
            known: dict[int, dict[str, bool]] = {r.id: {} for r in batch}
            for (rid, name), d in stored.items():
                known[rid][name] = d.passed
            rows += [
                {"id": r.id, "view": json.dumps(asdict(r)), "known": json.dumps(known[r.id])} for r in batch
            ]
        return rows

    def batches(self) -> Iterator[list[RecordView]]:
        """The selected records in id order, in batches of ``batch_size``, their portable filters' scores handed
        to ``Chain.process`` through ``chain.scorer``."""
        rows = self._rows()
        if not rows:
            return
        if not self.remote:
            yield from _chunks([RecordView(**json.loads(r["view"])) for r in rows], self.cfg.batch_size)
            return
        started = ray_cluster.connect(self.cfg.ray_address, self.cfg.ray_actors or 0)
        try:
            for out in _dataset(rows, self.cfg).iter_batches(
                batch_size=self.cfg.batch_size, batch_format="numpy"
            ):
                yield self._take(out)
        finally:
            ray_cluster.disconnect(started)

    def _take(self, out: dict[str, Any]) -> list[RecordView]:
        """One batch of the actors' output: the views; their scores, time and models noted for the chain."""
        for rid, scored, seconds, used, vector in zip(
            out["id"], out["scores"], out["seconds"], out["used"], out["vector"], strict=True
        ):
            if vector:
                self.given[int(rid)] = np.frombuffer(vector, dtype=np.float32)
            per_record = json.loads(seconds)
            for name, sc in json.loads(scored).items():
                self.scores[(int(rid), name)] = FilterScore(**sc)
                self.chain.stats[name].backend = sc["details"]["backend"]
                self.chain.stats[name].seconds += per_record[name]
            usage.merge(json.loads(used))
        return [RecordView(**json.loads(v)) for v in out["view"]]


def _chunks(views: list[RecordView], size: int) -> Iterator[list[RecordView]]:
    for b in range(0, len(views), size):
        yield views[b : b + size]


def _dataset(rows: list[dict[str, Any]], cfg: FilterConfig) -> Any:
    """The rows through ``ScoringActor`` (one per GPU or CPU slot), in record order."""
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.print_on_execution_start = False
    for name in ("ray", "ray.data"):  # Ray Data logs its progress at INFO when stdout is not a terminal
        logging.getLogger(name).setLevel(logging.WARNING)
    actors, gpus = ray_cluster.slots(cfg.ray_actors)
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // cfg.ray_batch_size, 200)))
    # Ray Data restarts a lost actor and retries its batch (max_restarts=-1 is its default for actor pools)
    return ds.map_batches(
        ScoringActor,
        fn_constructor_kwargs={"config": cfg.model_dump_json()},
        batch_size=cfg.ray_batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_gpus=1 if gpus else None,
        num_cpus=None if gpus else 1,
    )
