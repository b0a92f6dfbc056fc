"""The whole loop in one resumable run: seeds → Self-Instruct → Evol-Instruct → filter → review → dataset →
export → train → score.

A pipeline run is a ``runs`` row (kind ``pipeline``) whose counters record each finished stage and its result;
every stage's own run is its child. Rerunning the same recipe continues the latest unfinished pipeline run with
the same configuration: finished stages are skipped, and an interrupted stage resumes through its own
mechanism (the request cache for generation, incremental verdicts for filtering, the saved sample for review,
checkpoints for training).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field
from sqlalchemy import select

from datagen.config import ConfigModel, build, resolved
from datagen.errors import InputError
from datagen.store.engine import Store
from datagen.store.models import Run
from datagen.store.runs import RunHandle, start_run, tracking
from datagen.textnorm import stable_hash

ExportFormat = Literal["jsonl", "alpaca", "chatml", "hf"]
STAGES = ("seeds", "self_instruct", "evol", "filter", "review", "dataset", "export", "train", "score")


class PipelineConfig(ConfigModel):
    """A pipeline recipe: a few top-level keys, then one section per command filled 1:1 into that command's config."""

    name: str = "default"
    seeds: str = "builtin"
    # Seeds are the pool's inputs. True: they also pass the filters and review and enter the dataset.
    include_seeds: bool = False
    output_dir: str = "outputs/{name}"
    export_formats: list[ExportFormat] = Field(default_factory=lambda: list(get_args(ExportFormat)))
    redact: bool = False
    self_instruct: dict[str, Any] = Field(default_factory=dict)
    evol: dict[str, Any] = Field(default_factory=dict)
    filter: dict[str, Any] = Field(default_factory=dict)
    review: dict[str, Any] = Field(default_factory=dict)
    dataset: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    score: dict[str, Any] = Field(default_factory=dict)

    def out(self) -> Path:
        return Path(self.output_dir.format(name=self.name)).resolve()


def section(cfg: PipelineConfig, key: str, cls: type[ConfigModel], **fill: Any) -> Any:
    """Build one stage's config from its recipe section plus the values the pipeline supplies."""
    return build(cls, {**getattr(cfg, key), **fill}, f"recipe section '{key}'")


def validate(cfg: PipelineConfig) -> dict[str, Any]:
    """Build every section up front, so an unknown key fails before any work is done; returns the resolved
    configuration the pipeline run stores (each section with its defaults; secrets such as API keys excluded;
    the values the pipeline fills in at run time — dataset name, run ids — as placeholders)."""
    from datagen.datasets.config import DatasetConfig
    from datagen.generation.config import EvolConfig, SelfInstructConfig
    from datagen.review.config import ReviewConfig
    from filters.config import FilterConfig
    from finetune.config import ScoreConfig, TrainConfig

    sections = {
        "self_instruct": section(cfg, "self_instruct", SelfInstructConfig),
        "evol": section(cfg, "evol", EvolConfig),
        "filter": section(cfg, "filter", FilterConfig),
        "review": section(cfg, "review", ReviewConfig),
        "dataset": section(cfg, "dataset", DatasetConfig, name=cfg.name),
        "train": section(cfg, "train", TrainConfig, dataset=cfg.name),
        "score": section(cfg, "score", ScoreConfig, train_run=1),
    }
    # What would fail late is checked now: the teachers' keys and options, the base model, the judge.
    from datagen.modelhub import check_model
    from datagen.providers.registry import make_provider
    from finetune.judge import check_judge

    for teacher in (sections["self_instruct"], sections["evol"]):
        make_provider(teacher.provider, teacher.model, teacher.options, teacher.api_key)
    check_model(sections["train"].base_model, "train.base_model")
    check_judge(sections["score"])
    return {**resolved(cfg), **{k: resolved(v) for k, v in sections.items()}}


def _identity(cfg: PipelineConfig) -> str:
    """What makes two invocations the same pipeline (the review mode may change between them)."""
    data = resolved(cfg)
    data["review"] = {k: v for k, v in data["review"].items() if k not in ("mode", "reviewer")}
    return stable_hash(data)


def _start_or_resume(store: Store, cfg: PipelineConfig, config: dict[str, Any]) -> RunHandle:
    """Reopen the latest pipeline run with the same identity, or start one; its counters hold the stages."""
    key = _identity(cfg)
    with store.session() as s:
        for run in s.scalars(select(Run).where(Run.kind == "pipeline").order_by(Run.id.desc())):
            if run.counters.get("identity") == key:
                run.status, run.finished_at, run.error = "running", None, None
                handle = RunHandle(store, run.id)
                handle.counters = dict(run.counters)
                return handle
    handle = RunHandle(store, start_run(store, "pipeline", config))
    handle.counters = {"identity": key, "stages": {}}
    return handle


Stage = Callable[[Store, PipelineConfig, int, dict[str, Any]], dict[str, Any]]


def _seeds(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's own copy of its seed records (namespaced), so its stages work on exactly these.

    Unfiltered records never reach a dataset, so seeds enter it only when ``include_seeds`` sends them through
    the filter stage."""
    from datagen.generation.pool import BUILTIN_SEEDS
    from datagen.importer import ImportConfig, import_file

    path = str(BUILTIN_SEEDS) if cfg.seeds == "builtin" else cfg.seeds
    summary = import_file(
        store, ImportConfig(path=path, namespace=f"pipeline-{run_id}"), parent_run_id=run_id
    )
    return {"file": path, "run_id": summary["run_id"], "imported": summary["imported"]}


def _self_instruct(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.generation.config import SelfInstructConfig
    from datagen.generation.self_instruct import run_self_instruct

    sc = section(cfg, "self_instruct", SelfInstructConfig, seeds=f"run:{done['seeds']['run_id']}")
    return run_self_instruct(store, sc, parent_run_id=run_id, progress=True)


def _evol(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.generation.config import EvolConfig
    from datagen.generation.evol_instruct import run_evol

    # WizardLM evolves a pool of existing instructions: here the seeds plus what Self-Instruct kept.
    ec = section(
        cfg, "evol", EvolConfig, source=f"run:{done['seeds']['run_id']},run:{done['self_instruct']['run_id']}"
    )
    return run_evol(store, ec, parent_run_id=run_id, progress=True)


def _filter(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from filters.chain import run_filters
    from filters.config import FilterConfig

    out: dict[str, Any] = {}
    for stage in ("seeds", "self_instruct", "evol")[0 if cfg.include_seeds else 1 :]:
        fc = section(cfg, "filter", FilterConfig, scope="run", run_id=done[stage]["run_id"],
                     histogram_png=str(cfg.out() / f"filter-{stage}.png"))  # fmt: skip
        summary = run_filters(
            store, fc, parent_run_id=run_id, notify=lambda m: print(f"  {m}", file=sys.stderr)
        )
        out[stage] = {k: summary[k] for k in ("run_id", "kept", "dropped") if k in summary}
    return out


def _review(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.review import ReviewConfig, auto_review, create_sample
    from datagen.review.sample import latest_sample
    from datagen.review.scope import make_scope
    from datagen.review.session import ReviewSession

    rc = section(cfg, "review", ReviewConfig)
    scope = make_scope(run=run_id)
    sample_id = latest_sample(store, scope) or create_sample(store, rc, scope)
    if rc.mode == "auto":
        return {"sample_id": sample_id, **auto_review(store, sample_id, run_id=run_id)}
    if not sys.stdin.isatty():
        raise InputError(
            f"review is interactive: run this in a terminal, or review with `datagen review --sample {sample_id}` "
            "(or export-sheet/import), or pass --review auto; then rerun the pipeline to continue"
        )
    from datagen.review.reviewer import resolve_reviewer
    from datagen.review.tui import run_tui

    session = ReviewSession(store, sample_id, resolve_reviewer(rc.reviewer), is_human=True, run_id=run_id)
    result = run_tui(session)
    if not result.get("finished"):
        raise InputError(f"review of sample {sample_id} is not finished: rerun the pipeline to continue")
    return {"sample_id": sample_id, **result}


def _dataset(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.datasets.config import DatasetConfig
    from datagen.datasets.create import create_dataset

    dc = section(cfg, "dataset", DatasetConfig, name=cfg.name, run=run_id)
    name, version = create_dataset(store, dc, parent_run_id=run_id)
    return {"name": name, "version": version, "ref": f"{name}@{version}"}


def _export(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.export.run import export_dataset

    ds = done["dataset"]
    out: dict[str, Any] = {}
    for fmt in cfg.export_formats:
        folder = cfg.out() / f"{ds['name']}-v{ds['version']}" / fmt
        shutil.rmtree(folder, ignore_errors=True)  # a stage interrupted mid-export starts its format again
        paths = export_dataset(store, ds["name"], ds["version"], fmt, folder, redact=cfg.redact,
                               parent_run_id=run_id)  # fmt: skip
        out[fmt] = str(folder)
        out[f"{fmt}_files"] = len(paths)
    return out


def _train(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from finetune.config import TrainConfig
    from finetune.trainer import find_finished, train

    tc = section(cfg, "train", TrainConfig, dataset=done["dataset"]["ref"],
                 output_root=str(cfg.out() / "train"), resume=True)  # fmt: skip
    tr_id = find_finished(store, tc) or train(store, tc, parent_run_id=run_id)
    from datagen.store.models import TrainRun

    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        keep = ("train_loss", "best_eval_loss", "global_step", "tokens_seen")
        return {
            "train_run": tr_id,
            "method": tr.method,
            "output_dir": tr.output_dir,
            "adapter": tr.adapter_path,
            "merged": tr.merged_path,
            **{k: v for k, v in tr.metrics.items() if k in keep},
        }


def _score(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from finetune.config import ScoreConfig
    from finetune.score import score

    sc = section(cfg, "score", ScoreConfig, train_run=done["train"]["train_run"])
    return score(store, sc, parent_run_id=run_id)


RUNNERS: dict[str, Stage] = {
    "seeds": _seeds, "self_instruct": _self_instruct, "evol": _evol, "filter": _filter, "review": _review,
    "dataset": _dataset, "export": _export, "train": _train, "score": _score,
}  # fmt: skip


def run_pipeline(store: Store, cfg: PipelineConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or continue) the pipeline; returns ``{"run_id", "stages": {stage: result}}``."""
    config = validate(cfg)
    cfg.out().mkdir(parents=True, exist_ok=True)
    handle = _start_or_resume(store, cfg, config)
    run_id, done = handle.id, handle.counters["stages"]
    echo(f"pipeline run {run_id} ({cfg.name}); outputs under {cfg.out()}")
    with tracking(handle):
        for stage in STAGES:
            if stage in done:
                echo(f"[{stage}] done earlier")
                continue
            echo(f"[{stage}] ...")
            done[stage] = RUNNERS[stage](store, cfg, run_id, done)
            handle.save_counters()
    return {"run_id": run_id, "database": store.url, "output_dir": str(cfg.out()), "stages": done}
