"""Training on multi-turn conversations: rows carry every turn, the guards accept them, and with the marked ChatML
template the labels cover exactly the assistant turns (each answer and its ``<|im_end|>``), nothing else."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from finetune.data import Example, to_conversational, to_messages

CONVERSATIONS = [
    [
        {"role": "user", "content": "Name the colour of the sky."},
        {"role": "assistant", "content": "The sky is blue."},
        {"role": "user", "content": "Name the colour of grass."},
        {"role": "assistant", "content": "Grass is green."},
    ],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Is water wet?"},
        {"role": "assistant", "content": "Yes, water is wet."},
        {"role": "user", "content": "Is fire hot?"},
        {"role": "assistant", "content": "Yes, fire is hot."},
        {"role": "user", "content": "Is seven even or odd?"},
        {"role": "assistant", "content": "Seven is odd."},
    ],
]


def example(turns: list[dict[str, str]], rid: int = 1) -> Example:
    users = [t["content"] for t in turns if t["role"] == "user"]
    return Example(rid, users[0], "", turns[-1]["content"], tuple(turns))


def test_rows_hold_every_turn_and_the_system_prompt_only_where_there_is_none() -> None:
    plain, with_system = (example(c) for c in CONVERSATIONS)
    assert to_messages(plain, "Be kind.")["messages"] == [
        {"role": "system", "content": "Be kind."},
        *CONVERSATIONS[0],
    ]
    assert to_messages(with_system, "Be kind.")["messages"] == CONVERSATIONS[1]  # its own system turn is kept
    row = to_conversational(with_system)
    assert (row["prompt"], row["completion"]) == (CONVERSATIONS[1][:-1], CONVERSATIONS[1][-1:])


def test_the_guards_accept_a_conversation(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from finetune.data import check_examples
    from tests.finetune_tiny import make_tokenizer

    tok = AutoTokenizer.from_pretrained(make_tokenizer(tmp_path / "tok"))
    rep = check_examples(tok, [example(c, k) for k, c in enumerate(CONVERSATIONS)], 512)
    assert (rep.n, rep.malformed, rep.missing_eos, rep.truncated) == (2, [], [], [])


def seed_conversations(store: Any, n: int = 4) -> None:
    """A dataset ``chats@1`` of ``n`` train records alternating the two conversations (plus one validation)."""
    from datagen.conversation import record_hash
    from datagen.store.models import APPROVED, Dataset, DatasetItem, Record, Run

    with store.session() as s:
        run = Run(kind="import", config={})
        s.add(run)
        s.flush()
        recs = []
        for i in range(n + 1):
            turns = CONVERSATIONS[i % 2]
            ex = example(turns)
            h = record_hash(ex.instruction, "", ex.output, turns)
            uid = hashlib.sha256(f"{i}{h}".encode()).hexdigest()
            recs.append(Record(uid=uid, run_id=run.id, method="import", instruction=ex.instruction, input="",
                               output=ex.output, messages=turns, status=APPROVED, content_hash=h))  # fmt: skip
        s.add_all(recs)
        ds = Dataset(name="chats", version=1, run_id=run.id, counts={"total": n + 1})
        s.add(ds)
        s.flush()
        splits = ["train"] * n + ["validation"]
        s.add_all(
            DatasetItem(dataset_id=ds.id, record_id=r.id, split=sp)
            for r, sp in zip(recs, splits, strict=True)
        )


def context(turn: dict[str, str]) -> str:
    """What of a turn stays out of the loss: all of a system or user turn, an answer's header and newline."""
    if turn["role"] == "assistant":
        return "<|im_start|>assistant\n\n"
    return f"<|im_start|>{turn['role']}\n{turn['content']}<|im_end|>\n"


@pytest.mark.slow
def test_labels_cover_exactly_the_assistant_turns(store: Any, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from datagen.store.models import TrainRun
    from finetune.config import TrainConfig
    from finetune.trainer import train
    from tests.finetune_tiny import make_tiny_model
    from tests.test_finetune_assistant_loss import Labels

    tiny = make_tiny_model(tmp_path / "tiny")
    seed_conversations(store)
    labels = Labels(AutoTokenizer.from_pretrained(tiny))
    cfg = TrainConfig(
        dataset="chats", base_model=str(tiny), method="lora", max_steps=2, per_device_train_batch_size=2,
        effective_batch_size=2, learning_rate=1e-2, precision="fp32", max_length=256, lora_r=4, lora_alpha=8,
        eval_steps=None,
    )  # fmt: skip
    tr_id = train(store, cfg, callbacks=[labels])
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None and tr.status == "succeeded"
        assert tr.metrics["loss_mask"] == "assistant_only_loss"
    trained = {
        "".join(t["content"] + "<|im_end|>" for t in c if t["role"] == "assistant") for c in CONVERSATIONS
    }
    assert (
        len(labels.trained) == 4 and set(labels.trained) == trained
    )  # every answer of every turn, each closed
    rendered = {"".join(context(t) for t in c) for c in CONVERSATIONS}
    contexts = {c.replace("<|endoftext|>", "") for c in labels.contexts}  # less the batch's padding
    assert contexts == rendered  # the rest: system and user turns, the assistant headers, newlines


def test_a_multi_turn_conversation_is_not_an_evaluation_task(tmp_path: Path) -> None:
    import json

    from datagen.errors import InputError
    from finetune.evalset import read_file

    path = tmp_path / "eval.jsonl"
    path.write_text(
        "".join(json.dumps({"messages": c}) + "\n" for c in [CONVERSATIONS[0][:2], CONVERSATIONS[1]])
    )
    with pytest.raises(InputError) as e:
        read_file(path)
    assert str(e.value) == (
        f"{path}:2: a multi-turn conversation cannot be an evaluation task (tasks are one question and its answer)"
    )


def test_an_eval_task_asked_in_a_later_turn_of_a_training_conversation_overlaps(store: Any) -> None:
    from finetune.evalset import EvalItem
    from finetune.overlap import measure_overlap

    seed_conversations(store)
    later = EvalItem("later", "general", "is FIRE hot?", "", "Yes.")  # the second question of a conversation
    unseen = EvalItem("unseen", "general", "Write a haiku about autumn rain on a tin roof.", "", "...")
    ov = measure_overlap(store, [later, unseen], 1, threshold=0.99)
    assert [(m["key"], m["match"], m["record_id"]) for m in ov.matches] == [("later", "exact", 2)]
