"""A local transformers model as a teacher or judge (default SmolLM2-135M-Instruct from the model cache).

Requests are generated together in batches of ``batch_size`` with LEFT padding (so every row's next token
sits at the same position) from the tokenizer's chat template. Sampling is nucleus sampling (top-p 0.9 by
default) done per row with the row's own ``torch.Generator``, seeded from the request's cache key (which
includes ``params.seed`` and ``sample_index``): a request gives the same text whichever batch it lands in,
up to float rounding, so a cached answer is the answer the request would get again. ``generate`` runs
greedily over scores in which the sampled token is the only candidate, which keeps its KV cache and
padding handling. A row that reaches its ``max_tokens`` finishes with ``finish_reason="length"``.
Costs nothing; one call at a time (``max_concurrency = 1``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import Field

from datagen import modelhub
from datagen.config import ConfigModel
from datagen.providers.base import Provider, Request, Result


class LocalOptions(ConfigModel):
    dtype: str = Field(
        default="float32", description="float32, bfloat16 (about 1.7x faster on CPUs with bf16), auto"
    )
    batch_size: int = Field(
        default=16, ge=1, description="requests generated together (16: ~5x the tokens/s of one)"
    )


def request_seed(request: Request, provider: str, model: str) -> int:
    return int(hashlib.sha256(request.cache_key(provider, model).encode()).hexdigest()[:15], 16)


_TOPK = 64


class _RowSampler:
    """A logits processor that picks each row's next token (temperature, top-p, own generator) and leaves
    only that token possible; rows past their own ``max_tokens`` are forced to end."""

    def __init__(self, requests: list[Request], seeds: list[int], prompt_len: int, eos: int) -> None:
        import torch

        self.torch = torch
        self.params = [r.params for r in requests]
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.prompt_len = prompt_len
        self.eos = eos
        self.cut = [False] * len(requests)  # ended by max_tokens (finish_reason "length")

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self.torch
        step = input_ids.shape[1] - self.prompt_len
        temps = torch.tensor([max(p.temperature, 1e-6) for p in self.params]).unsqueeze(1)
        probs = torch.softmax(scores.float() / temps, dim=-1)
        # The nucleus almost always lies in the top few dozen tokens: look there first, sort all only if not.
        top_p, top_i = torch.topk(probs, k=min(_TOPK, probs.shape[-1]), dim=-1)
        out = torch.full_like(scores, float("-inf"))
        for i, p in enumerate(self.params):
            if step >= p.max_tokens:
                if not self.cut[i] and not _ended(input_ids[i, self.prompt_len :], self.eos):
                    self.cut[i] = True
                out[i, self.eos] = 0.0
                continue
            if p.temperature <= 0:
                out[i, int(top_i[i, 0])] = 0.0
                continue
            sorted_p, idx = top_p[i], top_i[i]
            if float(sorted_p.sum()) < p.top_p:
                sorted_p, idx = torch.sort(probs[i], descending=True)
            keep = (torch.cumsum(sorted_p, dim=-1) - sorted_p) < p.top_p
            keep[0] = True  # the most likely token always stays (top_p=0 means greedy)
            kept = sorted_p * keep
            out[i, int(idx[torch.multinomial(kept / kept.sum(), 1, generator=self.gens[i])])] = 0.0
        return out


def _ended(generated: Any, eos: int) -> bool:
    return bool((generated == eos).any())


class LocalProvider(Provider):
    """Batched generation with a local causal LM (``modelhub.load_causal_lm``; never trained here)."""

    name = "local"
    free = True
    max_concurrency = 1
    default_model = modelhub.SMOLLM2
    Options = LocalOptions

    def __init__(self, model: str, options: ConfigModel | None = None) -> None:
        super().__init__(model, options)
        assert isinstance(self.options, LocalOptions)
        self.max_batch = self.options.batch_size

    def cache_model(self) -> str:
        assert isinstance(self.options, LocalOptions)
        return f"{self.model}@{self.options.dtype}"

    def complete(self, requests: list[Request]) -> list[Result]:
        import torch
        from transformers import LogitsProcessorList

        assert isinstance(self.options, LocalOptions)
        model, tok = modelhub.load_causal_lm(self.model, self.options.dtype)
        prompts = [
            tok.apply_chat_template(r.message_dicts(), tokenize=False, add_generation_prompt=True)
            for r in requests
        ]
        enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        prompt_len = enc["input_ids"].shape[1]
        eos = int(tok.eos_token_id)
        seeds = [request_seed(r, self.name, self.cache_model()) for r in requests]
        sampler = _RowSampler(requests, seeds, prompt_len, eos)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max(r.params.max_tokens for r in requests) + 1,
                do_sample=False,
                logits_processor=LogitsProcessorList([sampler]),
                pad_token_id=tok.pad_token_id,
                eos_token_id=eos,
            )
        results = []
        for i, r in enumerate(requests):
            gen = out[i, prompt_len:].tolist()
            natural_end = eos in gen and not sampler.cut[i]
            ids = gen[: gen.index(eos)] if eos in gen else gen
            ids = ids[: r.params.max_tokens]
            text = tok.decode(ids, skip_special_tokens=True)
            finish = "stop" if natural_end else "length"
            for s in r.params.stop or []:
                if s and s in text:
                    text, finish = text[: text.index(s)], "stop"
            results.append(
                Result(
                    text=text,
                    model_used=self.model,
                    prompt_tokens=int(enc["attention_mask"][i].sum()),
                    completion_tokens=len(ids) + (1 if natural_end else 0),
                    finish_reason=finish,
                    raw={"seed": seeds[i], "dtype": self.options.dtype},
                )
            )
        return results
