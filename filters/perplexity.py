"""Perplexity of a causal LM (default SmolLM2-135M-Instruct, float32): high perplexity = likely gibberish.

``mode: answer`` (default) scores the output conditioned on the instruction: the instruction (and input) go
into the model's chat template as the user turn, the output is the assistant turn, and the loss is taken
on the answer tokens only; a multi-turn conversation has each assistant turn scored given every turn before it,
and its perplexity pools all of their tokens (``answers`` in the details). ``mode: text`` scores the whole example
as plain text (every turn of a conversation; also used for a record with an empty output, which has no answer to
condition). Records are scored in
length-sorted batches (little padding), truncated to ``max_length`` tokens (the prompt is cut from the left
first, so the answer is kept; ``truncated`` is in the details).

Threshold: the literature's default is 100. Calibrated for SmolLM2 float32 in answer mode on the texts of
``bench/calibrate_perplexity.py`` (BENCHMARKS.md, "Curation: filters"): 30 fluent answers score 2.9–64.2
(median 14), their shuffled words 113–4,466, random-letter gibberish 428–1,321, so 100 stays (bf16 gives
the same decisions; int8 dynamic quantization scores fluent text at a median of 75 and is not calibrated).
Looped text is *not* high-perplexity (in-context copying makes it predictable): heuristics catches loops.
Thresholds belong to one model and dtype (bf16 runs ~5% higher; int8 differs), so a different
``model``/``dtype``/``quantize`` needs its own calibration. The scoring itself is ``datagen.lm.perplexities``
(length-sorted batches, a shared-prefix KV cache, the vocabulary projection on scored positions only).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from datagen import lm, modelhub
from datagen.endpoint import Device, DType
from datagen.errors import InputError
from filters.base import Filter, FilterScore, FilterSettings, RecordView

_QUANTIZED: dict[tuple[str, str, str], Any] = {}


class PerplexitySettings(FilterSettings):
    model: str = Field(
        default=modelhub.SMOLLM2, description="scoring model: alias, local path or Hugging Face id"
    )
    dtype: DType = Field(
        default="float32", description="compute dtype (the threshold is calibrated for float32)"
    )
    device: Device = Field(
        default="auto", description="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps"
    )
    mode: Literal["answer", "text"] = Field(
        default="answer",
        description="answer: the output given the instruction (chat template); text: the whole example",
    )
    threshold: float = Field(default=100.0, description="fail above this perplexity")
    max_length: int = Field(default=512, ge=16, description="tokens per example (the prompt is cut first)")
    batch_size: int = Field(
        default=0,
        ge=0,
        description="examples per forward; 0: 4 on the CPU (measured fastest at 1 thread: BENCHMARKS.md), "
        "32 on CUDA or MPS",
    )
    quantize: Literal["none", "int8"] = Field(
        default="none", description="int8: dynamic quantization on the CPU (not calibrated)"
    )


def load_scorer(name: str, dtype: str, quantize: str, device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer); ``int8`` is a dynamically quantized copy (never the shared cached object)."""
    model, tok = lm.load_causal_lm(name, dtype, device)
    if quantize == "none":
        return model, tok
    if model.device.type != "cpu":
        raise InputError("perplexity quantize int8 runs on the CPU only: set device cpu (or quantize none)")
    key = (name, dtype, str(model.device))
    if key not in _QUANTIZED:
        import torch

        _QUANTIZED[key] = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False
        )
    return _QUANTIZED[key], tok


def _joined(prompt_ids: list[int], answer_ids: list[int], max_length: int) -> tuple[list[int], int, bool]:
    """Prompt then answer within ``max_length``: the answer keeps its start, the prompt its end."""
    truncated = len(prompt_ids) + len(answer_ids) > max_length
    answer_ids = answer_ids[: max_length - 8]
    prompt_ids = prompt_ids[-(max_length - len(answer_ids)) :]
    return prompt_ids + answer_ids, len(prompt_ids), truncated


def encode_example(tok: Any, r: RecordView, mode: str, max_length: int) -> tuple[list[int], int, bool]:
    """(token ids, index of the first scored token, truncated?) for one record."""
    if mode == "text" or not r.output.strip():
        ids = tok(r.text(), add_special_tokens=False)["input_ids"]
        if tok.bos_token_id is not None:
            ids = [tok.bos_token_id, *ids]
        return ids[:max_length], 1, len(ids) > max_length
    prompt_ids = lm.chat_ids(tok, [{"role": "user", "content": r.prompt()}])
    return _joined(prompt_ids, tok(r.output, add_special_tokens=False)["input_ids"], max_length)


def encode_record(tok: Any, r: RecordView, mode: str, max_length: int) -> list[tuple[list[int], int, bool]]:
    """The sequences a record is scored on: one, or in answer mode on a conversation one per assistant turn,
    with every turn before it in the chat template (the record's perplexity pools their answer tokens)."""
    if mode == "text" or not r.messages or not r.output.strip():
        return [encode_example(tok, r, mode, max_length)]
    return [
        _joined(
            lm.chat_ids(tok, r.messages[:k]),
            tok(t["content"], add_special_tokens=False)["input_ids"],
            max_length,
        )
        for k, t in enumerate(r.messages)
        if t["role"] == "assistant"
    ]


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
        dtype = lm.dtype_used(st.dtype, st.device)  # what the model computes in: never ``auto``, nor an alias
        return f"{st.model}/{dtype}" + ("/int8" if st.quantize == "int8" else "")

    def prepare(self, store: Any) -> list[str]:
        st = self.settings
        load_scorer(st.model, st.dtype, st.quantize, st.device)
        return []

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        st = self.settings
        model, tok = load_scorer(st.model, st.dtype, st.quantize, st.device)
        encoded = [encode_record(tok, r, st.mode, st.max_length) for r in records]
        flat = [(e[0], e[1]) for seqs in encoded for e in seqs]
        batch = lm.batch_for(st.batch_size, model.device.type, 4)
        ppl = iter(lm.perplexities(model, flat, lm.pad_id(tok), batch))
        out = []
        for seqs in encoded:
            p = pooled([(next(ppl), len(ids) - start) for ids, start, _ in seqs])
            details: dict[str, Any] = {
                "perplexity": round(p, 3) if math.isfinite(p) else None,
                "tokens": sum(len(ids) - start for ids, start, _ in seqs),
            }
            details |= {"mode": st.mode, "truncated": any(t for _, _, t in seqs)}
            if len(seqs) > 1:
                details["answers"] = len(seqs)  # a conversation: every assistant turn was scored
            out.append(FilterScore(p if math.isfinite(p) else None, details))
        return out


def pooled(parts: list[tuple[float, int]]) -> float:
    """One perplexity over several scored spans: exp of the token-weighted mean log perplexity."""
    n = sum(k for _, k in parts)
    if len(parts) == 1 or not n:
        return parts[0][0]
    return math.exp(sum(math.log(p) * k for p, k in parts) / n) if all(p > 0 for p, _ in parts) else math.inf
