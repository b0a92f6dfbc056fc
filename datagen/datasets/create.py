"""Freezing approved records into a named, versioned dataset with leak-free, stratified splits.

**Approved** means: the record passed the filter chain (status candidate or approved) and no reviewer rejected
it; an edited record is replaced by its approved revision (method ``edit``). Unreviewed candidates are
included (``include_unreviewed``, default on): review is a 5-10% sample that *gates* the run and measures it,
not a whitelist. The gate (``datagen.review.gate``) runs first; ``force`` builds anyway and is recorded.
``uncurated`` freezes the same scope before curation instead (every generated record, whatever the filters and
reviewers decided): the counterpart that ``datagen compare`` measures the curation against; ``without_filters``
and ``without_operations`` make one-filter and one-operation ablations.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datagen import progress
from datagen.config import resolved
from datagen.conversation import is_multi_turn
from datagen.datasets.clusters import cluster, duplicate_links, groups, stored_vectors
from datagen.datasets.config import DatasetConfig
from datagen.datasets.splits import assign_splits
from datagen.errors import DatagenError
from datagen.review.gate import check_gate
from datagen.review.scope import EDIT_METHOD, describe, load_records, make_scope, scope_record_ids
from datagen.review.stats import review_stats
from datagen.stage import StageResult
from datagen.store.embeddings import model_key
from datagen.store.engine import Store
from datagen.store.models import (
    APPROVED,
    CANDIDATE,
    FILTERED_OUT,
    PARSE_FAILED,
    Dataset,
    DatasetItem,
    Record,
    Verdict,
)
from datagen.store.runs import tracked_run


class GateRefused(DatagenError):
    """The review gate refused to create the dataset (use --force to override; it is recorded)."""


def approved_records(s: Session, scope: dict[str, Any], include_unreviewed: bool) -> list[Record]:
    """Kept, not rejected, edits applied (see the module docstring)."""
    ids = scope_record_ids(s, scope)
    chosen = {
        r.id: r for r in load_records(s, ids, (APPROVED, CANDIDATE) if include_unreviewed else (APPROVED,))
    }
    parents = sorted(ids)
    for i in range(0, len(parents), 500):
        for r in s.scalars(
            select(Record).where(
                Record.parent_id.in_(parents[i : i + 500]),
                Record.method == EDIT_METHOD,
                Record.status == APPROVED,
            )
        ).all():
            chosen[r.id] = r
    return [chosen[i] for i in sorted(chosen)]


def uncurated_records(s: Session, scope: dict[str, Any]) -> list[Record]:
    """Every record of the scope as generated, before any filter or review decision: edits, parse failures and
    records without an answer (nothing to train on) left out."""
    return [
        r
        for r in load_records(s, scope_record_ids(s, scope))
        if r.method != EDIT_METHOD and r.status != PARSE_FAILED and (r.output or "").strip()
    ]


def dropped_only_by(s: Session, scope: dict[str, Any], filters: list[str]) -> list[Record]:
    """Filtered-out records of the scope whose failing verdicts all come from ``filters`` (one-filter ablation)."""
    dropped = load_records(s, scope_record_ids(s, scope), (FILTERED_OUT,))
    failing: dict[int, set[str]] = {}
    ids = [r.id for r in dropped]
    for i in range(0, len(ids), 500):
        for rid, name in s.execute(
            select(Verdict.record_id, Verdict.filter_name).where(
                Verdict.record_id.in_(ids[i : i + 500]), Verdict.passed.is_(False)
            )
        ).all():
            failing.setdefault(rid, set()).add(name)
    return [r for r in dropped if failing.get(r.id) and failing[r.id] <= set(filters)]


def select_records(s: Session, scope: dict[str, Any], cfg: DatasetConfig) -> list[Record]:
    """What a version freezes: approved records (or every generated one when ``uncurated``), plus the records
    only ``without_filters`` dropped, less those made by ``without_operations``."""
    if cfg.uncurated:
        records = uncurated_records(s, scope)
    else:
        records = approved_records(s, scope, cfg.include_unreviewed)
        if cfg.without_filters:
            records = sorted([*records, *dropped_only_by(s, scope, cfg.without_filters)], key=lambda r: r.id)
    if cfg.without_operations:
        records = [r for r in records if stratum(r).split("/", 1)[1] not in cfg.without_operations]
    return records


def stratum(r: Record) -> str:
    meta = r.meta or {}
    method = meta.get("original_method", r.method) if r.method == EDIT_METHOD else r.method
    op = meta.get("original_op", r.operation) if r.method == EDIT_METHOD else r.operation
    return f"{method}/{op or '-'}"


def _embedder(name: str, device: str) -> Any:
    def embed(texts: list[str]) -> Any:
        from datagen.modelhub import load_embedder

        return load_embedder(name, device).encode(texts, batch_size=64, normalize_embeddings=True)

    return embed


def _model_names(name: str) -> set[str]:
    from datagen.modelhub import MINILM, minilm_dir

    # the dedup filter's keys (its int8 option embeds nearly identically)
    names = {model_key(name), model_key(name, "int8")}
    if name == MINILM:
        names.add(str(minilm_dir()))
    return names


def create_dataset(store: Store, cfg: DatasetConfig, parent_run_id: int | None = None) -> tuple[str, int]:
    """Gate, select, cluster, split and store a new version of ``cfg.name``; returns (name, version)."""
    scope = make_scope(cfg.run, cfg.source_dataset)
    with tracked_run(store, "dataset", resolved(cfg), parent_run_id) as run:  # a refusal is a failed run
        steps = progress.meter("steps", 4)
        progress.status("review gate")
        stats = review_stats(store, scope, human_only=cfg.require_human)
        gate = check_gate(stats, cfg.min_reviewed_fraction, cfg.acceptance_floor, cfg.force)
        if not gate["passed"] and not cfg.force and not cfg.uncurated:
            raise GateRefused(
                f"review gate refused dataset {cfg.name} from {describe(scope)}: "
                + "; ".join(gate["failures"])
                + " (review more with `datagen review`, or pass --force, which is recorded on the dataset)"
            )
        steps.advance()
        progress.status("selecting records")
        with store.session() as s:
            records = select_records(s, scope, cfg)
            if not records:
                what = "usable" if cfg.uncurated else "approved"
                raise DatagenError(f"no {what} records in {describe(scope)}: nothing to freeze")
            ids = [r.id for r in records]
            vectors = stored_vectors(s, records, _model_names(cfg.embedder))
            links = duplicate_links(s, ids)
            prev = s.scalars(
                select(Dataset).where(Dataset.name == cfg.name).order_by(Dataset.version.desc()).limit(1)
            ).first()
            prior = None
            if prev is not None and cfg.sticky_splits:
                prior = dict(
                    s.execute(
                        select(DatasetItem.record_id, DatasetItem.split).where(
                            DatasetItem.dataset_id == prev.id
                        )
                    ).all()
                )
        steps.advance()
        progress.status(f"embedding and clustering {len(records):,} records")
        roots, emb_stats = cluster(
            records, vectors, links, cfg.cluster_threshold, _embedder(cfg.embedder, cfg.device)
        )
        clusters = groups(roots)
        steps.advance()
        progress.status("splitting and writing the version")
        splits = assign_splits(clusters, {r.id: stratum(r) for r in records}, cfg.splits, cfg.seed, prior)
        counts = {
            "total": len(records),
            "splits": {n: sum(1 for v in splits.values() if v == n) for n in cfg.splits},
            "methods": dict(Counter(r.method for r in records)),
            "operations": dict(Counter(r.operation or "-" for r in records)),
            "strata": dict(Counter(stratum(r) for r in records)),
            "status": dict(Counter(r.status for r in records)),
            "edited": sum(r.method == EDIT_METHOD for r in records),
            "multi_turn": sum(is_multi_turn(r.messages) for r in records),
            "clusters": len(clusters),
            "multi_member_clusters": sum(len(m) > 1 for m in clusters.values()),
        }
        source = {
            "scope": scope,
            "include_unreviewed": cfg.include_unreviewed,
            "uncurated": cfg.uncurated,
            "without_filters": cfg.without_filters,
            "without_operations": cfg.without_operations,
            "seed": cfg.seed,
            "records_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest(),
            # the content of every record (all turns of a conversation: Record.content_hash covers them)
            "content_sha256": hashlib.sha256(
                "\n".join(f"{r.id}:{r.content_hash}" for r in records).encode()
            ).hexdigest(),
            "embeddings": {"model": cfg.embedder, **emb_stats},
            "cluster_threshold": cfg.cluster_threshold,
            "previous_version": prev.version if prev is not None else None,
            "review": {
                k: stats[k] for k in ("sample_id", "reviewed", "population", "acceptance", "decisions")
            },
        }
        with store.session() as s:
            version = (s.scalar(select(func.max(Dataset.version)).where(Dataset.name == cfg.name)) or 0) + 1
            ds = Dataset(
                name=cfg.name,
                version=version,
                run_id=run.id,
                source=source,
                forced=bool(gate["forced"]),
                gate=gate,
                counts=counts,
            )
            s.add(ds)
            s.flush()
            s.add_all(
                DatasetItem(dataset_id=ds.id, record_id=rid, split=splits[rid], cluster=str(roots[rid]))
                for rid in ids
            )
        steps.advance()
        run.count("records", len(records))
        run.counters.update({"dataset": f"{cfg.name}@{version}", "forced": bool(gate["forced"])})
    return cfg.name, version


def run_dataset(store: Store, cfg: DatasetConfig, parent_run: int | None = None) -> StageResult:
    """The dataset stage: ``create_dataset``, then what was frozen (``show_dataset``'s view) as the summary."""
    from datagen.datasets.catalog import show_dataset

    name, version = create_dataset(store, cfg, parent_run)
    info = show_dataset(store, name, version)
    return StageResult(info["run_id"], {**info, "ref": f"{name}@{version}"})
