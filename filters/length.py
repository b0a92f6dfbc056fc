"""Length in tokens of the target model's tokenizer (default SmolLM2): whole example 20–2048, per field too.

Reasons: ``too_short`` / ``too_long`` for the whole example (instruction, input and output joined as
``RecordView.text``: every turn of a conversation), ``<field>_too_short`` / ``<field>_too_long`` for a per-field
bound (``fields: {output: [1, null]}``; of a conversation, ``instruction`` is its first user turn and ``output``
its last answer). The score is the whole example's token count.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field

from datagen import lm, modelhub
from datagen.errors import InputError
from filters.base import Filter, FilterScore, FilterSettings, RecordView

FIELDS = ("instruction", "input", "output")


class LengthSettings(FilterSettings):
    model: str = modelhub.SMOLLM2
    min_tokens: int | None = 20
    max_tokens: int | None = 2048
    fields: dict[str, tuple[int | None, int | None]] = Field(default_factory=dict)


@cache
def load_tokenizer(name: str) -> Any:
    """The model's tokenizer, loaded once per process (``datagen.lm`` loads it)."""
    return lm.load_tokenizer(name)


def _bounds(n: int, lo: int | None, hi: int | None, prefix: str) -> str | None:
    if lo is not None and n < lo:
        return f"{prefix}too_short"
    if hi is not None and n > hi:
        return f"{prefix}too_long"
    return None


class LengthFilter(Filter):
    name = "length"
    version = "1"
    cost = 20
    Settings = LengthSettings
    settings: LengthSettings

    def __init__(self, settings: LengthSettings | None = None) -> None:
        super().__init__(settings)
        bad = sorted(set(self.settings.fields) - set(FIELDS))
        if bad:
            raise InputError(f"length filter: unknown fields {bad}; use {list(FIELDS)}")

    @property
    def backend(self) -> str:
        return f"tokenizer:{self.settings.model}"

    @classmethod
    def pass_rule(cls, settings: dict[str, Any], details: dict[str, Any]) -> str | None:
        """The score is the whole example's token count: it passes within ``min_tokens``..``max_tokens``."""
        default = LengthSettings()
        lo = settings.get("min_tokens", default.min_tokens)
        hi = settings.get("max_tokens", default.max_tokens)
        if lo is None and hi is None:
            return None
        return f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"{lo}..{hi}"

    def prepare(self, store: Any) -> list[str]:
        load_tokenizer(self.settings.model)
        return []

    def _count(self, texts: list[str]) -> list[int]:
        tok = load_tokenizer(self.settings.model)
        return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]

    def score(self, records: list[RecordView]) -> list[FilterScore]:
        st = self.settings
        totals = self._count([r.text() for r in records])
        per_field = {f: self._count([getattr(r, f) for r in records]) for f in st.fields}
        out = []
        for i, total in enumerate(totals):
            details: dict[str, Any] = {"tokens": total, **{f"{f}_tokens": per_field[f][i] for f in st.fields}}
            reason = _bounds(total, st.min_tokens, st.max_tokens, "")
            for f, (lo, hi) in st.fields.items():
                reason = reason or _bounds(per_field[f][i], lo, hi, f"{f}_")
            out.append(FilterScore(float(total), details, reason))
        return out
