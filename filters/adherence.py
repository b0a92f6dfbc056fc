"""Task adherence: does the output do what the instruction asks? A judge with the rubric in prompts/.

The record is put between markers that carry a per-record code (a hash of the record, so prompts are
reproducible and cached, yet a record cannot know its own code), the template says text between markers
is data, and marker look-alikes inside the record are defused. Three signals, all stored in the details:

* ``p_yes``: local judge (default SmolLM2): P(yes) / (P(yes) + P(no)) from the next-token probabilities
  after the rubric question, contextually calibrated (Zhao et al. 2021, "Calibrate before use"): divided
  by the same probabilities for a content-free record, so the judge's prior lean to one answer cancels.
* ``relevance``: how much the instruction helps the model predict the output, the log of Li et al.'s
  (2023, "From Quantity to Quality") instruction-following difficulty: ``pmi`` = log ppl(output alone)
  − log ppl(output | instruction) per token, squashed to ``sigmoid(4 · pmi)``. Off-task text gains nothing
  from the instruction. For a 135M judge this is the signal that carries the decision (measured in
  BENCHMARKS.md: SmolLM2's calibrated P(yes) barely moves between on- and off-task answers).
A multi-turn conversation is judged on its last answer, with every turn before it (role-headed) as the
instruction (``judged`` in the details); the injection guard reads every turn.

* injection guard: a record that addresses the grader ("ignore previous instructions", "answer yes")
  fails with ``prompt_injection`` whatever the model says.

Local score = ``judge_weight`` · p_yes + (1 − ``judge_weight``) · relevance, below ``threshold`` → ``off_task``
(both signals come from ``datagen.lm``: ``next_token_probs`` and ``token_nll``).
With ``judge.provider`` an API provider, the judge answers JSON ``{"verdict", "score", "rationale"}`` through
the provider registry and executor (cached, retried, budgeted); score = its score, rationale stored;
an unparseable answer fails with ``judge_unparseable`` and the raw text is kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from pydantic import Field, field_validator

from datagen import lm, prompts
from datagen.endpoint import ModelEndpoint, local_endpoint
from filters.base import Filter, FilterScore, FilterSettings, RecordView
from filters.perplexity import encode_example

TEMPLATE = "filters/adherence"
YES, NO = ("yes", "Yes", " yes", " Yes", "YES"), ("no", "No", " no", " No", "NO")
INJECTION = re.compile(
    r"(ignore|disregard|forget|override)\W+(\w+\W+){0,3}(previous|prior|above|earlier|preceding|all|your)\W+"
    r"(\w+\W+){0,2}(instructions?|prompts?|rules|directions|guidelines)"
    r"|\b(answer|respond|reply|say|output|return|grade)\W+(with\W+|it\W+)?[\"'“]?(yes|pass|true|10/10)\b"
    r"|\b(grader|judge|evaluator|grading model)\b\s*[:,]"
    r"|\bsystem prompt\b|\bnew instructions?\s*:",
    re.IGNORECASE,
)


class AdherenceSettings(FilterSettings):
    judge: ModelEndpoint = Field(
        default_factory=ModelEndpoint,
        description="the judge: local (default SmolLM2: next-token P(yes) and relevance) or an API provider "
        "(a JSON verdict through the executor); a plain string is a local model",
    )
    threshold: float = Field(default=0.45, description="fail below this score")
    judge_weight: float = Field(
        default=0.5, ge=0, le=1, description="local judge: weight of calibrated P(yes) against relevance"
    )
    injection_guard: bool = Field(
        default=True, description="fail records that address the grader (prompt_injection)"
    )
    max_length: int = Field(
        default=768, ge=16, description="local judge: tokens per prompt (cut from the left)"
    )
    batch_size: int = Field(
        default=0, ge=0, description="local judge: records per forward; 0: 8 on the CPU, 64 on CUDA or MPS"
    )
    max_tokens: int = Field(default=200, gt=0, description="API judge: longest answer, in tokens")

    @field_validator("judge", mode="before")
    @classmethod
    def _model_name_is_local(cls, v: Any) -> Any:
        return local_endpoint(v)


def record_tag(r: RecordView) -> str:
    return hashlib.sha256(f"{r.id}\x1f{r.instruction}\x1f{r.input}\x1f{r.output}".encode()).hexdigest()[:10]


def defuse(text: str) -> str:
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


def render(r: RecordView, structured: bool) -> str:
    return prompts.load(TEMPLATE).render(
        instruction=defuse(r.instruction),
        input=defuse(r.input),
        output=defuse(r.output),
        tag=record_tag(r),
        structured=structured,
    )


def parse_structured(text: str) -> tuple[float, str] | None:
    """(score, rationale) from the judge's JSON answer, or None when it cannot be read."""
    m = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        data = json.loads(m.group(0)) if m else None
        score = float(data["score"]) if data and "score" in data else None
    except (ValueError, TypeError, KeyError):
        return None
    if data is None or score is None or not math.isfinite(score):
        return None  # a verdict without a score is not enough: the score is the decision
    return min(1.0, max(0.0, score)), str(data.get("rationale", ""))


class AdherenceFilter(Filter):
    name = "adherence"
    version = "1"
    cost = 60
    higher_is_worse = False
    fail_reason = "off_task"
    Settings = AdherenceSettings
    settings: AdherenceSettings

    def __init__(self, settings: AdherenceSettings | None = None) -> None:
        super().__init__(settings)
        self.store: Any = None
        self.prior: tuple[float, float] | None = None

    @property
    def backend(self) -> str:
        j = self.settings.judge
        if not j.is_local:
            return f"{j.provider}:{j.model}"
        return f"local:{j.local_model()}/{lm.dtype_used(j.dtype, j.device)}"  # the dtype it computes in

    @property
    def portable(self) -> bool:
        return self.settings.judge.is_local  # an API judge answers through the executor's cache (a database)

    def prepare(self, store: Any) -> list[str]:
        from datagen.providers.registry import make_provider

        self.store = store
        make_provider(self.settings.judge)  # options, key and model checked before any record is scored
        if not self.settings.judge.is_local:
            return []
        content_free = RecordView(0, "N/A", "", "N/A")
        self.prior = self._yes_no([content_free])[0]
        return []

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        views = [
            r.final_exchange() for r in records
        ]  # a conversation: its last answer given the turns before
        hits = [self._injection(r) if self.settings.injection_guard else None for r in views]
        todo = [r for r, hit in zip(views, hits, strict=True) if hit is None]
        scored = iter(self._local(todo) if self.settings.judge.is_local else self._api(todo))
        out = [
            next(scored)
            if hit is None
            else FilterScore(
                0.0, {"injection": hit, "rationale": "the record addresses the grader"}, "prompt_injection"
            )
            for hit in hits
        ]
        for r, v, sc in zip(records, views, out, strict=True):
            if v is not r:
                sc.details["judged"] = "last_answer_given_conversation"
        return out

    @staticmethod
    def _injection(r: RecordView) -> str | None:
        m = INJECTION.search(f"{r.instruction}\n{r.input}\n{r.output}")
        return m.group(0) if m else None

    def _model(self) -> tuple[Any, Any]:
        j = self.settings.judge
        return lm.load_causal_lm(j.local_model(), j.dtype, j.device)

    def _batch(self, model: Any) -> int:
        return lm.batch_for(self.settings.batch_size, model.device.type, 8)

    def _yes_no(self, records: list[RecordView]) -> list[tuple[float, float]]:
        """(P(yes), P(no)) of the next token after the rubric question, per record."""
        st = self.settings
        model, tok = self._model()
        yes = sorted({i[0] for w in YES if len(i := tok(w, add_special_tokens=False)["input_ids"]) == 1})
        no = sorted({i[0] for w in NO if len(i := tok(w, add_special_tokens=False)["input_ids"]) == 1})
        seqs = [
            lm.chat_ids(tok, [{"role": "user", "content": render(r, False)}])[-st.max_length :]
            for r in records
        ]
        probs = lm.next_token_probs(model, seqs, lm.pad_id(tok), yes + no, self._batch(model))
        return [(sum(p[: len(yes)]), sum(p[len(yes) :])) for p in probs]

    def _local(self, records: list[RecordView]) -> list[FilterScore]:
        if not records:
            return []
        st = self.settings
        model, tok = self._model()
        assert self.prior is not None, "prepare() first"
        py0, pn0 = self.prior
        cond = [encode_example(tok, r, "answer", st.max_length)[:2] for r in records]
        bare = [
            encode_example(tok, RecordView(r.id, "", "", r.output), "answer", st.max_length)[:2]
            for r in records
        ]
        nc = lm.token_nll(model, cond, lm.pad_id(tok), self._batch(model))
        nu = lm.token_nll(model, bare, lm.pad_id(tok), self._batch(model))
        out = []
        for (py, pn), (sc, kc), (su, ku) in zip(self._yes_no(records), nc, nu, strict=True):
            a, b = py / max(py0, 1e-9), pn / max(pn0, 1e-9)
            p_yes = a / (a + b) if a + b > 0 else 0.5
            pmi = (
                su / ku - sc / kc if kc and ku else 0.0
            )  # log ppl(output alone) - log ppl(output | instruction)
            relevance = 1 / (1 + math.exp(-4 * pmi))
            value = st.judge_weight * p_yes + (1 - st.judge_weight) * relevance
            details = {
                "p_yes": round(p_yes, 4),
                "p_yes_raw": round(py / (py + pn), 4) if py + pn > 0 else None,
                "relevance": round(relevance, 4),
                "pmi": round(pmi, 4),
                "rationale": f"calibrated P(yes)={p_yes:.2f}; the instruction changes the output's per-token "
                f"log-perplexity by {pmi:+.2f} (relevance {relevance:.2f})",
            }
            out.append(FilterScore(value, details))
        return out

    def _api(self, records: list[RecordView]) -> list[FilterScore]:
        if not records:
            return []
        from datagen.providers.base import Request, SamplingParams
        from datagen.providers.executor import Executor
        from datagen.providers.registry import make_provider

        st = self.settings
        provider = make_provider(st.judge)
        params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=st.max_tokens, seed=0)
        reqs = [Request.of([{"role": "user", "content": render(r, True)}], params) for r in records]
        results = Executor(self.store, provider, st.judge.exec).run(reqs, progress=False)
        out = []
        for res in results:
            parsed = parse_structured(res.text)
            if parsed is None:
                out.append(FilterScore(None, {"raw": res.text[:2000]}, "judge_unparseable"))
            else:
                out.append(FilterScore(parsed[0], {"rationale": parsed[1], "model_used": res.model_used}))
        return out
