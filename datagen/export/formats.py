"""Plain export formats: JSONL (instruction/input/output), Alpaca JSON, ChatML messages JSONL, TRL prompt/completion.

One file per split (splits with no rows are not written). Alpaca rows have exactly ``instruction``, ``input``,
``output`` (the keys Alpaca-style trainers read); JSONL adds the record ``id`` for lineage. Conversations open with
the export's system prompt when it has one; ``render`` (a chat template, see ``text_renderer``) adds a ``text``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Render = Callable[[list[dict[str, str]]], str]

IM_START, IM_END = "<|im_start|>", "<|im_end|>"


def user_content(instruction: str, input: str) -> str:
    """The user turn: the instruction, then the input after a blank line when there is one."""
    return f"{instruction}\n\n{input}" if input.strip() else instruction


def prompt(row: dict[str, Any], system_prompt: str | None = None) -> list[dict[str, str]]:
    """The conversation up to the answer: the system prompt (when set), then the user turn."""
    opening = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*opening, {"role": "user", "content": user_content(row["instruction"], row["input"])}]


def messages(row: dict[str, Any], system_prompt: str | None = None) -> list[dict[str, str]]:
    return [*prompt(row, system_prompt), {"role": "assistant", "content": row["output"]}]


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
    return [
        _write_jsonl(
            out / f"{split}.jsonl",
            [
                {"id": r["id"], "instruction": r["instruction"], "input": r["input"], "output": r["output"]}
                for r in rs
            ],
        )
        for split, rs in by_split(rows).items()
    ]


def write_alpaca(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    paths = []
    for split, rs in by_split(rows).items():
        path = out / f"{split}.json"
        data = [{"instruction": r["instruction"], "input": r["input"], "output": r["output"]} for r in rs]
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
    """TRL's conversational prompt/completion rows (``SFTTrainer`` masks the prompt out of the loss)."""
    paths = []
    for split, rs in by_split(rows).items():
        items = []
        for r in rs:
            item: dict[str, Any] = {
                "id": r["id"],
                "prompt": prompt(r, system_prompt),
                "completion": [{"role": "assistant", "content": r["output"]}],
            }
            if render:
                item["text"] = render(item["prompt"] + item["completion"])
            items.append(item)
        paths.append(_write_jsonl(out / f"{split}.jsonl", items))
    return paths
