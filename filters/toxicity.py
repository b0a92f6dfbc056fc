"""Toxicity: a linear classifier shipped in a package by default, Detoxify from a local checkpoint, a word list last.

Every backend scores the record's whole text (``RecordView.text``): every turn of a multi-turn conversation, the
user's and the system's included, so toxicity anywhere in the conversation counts.

Backends (``settings.toxicity.backend``; ``auto`` picks the first that applies, in this order):

* ``detoxify`` — Detoxify's real class on a local ``.ckpt`` (``checkpoint``) whose
  ``config.arch.args.model_type`` is a local directory holding the transformers config and tokenizer
  (Detoxify's own download cannot work offline). The score is the maximum over ``labels``
  of its sigmoid outputs; default threshold 0.5.
* ``profanity_check`` — ``alt-profanity-check`` (MIT): a TF-IDF + calibrated linear SVM trained on labelled
  toxic comments, shipped inside the wheel (no download). It needs scikit-learn and joblib at exactly the
  versions it pins (pyproject.toml, scripts/constraints-cpu.txt). A record is split into sentences and its
  score is the highest sentence's probability: scored whole, a long clean answer dilutes one abusive
  sentence (0.99 alone, 0.19 after a one-sentence answer), and abuse appended to a clean answer was found
  17% of the time instead of 50% at the same threshold. The price: a short sentence has few other words, so
  one loaded word weighs more ("Find the PID with lsof -i :8080, then run kill followed by that PID." scores
  0.91 and fails; a test keeps it as a known false positive).
* ``wordlist`` — the last resort when neither is importable (the run says so): in the spirit of C4's "bad
  words" filter, a record containing a listed term (whole word, case-insensitive; ``*`` = prefix) scores 1.0.
  Deliberately short (explicit profanity, sexual terms, direct threats) so it flags little that is harmless.

**The profanity_check threshold, 0.3**, was chosen on ``tests/data/toxicity_labelled.jsonl`` (80 short texts
written for this project: 40 toxic — profane insults, insults without swear words, threats, harassment,
polite-but-abusive phrasing; 40 clean — including "kill the process", "shoot a photo", "Moby Dick",
criticism) as the lowest threshold on a 0.05 grid that flags at most 1 in 1,000 of 2,000 realistic clean
synthetic records (``bench/filter_texts.realistic_records``, no gibberish; 0.25 flags 0.3%, 0.2 flags
0.65%). On the labelled set at 0.3: **precision 0.87, recall 0.50** (20 of 40 toxic; 3 false positives:
"Moby Dick", "Stupid mistakes like off-by-one errors", "a bastard file"); at 0.5 precision 0.85, recall
0.42 (F1 peaks on the set at 0.15, 0.68, where 23% of clean records fail). The word list: precision 0.88, recall 0.175 (7 of 40). By
category at 0.3 profanity_check catches 8/8 profane insults, 7/8 insults without swear words, 3/8
harassment, 2/8 threats and 0/8 polite abuse: a bag of words does not see "the world would be a better
place if you had never been born" as abuse. The set is small and the threshold was chosen with it, so
these numbers are optimistic; they are what ``bench/bench_toxicity.py`` and the tests measure, not a
general accuracy.

Every verdict's ``backend`` names what scored it (``profanity_check:alt-profanity-check 1.9.1``,
``detoxify:NAME.ckpt``, ``wordlist:v1``) and the details carry the threshold used.
"""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from datagen.endpoint import Device
from datagen.errors import InputError
from datagen.lm import resolve_device, usage
from filters.base import Filter, FilterScore, FilterSettings, RecordView, require

WORDLIST_VERSION = "1"
WORDLIST = (
    "fuck*", "motherfuck*", "shit", "shits", "shitty", "bullshit", "cunt*", "bitch*", "bastard*", "asshole*",
    "dickhead*", "wanker*", "twat*", "prick", "pricks", "slut*", "whore*", "cock", "cocks", "pussy",
    "porn*", "blowjob*", "handjob*", "dildo*", "rape", "raped", "rapist*", "nigger*", "faggot*", "retard",
    "retards", "kill yourself", "kys", "i will kill you", "i'll kill you", "shoot you", "behead*",
)  # fmt: skip
_WORD_RE = re.compile(
    r"\b("
    + "|".join(re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else r"\b") for w in WORDLIST)
    + r")",
    re.IGNORECASE,
)
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
Backend = Literal["detoxify", "profanity_check", "wordlist"]
# Calibrated defaults, see the module docstring (wordlist scores are 0 or 1).
THRESHOLDS: dict[str, float] = {"detoxify": 0.5, "profanity_check": 0.3, "wordlist": 0.5}
PROFANITY_PIP = "alt-profanity-check"
_DETOXIFY: dict[tuple[str, str | None, str], Any] = {}


class ToxicitySettings(FilterSettings):
    backend: Literal["auto", "profanity_check", "detoxify", "wordlist"] = Field(
        default="auto",
        description="auto: detoxify when a checkpoint is set, else profanity_check, else the word list",
    )
    checkpoint: str | None = Field(
        default=None, description="local Detoxify .ckpt (its model_type a local folder); selects detoxify"
    )
    huggingface_config_path: str | None = Field(
        default=None, description="local transformers config/tokenizer folder passed to Detoxify"
    )
    labels: list[str] = Field(
        default_factory=lambda: list(LABELS), description="Detoxify labels whose maximum is the score"
    )
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="fail above this score; empty: the backend's calibrated default "
        "(profanity_check 0.3, detoxify 0.5)",
    )
    batch_size: int = Field(default=32, ge=1, description="texts per Detoxify forward pass")
    device: Device = Field(
        default="auto",
        description="Detoxify's device: auto (CUDA, else MPS, else CPU), cpu, cuda:N or mps; "
        "profanity_check and the word list always run on the CPU",
    )


def wordlist_hits(text: str) -> list[str]:
    return sorted({m.group(1).lower() for m in _WORD_RE.finditer(text)})


def sentences(text: str) -> list[str]:
    """Split on sentence-ending punctuation followed by space, and on newlines; never empty."""
    parts = [s for s in _SENTENCE_RE.split(text) if s.strip()]
    return parts or [text]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def resolve_backend(settings: ToxicitySettings) -> Backend:
    """The backend ``auto`` stands for here; an explicit choice is returned as it is."""
    if settings.backend != "auto":
        return settings.backend
    if settings.checkpoint:
        return "detoxify"
    return "profanity_check" if _installed("profanity_check") else "wordlist"


def profanity_probs(texts: list[str]) -> list[float]:
    """alt-profanity-check's probability per text (imported here: loading its model takes about 1.5 s)."""
    from profanity_check import predict_prob

    usage.note(PROFANITY_PIP, "cpu", "float64")  # scikit-learn: the CPU only
    return [float(p) for p in predict_prob(texts)] if texts else []


def load_detoxify(checkpoint: str, config_path: str | None, device: str = "auto") -> Any:
    """Detoxify on a local checkpoint, on ``device`` (float32), cached per process."""
    where = resolve_device(device)
    usage.note(f"detoxify:{Path(checkpoint).name}", where, "float32")
    key = (checkpoint, config_path, where)
    if key not in _DETOXIFY:
        import torch
        from detoxify import Detoxify

        ckpt = Path(checkpoint)
        if not ckpt.is_file():
            raise InputError(f"toxicity: checkpoint {checkpoint} does not exist")
        meta = torch.load(ckpt, map_location="cpu", weights_only=False).get("config", {})
        model_type = meta.get("arch", {}).get("args", {}).get("model_type", "")
        if config_path is None and not Path(model_type).is_dir():
            raise InputError(
                f"toxicity: checkpoint {checkpoint} names model_type {model_type!r}, which is not a local folder; "
                "offline, it must be a directory with the transformers config and tokenizer"
            )
        _DETOXIFY[key] = Detoxify(checkpoint=str(ckpt), device=where, huggingface_config_path=config_path)
    return _DETOXIFY[key]


class ToxicityFilter(Filter):
    """Fails records whose toxicity score is above the backend's threshold, with reason ``toxic``."""

    name = "toxicity"
    version = "2"  # 2: profanity_check became the default backend
    cost = 30
    Settings = ToxicitySettings
    settings: ToxicitySettings
    fail_reason = "toxic"

    def __init__(self, settings: ToxicitySettings | None = None) -> None:
        super().__init__(settings)
        self.kind: Backend = resolve_backend(self.settings)
        if self.kind == "detoxify":
            if not self.settings.checkpoint:
                raise InputError(
                    "toxicity: backend detoxify needs settings.toxicity.checkpoint (a local .ckpt); "
                    "Detoxify cannot download its checkpoints offline"
                )
            require("detoxify", "detoxify", "the toxicity filter with a Detoxify checkpoint")
        if self.kind == "profanity_check":
            require("profanity_check", PROFANITY_PIP, "the toxicity filter's profanity_check backend")
        unknown = sorted(set(self.settings.labels) - set(LABELS))
        if unknown:
            raise InputError(f"toxicity: unknown labels {unknown}; choose from {LABELS}")

    @property
    def backend(self) -> str:
        if self.kind == "detoxify":
            return f"detoxify:{Path(self.settings.checkpoint or '').name}"
        if self.kind == "profanity_check":
            return f"profanity_check:{PROFANITY_PIP} {version(PROFANITY_PIP)}"
        return f"wordlist:v{WORDLIST_VERSION}"

    def threshold(self) -> float:
        t = self.settings.threshold
        return THRESHOLDS[self.kind] if t is None else t

    def prepare(self, store: Any) -> list[str]:
        notes = []
        if self.settings.checkpoint and self.kind != "detoxify":
            notes.append(f"toxicity: checkpoint ignored, backend is {self.kind} (settings.toxicity.backend)")
        if self.kind == "detoxify":
            load_detoxify(
                self.settings.checkpoint or "", self.settings.huggingface_config_path, self.settings.device
            )
        elif self.kind == "profanity_check":
            profanity_probs(["warm up"])
        elif self.settings.backend == "auto":
            notes.append(
                "toxicity: no Detoxify checkpoint configured (settings.toxicity.checkpoint) and "
                f"{PROFANITY_PIP} is not installed (`pip install {PROFANITY_PIP}`); using the word-list "
                f"fallback wordlist:v{WORDLIST_VERSION} ({len(WORDLIST)} terms, see filters/toxicity.py), "
                "which misses anything phrased without them"
            )
        return notes

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        texts = [r.text() for r in records]
        if self.kind == "profanity_check":
            return self._score_sentences(texts)
        if self.kind == "wordlist":
            out = []
            for t in texts:
                hits = wordlist_hits(t)
                out.append(
                    FilterScore(1.0 if hits else 0.0, {"label": "toxicity", "words": hits} if hits else {})
                )
            return out
        return self._score_detoxify(texts)

    def _score_sentences(self, texts: list[str]) -> list[FilterScore]:
        """Each record's highest-scoring sentence; the details quote it (cut to 200 characters)."""
        parts: list[str] = []
        owner: list[int] = []
        for i, t in enumerate(texts):
            for s in sentences(t):
                parts.append(s)
                owner.append(i)
        best: list[tuple[float, str]] = [(0.0, "")] * len(texts)
        for i, s, p in zip(owner, parts, profanity_probs(parts), strict=True):
            if p > best[i][0]:
                best[i] = (p, s)
        return [FilterScore(p, {"label": "profanity", "sentence": s[:200]}) for p, s in best]

    def _score_detoxify(self, texts: list[str]) -> list[FilterScore]:
        st = self.settings
        model = load_detoxify(st.checkpoint or "", st.huggingface_config_path, st.device)
        labels = [lab for lab in self.settings.labels if lab in model.class_names]
        scores: list[FilterScore] = []
        for b in range(0, len(texts), self.settings.batch_size):
            chunk = texts[b : b + self.settings.batch_size]
            pred = model.predict(chunk)
            for i in range(len(chunk)):
                per = {lab: float(pred[lab][i] if len(chunk) > 1 else pred[lab]) for lab in labels}
                top = max(per, key=lambda k: per[k])
                scores.append(
                    FilterScore(per[top], {"label": top, "labels": {k: round(v, 4) for k, v in per.items()}})
                )
        return scores
