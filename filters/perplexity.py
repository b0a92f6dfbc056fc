"""Perplexity of a causal LM (default SmolLM2-135M-Instruct, float32): high perplexity = likely gibberish.

``mode: answer`` (default) scores the output conditioned on the instruction: the instruction (and input) go
into the model's chat template as the user turn, the output is the assistant turn, and the loss is taken
on the answer tokens only. ``mode: text`` scores the whole example as plain text (also used for a record
with an empty output, which has no answer to condition). Records are scored in
length-sorted batches (little padding), truncated to ``max_length`` tokens (the prompt is cut from the left
first, so the answer is kept; ``truncated`` is in the details).

Threshold: the literature's default is 100. Calibrated for SmolLM2 float32 in answer mode on the texts of
``bench/calibrate_perplexity.py`` (BENCHMARKS.md, "Curation: filters"): 30 fluent answers score 2.9–64.2
(median 14), their shuffled words 113–4,466, random-letter gibberish 428–1,321, so 100 stays (bf16 gives
the same decisions; int8 dynamic quantization scores fluent text at a median of 75 and is not calibrated).
Looped text is *not* high-perplexity (in-context copying makes it predictable): heuristics catches loops. Thresholds belong to one model and dtype (bf16 runs ~5% higher; int8 differs),
so a different ``model``/``dtype``/``quantize`` needs its own calibration.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from datagen import modelhub
from filters.base import Filter, FilterScore, FilterSettings, RecordView

_QUANTIZED: dict[tuple[str, str], Any] = {}
LOGIT_ROWS = 512
MIN_SHARED_PREFIX = 8  # shorter shared prefixes are not worth a separate forward


class PerplexitySettings(FilterSettings):
    model: str = modelhub.SMOLLM2
    dtype: str = "float32"
    mode: Literal["answer", "text"] = "answer"
    threshold: float = 100.0
    max_length: int = 512
    batch_size: int = 4  # measured at 1 thread: 4 -> 1.41 rec/s, 16 -> 1.16, 48 -> 0.79 (BENCHMARKS.md)
    quantize: Literal["none", "int8"] = "none"


def load_scorer(name: str, dtype: str, quantize: str) -> tuple[Any, Any]:
    """(model, tokenizer); ``int8`` is a dynamically quantized copy (never the shared cached object)."""
    model, tok = modelhub.load_causal_lm(name, dtype)
    if quantize == "none":
        return model, tok
    key = (name, dtype)
    if key not in _QUANTIZED:
        import torch

        _QUANTIZED[key] = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False
        )
    return _QUANTIZED[key], tok


def encode_example(tok: Any, r: RecordView, mode: str, max_length: int) -> tuple[list[int], int, bool]:
    """(token ids, index of the first scored token, truncated?) for one record."""
    if mode == "text" or not r.output.strip():
        ids = tok(r.text(), add_special_tokens=False)["input_ids"]
        if tok.bos_token_id is not None:
            ids = [tok.bos_token_id, *ids]
        return ids[:max_length], 1, len(ids) > max_length
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": r.prompt()}], add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tok(r.output, add_special_tokens=False)["input_ids"]
    truncated = len(prompt_ids) + len(answer_ids) > max_length
    answer_ids = answer_ids[: max_length - 8]
    prompt_ids = prompt_ids[-(max_length - len(answer_ids)) :]
    return prompt_ids + answer_ids, len(prompt_ids), truncated


def batched_perplexities(
    model: Any, pad_id: int, examples: list[tuple[list[int], int]], batch_size: int
) -> list[float]:
    """exp(mean token loss over ids[start:]) per example; length-sorted batches, right padding.

    The vocabulary projection runs only on the scored positions, in chunks of ``LOGIT_ROWS`` rows: a full
    [batch, length, 49k] float logits tensor would cost ~0.6 GB per batch of 16 x 200 tokens (and time).
    The tokens every example of a batch starts with (the chat template's system prompt, for one) run once and
    are shared through the KV cache.
    """
    import torch
    from transformers import DynamicCache

    body = getattr(model, model.base_model_prefix)
    head = model.get_output_embeddings()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    out = [math.nan] * len(examples)
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            width = max(len(examples[i][0]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            scored = torch.zeros((len(idx), width), dtype=torch.bool)
            for row, i in enumerate(idx):
                toks, start = examples[i]
                ids[row, : len(toks)] = torch.tensor(toks)
                mask[row, : len(toks)] = 1
                scored[row, max(start, 1) : len(toks)] = True
            p = min(_common_prefix([examples[i][0] for i in idx]), min(examples[i][1] for i in idx) - 1)
            cache = None
            if p >= MIN_SHARED_PREFIX:
                cache = DynamicCache()
                body(input_ids=ids[:1, :p], cache=cache, use_cache=True)
                cache.batch_repeat_interleave(len(idx))
            else:
                p = 0
            out_h = body(input_ids=ids[:, p:], attention_mask=mask, cache=cache, use_cache=cache is not None)
            hidden = out_h.last_hidden_state[:, :-1]  # position p + j predicts token p + j + 1
            keep = scored[:, p + 1 :]
            rows_of = keep.nonzero()[:, 0]
            h, target = hidden[keep], ids[:, p + 1 :][keep]
            loss = torch.empty(h.shape[0])
            for c in range(0, h.shape[0], LOGIT_ROWS):
                logits = head(h[c : c + LOGIT_ROWS]).float()
                loss[c : c + LOGIT_ROWS] = torch.nn.functional.cross_entropy(
                    logits, target[c : c + LOGIT_ROWS], reduction="none"
                )
            sums = torch.zeros(len(idx)).index_add_(0, rows_of, loss)
            counts = torch.zeros(len(idx)).index_add_(0, rows_of, torch.ones_like(loss))
            for row, i in enumerate(idx):
                if counts[row] > 0:
                    out[i] = float(torch.exp(sums[row] / counts[row]))
    return out


def _common_prefix(seqs: list[list[int]]) -> int:
    """Length of the token prefix all sequences share."""
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for k in range(n):
        t = first[k]
        if any(s[k] != t for s in seqs):
            return k
    return n


class PerplexityFilter(Filter):
    name = "perplexity"
    version = "1"
    cost = 50
    Settings = PerplexitySettings
    settings: PerplexitySettings
    fail_reason = "perplexity_too_high"

    @property
    def backend(self) -> str:
        st = self.settings
        return f"{st.model}/{st.dtype}" + ("/int8" if st.quantize == "int8" else "")

    def prepare(self, store: Any) -> list[str]:
        load_scorer(self.settings.model, self.settings.dtype, self.settings.quantize)
        return []

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        st = self.settings
        model, tok = load_scorer(st.model, st.dtype, st.quantize)
        encoded = [encode_example(tok, r, st.mode, st.max_length) for r in records]
        ppl = batched_perplexities(model, tok.pad_token_id, [(e[0], e[1]) for e in encoded], st.batch_size)
        out = []
        for (ids, start, truncated), p in zip(encoded, ppl, strict=True):
            details: dict[str, Any] = {
                "perplexity": round(p, 3) if math.isfinite(p) else None,
                "tokens": len(ids) - start,
            }
            details |= {"mode": st.mode, "truncated": truncated}
            out.append(FilterScore(p if math.isfinite(p) else None, details))
        return out
