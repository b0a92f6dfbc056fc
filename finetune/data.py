"""Dataset rows -> conversational rows for TRL, and the guards run before any training.

A record (instruction, input, output) becomes ``{"messages": [system?, user, assistant]}`` (a multi-turn
conversation: ``[system?, user, assistant, user, assistant, ...]``, every turn), trained with TRL's
``assistant_only_loss`` when the base model's chat template has ``{% generation %}`` markers or
``finetune.chat_template`` supplies them (as for the default SmolLM2): the loss covers every assistant turn;
otherwise ``{"prompt": [every turn before the last answer], "completion": [last answer]}``, whose prompt TRL masks.
Either way the loss falls on the assistant's tokens only.
The guards tokenize every example the way TRL will and check: the ChatML is well formed, the prompt renders as a
prefix of prompt+completion, the completion ends with the EOS token, and how many examples run past
``max_length`` (they get truncated, losing their EOS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from datagen.conversation import turns_of, user_content
from datagen.datasets.ref import find_dataset
from datagen.errors import InputError
from datagen.store.engine import Store
from datagen.store.models import Dataset, DatasetItem, Record

SPLITS = ("train", "validation", "test")
CHATML_BLOCK = re.compile(r"<\|im_start\|>(system|user|assistant)\n(.*?)<\|im_end\|>\n?", re.S)
MARKERS = ("<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class Example:
    record_id: int
    instruction: str
    input: str
    output: str
    messages: tuple[dict[str, str], ...] | None = None  # every turn of a conversation (datagen.conversation)


@dataclass
class LoadedDataset:
    id: int
    name: str
    version: int
    splits: dict[str, list[Example]]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def load_dataset(store: Store, name: str, version: int | None = None) -> LoadedDataset:
    """The records of a dataset version grouped by split, in record id order."""
    with store.session() as s:
        dataset_id = find_dataset(s, name, version).id
    return load_dataset_by_id(store, dataset_id)


def load_dataset_by_id(store: Store, dataset_id: int) -> LoadedDataset:
    splits: dict[str, list[Example]] = {k: [] for k in SPLITS}
    with store.session() as s:
        ds = s.get(Dataset, dataset_id)
        if ds is None:
            raise InputError(f"dataset id {dataset_id} not found")
        rows = s.execute(
            select(
                DatasetItem.split, Record.id, Record.instruction, Record.input, Record.output, Record.messages
            )
            .join(Record, Record.id == DatasetItem.record_id)
            .where(DatasetItem.dataset_id == dataset_id)
            .order_by(Record.id)
        ).all()
        name, version = ds.name, ds.version
    for split, rid, instruction, inp, out, turns in rows:
        msgs = tuple(turns) if turns else None
        splits.setdefault(split, []).append(Example(rid, instruction, inp or "", out or "", msgs))
    return LoadedDataset(dataset_id, name, version, splits)


def user_message(ex: Example) -> str:
    """The user turn, exactly as the exports write it."""
    return user_content(ex.instruction, ex.input)


def all_messages(ex: Example, system_prompt: str | None = None) -> list[dict[str, str]]:
    """Every turn of the example, opened by ``system_prompt`` unless the conversation has its own system turn
    (as the exports write it)."""
    turns = turns_of(ex.instruction, ex.input, ex.output, ex.messages)
    if system_prompt and turns[0]["role"] != "system":
        turns = [{"role": "system", "content": system_prompt}, *turns]
    return turns


def prompt_messages(ex: Example, system_prompt: str | None = None) -> list[dict[str, str]]:
    """Every turn before the last answer."""
    return all_messages(ex, system_prompt)[:-1]


def to_conversational(ex: Example, system_prompt: str | None = None) -> dict[str, Any]:
    """One TRL prompt/completion row (conversational): the prompt is masked out of the loss, so of a multi-turn
    conversation only the last answer is trained."""
    turns = all_messages(ex, system_prompt)
    return {"prompt": turns[:-1], "completion": turns[-1:]}


def to_messages(ex: Example, system_prompt: str | None = None) -> dict[str, Any]:
    """One TRL conversational row for ``assistant_only_loss``: every assistant turn is trained, nothing else."""
    return {"messages": all_messages(ex, system_prompt)}


def encode(tokenizer: Any, ex: Example, system_prompt: str | None) -> tuple[str, str, list[int], list[int]]:
    """(prompt text, prompt + completion text, their token ids): the example as TRL tokenizes it."""
    row = to_conversational(ex, system_prompt)
    prompt_text = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    return prompt_text, full_text, prompt_ids, full_ids


@dataclass
class DataReport:
    """What the guards found; stored on the train run (``metrics.data``)."""

    n: int = 0
    template: str = "chatml"  # chatml | other (the ChatML structure check is skipped for other templates)
    malformed: list[int] = field(default_factory=list)  # record ids
    missing_eos: list[int] = field(default_factory=list)
    truncated: list[int] = field(default_factory=list)  # longer than max_length: cut, EOS lost
    max_length: int = 0
    tokens_min: int = 0
    tokens_mean: float = 0.0
    tokens_max: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "template": self.template,
            "malformed": len(self.malformed),
            "missing_eos": len(self.missing_eos),
            "truncated": len(self.truncated),
            "max_length": self.max_length,
            "tokens": {"min": self.tokens_min, "mean": round(self.tokens_mean, 1), "max": self.tokens_max},
            "completion_tokens": self.completion_tokens,
            "bad_record_ids": sorted(set(self.malformed + self.missing_eos))[:20],
        }


def chatml_ok(text: str, completion: str) -> bool:
    """The whole text is a sequence of ChatML blocks, the last one the assistant's answer, verbatim."""
    blocks = list(CHATML_BLOCK.finditer(text))
    if not blocks or "".join(m.group(0) for m in blocks) != text:
        return False
    if any(mk in m.group(2) for m in blocks for mk in MARKERS):
        return False
    return blocks[-1].group(1) == "assistant" and blocks[-1].group(2) == completion


def ends_with_eos(tokenizer: Any, completion_ids: list[int]) -> bool:
    """The completion's last non-whitespace token is EOS (templates may add a newline after it)."""
    ids = list(completion_ids)
    while ids and ids[-1] != tokenizer.eos_token_id and not tokenizer.decode([ids[-1]]).strip():
        ids.pop()
    return bool(ids) and ids[-1] == tokenizer.eos_token_id


def check_examples(
    tokenizer: Any, examples: list[Example], max_length: int, system_prompt: str | None = None
) -> DataReport:
    """Tokenize every example as TRL will and record the guard results (nothing is raised here)."""
    rep = DataReport(n=len(examples), max_length=max_length)
    probe = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    rep.template = "chatml" if MARKERS[0] in probe else "other"
    lengths = []
    for ex in examples:
        prompt_text, full_text, prompt_ids, full_ids = encode(tokenizer, ex, system_prompt)
        structure_ok = full_text.startswith(prompt_text) and full_ids[: len(prompt_ids)] == prompt_ids
        if rep.template == "chatml":
            structure_ok = structure_ok and chatml_ok(full_text, ex.output)
        if not structure_ok or not ex.output.strip():
            rep.malformed.append(ex.record_id)
        completion_ids = full_ids[len(prompt_ids) :]
        if not ends_with_eos(tokenizer, completion_ids):
            rep.missing_eos.append(ex.record_id)
        if len(full_ids) > max_length:
            rep.truncated.append(ex.record_id)
        lengths.append(len(full_ids))
        rep.completion_tokens += len(completion_ids)
    if lengths:
        rep.tokens_min, rep.tokens_max = min(lengths), max(lengths)
        rep.tokens_mean = sum(lengths) / len(lengths)
    return rep


def guard(report: DataReport, split: str) -> None:
    """Refuse to train on malformed examples or examples without EOS; truncation is only reported."""
    bad = sorted(set(report.malformed + report.missing_eos))
    if bad:
        raise InputError(
            f"{split} split: {len(report.malformed)} malformed ChatML example(s) and {len(report.missing_eos)} "
            f"without EOS after the answer (record ids {bad[:10]}); fix or drop those records"
        )
