"""Model-side measurements for scoring: answer log-likelihood (for perplexity) and greedy answers.

Both format examples exactly as training does (the chat template over the prompt/completion rows), so the
reference-answer perplexity measures the tokens the adapter was trained on: the assistant's answer, EOS
included, conditioned on the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finetune.data import Example, encode, prompt_messages


@dataclass(frozen=True)
class Generated:
    text: str
    tokens: int
    hit_limit: bool  # ran into max_new_tokens without emitting EOS


def answer_nll(
    model: Any, tok: Any, examples: list[Example], system_prompt: str | None, batch_size: int = 8
) -> list[tuple[float, int]]:
    """Per example: (summed negative log-likelihood of the answer tokens, number of answer tokens)."""
    import torch

    pairs = []
    for ex in examples:
        _, _, p_ids, f_ids = encode(tok, ex, system_prompt)
        pairs.append((f_ids, len(p_ids)))
    out: list[tuple[float, int]] = []
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        width = max(len(f) for f, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, (f, plen) in enumerate(chunk):
            ids[r, : len(f)] = torch.tensor(f)
            labels[r, plen : len(f)] = torch.tensor(f[plen:])
            mask[r, : len(f)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tgt = labels[:, 1:]
        valid = tgt != -100
        picked = logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        nll = -(picked * valid).sum(dim=1)
        for r in range(len(chunk)):
            out.append((float(nll[r]), int(valid[r].sum())))
    return out


def generate_answers(
    model: Any,
    tok: Any,
    examples: list[Example],
    system_prompt: str | None,
    max_new_tokens: int,
    batch_size: int = 8,
) -> list[Generated]:
    """Greedy answers to each example's prompt (left-padded batches), with whether each hit the limit."""
    import torch

    tok.padding_side = "left"
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    texts = [
        tok.apply_chat_template(
            prompt_messages(ex, system_prompt), tokenize=False, add_generation_prompt=True
        )
        for ex in examples
    ]
    out: list[Generated] = []
    for i in range(0, len(texts), batch_size):
        enc = tok(texts[i : i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
                eos_token_id=tok.eos_token_id,
            )
        for row in gen[:, enc["input_ids"].shape[1] :].tolist():
            n = row.index(tok.eos_token_id) if tok.eos_token_id in row else len(row)
            body = [t for t in row[:n] if t != pad]
            out.append(Generated(tok.decode(body, skip_special_tokens=True).strip(), n, n >= max_new_tokens))
    return out
