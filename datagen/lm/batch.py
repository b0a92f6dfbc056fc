"""Prompts as token ids, and padding done by hand: a shared tokenizer's ``padding_side`` is never changed.

Every function here takes and returns token ids, so one tokenizer object can serve any number of callers (the
cached ``load_causal_lm`` pair is shared by the teacher, the judges and the perplexity filter).
"""

from __future__ import annotations

from typing import Any, Literal


def pad_id(tok: Any) -> int:
    """The tokenizer's pad token, or its EOS when it has none."""
    return int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)


def chat_ids(tok: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> list[int]:
    """The chat template rendered over ``messages`` (with the assistant's opening by default), as token ids.

    The template writes its own special tokens, so none are added on top.
    """
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return list(tok(text, add_special_tokens=False)["input_ids"])


def pad_batch(
    seqs: list[list[int]], pad: int, side: Literal["left", "right"] = "right", device: Any = None
) -> tuple[Any, Any]:
    """(input_ids, attention_mask) as long tensors, each row padded with ``pad`` on ``side`` to the longest.

    Left padding puts every row's last token in the last column (generation); right padding keeps every row's
    positions at 0.. (scoring).
    """
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        if not s:
            continue
        cols = slice(width - len(s), width) if side == "left" else slice(0, len(s))
        ids[row, cols] = torch.tensor(s, dtype=torch.long)
        mask[row, cols] = 1
    if device is not None:
        ids, mask = ids.to(device), mask.to(device)
    return ids, mask


def common_prefix(seqs: list[list[int]]) -> int:
    """Length of the token prefix all sequences share."""
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for k in range(n):
        t = first[k]
        if any(s[k] != t for s in seqs):
            return k
    return n
