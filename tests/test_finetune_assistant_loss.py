"""Assistant-only loss with the default model's template: finetune.chat_template renders SmolLM2's text with
``{% generation %}`` markers, and training with TRL's ``assistant_only_loss`` puts only the assistant's tokens
(its content and ``<|im_end|>``) in the loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer, TrainerCallback

from finetune.chat_template import (
    PROBES,
    SMOLLM2_SYSTEM,
    chatml_template,
    has_generation_markers,
    training_template,
)
from tests.finetune_tiny import QA, make_tiny_model, make_tokenizer, seed_dataset

pytestmark = pytest.mark.slow


def smollm2_tokenizer() -> Any:
    from datagen import modelhub

    return AutoTokenizer.from_pretrained(modelhub.resolve(modelhub.SMOLLM2))


def masked_text(tok: Any, messages: list[dict[str, str]], template: str) -> str:
    out = tok.apply_chat_template(
        messages, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    return tok.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m])


def test_the_marked_template_renders_smollm2s_text_and_masks_every_assistant_turn() -> None:
    tok = smollm2_tokenizer()
    assert not has_generation_markers(tok.chat_template)  # why the template is needed at all
    marked = training_template(tok)
    assert marked == chatml_template(SMOLLM2_SYSTEM) and has_generation_markers(marked)
    for conversation in PROBES:  # identical text, with and without the generation prompt
        for prompt in (False, True):
            assert tok.apply_chat_template(
                conversation, chat_template=marked, tokenize=False, add_generation_prompt=prompt
            ) == tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=prompt)
    assert masked_text(tok, PROBES[3], marked) == "Blue.\n\nOr green.<|im_end|>Red.<|im_end|>"

    from trl.chat_template_utils import is_chat_template_stop_token_trained

    # TRL's own check that the end-of-turn token <|im_end|> is in the loss
    assert is_chat_template_stop_token_trained(tok, chat_template=marked)


def test_a_template_that_renders_differently_gets_no_markers(tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(make_tokenizer(tmp_path / "tok"))
    assert training_template(tok) == chatml_template(None)  # ChatML without a default system prompt
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    assert training_template(tok) is None


class Labels(TrainerCallback):
    """Decodes, for every training row, the tokens whose label is not -100 (what the loss sees)."""

    def __init__(self, tok: Any) -> None:
        self.tok, self.trained, self.contexts = tok, [], []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        for batch in kw["train_dataloader"]:
            for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
                pairs = list(zip(ids, labels, strict=True))
                self.trained.append(self.tok.decode([t for t, lab in pairs if lab != -100]))
                self.contexts.append(self.tok.decode([t for t, lab in pairs if lab == -100]))


def test_assistant_only_loss_trains_on_assistant_tokens_only(store: Any, tmp_path: Path) -> None:
    from datagen.store.models import TrainRun
    from finetune.config import TrainConfig
    from finetune.trainer import train

    tiny = make_tiny_model(tmp_path / "tiny")
    seed_dataset(store)
    labels = Labels(AutoTokenizer.from_pretrained(tiny))
    cfg = TrainConfig(
        dataset="tiny", base_model=str(tiny), method="lora", max_steps=2, per_device_train_batch_size=2,
        effective_batch_size=2, learning_rate=1e-2, precision="fp32", max_length=128, lora_r=4, lora_alpha=8,
        eval_steps=None, system_prompt="Answer briefly.",
    )  # fmt: skip
    tr_id = train(store, cfg, callbacks=[labels])

    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None and tr.status == "succeeded" and tr.metrics["global_step"] == 2
        assert tr.metrics["loss_mask"] == "assistant_only_loss" and tr.metrics["train_loss"] > 0
        adapter = tr.adapter_path
    answers = {out + "<|im_end|>" for _, _, out in QA}
    assert len(labels.trained) == 6 and set(labels.trained) <= answers  # the answer and its end-of-turn token
    for context in labels.contexts:  # everything else, system prompt and user turn included, is context
        assert context.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n")
        assert context.count("<|im_end|>") == 2 and "<|im_start|>assistant\n" in context
    # the adapter's tokenizer carries the marked template, which renders what the model was trained on
    assert has_generation_markers(AutoTokenizer.from_pretrained(adapter).chat_template)
