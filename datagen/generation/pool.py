"""Seeds in, records out: loading the seed pool and writing generated records idempotently.

Records are keyed by ``uid`` = hash of (the cache key of the request that produced them, the item's place in
its reply), so a rerun that replays cached requests recomputes the same uids and inserts nothing twice.
Each batch is one short transaction: the records, their verdicts, and the status change of the rejected ones
(through ``datagen.store.status``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from datagen.errors import InputError
from datagen.store.engine import Store
from datagen.store.models import GENERATED, Record, Run, Verdict
from datagen.store.status import mark_filtered
from datagen.textnorm import content_hash, stable_hash

SEED_METHODS = ("seed", "import")
BUILTIN_SEEDS = Path(__file__).resolve().parent.parent / "data" / "seed_tasks.jsonl"


@dataclass(frozen=True)
class SeedTask:
    record_id: int
    instruction: str
    is_classification: bool | None


@dataclass
class VerdictRow:
    filter_name: str
    passed: bool
    reason: str
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    filter_version: str = "1"


@dataclass
class NewRecord:
    """A record to insert (``uid`` decides whether it already exists); ``rejected`` ones become filtered_out."""

    uid: str
    fields: dict[str, Any]
    verdicts: list[VerdictRow] = field(default_factory=list)
    rejected: bool = False


def make_uid(*parts: Any) -> str:
    return stable_hash(*parts)


def seeds_from_file(store: Store, path: str, parent_run_id: int | None) -> list[SeedTask]:
    """Import a seed file through the importer (idempotent), then return its tasks in file order."""
    from datagen.import_config import ImportConfig
    from datagen.importer import import_file, parse_file, record_uid

    cfg = ImportConfig(path=path)
    rows = parse_file(cfg)
    import_file(store, cfg, parent_run_id=parent_run_id)
    uids = []
    for row in rows:
        row["content_hash"] = content_hash(row["instruction"], row["input"], row["output"])
        uids.append(record_uid(row))
    with store.session() as s:
        by_uid = {r.uid: r for r in s.scalars(select(Record).where(Record.uid.in_(uids)))}
    return [_seed(by_uid[u]) for u in dict.fromkeys(uids)]


def seeds_from_db(store: Store, run_id: int | None = None) -> list[SeedTask]:
    """Every seed or imported record already in the database (or imported by run ``run_id``), by id."""
    q = select(Record).where(Record.method.in_(SEED_METHODS)).order_by(Record.id)
    if run_id is not None:
        q = q.where(Record.run_id == run_id)
    with store.session() as s:
        return [_seed(r) for r in s.scalars(q).all()]


def load_seeds(store: Store, path: str | None, parent_run_id: int | None) -> list[SeedTask]:
    """``path`` (``builtin``: the 31 seed tasks shipped in ``datagen/data``; ``run:ID``: the seeds an import run
    wrote), else every seed in the database."""
    if path == "builtin":
        path = str(BUILTIN_SEEDS)
    if path and path.startswith("run:") and path[4:].isdigit():
        seeds = seeds_from_db(store, int(path[4:]))
    else:
        seeds = seeds_from_file(store, path, parent_run_id) if path else seeds_from_db(store)
    if not seeds:
        raise InputError(
            "no seed tasks: pass --seeds FILE (or --seeds builtin), or import seeds first (datagen import FILE)"
        )
    return seeds


def _seed(r: Record) -> SeedTask:
    return SeedTask(r.id, r.instruction, r.is_classification)


def write_records(store: Store, run_id: int, items: list[NewRecord]) -> tuple[dict[str, int], int]:
    """Insert the records whose uid is new, with their verdicts, in one transaction.

    Returns (uid -> id for every item, how many were new)."""
    if not items:
        return {}, 0
    uids = [it.uid for it in items]
    with store.session() as s:
        ids: dict[str, int] = dict(s.execute(select(Record.uid, Record.id).where(Record.uid.in_(uids))).all())  # type: ignore[arg-type]
        fresh: list[tuple[NewRecord, Record]] = []
        seen = set(ids)
        for it in items:
            if it.uid in seen:
                continue
            seen.add(it.uid)
            f = it.fields
            rec = Record(
                uid=it.uid,
                run_id=run_id,
                status=f.get("status", GENERATED),
                content_hash=content_hash(f["instruction"], f.get("input", ""), f.get("output", "")),
                **{k: v for k, v in f.items() if k != "status"},
            )
            s.add(rec)
            fresh.append((it, rec))
        s.flush()
        for it, rec in fresh:
            ids[it.uid] = rec.id
            for v in it.verdicts:
                s.add(
                    Verdict(
                        record_id=rec.id,
                        run_id=run_id,
                        filter_name=v.filter_name,
                        filter_version=v.filter_version,
                        score=v.score,
                        passed=v.passed,
                        reason=v.reason,
                        details=v.details,
                    )
                )
        mark_filtered(s, [], [rec.id for it, rec in fresh if it.rejected])
        new_uids = {it.uid for it, _ in fresh}
        _adopt(s, run_id, [ids[u] for u in dict.fromkeys(uids) if u not in new_uids])
    return ids, len(fresh)


def _adopt(s: Session, run_id: int, record_ids: list[int]) -> None:
    """A resumed run takes over the records it replayed from runs that never finished (killed, failed), so that
    ``--from run:ID`` finds every record of the run; records of a run that succeeded stay with it."""
    if not record_ids:
        return
    unfinished = select(Run.id).where(Run.status != "succeeded", Run.id != run_id)
    s.execute(
        update(Record)
        .where(Record.id.in_(record_ids), Record.run_id.in_(unfinished))
        .values(run_id=run_id)
        .execution_options(synchronize_session=False)
    )
    s.execute(
        update(Verdict)
        .where(Verdict.record_id.in_(record_ids), Verdict.run_id.in_(unfinished))
        .values(run_id=run_id)
        .execution_options(synchronize_session=False)
    )
