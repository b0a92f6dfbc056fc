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
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from datagen import progress
from datagen.config import ConfigModel, build, resolved
from datagen.console import say
from datagen.errors import InputError
from datagen.pipeline_config import PipelineConfig
from datagen.stage import run_identity
from datagen.store import lease
from datagen.store.engine import Store
from datagen.store.models import Run
from datagen.store.runs import RunHandle, start_run, tracking

# The stages in order; every one is a ``run_<stage>`` library function (datagen.stage) called below.
STAGES = ("seeds", "self_instruct", "evol", "filter", "review", "dataset", "export", "train", "score")


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
        make_provider(teacher)
    check_model(sections["train"].base_model, "train.base_model")
    check_judge(sections["score"])
    return {**resolved(cfg), **{k: resolved(v) for k, v in sections.items()}}


# A pipeline with another review mode or reviewer is the same pipeline (its review goes on where it stopped).
IDENTITY_IGNORES = ("review.mode", "review.reviewer")


def _start_or_resume(store: Store, cfg: PipelineConfig, config: dict[str, Any]) -> RunHandle:
    """Reopen the latest pipeline run with the same identity, or start one; its counters hold the stages. A run
    with that identity still alive in another process is refused, never taken over (``datagen.store.lease``)."""
    key = run_identity(resolved(cfg), IDENTITY_IGNORES)
    with store.session() as s:
        lease.reap(s)
        for run in s.scalars(select(Run).where(Run.kind == "pipeline").order_by(Run.id.desc())):
            if run.counters.get("identity") == key:
                if run.status == "running":  # alive: reap() closed the dead ones
                    raise InputError(
                        f"pipeline run {run.id} with this recipe is running in process {run.pid} on {run.host}: "
                        "wait for it, or stop it, then rerun to resume"
                    )
                run.status, run.finished_at, run.error = "running", None, None
                lease.stamp(run)
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
    from datagen.import_config import ImportConfig
    from datagen.importer import run_import

    path = str(BUILTIN_SEEDS) if cfg.seeds == "builtin" else cfg.seeds
    res = run_import(store, ImportConfig(path=path, namespace=f"pipeline-{run_id}"), run_id)
    return {"file": path, "run_id": res.run_id, "imported": res.summary["imported"]}


def _self_instruct(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.generation.config import SelfInstructConfig
    from datagen.generation.self_instruct import run_self_instruct

    sc = section(cfg, "self_instruct", SelfInstructConfig, seeds=f"run:{done['seeds']['run_id']}")
    return run_self_instruct(store, sc, run_id).summary


def _evol(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.generation.config import EvolConfig
    from datagen.generation.evol_instruct import run_evol

    # WizardLM evolves a pool of existing instructions: here the seeds plus what Self-Instruct kept.
    ec = section(
        cfg, "evol", EvolConfig, source=f"run:{done['seeds']['run_id']},run:{done['self_instruct']['run_id']}"
    )
    return run_evol(store, ec, run_id).summary


def _filter(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from filters.chain import run_filter
    from filters.config import FilterConfig

    out: dict[str, Any] = {}
    for stage in ("seeds", "self_instruct", "evol")[0 if cfg.include_seeds else 1 :]:
        fc = section(cfg, "filter", FilterConfig, scope="run", run_id=done[stage]["run_id"],
                     histogram_png=str(cfg.out() / f"filter-{stage}.png"))  # fmt: skip
        summary = run_filter(store, fc, run_id).summary
        out[stage] = {k: summary[k] for k in ("run_id", "kept", "dropped") if k in summary}
    return out


def _review(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.review.config import ReviewConfig
    from datagen.review.run import run_review

    rc = section(cfg, "review", ReviewConfig, run=run_id)
    try:
        summary = run_review(store, rc, run_id).summary
    except InputError as e:
        raise InputError(f"{e} (for this pipeline: `datagen review --run {run_id} --sheet FILE`, or rerun "
                         "with --review auto; then rerun the pipeline to continue)") from None  # fmt: skip
    if not summary.get("finished"):
        raise InputError(
            f"review of sample {summary['sample_id']} is not finished: rerun the pipeline to continue"
        )
    return summary


def _dataset(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.datasets.config import DatasetConfig
    from datagen.datasets.create import run_dataset

    info = run_dataset(
        store, section(cfg, "dataset", DatasetConfig, name=cfg.name, run=run_id), run_id
    ).summary
    return {"name": info["name"], "version": info["version"], "ref": info["ref"]}


def _export(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from datagen.export.config import ExportConfig
    from datagen.export.run import run_export

    ds = done["dataset"]
    out: dict[str, Any] = {}
    for fmt in cfg.export_formats:
        folder = cfg.out() / f"{ds['name']}-v{ds['version']}" / fmt
        shutil.rmtree(folder, ignore_errors=True)  # a stage interrupted mid-export starts its format again
        ec = ExportConfig(dataset=ds["ref"], format=fmt, out=str(folder), redact=cfg.redact)
        out[fmt] = str(folder)
        out[f"{fmt}_files"] = len(run_export(store, ec, run_id).summary["files"])
    return out


def _train(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from finetune.config import TrainConfig
    from finetune.trainer import find_finished, run_train, train_result

    tc = section(cfg, "train", TrainConfig, dataset=done["dataset"]["ref"],
                 output_root=str(cfg.out() / "train"), resume=True)  # fmt: skip
    found = find_finished(store, tc)
    res = train_result(store, found) if found else run_train(store, tc, run_id)
    keep = ("train_run", "method", "output_dir", "train_loss", "best_eval_loss", "global_step", "tokens_seen")
    return {**{k: v for k, v in res.summary.items() if k in keep}, "adapter": res.outputs.get("adapter"),
            "merged": res.outputs.get("merged")}  # fmt: skip


def _score(store: Store, cfg: PipelineConfig, run_id: int, done: dict[str, Any]) -> dict[str, Any]:
    from finetune.config import ScoreConfig
    from finetune.score import run_score

    sc = section(cfg, "score", ScoreConfig, train_run=done["train"]["train_run"])
    return run_score(store, sc, run_id).summary


RUNNERS: dict[str, Stage] = {
    "seeds": _seeds, "self_instruct": _self_instruct, "evol": _evol, "filter": _filter, "review": _review,
    "dataset": _dataset, "export": _export, "train": _train, "score": _score,
}  # fmt: skip


def run_pipeline(store: Store, cfg: PipelineConfig, echo: Callable[[str], None] = say) -> dict[str, Any]:
    """Run (or continue) the pipeline; returns ``{"run_id", "stages": {stage: result}}``."""
    config = validate(cfg)
    cfg.out().mkdir(parents=True, exist_ok=True)
    handle = _start_or_resume(store, cfg, config)
    run_id, done = handle.id, handle.counters["stages"]
    echo(f"pipeline run {run_id} ({cfg.name}); outputs under {cfg.out()}")
    with tracking(handle, "pipeline"):
        stages = progress.meter(
            "stages", total=len(STAGES), paced=False
        )  # the bar and heartbeat name the stage it is in
        for stage in STAGES:
            progress.status(stage)
            if stage in done:
                echo(f"[{stage}] done earlier")
                stages.advance()
                continue
            echo(f"[{stage}] ...")
            done[stage] = RUNNERS[stage](store, cfg, run_id, done)
            handle.save_counters()
            stages.advance()
        progress.status("")
    return {"run_id": run_id, "database": store.shown_url, "output_dir": str(cfg.out()), "stages": done}
