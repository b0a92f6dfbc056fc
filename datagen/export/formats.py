"""Plain export formats: JSONL (instruction/input/output), Alpaca JSON, ChatML messages JSONL, TRL prompt/completion.

One file per split (splits with no rows are not written). Alpaca rows have exactly ``instruction``, ``input``,
``output`` (the keys Alpaca-style trainers read), plus LLaMA-Factory's ``system`` and ``history`` when the dataset
holds multi-turn conversations; JSONL adds the record ``id`` for lineage (and ``messages`` with conversations).
Messages hold every turn of a conversation; they open with the export's system prompt unless the conversation has
its own system turn; ``render`` (a chat template, see ``text_renderer``) adds a ``text``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datagen.conversation import system_of, turns_of

Render = Callable[[list[dict[str, str]]], str]

IM_START, IM_END = "<|im_start|>", "<|im_end|>"


def turns(row: dict[str, Any]) -> list[dict[str, str]]:
    """Every turn of an exported row: its conversation, or user + assistant from its fields."""
    return turns_of(row["instruction"], row["input"], row["output"], row.get("messages"))


def messages(row: dict[str, Any], system_prompt: str | None = None) -> list[dict[str, str]]:
    """Every turn; the export's system prompt opens a conversation that has no system turn of its own (an
    imported conversation's system turn is part of the data and is kept)."""
    out = turns(row)
    if system_prompt and out[0]["role"] != "system":
        out = [{"role": "system", "content": system_prompt}, *out]
    return out


def has_conversations(rows: list[dict[str, Any]]) -> bool:
    return any(r.get("messages") for r in rows)


def text_renderer(model: str) -> Render:
    """Messages -> the text ``model``'s chat template renders (its tokenizer, loaded once)."""
    from datagen.lm import load_tokenizer

    tok = load_tokenizer(model)
    if not tok.chat_template:
        from datagen.errors import InputError

        raise InputError(f"{model!r} has no chat template to render the text column with")
    return lambda msgs: tok.apply_chat_template(msgs, tokenize=False)


def render_chatml(msgs: list[dict[str, str]]) -> str:
    """ChatML text (no system turn): ``<|im_start|>role\\ncontent<|im_end|>\\n`` per message."""
    return "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in msgs)


SPLIT_ORDER = ("train", "validation", "test")


def by_split(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by split, in the order train, validation, test (then any other split by name)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["split"], []).append(r)
    rank = {s: i for i, s in enumerate(SPLIT_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    return path


def write_jsonl(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """``id``, ``instruction``, ``input``, ``output``; and ``messages`` (every turn) on every row when the dataset
    holds conversations."""
    conversations = has_conversations(rows)
    return [
        _write_jsonl(
            out / f"{split}.jsonl",
            [
                {"id": r["id"], "instruction": r["instruction"], "input": r["input"], "output": r["output"]}
                | ({"messages": turns(r)} if conversations else {})
                for r in rs
            ],
        )
        for split, rs in by_split(rows).items()
    ]


def alpaca_row(r: dict[str, Any], conversations: bool) -> dict[str, Any]:
    """Alpaca's three keys; with conversations in the dataset, LLaMA-Factory's ``system`` and ``history`` too:
    instruction/output are the last exchange, history the earlier ``[user, assistant]`` pairs."""
    if not conversations:
        return {"instruction": r["instruction"], "input": r["input"], "output": r["output"]}
    all_turns = turns(r)
    dialogue = [t["content"] for t in all_turns if t["role"] != "system"]
    history = [[dialogue[k], dialogue[k + 1]] for k in range(0, len(dialogue) - 2, 2)]
    last = (dialogue[-2], "") if r.get("messages") else (r["instruction"], r["input"])
    return {"instruction": last[0], "input": last[1], "output": dialogue[-1],
            "system": system_of(all_turns) or "", "history": history}  # fmt: skip


def write_alpaca(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    paths = []
    conversations = has_conversations(rows)
    for split, rs in by_split(rows).items():
        path = out / f"{split}.json"
        data = [alpaca_row(r, conversations) for r in rs]
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        paths.append(path)
    return paths


def write_chatml(
    rows: list[dict[str, Any]],
    out: Path,
    text: bool = False,
    system_prompt: str | None = None,
    render: Render | None = None,
) -> list[Path]:
    """``{"id", "messages"}`` rows; ``text`` adds the plain ChatML rendering, ``render`` a chat template's."""
    render = render or (render_chatml if text else None)
    paths = []
    for split, rs in by_split(rows).items():
        items = []
        for r in rs:
            item: dict[str, Any] = {"id": r["id"], "messages": messages(r, system_prompt)}
            if render:
                item["text"] = render(item["messages"])
            items.append(item)
        paths.append(_write_jsonl(out / f"{split}.jsonl", items))
    return paths


def write_prompt_completion(
    rows: list[dict[str, Any]], out: Path, system_prompt: str | None = None, render: Render | None = None
) -> list[Path]:
    """TRL's conversational prompt/completion rows (``SFTTrainer`` masks the prompt out of the loss): the prompt is
    every turn before the last answer, the completion the last assistant turn (earlier answers are context)."""
    paths = []
    for split, rs in by_split(rows).items():
        items = []
        for r in rs:
            msgs = messages(r, system_prompt)
            item: dict[str, Any] = {"id": r["id"], "prompt": msgs[:-1], "completion": msgs[-1:]}
            if render:
                item["text"] = render(item["prompt"] + item["completion"])
            items.append(item)
        paths.append(_write_jsonl(out / f"{split}.jsonl", items))
    return paths
