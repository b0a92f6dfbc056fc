"""``train``: fine-tune a base model on a dataset version with TRL's SFTTrainer and a PEFT LoRA adapter.

QLoRA (4-bit NF4 base, double quantization) is the default; plain LoRA is ``method: lora``. The loss falls on the
assistant's tokens only: TRL's ``assistant_only_loss`` with a chat template that has ``{% generation %}`` markers
(``finetune.chat_template`` supplies one for ChatML models such as the default SmolLM2), else prompt/completion
rows whose prompt is masked; ``metrics.loss_mask`` says which. The base model is
loaded fresh from its folder (never the cached ``lm.load_causal_lm`` object, which may have run
inference). Every step's loss, grad norm and learning rate go to ``train_logs``; a run whose gradient norm
stays at zero fails; the adapter, a loss-curve PNG and (``merge``) a merged model land in
``<output_root>/<train_run_id>/``. ``resume`` continues the latest unfinished run with the same config from
its last checkpoint.
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from datagen import lm, modelhub
from datagen.config import resolved
from datagen.datasets.ref import find_dataset
from datagen.errors import InputError
from datagen.stage import StageResult, same_run
from datagen.store import lease
from datagen.store.engine import Store
from datagen.store.models import TrainLog, TrainRun, utcnow
from datagen.store.runs import tracked_run
from finetune import chat_template
from finetune import data as fdata
from finetune.budget import subsample_to_tokens
from finetune.config import TrainConfig
from finetune.convert import (
    Hardware,
    compute_dtype,
    get_peft_config,
    get_quantization_config,
    get_sft_config,
    precision,
    quiet_renames,
)
from finetune.distributed import Job, World

_DTYPE_OF = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
RESUME_IGNORES = ("resume", "merge")  # keys that do not change what is trained


def train(
    store: Store,
    cfg: TrainConfig,
    parent_run_id: int | None = None,
    *,
    hw: Hardware | None = None,
    callbacks: list[Any] | None = None,
) -> int:
    """Train an adapter on ``cfg.dataset``; returns the ``train_runs.id`` (status succeeded or failed).

    ``callbacks`` are extra ``transformers.TrainerCallback`` objects (tests watch the parameters with one).
    Under ``accelerate launch`` (several processes) only rank 0 writes; the others train their share of each
    batch with what rank 0 hands them (``finetune.distributed``).
    """
    hw = hw or Hardware.detect(cfg.device)
    world = World.from_env()
    if not world.main:
        return follow(cfg, hw=hw, callbacks=callbacks)
    ds = preflight(store, cfg)
    with tracked_run(store, "train", resolved(cfg), parent_run_id) as run:
        job = world.share(_start_or_resume(store, cfg, ds, run.id), hw.cuda)
        tr_id = job.train_run_id
        run.counters.update(train_run=tr_id, dataset=ds.ref, resumed_from=job.checkpoint)
        lm.usage.note(cfg.base_model, hw.device, _DTYPE_OF[precision(cfg, hw)])
        try:
            with quiet_renames():
                metrics = _run(store, cfg, job, hw, callbacks or [], world)
        except BaseException as e:
            status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
            _finish(store, tr_id, status, {"error": f"{type(e).__name__}: {e}"})
            raise
        _finish(store, tr_id, "succeeded", metrics)
        run.counters.update(
            {
                k: metrics[k]
                for k in ("global_step", "train_loss", "best_eval_loss", "tokens_seen", "world_size")
                if k in metrics
            }
        )
    return tr_id


def follow(cfg: TrainConfig, *, hw: Hardware | None = None, callbacks: list[Any] | None = None) -> int:
    """Train as a rank other than 0: what to train comes from rank 0 (``World.share``); writes nothing (no
    database, no files). Returns the train run's id."""
    from datasets.utils.logging import disable_progress_bar

    from datagen import progress

    disable_progress_bar()  # rank 0 shows the data preparation once
    progress.settings.quiet = True  # and says where a signal's checkpoint is, once
    hw = hw or Hardware.detect(cfg.device)
    world = World.from_env()
    job = world.share(None, hw.cuda)
    with quiet_renames():
        _run(None, cfg, job, hw, callbacks or [], world)
    return int(job.train_run_id)


def preflight(store: Store, cfg: TrainConfig) -> fdata.LoadedDataset:
    """The checks before any work (exit 2, nothing written): the base model loads, the dataset has a train
    split. ``--num-processes`` runs them before it starts the processes."""
    modelhub.check_model(cfg.base_model, "base model")
    name, version = cfg.dataset_ref()
    ds = fdata.load_dataset(store, name, version)
    if not ds.splits["train"]:
        raise InputError(f"dataset {ds.ref} has no records in its train split")
    return ds


def run_train(
    store: Store,
    cfg: TrainConfig,
    parent_run: int | None = None,
    *,
    hw: Hardware | None = None,
    callbacks: list[Any] | None = None,
) -> StageResult:
    """The train stage: ``train``, then the train run's metrics and files as the result."""
    return train_result(store, train(store, cfg, parent_run, hw=hw, callbacks=callbacks))


def train_result(store: Store, tr_id: int) -> StageResult:
    """A train run as a stage result: status, method and metrics; the adapter and other files as outputs."""
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        summary = {"train_run": tr.id, "run": tr.run_id, "status": tr.status, "method": tr.method,
                   "output_dir": tr.output_dir, **tr.metrics}  # fmt: skip
        files = {
            "adapter": tr.adapter_path,
            "merged": tr.merged_path,
            "loss_curve": tr.metrics.get("loss_curve"),
        }
    return StageResult(summary["run"], summary, {k: str(v) for k, v in files.items() if v})


def find_finished(store: Store, cfg: TrainConfig) -> int | None:
    """The latest succeeded train run of this dataset version with the same config (for pipeline reruns)."""
    name, version = cfg.dataset_ref()
    want = resolved(cfg)
    with store.session() as s:
        dataset_id = find_dataset(s, name, version).id
        for tr in s.scalars(
            select(TrainRun)
            .where(TrainRun.dataset_id == dataset_id, TrainRun.status == "succeeded")
            .order_by(TrainRun.id.desc())
        ):
            if same_run(tr.config, want, RESUME_IGNORES):
                return tr.id
    return None


def _start_or_resume(store: Store, cfg: TrainConfig, ds: fdata.LoadedDataset, run_id: int) -> Job:
    """The train run to work on (a new one, or with ``resume`` the latest unfinished one of this config, its
    logs after the last checkpoint deleted) as the job every process trains."""
    want = resolved(cfg)
    with store.session() as s:
        if cfg.resume:
            for tr in s.scalars(
                select(TrainRun)
                .where(TrainRun.dataset_id == ds.id, TrainRun.status != "succeeded")
                .order_by(TrainRun.id.desc())
            ):
                if not same_run(tr.config, want, RESUME_IGNORES) or tr.run_id in lease.live_ids(s):
                    continue  # another config, or a training still running in a live process
                ckpt = last_checkpoint(Path(tr.output_dir or "") / "checkpoints")
                last = int(Path(ckpt).name.split("-")[-1]) if ckpt else 0
                s.execute(delete(TrainLog).where(TrainLog.train_run_id == tr.id, TrainLog.step > last))
                tr.status, tr.run_id, tr.finished_at = "running", run_id, None
                return Job(tr.id, Path(tr.output_dir or ""), ckpt, ds)
        tr = TrainRun(
            run_id=run_id,
            dataset_id=ds.id,
            base_model=cfg.base_model,
            method=cfg.method,
            config=resolved(cfg),
        )
        s.add(tr)
        s.flush()
        out = Path(cfg.output_root).resolve() / str(tr.id)
        tr.output_dir = str(out)
        return Job(tr.id, out, None, ds)


def last_checkpoint(folder: Path) -> str | None:
    """The latest whole checkpoint in ``folder``: ``checkpoint-N`` with the ``trainer_state.json`` the Trainer
    writes last. A save cut short (a kill, the machine gone) is passed over, not resumed from (that fails)."""
    whole = [(int(p.name[11:]), str(p)) for p in folder.glob("checkpoint-*")
             if p.name[11:].isdigit() and (p / "trainer_state.json").is_file()]  # fmt: skip
    return max(whole)[1] if whole else None


def _finish(store: Store, tr_id: int, status: str, metrics: dict[str, Any]) -> None:
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        tr.status, tr.finished_at = status, utcnow()
        tr.metrics = {**(tr.metrics or {}), **metrics}
        if status == "succeeded":
            tr.adapter_path = metrics.get("adapter_path")
            tr.merged_path = metrics.get("merged_path")


def _set_metrics(store: Store, tr_id: int, **values: Any) -> None:
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        tr.metrics = {**(tr.metrics or {}), **values}


def load_for_training(path: str, cfg: TrainConfig, hw: Hardware, world: World | None = None) -> Any:
    """A fresh base model ready for PEFT: 4-bit + ``prepare_model_for_kbit_training`` for QLoRA (on this
    process's GPU when several train together)."""
    qc = get_quantization_config(cfg, hw)
    model = lm.load_model(
        path,
        compute_dtype(cfg, hw),
        name=cfg.base_model,
        what="base model",
        quantization_config=qc,
        device_map=None if qc is None else ({"": (world or World()).local_rank} if hw.cuda else "cpu"),
    )
    if qc is not None:
        from peft import prepare_model_for_kbit_training

        from finetune.callbacks import disable_cpu_inference_repack

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
        disable_cpu_inference_repack(model)  # evaluation mid-training must not break the next steps
    model.config.use_cache = False
    return model


def keep_adapters_fp32(model: Any) -> int:
    """Undo TRL's bf16 cast of trainable (adapter) weights: float32 master weights, compute still autocast."""
    import torch

    n = 0
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
            n += 1
    return n


def _run(
    store: Store | None, cfg: TrainConfig, job: Job, hw: Hardware, extra: list[Any], world: World
) -> dict[str, Any]:
    """Train; on rank 0 (``store`` given) also log, save the adapter and return the metrics. Another rank
    (``store`` None) trains its share and writes nothing."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from finetune.callbacks import DbLogCallback, GradNormGuard, StderrProgress
    from finetune.report import plot_loss_curve
    from finetune.stop_together import stop_on_signal

    ds, tr_id, out, checkpoint = job.dataset, job.train_run_id, job.out, job.checkpoint

    def note(**values: Any) -> None:
        if store is not None:
            _set_metrics(store, tr_id, **values)

    if store is not None:
        out.mkdir(parents=True, exist_ok=True)
    path = modelhub.resolve(cfg.base_model)
    tok = lm.load_tokenizer(path)
    marked = chat_template.training_template(tok)  # renders as the model's own, with {% generation %} markers
    if marked:
        tok.chat_template = marked  # also saved with the adapter: inference renders the same text
    to_row = fdata.to_messages if marked else fdata.to_conversational

    if cfg.max_train_tokens is not None:
        full = len(ds.splits["train"])
        ds.splits["train"] = subsample_to_tokens(
            tok, ds.splits["train"], cfg.max_train_tokens, cfg.seed, cfg.system_prompt
        )
        note(subsample={"records": len(ds.splits["train"]), "of": full,
                                              "max_train_tokens": cfg.max_train_tokens})  # fmt: skip
        if not ds.splits["train"]:
            raise InputError(f"no example of {ds.ref} fits in --max-train-tokens {cfg.max_train_tokens}")
    reports = {}
    for split in ("train", "validation"):
        rep = fdata.check_examples(tok, ds.splits[split], cfg.max_length, cfg.system_prompt)
        fdata.guard(rep, split)
        reports[split] = rep.as_dict()
    loss_mask = "assistant_only_loss" if marked else "completion_only_loss"
    note(data=reports, base_path=path, loss_mask=loss_mask)

    def rows(split: str) -> Any:
        return Dataset.from_list([to_row(e, cfg.system_prompt) for e in ds.splits[split]])

    has_eval = bool(ds.splits["validation"])
    args = get_sft_config(cfg, out / "checkpoints", has_eval=has_eval, hw=hw, world_size=world.size)
    args.assistant_only_loss = bool(marked)
    guard = GradNormGuard(cfg.zero_grad_patience)  # every rank sees the same (all-reduced) gradient norm
    db_log = DbLogCallback(store, tr_id) if store is not None else None
    stop = stop_on_signal(world.size)  # Ctrl-C / SIGTERM: a checkpoint at the end of the step, then stop
    callbacks: list[Any] = [db_log, StderrProgress()] if db_log else []
    callbacks += [guard, stop, *extra]
    if has_eval and cfg.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = SFTTrainer(
        model=load_for_training(path, cfg, hw, world),
        args=args,
        train_dataset=rows("train"),
        eval_dataset=rows("validation") if has_eval else None,
        processing_class=tok,
        peft_config=get_peft_config(cfg),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw dicts to stdout
    if cfg.method == "qlora" and cfg.qlora_adapter_dtype == "float32":
        keep_adapters_fp32(trainer.model)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in trainer.model.parameters())
    try:
        result = trainer.train(resume_from_checkpoint=checkpoint)
    finally:
        if db_log:
            db_log.flush()  # a crashed run keeps its curve up to the crash
    stop.raise_if_stopped()
    state = trainer.state

    adapter = out / "adapter"
    trainer.save_model(str(adapter))  # the best checkpoint when early stopping loaded it; rank 0 writes
    if store is None:
        return {}
    tok.save_pretrained(adapter)
    metrics: dict[str, Any] = {
        "adapter_path": str(adapter),
        "global_step": state.global_step,
        "max_steps": state.max_steps,
        "epochs": state.epoch,
        "stopped_early": state.global_step < state.max_steps,
        "train_loss": result.training_loss,
        "best_eval_loss": state.best_metric,
        "best_checkpoint": state.best_model_checkpoint,
        "tokens_seen": int(state.num_input_tokens_seen or 0),
        "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 2),
        "grad_norm_min": min(guard.seen) if guard.seen else None,
        "grad_norm_max": max(guard.seen) if guard.seen else None,
        "trainable_params": trainable,
        "total_params": total,
        "precision": "bf16" if args.bf16 else ("fp16" if args.fp16 else "fp32"),
        "device": hw.device,
        "optim": args.optim if isinstance(args.optim, str) else str(args.optim.value),
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "resumed_from": checkpoint,
        "world_size": world.size,
        "effective_batch_size": args.per_device_train_batch_size
        * args.gradient_accumulation_steps
        * world.size,
    }
    rt = result.metrics.get("train_runtime") or 0.0
    metrics["tokens_per_second"] = round(metrics["tokens_seen"] / rt, 1) if rt else None
    del trainer
    metrics["loss_curve"] = str(plot_loss_curve(store, tr_id, out / "loss_curve.png"))
    if cfg.merge:
        from finetune.merge import merge_adapter

        metrics["merged_path"] = str(merge_adapter(path, adapter, out / "merged", compute_dtype(cfg, hw)))
    return metrics
