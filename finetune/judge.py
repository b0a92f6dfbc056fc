"""Pairwise judges: which of two answers follows the instruction better, as "A" or "B".

* ``LocalJudge``: a local causal LM (SmolLM2 by default) reads ``prompts/score/pairwise.j2`` as a user turn
  and the pick is whichever of the tokens "A" and "B" is more probable as the first answer token (no
  sampling, no parsing; the probabilities are kept; ``datagen.lm.next_token_probs``).
* ``ProviderJudge``: any provider from ``datagen.providers`` (OpenAI, Anthropic, OpenAI-compatible), asked
  for one letter at temperature 0 through the executor (request cache, retries, rate limits, budget); an
  answer that is neither letter counts as no pick (a tie downstream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from datagen import lm, prompts
from datagen.endpoint import ModelEndpoint
from datagen.errors import InputError

TEMPLATE = "score/pairwise"


@dataclass(frozen=True)
class Pick:
    choice: str | None  # "A", "B" or None
    p_a: float | None = None
    p_b: float | None = None
    raw: str | None = None


class Judge(Protocol):
    name: str

    def pick(self, items: list[tuple[str, str, str]]) -> list[Pick]:
        """(instruction, answer_a, answer_b) -> one pick per item."""
        ...


def render(instruction: str, answer_a: str, answer_b: str) -> str:
    return prompts.render(TEMPLATE, instruction=instruction, answer_a=answer_a, answer_b=answer_b)


class LocalJudge:
    def __init__(self, model: Any, tok: Any, name: str, batch_size: int = 8) -> None:
        self.model, self.tok, self.name, self.batch_size = model, tok, name, batch_size
        ids = [tok.encode(x, add_special_tokens=False) for x in ("A", "B")]
        if any(len(i) != 1 for i in ids) or ids[0] == ids[1]:
            raise InputError(f"judge {name!r}: 'A' and 'B' must each be one distinct token, got {ids}")
        self.a_id, self.b_id = ids[0][0], ids[1][0]

    def pick(self, items: list[tuple[str, str, str]]) -> list[Pick]:
        seqs = [lm.chat_ids(self.tok, [{"role": "user", "content": render(*it)}]) for it in items]
        probs = lm.next_token_probs(
            self.model, seqs, lm.pad_id(self.tok), [self.a_id, self.b_id], self.batch_size
        )
        return [Pick("A" if pa >= pb else "B", pa, pb) for pa, pb in probs]


class ProviderJudge:
    def __init__(self, executor: Any, name: str) -> None:
        self.executor, self.name = executor, name

    def pick(self, items: list[tuple[str, str, str]]) -> list[Pick]:
        from datagen.providers.base import Request, SamplingParams

        params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=2)
        reqs = [Request.of([{"role": "user", "content": render(*it)}], params) for it in items]
        out: list[Pick] = []
        for res in self.executor.run(reqs):
            letter = res.text.strip()[:1].upper()
            out.append(Pick(letter if letter in ("A", "B") else None, raw=res.text))
        return out


def check_judge(cfg: Any) -> None:
    """Refuse a judge that cannot work before any scoring: its provider's key, options and model, or the local
    model's folder."""
    from datagen.providers.registry import make_provider

    judge: ModelEndpoint = cfg.judge
    make_provider(judge)
    if judge.is_local:
        from datagen import modelhub

        modelhub.check_model(judge.local_model(), "judge")


def make_judge(cfg: Any, store: Any = None, run: Any = None) -> Judge:
    """A local judge when ``cfg.judge.provider`` is ``local`` (its own dtype and device, ``cfg.batch_size``
    per forward), else a provider judge through the executor."""
    judge: ModelEndpoint = cfg.judge
    if judge.is_local:
        m, tok = lm.load_causal_lm(judge.local_model(), judge.dtype, judge.device)
        return LocalJudge(m, tok, judge.local_model(), cfg.batch_size)
    from datagen.providers.executor import Executor
    from datagen.providers.registry import make_provider

    provider = make_provider(judge)
    return ProviderJudge(Executor(store, provider, judge.exec, run), f"{judge.provider}:{provider.model}")
