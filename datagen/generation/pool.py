"""Seeds in, records out: loading the seed pool and writing generated records idempotently.

Records are keyed by ``uid`` = hash of (the cache key of the request that produced them, the item's place in
its reply), so a rerun that replays cached requests recomputes the same uids and inserts nothing twice.
Each batch is one short transaction: the records, their verdicts, and the status change of the rejected ones
(through ``datagen.store.status``).

Several processes may write the same records at once (two identical commands, a resumed run beside a live
one): rows are inserted with ``ON CONFLICT (uid) DO NOTHING`` in uid order, so the first writer owns a record and
the others find it (identical runs insert in the same order, so two PostgreSQL writers wait for each other
instead of deadlocking; a deadlock all the same is retried). A record is taken over (adopted) only from a run whose process is gone (``_adopt``), never
from a live one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import exc, select, update
from sqlalchemy.orm import Session

from datagen.conversation import record_hash
from datagen.errors import InputError
from datagen.store import lease
from datagen.store.engine import Store, insert_new
from datagen.store.models import GENERATED, Record, Run, Verdict, utcnow
from datagen.store.status import mark_filtered
from datagen.textnorm import content_hash, stable_hash

SEED_METHODS = ("seed", "import")
BUILTIN_SEEDS = Path(__file__).resolve().parent.parent / "data" / "seed_tasks.jsonl"


@dataclass(frozen=True)
class SeedTask:
    """A seed's instruction: for an imported conversation, its first user turn (``Record.instruction``), the
    self-contained task that opened it; later turns lean on earlier answers and are not used as seeds."""

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
    """Import a seed file through the importer (idempotent; a file whose every task is already in the database
    is not imported again, so it adds no import run), then return its tasks in file order."""
    from datagen.import_config import ImportConfig
    from datagen.importer import import_file, parse_file, record_uid

    cfg = ImportConfig(path=path)
    uids = []
    for row in parse_file(cfg):
        row["content_hash"] = record_hash(
            row["instruction"], row["input"], row["output"], row.get("messages")
        )
        uids.append(record_uid(row))
    uids = list(dict.fromkeys(uids))

    def present() -> dict[str, Record]:
        with store.session() as s:
            return {r.uid: r for r in s.scalars(select(Record).where(Record.uid.in_(uids)))}

    by_uid = present()
    if len(by_uid) < len(uids):
        import_file(store, cfg, parent_run_id=parent_run_id)
        by_uid = present()
    return [_seed(by_uid[u]) for u in uids]


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
    """Insert the records whose uid is new, with their verdicts, in one transaction; take over those of runs
    that died (``_adopt``).

    Returns (uid -> id for every item, how many records the run gained: inserted, or adopted from a dead run),
    so that a run owns exactly the records its counters count."""
    if not items:
        return {}, 0
    for attempt in range(3):
        try:
            return _write_once(store, run_id, items)
        except exc.OperationalError as e:  # PostgreSQL chose this transaction to break a deadlock: again
            if getattr(e.orig, "sqlstate", None) != "40P01" or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _write_once(store: Store, run_id: int, items: list[NewRecord]) -> tuple[dict[str, int], int]:
    uids = list(dict.fromkeys(it.uid for it in items))
    with store.session() as s:
        ids: dict[str, int] = dict(s.execute(select(Record.uid, Record.id).where(Record.uid.in_(uids))).all())  # type: ignore[arg-type]
        fresh: dict[str, NewRecord] = {}
        for it in items:  # the first item per uid, in the items' order
            if it.uid not in ids:
                fresh.setdefault(it.uid, it)
        inserted = _insert(s, run_id, list(fresh.values()))
        ids.update(inserted)
        lost = [u for u in fresh if u not in inserted]  # another process inserted it meanwhile
        if lost:
            ids.update(s.execute(select(Record.uid, Record.id).where(Record.uid.in_(lost))).all())  # type: ignore[arg-type]
        s.add_all(
            Verdict(
                record_id=inserted[u],
                run_id=run_id,
                filter_name=v.filter_name,
                filter_version=v.filter_version,
                score=v.score,
                passed=v.passed,
                reason=v.reason,
                details=v.details,
            )
            for u in inserted
            for v in fresh[u].verdicts
        )
        mark_filtered(s, [], [inserted[u] for u in inserted if fresh[u].rejected])
        adopted = _adopt(s, run_id, [ids[u] for u in uids if u not in inserted])
    return ids, len(inserted) + adopted


_DEFAULTS: dict[str, Any] = {"round": 0, "input": "", "output": "", "meta": {}, "status": GENERATED}


def _insert(s: Session, run_id: int, items: list[NewRecord]) -> dict[str, int]:
    """``INSERT ... ON CONFLICT (uid) DO NOTHING RETURNING uid, id``: the records this statement stored."""
    if not items:
        return {}
    now = utcnow()
    rows = [
        {
            **it.fields,
            "uid": it.uid,
            "run_id": run_id,
            "created_at": now,
            "content_hash": content_hash(
                it.fields["instruction"], it.fields.get("input", ""), it.fields.get("output", "")
            ),
        }
        for it in items
    ]
    keys = set().union(*rows)  # executemany needs the same keys in every row
    rows = [{k: row.get(k, _DEFAULTS.get(k)) for k in keys} for row in rows]
    stmt = insert_new(s, Record, ["uid"]).returning(Record.uid, Record.id)
    return {uid: rid for uid, rid in s.execute(stmt, rows).all()}


def _adopt(s: Session, run_id: int, record_ids: list[int]) -> int:
    """A resumed run takes over the records it replayed from runs that ended unfinished (killed, failed, partial,
    budget-stopped) or whose process is gone (``datagen.store.lease``), so that ``--from run:ID`` finds every
    record of the run; records of a run that succeeded, or of a run still alive, stay with it. Returns how many
    it took (rows are locked in id order first, so two resumers on PostgreSQL cannot deadlock)."""
    if not record_ids:
        return 0
    keep = [run_id, *lease.live_ids(s)]
    dead = select(Run.id).where(Run.status != "succeeded", Run.id.not_in(keep))
    taken: list[int] = []
    for i in range(0, len(record_ids), 500):
        chunk = sorted(record_ids[i : i + 500])
        taken += s.scalars(
            select(Record.id)
            .where(Record.id.in_(chunk), Record.run_id.in_(dead))
            .order_by(Record.id)
            .with_for_update()
        ).all()
    if not taken:
        return 0
    s.execute(
        update(Record)
        .where(Record.id.in_(taken))
        .values(run_id=run_id)
        .execution_options(synchronize_session=False)
    )
    s.execute(
        update(Verdict)
        .where(Verdict.record_id.in_(taken), Verdict.run_id.in_(dead))
        .values(run_id=run_id)
        .execution_options(synchronize_session=False)
    )
    return len(taken)
