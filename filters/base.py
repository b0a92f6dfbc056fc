"""The filter interface: a named, versioned scorer whose scores become passed/failed with a reason.

A filter scores a batch of read-only record views (``score``) and turns each score into a decision
(``decide``): passed, a stable snake_case reason (``"ok"`` when passed) and JSON details. A filter never edits
the records it judges and never opens a session; the chain stores its decisions as verdicts and moves
statuses. A filter that judges records against the rest of the corpus (dedup) says so with ``corpus()``: the
chain then runs that ``Corpus`` around the filter's batches (reads before, rows to store, what was kept).

``cost`` ranks filters: the chain runs the cheapest first so that, under the default all-must-pass policy,
the expensive model-based filters only see records that survived the cheap ones.

Optional dependencies fail at construction with the exact ``pip install`` command (``require``).
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from datagen.config import ConfigModel
from datagen.conversation import is_multi_turn, prompt_text, transcript
from datagen.errors import InputError
from datagen.store.engine import Store
from datagen.textnorm import join_fields


@dataclass(frozen=True)
class RecordView:
    """The immutable part of a record a filter may read (filters never see the ORM object).

    A conversation (``messages``) is judged whole where a filter reads ``prompt()`` (every user turn),
    ``text()`` (every turn) or ``answers()`` (every assistant turn); ``instruction`` is its first user turn and
    ``output`` its last answer, and ``final_exchange()`` is its last answer with the conversation before it.
    """

    id: int
    instruction: str
    input: str = ""
    output: str = ""
    method: str = ""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    messages: list[dict[str, str]] | None = field(default=None, hash=False, compare=False)

    def prompt(self) -> str:
        """The prompt side: instruction, then input (when present); of a conversation, every user turn."""
        return prompt_text(self.instruction, self.input, self.messages)

    def text(self) -> str:
        """The whole example as one text: instruction, input (when present), output; of a conversation, every
        turn (the system turn included)."""
        if self.messages:
            return join_fields(*(t["content"] for t in self.messages))
        return join_fields(self.instruction, self.input, self.output)

    def answers(self) -> list[str]:
        """Every assistant turn (the output of a single-turn record)."""
        if self.messages:
            return [t["content"] for t in self.messages if t["role"] == "assistant"]
        return [self.output]

    def final_exchange(self) -> RecordView:
        """A conversation as one single-turn view: the turns before its last answer as the instruction (each
        headed by its role), the last answer as the output. A single-turn record is itself."""
        if not is_multi_turn(self.messages) or not self.messages:
            return self
        before = self.messages[: max(k for k, t in enumerate(self.messages) if t["role"] == "assistant")]
        return RecordView(self.id, transcript(before), "", self.output, self.method, self.meta)


@dataclass
class FilterScore:
    """One filter's measurement of one record; ``reason`` set means a rule failed regardless of ``value``."""

    value: float | None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class FilterDecision:
    passed: bool
    reason: str
    details: dict[str, Any]


class Corpus(ABC):
    """Corpus-level state a filter judges records against (dedup: the kept records' vectors), run by the chain.

    ``load`` once before the first batch; ``fetch`` before the filter scores a batch (reads only, in a session
    the chain opened); ``write`` inside the batch's transaction, with its verdicts (e.g. new embeddings); ``keep``
    after the batch committed, with the ids of the records that became candidates. The filter only reads it.
    """

    @abstractmethod
    def load(self, store: Store) -> None:
        """Read (and complete) what the corpus holds before the first batch."""

    def fetch(self, s: Session, records: list[RecordView]) -> None:
        """Read what scoring ``records`` needs from the database."""
        return None

    def write(self, s: Session) -> None:
        """Rows to store with the batch just scored."""
        return None

    def keep(self, ids: list[int]) -> None:
        """The batch committed; ``ids`` were kept (they now belong to the corpus)."""
        return None


class FilterSettings(ConfigModel):
    """Per-filter settings (each filter subclasses this; unknown keys are errors)."""


class Filter(ABC):
    """Subclass, set ``name``/``version``/``cost``/``Settings``, implement ``score``, register in registry.py."""

    name: ClassVar[str]
    version: ClassVar[str]
    cost: ClassVar[int]  # lower runs first
    Settings: ClassVar[type[FilterSettings]] = FilterSettings
    higher_is_worse: ClassVar[bool] = True  # a score above the threshold fails (perplexity, toxicity)
    fail_reason: ClassVar[str] = ""  # reason when the threshold fails; default f"{name}_too_high/low"

    def __init__(self, settings: FilterSettings | None = None) -> None:
        self.settings = settings or self.Settings()

    @property
    def backend(self) -> str:
        """What scored the records (a model name, a word list); stored in every verdict's details."""
        return self.name

    def threshold(self) -> float | None:
        return getattr(self.settings, "threshold", None)

    @classmethod
    def pass_rule(cls, settings: dict[str, Any], details: dict[str, Any]) -> str | None:
        """How a score of this filter passes, for people (``"<= 100"``, ``">= 0.45"``), or None without a limit.

        ``details`` are a verdict's (they hold the threshold the decision used, when one was compared);
        ``settings`` are the filter's resolved settings in the run that wrote the verdict (the fallback).
        """
        limit = details.get("threshold", settings.get("threshold"))
        if limit is None:
            return None
        return f"{'<=' if cls.higher_is_worse else '>='} {limit}"

    def prepare(self, store: Any) -> list[str]:
        """Called once before the first batch (load models, build clients); returns notices to show. ``store``
        backs a provider's request cache (an API judge runs through the executor); records are not read here."""
        return []

    def corpus(self) -> Corpus | None:
        """The corpus this filter judges against, run by the chain (see ``Corpus``); None: each record alone."""
        return None

    @property
    def portable(self) -> bool:
        """It scores from its settings alone (no corpus, no database, no request cache), so another process may
        build it, ``prepare(None)`` it and score: the Ray executor runs such filters in its actors."""
        return self.corpus() is None

    @abstractmethod
    def score(self, records: list[RecordView]) -> list[FilterScore]:
        """One FilterScore per record, in order. Must not modify anything; may raise (the batch then writes nothing)."""

    def decide(self, score: FilterScore) -> FilterDecision:
        details = {"backend": self.backend, **score.details}
        if score.reason:
            return FilterDecision(False, score.reason, details)
        limit = self.threshold()
        if limit is None or score.value is None:
            return FilterDecision(True, "ok", details)
        details["threshold"] = limit
        bad = score.value > limit if self.higher_is_worse else score.value < limit
        if not bad:
            return FilterDecision(True, "ok", details)
        return FilterDecision(
            False, self.fail_reason or f"{self.name}_too_{'high' if self.higher_is_worse else 'low'}", details
        )


def require(module: str, pip_name: str, what: str) -> None:
    """Fail at construction, naming the exact install command, when an optional dependency is missing."""
    if importlib.util.find_spec(module) is None:
        raise InputError(f"{what} needs the package {pip_name!r}: run `pip install {pip_name}`")
