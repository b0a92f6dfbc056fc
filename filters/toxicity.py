"""Toxicity: Detoxify (its real class) from a local checkpoint, or a documented word-list fallback.

Detoxify downloads its checkpoints by default, which cannot work offline. Set ``checkpoint`` to a local
Detoxify ``.ckpt`` whose ``config.arch.args.model_type`` is a local directory holding the transformers
config and tokenizer (see OFFLINE-STACK.md); ``huggingface_config_path`` is passed through when set. The
score is the maximum over the configured ``labels`` of Detoxify's sigmoid outputs; above ``threshold``
(0.5) the record fails with reason ``toxic`` and the details name the label.

Without a checkpoint the filter says so when the run starts and uses the word list below, in the spirit of
C4's "bad words" filter (C4 drops any page containing a word of the LDNOOBW list): a record containing a
listed term (whole word, case-insensitive; a term ending in ``*`` matches as a prefix) scores 1.0, else 0.0.
The list is deliberately short — explicit profanity, sexual terms and direct threats — so that it
flags little that is harmless; it is a safety net, not a classifier, and misses anything phrased politely.
Every verdict's ``backend`` says which of the two scored it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field

from datagen.errors import InputError
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
LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
_DETOXIFY: dict[tuple[str, str | None], Any] = {}


class ToxicitySettings(FilterSettings):
    checkpoint: str | None = None
    huggingface_config_path: str | None = None
    labels: list[str] = Field(default_factory=lambda: list(LABELS))
    threshold: float = 0.5
    batch_size: int = 32


def wordlist_hits(text: str) -> list[str]:
    return sorted({m.group(1).lower() for m in _WORD_RE.finditer(text)})


def load_detoxify(checkpoint: str, config_path: str | None) -> Any:
    key = (checkpoint, config_path)
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
                "offline, it must be a directory with the transformers config and tokenizer (OFFLINE-STACK.md)"
            )
        _DETOXIFY[key] = Detoxify(checkpoint=str(ckpt), device="cpu", huggingface_config_path=config_path)
    return _DETOXIFY[key]


class ToxicityFilter(Filter):
    name = "toxicity"
    version = "1"
    cost = 30
    Settings = ToxicitySettings
    settings: ToxicitySettings
    fail_reason = "toxic"

    def __init__(self, settings: ToxicitySettings | None = None) -> None:
        super().__init__(settings)
        if self.settings.checkpoint:
            require("detoxify", "detoxify", "the toxicity filter with a Detoxify checkpoint")
        unknown = sorted(set(self.settings.labels) - set(LABELS))
        if unknown:
            raise InputError(f"toxicity: unknown labels {unknown}; choose from {LABELS}")

    @property
    def backend(self) -> str:
        if self.settings.checkpoint:
            return f"detoxify:{Path(self.settings.checkpoint).name}"
        return f"wordlist:v{WORDLIST_VERSION}"

    def prepare(self, store: Any) -> list[str]:
        if self.settings.checkpoint:
            load_detoxify(self.settings.checkpoint, self.settings.huggingface_config_path)
            return []
        return [
            "toxicity: no Detoxify checkpoint configured (settings.toxicity.checkpoint); using the "
            f"word-list fallback wordlist:v{WORDLIST_VERSION} ({len(WORDLIST)} terms, see filters/toxicity.py)"
        ]

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        if not self.settings.checkpoint:
            out = []
            for r in records:
                hits = wordlist_hits(r.text())
                out.append(
                    FilterScore(1.0 if hits else 0.0, {"label": "toxicity", "words": hits} if hits else {})
                )
            return out
        model = load_detoxify(self.settings.checkpoint, self.settings.huggingface_config_path)
        texts = [r.text() for r in records]
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
