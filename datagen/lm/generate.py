"""Batched generation with per-row sampling: each row its own temperature, top-p, length and generator.

Prompts are LEFT-padded (every row's next token sits in the same column). Sampling is nucleus sampling done
per row with the row's own ``torch.Generator`` (seeded by the caller, e.g. from a request's cache key), so a
prompt gives the same text whichever batch it lands in, up to float rounding. ``generate`` then runs greedily
over scores in which the sampled token is the only candidate, which keeps transformers' KV cache and padding
handling. Temperature 0 is greedy; ``presence_penalty`` lowers the logits of tokens already in the answer, as
OpenAI defines it. A row that reaches its ``max_tokens`` is forced to end and finishes with
``finish_reason="length"``; a row whose text reaches one of its ``stop`` strings ends at the next step, and
its text is cut before the stop string (``"stop"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datagen import progress
from datagen.lm.batch import pad_batch, pad_id

if TYPE_CHECKING:
    from datagen.providers.base import SamplingParams

_TOPK = 64


@dataclass(frozen=True)
class Generation:
    """One row's answer: its tokens (EOS and what follows removed, at most ``max_tokens``) and text."""

    ids: list[int]
    text: str
    prompt_tokens: int
    completion_tokens: int  # the answer's tokens, plus the EOS when the model ended on its own
    finish_reason: str  # "stop" (EOS or a stop string) or "length" (ran into max_tokens)


class RowSampler:
    """A logits processor that picks each row's next token (temperature, top-p, presence penalty, own
    generator) and leaves only that token possible; rows past their own ``max_tokens``, or whose text so far
    holds one of their stop strings (``decode`` given), are forced to end."""

    def __init__(
        self,
        params: Sequence[SamplingParams],
        seeds: Sequence[int],
        prompt_len: int,
        eos: int,
        decode: Callable[[list[int]], str] | None = None,
    ) -> None:
        import torch

        self.torch = torch
        self.params = list(params)
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.prompt_len = prompt_len
        self.eos = eos
        self.decode = decode
        self.cut = [False] * len(self.params)  # ended by max_tokens (finish_reason "length")
        self.stopped = [False] * len(self.params)  # ended by a stop string

    def _penalize(self, input_ids: Any, scores: Any) -> Any:
        """Presence penalty: every token already in the row's answer loses ``presence_penalty`` logits (as
        OpenAI defines it); rows that reached a stop string end here."""
        for i, p in enumerate(self.params):
            answer = input_ids[i, self.prompt_len :].cpu()
            if p.presence_penalty and answer.numel():
                seen = self.torch.unique(answer)
                scores[i, seen] = scores[i, seen] - p.presence_penalty
            if p.stop and self.decode is not None and not self.stopped[i] and not (answer == self.eos).any():
                text = self.decode(answer.tolist())
                self.stopped[i] = any(s and s in text for s in p.stop)
        return scores

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self.torch
        device = scores.device
        scores = self._penalize(input_ids, scores.cpu())  # the generators live on the CPU; a no-op there
        step = input_ids.shape[1] - self.prompt_len
        temps = torch.tensor([max(p.temperature, 1e-6) for p in self.params]).unsqueeze(1)
        probs = torch.softmax(scores.float() / temps, dim=-1)
        # The nucleus almost always lies in the top few dozen tokens: look there first, sort all only if not.
        top_p, top_i = torch.topk(probs, k=min(_TOPK, probs.shape[-1]), dim=-1)
        out = torch.full_like(scores, float("-inf"))
        for i, p in enumerate(self.params):
            if self.stopped[i]:
                out[i, self.eos] = 0.0
                continue
            if step >= p.max_tokens:
                if not self.cut[i] and not bool((input_ids[i, self.prompt_len :] == self.eos).any()):
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
        return out.to(device)


def generate(
    model: Any,
    tok: Any,
    prompts: list[list[int]],
    params: Sequence[SamplingParams],
    seeds: Sequence[int] | None = None,
    batch_size: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[Generation]:
    """One ``Generation`` per prompt (token ids, e.g. from ``chat_ids``), in order; ``params[i]`` samples row i.

    ``seeds`` seed each row's generator (0 when omitted: fine for greedy rows); ``batch_size`` None generates
    all prompts together. ``should_stop`` is asked after every token: once it says True, generation ends at
    once and the answers are incomplete (the caller, told to stop, must not use them).
    """
    seeds = list(seeds) if seeds is not None else [0] * len(prompts)
    step = batch_size or max(len(prompts), 1)
    out: list[Generation] = []
    for b in range(0, len(prompts), step):
        if should_stop is not None and should_stop():
            break
        batch = (prompts[b : b + step], params[b : b + step], seeds[b : b + step])
        out += _generate_batch(model, tok, *batch, should_stop=should_stop)
        progress.note(decoding=None)
        progress.tick(len(batch[0]))  # the stage's meter being counted, if any
    return out


def _generate_batch(
    model: Any,
    tok: Any,
    prompts: list[list[int]],
    params: Sequence[SamplingParams],
    seeds: Sequence[int],
    should_stop: Callable[[], bool] | None = None,
) -> list[Generation]:
    import torch
    from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    longest = max(p.max_tokens for p in params) + 1
    prompt_len = max(len(p) for p in prompts)

    class Stop(StoppingCriteria):  # asked after every decoded token: also where the progress shows decoding
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            progress.note(decoding=f"{len(prompts)} rows, token {input_ids.shape[1] - prompt_len}/{longest}")
            stop = should_stop is not None and should_stop()
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    ids, mask = pad_batch(prompts, pad_id(tok), "left", model.device)
    eos = int(tok.eos_token_id)
    decode = lambda row: tok.decode(row, skip_special_tokens=True)  # noqa: E731
    sampler = RowSampler(params, seeds, prompt_len, eos, decode)
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=longest,
            do_sample=False,
            logits_processor=LogitsProcessorList([sampler]),
            stopping_criteria=StoppingCriteriaList([Stop()]),
            pad_token_id=pad_id(tok),
            eos_token_id=eos,
        )
    results = []
    for i, (prompt, p) in enumerate(zip(prompts, params, strict=True)):
        gen = out[i, prompt_len:].tolist()
        natural_end = eos in gen and not sampler.cut[i]
        gen_ids = (gen[: gen.index(eos)] if eos in gen else gen)[: p.max_tokens]
        text = tok.decode(gen_ids, skip_special_tokens=True)
        finish = "stop" if natural_end else "length"
        for s in p.stop or []:
            if s and s in text:
                text, finish = text[: text.index(s)], "stop"
        results.append(
            Generation(gen_ids, text, len(prompt), len(gen_ids) + (1 if natural_end else 0), finish)
        )
    return results
