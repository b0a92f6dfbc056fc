"""The chain: run the configured filters cheapest first over batches of records, store every verdict.

For each batch: scores are computed with no transaction open (models run outside the database), then ONE
transaction writes the batch's verdicts, the corpora's rows (dedup's new embeddings) and the status changes.
A filter raising mid-batch therefore leaves nothing of that batch behind; earlier batches stay committed, and
a rerun picks up where it stopped, because records already scored by the same filter version are skipped
(their stored verdict is reused) unless ``rescore``.

Filters never open sessions: the chain reads and writes for them. A filter that judges records against the
corpus (``Filter.corpus()``, e.g. dedup) has its ``Corpus`` loaded before the first batch, fed the batch's
stored data before scoring, its rows written with the verdicts, and told which records were kept.

Policy ``all`` short-circuits: a record dropped by a cheap filter is not scored by the later, costlier
ones. ``annotate_only`` scores every record with every filter and never changes a status.

Ctrl-C / SIGTERM: a filter scores a batch in slices of ``SLICE`` records (a corpus filter: the whole batch
at once), so a signal loses at most the slice being scored; the verdicts already computed (earlier filters of
the batch, earlier slices of this one) are written before the process exits, and the batch's statuses stay as
they were (a rerun reuses those verdicts). A filter that judges against the corpus (dedup) is written only when
it finished the batch: its verdicts depend on each other in batch order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import delete, select

from datagen import progress
from datagen.errors import InputError
from datagen.fsutil import check_writable
from datagen.interrupts import signals_deferred
from datagen.lm import usage
from datagen.stage import StageResult
from datagen.store.engine import Store, insert_new
from datagen.store.models import CANDIDATE, FILTERED_OUT, GENERATED, Run, Verdict
from datagen.store.runs import tracked_run
from datagen.store.status import mark_filtered
from filters.base import Corpus, Filter, FilterDecision, FilterScore, RecordView
from filters.config import FilterConfig, resolved_filter_config
from filters.histogram import write_png
from filters.registry import FILTERS, make_filter
from filters.selection import count_selected, iter_batches
from filters.stats import FilterStats

FILTERABLE = (GENERATED, CANDIDATE, FILTERED_OUT)
SLICE = 32  # records a filter scores at a time (a signal loses at most one slice's work)
Scored = tuple[Filter, list[RecordView], list[FilterScore], list[FilterDecision]]
Scoring = tuple[Filter, list[RecordView], list[FilterScore], list[FilterDecision], list[RecordView]]  # + todo


def build_filters(cfg: FilterConfig) -> list[Filter]:
    unknown = sorted(set(cfg.settings) - set(FILTERS))
    if unknown:
        raise InputError(f"settings for unknown filters {unknown}; choose from {list(FILTERS)}")
    bad = sorted(set(cfg.advisory) - set(cfg.filters))
    if bad:
        raise InputError(f"advisory filters {bad} are not in the configured filters {cfg.filters}")
    chain = [make_filter(n, cfg.settings.get(n)) for n in cfg.filters]
    return sorted(chain, key=lambda f: (f.cost, f.name))


def keep(passes: list[bool], policy: str) -> bool:
    if not passes:
        return True
    if policy == "all":
        return all(passes)
    if policy == "any":
        return any(passes)
    return sum(passes) * 2 > len(passes)


class Chain:
    """The configured filters plus per-filter statistics; ``process`` handles one batch."""

    def __init__(
        self,
        store: Store,
        cfg: FilterConfig,
        run_id: int | None,
        part: Literal["whole", "shared", "final"] = "whole",
    ) -> None:
        """``part``: ``whole`` (everything), ``shared`` (the filters that judge each record alone; verdicts only,
        no status: a worker's share of a run) or ``final`` (everything, after the shared part: its verdicts are
        this run's own); see ``filters.shared``."""
        self.store, self.cfg, self.run_id, self.part = store, cfg, run_id, part
        self.filters = [f for f in build_filters(cfg) if part != "shared" or f.corpus() is None]
        self.corpora: dict[str, Corpus] = {f.name: c for f in self.filters if (c := f.corpus()) is not None}
        self.stats = {f.name: FilterStats(f.version, f.backend) for f in self.filters}
        self.kept = self.dropped = 0
        # what scores a filter's records in ``process``: the filter itself here; another executor may hand in
        # scores computed elsewhere (filters.ray_executor)
        self.scorer: Callable[[Filter, list[RecordView]], list[FilterScore]] = lambda f, rs: f.score(rs)

    def prepare(self, skip: Collection[str] = ()) -> list[str]:
        """Load the filters' models (not those in ``skip``: another executor runs them) and their corpora;
        returns the filters' notices."""
        notices = [n for f in self.filters if f.name not in skip for n in f.prepare(self.store)]
        for f in self.filters:
            if f.name in self.corpora:
                self.corpora[f.name].load(self.store)
            self.stats[f.name].backend = f.backend
        return notices

    def stored_decisions(self, ids: list[int]) -> dict[tuple[int, str], FilterDecision]:
        """The stored verdicts of these records by the configured filter versions (none with ``rescore``)."""
        versions = {f.name: f.version for f in self.filters}
        if self.cfg.rescore:  # the final part reuses what the shared part scored again
            versions = {n: v for n, v in versions.items() if self.part == "final" and n not in self.corpora}
        with self.store.session() as s:
            rows = s.execute(
                select(
                    Verdict.record_id,
                    Verdict.filter_name,
                    Verdict.filter_version,
                    Verdict.passed,
                    Verdict.reason,
                ).where(Verdict.record_id.in_(ids), Verdict.filter_name.in_(versions))
            ).all()
        return {
            (rid, name): FilterDecision(bool(passed), reason, {})
            for rid, name, version, passed, reason in rows
            if versions[name] == version
        }

    def _own_scores(self, ids: list[int]) -> dict[tuple[int, str], float | None]:
        """The scores of the verdicts this run already wrote for these records (its shared part's)."""
        with self.store.session() as s:
            rows = s.execute(
                select(Verdict.record_id, Verdict.filter_name, Verdict.score).where(
                    Verdict.record_id.in_(ids), Verdict.run_id == self.run_id
                )
            ).all()
        return {(rid, name): score for rid, name, score in rows}

    def process(self, batch: list[RecordView]) -> None:
        """Score one batch with every filter and write its verdicts and statuses in one transaction; on
        Ctrl-C / SIGTERM, write the verdicts already computed and no status (see the module docstring)."""
        new: list[Scoring] = []
        try:
            keeps = self._judge(batch, new)
        except KeyboardInterrupt:  # Ctrl-C / SIGTERM (a filter that raises writes nothing of the batch)
            with signals_deferred():
                done = [
                    (f, d, s, v)
                    for f, d, s, v, todo in new
                    if d and (f.name not in self.corpora or d == todo)
                ]
                self._write(done, None)
            raise
        with signals_deferred():
            self._write([(f, d, s, v) for f, d, s, v, _ in new], None if self.part == "shared" else keeps)
        if self.part == "shared":
            return
        kept = [rid for rid, k in keeps.items() if k]
        for corpus in self.corpora.values():
            corpus.keep(kept)
        self.kept += len(kept)
        self.dropped += len(keeps) - len(kept)

    def _judge(self, batch: list[RecordView], new: list[Scoring]) -> dict[int, bool]:
        """Each record's verdicts (appended to ``new`` as they are computed, each with the records it was to
        score) and whether it is kept."""
        cfg = self.cfg
        short_circuit = cfg.policy == "all" and not cfg.annotate_only
        existing = self.stored_decisions([r.id for r in batch])
        own = self._own_scores([r.id for r in batch]) if self.part == "final" else {}
        passes: dict[int, list[bool]] = {r.id: [] for r in batch}
        alive = {r.id for r in batch}
        for f in self.filters:
            st = self.stats[f.name]
            todo = []
            for r in batch:
                if short_circuit and r.id not in alive:
                    continue
                old = existing.get((r.id, f.name))
                if old is None:
                    todo.append(r)
                    continue
                if (r.id, f.name) in own:  # made by this run's shared part: this run's verdict
                    st.add(old, own[r.id, f.name])
                    st.shared += 1
                else:
                    st.reused += 1
                self._count(f, r.id, old, passes, alive)
            meter, before = progress.meter(f.name), progress.meter(f.name).done
            if not todo:
                meter.advance(len(batch))
                continue
            t0 = time.perf_counter()
            corpus = self.corpora.get(f.name)
            if corpus is not None:
                with self.store.session() as s:
                    corpus.fetch(s, todo)
            done: list[RecordView] = []
            scores: list[FilterScore] = []
            decisions: list[FilterDecision] = []
            new.append((f, done, scores, decisions, todo))
            size = len(todo) if corpus is not None else SLICE  # a corpus filter judges the batch as a whole
            for i in range(0, len(todo), size):
                part = todo[i : i + size]
                with progress.counting(meter):  # a model's batches move it record by record
                    got = self.scorer(f, part)
                if len(got) != len(part):
                    raise RuntimeError(f"filter {f.name} returned {len(got)} scores for {len(part)} records")
                decisions += [f.decide(sc) for sc in got]
                scores += got
                done += part
                meter.update(done=before + len(done))
            meter.update(done=before + len(batch))  # the records it judged, reused or skipped
            st.seconds += time.perf_counter() - t0
            for r, sc, d in zip(todo, scores, decisions, strict=True):
                st.add(d, sc.value)
                self._count(f, r.id, d, passes, alive)
        return {rid: keep(p, cfg.policy) for rid, p in passes.items()}

    def _write(self, new: list[Scored], keeps: dict[int, bool] | None) -> None:
        """ONE transaction: the verdicts, the corpora's rows and (with ``keeps``) the statuses."""
        cfg = self.cfg
        with self.store.session() as s:
            for f, todo, scores, decisions in new:
                ids = [r.id for r in todo]
                if cfg.rescore:
                    s.execute(
                        delete(Verdict).where(
                            Verdict.record_id.in_(ids),
                            Verdict.filter_name == f.name,
                            Verdict.filter_version == f.version,
                        )
                    )
                rows = [
                    {
                        "record_id": rid,
                        "run_id": self.run_id,
                        "filter_name": f.name,
                        "filter_version": f.version,
                        "score": sc.value,
                        "passed": d.passed,
                        "reason": d.reason,
                        "details": d.details,
                    }
                    for rid, sc, d in zip(ids, scores, decisions, strict=True)
                ]
                # another filter process may have judged these records meanwhile: its verdicts stand
                s.execute(insert_new(s, Verdict, ["record_id", "filter_name", "filter_version"]), rows)
                if f.name in self.corpora and keeps is not None:
                    self.corpora[f.name].write(s)
            if keeps is not None and not cfg.annotate_only:
                mark_filtered(s, [r for r, k in keeps.items() if k], [r for r, k in keeps.items() if not k])

    def _count(
        self, f: Filter, rid: int, d: FilterDecision, passes: dict[int, list[bool]], alive: set[int]
    ) -> None:
        if f.name in self.cfg.advisory:
            return
        passes[rid].append(d.passed)
        if not d.passed:
            alive.discard(rid)


def check_before_run(store: Store, cfg: FilterConfig) -> None:
    """What can be refused before any record is scored: a run that does not exist, a PNG with nowhere to go,
    the Ray executor without Ray installed."""
    if cfg.executor == "ray":
        from datagen.ray_cluster import require_ray

        require_ray("filter --executor ray")
    if cfg.scope == "run" and cfg.run_id is not None:
        with store.session() as s:
            if s.get(Run, cfg.run_id) is None:
                raise InputError(f"run {cfg.run_id} does not exist (see `datagen runs`)")
    if cfg.histogram_png:
        png = Path(cfg.histogram_png).expanduser()
        if png.is_dir():
            raise InputError(
                f"the histogram PNG {png} is a folder: name a file in it ({png / 'histograms.png'})"
            )
        check_writable(png.parent, "histogram PNG's folder", folder=True)


def run_filters(
    store: Store,
    cfg: FilterConfig,
    parent_run_id: int | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Filter the selected records; returns a summary (per-filter table, histograms, kept/dropped counts).

    ``notify`` receives the filters' notices (e.g. "no Detoxify checkpoint: using the word list") as soon as
    the chain is prepared, before the first record is scored.
    """
    check_before_run(store, cfg)
    resolved = resolved_filter_config(cfg)
    with tracked_run(store, "filter", resolved, parent_run_id) as run:
        chain = Chain(store, cfg, run.id)
        other: Any = None  # another executor: Ray actors, or worker processes (filters.shared)
        if cfg.executor == "ray":
            from filters.ray_executor import RayExecutor

            other = RayExecutor(chain)
        elif cfg.workers > 1 or cfg.share_work:
            from filters.shared import SharedRun

            other = SharedRun(chain)
        progress.status("loading the filters")
        notices = other.prepare() if other else chain.prepare()
        for n in notices:
            (notify or (lambda _m: None))(n)
        progress.status("")
        total = count_selected(store, cfg)
        meters = [progress.meter(name, total) for name in ("records", *(f.name for f in chain.filters))]
        records = 0
        for batch in other.batches() if other else iter_batches(store, cfg):
            chain.process(batch)
            meters[0].advance(len(batch))
            records += len(batch)
            run.count("records", len(batch))
            run.save_counters()
        summary: dict[str, Any] = {
            "run_id": run.id,
            "records": records,
            "kept": 0 if cfg.annotate_only else chain.kept,
            "dropped": 0 if cfg.annotate_only else chain.dropped,
            "annotate_only": cfg.annotate_only,
            "policy": cfg.policy,
            "notices": notices,
            "executor": cfg.executor,
            "models": usage.noted(),
            "filters": {f.name: chain.stats[f.name].summary() for f in chain.filters},
        }
        if cfg.histogram_png and any(chain.stats[n].values for n in summary["filters"]):  # none: no file
            progress.status("drawing the histograms")
            summary["histogram_png"] = write_png(
                {n: chain.stats[n].values for n in summary["filters"]},
                Path(cfg.histogram_png.replace("{run_id}", str(run.id))).expanduser().resolve(),
            )
        run.counters.update(
            {"kept": summary["kept"], "dropped": summary["dropped"], "notices": notices}
            | {f"{n}.failed": st["failed"] for n, st in summary["filters"].items()}
            | {
                f"{n}.failed_{r}": c
                for n, st in summary["filters"].items()
                for r, c in st["failed_by_reason"].items()
            }
        )
    return summary


def run_filter(store: Store, cfg: FilterConfig, parent_run: int | None = None) -> StageResult:
    """The filter stage: ``run_filters`` with the filters' notices shown to the user as they come."""
    from datagen.console import say

    summary = run_filters(store, cfg, parent_run, notify=lambda m: say(f"note: {m}"))
    outputs = {"histogram_png": summary["histogram_png"]} if summary.get("histogram_png") else {}
    return StageResult(summary["run_id"], summary, outputs)
