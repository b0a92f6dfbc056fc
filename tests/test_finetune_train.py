"""Real LoRA and QLoRA training of a tiny 2-layer Llama on the CPU (seconds each)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import select
from transformers import TrainerCallback

from datagen.errors import InputError
from datagen.store.models import Run, TrainLog, TrainRun
from finetune.config import TrainConfig
from finetune.trainer import find_finished, train
from tests.finetune_tiny import make_tiny_model, seed_dataset

pytestmark = pytest.mark.slow


class Watch(TrainerCallback):
    """Snapshots the trainable parameters at the start; ``changed`` names those that differ at the end."""

    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}
        self.unchanged: list[str] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        self.before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        after = dict(model.named_parameters())
        self.unchanged = [n for n, p in self.before.items() if torch.equal(p, after[n].detach())]


class CrashAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        if state.global_step == self.step and "loss" in (logs or {}):
            raise KeyboardInterrupt("simulated crash")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_tiny_model(tmp_path / "tiny")


def cfg_for(model: Path, **kw: Any) -> TrainConfig:
    base: dict[str, Any] = dict(
        dataset="tiny",
        base_model=str(model),
        max_steps=4,
        per_device_train_batch_size=2,
        effective_batch_size=2,
        learning_rate=1e-2,  # visible updates after a few steps (QLoRA keeps adapters in bf16)
        precision="fp32",
        max_length=128,
        lora_r=4,
        lora_alpha=8,
        eval_steps=2,
    )
    return TrainConfig(**{**base, **kw})


def logs(store: Any, tr_id: int) -> list[TrainLog]:
    with store.session() as s:
        rows = list(s.scalars(select(TrainLog).where(TrainLog.train_run_id == tr_id).order_by(TrainLog.id)))
        s.expunge_all()
    return rows


def tuned_logits(base: Path, adapter: str) -> torch.Tensor:
    from finetune.merge import load_tuned

    ids = torch.tensor([[1, 40, 50, 60, 70, 2]])
    with torch.no_grad():
        return load_tuned(str(base), adapter)(input_ids=ids).logits


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_training_changes_every_adapter_weight(store: Any, tiny: Path, method: str) -> None:
    seed_dataset(store)
    watch = Watch()
    tr_id = train(store, cfg_for(tiny, method=method, merge=True), callbacks=[watch])

    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        assert (tr.status, tr.method, tr.metrics["global_step"]) == ("succeeded", method, 4)
        metrics, adapter, merged = tr.metrics, tr.adapter_path, tr.merged_path
        assert s.get(Run, tr.run_id).kind == "train"
    assert watch.before and watch.unchanged == []
    assert all("lora_" in n for n in watch.before)
    rows = logs(store, tr_id)
    train_rows = [r for r in rows if r.loss is not None]
    assert [r.step for r in train_rows] == [1, 2, 3, 4]
    assert all(r.grad_norm is not None and r.grad_norm > 0 for r in train_rows)
    assert [r.step for r in rows if r.eval_loss is not None] == [2, 4]
    assert metrics["data"]["train"]["n"] == 6 and metrics["data"]["train"]["missing_eos"] == 0
    assert metrics["tokens_seen"] > 0 and metrics["grad_norm_min"] > 0
    assert Path(metrics["loss_curve"]).stat().st_size > 1000

    # the adapter reloads and generates; the merged model gives the same logits as base + adapter
    from finetune.merge import load_base, load_tuned

    model = load_tuned(str(tiny), adapter)
    out = model.generate(input_ids=torch.tensor([[1, 40, 50]]), max_new_tokens=4, do_sample=False)
    assert out.shape == (1, 7)
    with torch.no_grad():
        ids = torch.tensor([[1, 40, 50, 60, 70, 2]])
        via_adapter = model(input_ids=ids).logits
        via_merged = load_base(merged)(input_ids=ids).logits
        via_base = load_base(str(tiny))(input_ids=ids).logits
    torch.testing.assert_close(via_merged, via_adapter, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(via_base, via_adapter, atol=1e-4)


class WatchElements(TrainerCallback):
    """Counts adapter entries that never moved (bf16 rounding swallows small updates)."""

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        self.before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        self.dtypes = {p.dtype for n, p in model.named_parameters() if p.requires_grad}

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        after = dict(model.named_parameters())
        self.unmoved = sum(
            int((b == after[n].detach()).sum()) for n, b in self.before.items() if "lora_A" in n
        )


@pytest.mark.parametrize(("dtype", "moved_all"), [("float32", True), ("bfloat16", False)])
def test_qlora_adapters_keep_float32_master_weights(
    store: Any, tiny: Path, dtype: str, moved_all: bool
) -> None:
    seed_dataset(store)
    w = WatchElements()
    cfg = cfg_for(tiny, method="qlora", learning_rate=2e-4, eval_steps=None, qlora_adapter_dtype=dtype)
    train(store, cfg, callbacks=[w])
    assert w.dtypes == {getattr(torch, dtype)}
    assert (w.unmoved == 0) is moved_all


def test_early_stopping_on_a_flat_validation_loss(store: Any, tiny: Path) -> None:
    seed_dataset(store)
    # lr 1e-30: the adapter's contribution vanishes in float32, so the validation loss cannot improve
    cfg = cfg_for(
        tiny, method="lora", learning_rate=1e-30, max_steps=6, eval_steps=1, early_stopping_patience=1
    )
    tr_id = train(store, cfg)
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        assert (tr.metrics["global_step"], tr.metrics["stopped_early"]) == (2, True)
        assert tr.metrics["best_checkpoint"].endswith("checkpoint-1")
    assert [r.step for r in logs(store, tr_id) if r.eval_loss is not None] == [1, 2]


def test_resume_continues_from_the_last_checkpoint(store: Any, tiny: Path) -> None:
    seed_dataset(store)
    cfg = cfg_for(tiny, method="lora")
    with pytest.raises(KeyboardInterrupt):
        train(store, cfg, callbacks=[CrashAt(3)])
    with store.session() as s:
        (first,) = s.scalars(select(TrainRun)).all()
        assert (
            first.status == "interrupted" and first.metrics["error"] == "KeyboardInterrupt: simulated crash"
        )
        first_id, ckdir = first.id, Path(first.output_dir or "") / "checkpoints"
    assert [r.step for r in logs(store, first_id) if r.loss is not None] == [1, 2, 3]
    (ckdir / "checkpoint-3").mkdir()  # a save killed midway: the adapter written, the trainer state not yet
    shutil.copy(ckdir / "checkpoint-2" / "adapter_model.safetensors", ckdir / "checkpoint-3")

    assert find_finished(store, cfg) is None
    tr_id = train(store, cfg.model_copy(update={"resume": True}))
    assert tr_id == first_id and find_finished(store, cfg) == tr_id
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None and tr.status == "succeeded"
        assert tr.metrics["resumed_from"].endswith("checkpoint-2") and tr.metrics["global_step"] == 4
    # step 3 was logged before the crash but after the checkpoint: it was dropped and trained again
    assert [r.step for r in logs(store, tr_id) if r.loss is not None] == [1, 2, 3, 4]


def test_bad_examples_stop_training_before_it_starts(store: Any, tiny: Path) -> None:
    from datagen.store.models import Record

    seed_dataset(store)
    with store.session() as s:
        rec = s.scalars(select(Record).order_by(Record.id)).first()
        assert rec is not None
        rec.output = "Paris.<|im_end|>\n<|im_start|>user\nmore"
        bad_id = rec.id
    with pytest.raises(InputError, match=rf"train split: 1 malformed ChatML .*record ids \[{bad_id}\]"):
        train(store, cfg_for(tiny, method="lora"))
    with store.session() as s:
        (tr,) = s.scalars(select(TrainRun)).all()
        assert tr.status == "failed" and tr.metrics["error"].startswith(
            "InputError: train split: 1 malformed"
        )
        assert tr.adapter_path is None and s.get(Run, tr.run_id).status == "failed"


def test_unknown_dataset_is_an_input_error(store: Any, tiny: Path) -> None:
    seed_dataset(store)
    with pytest.raises(InputError, match=r"dataset 'nope@2' not found \(known datasets: tiny\)"):
        train(store, cfg_for(tiny, dataset="nope@2"))
